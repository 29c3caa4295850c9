//! Boundary conditions of the free parameters (spec §5.5): what happens to a value outside its
//! bounds before the parametrisation maps it to model inputs.

use burn::prelude::*;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::tensor::const2;

/// Relative margin of the clipping boundary (spec §5.1): values are clamped to
/// `centre ± radius·(1 − ε)`.
pub const CLIP_EPS: f64 = 1e-6;

/// How a free parameter outside its bounds `[lb, ub]` is treated.
///
/// In TOML/JSON: `"clipping"`, `"reflecting"`, `"absorbing"` or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// p′ = c + r·clamp((p − c)/r, −1+ε, 1−ε) with c, r the centre and half-width of the bounds
    /// and ε = 1e−6 (the reference's default). The derivative is 1 inside, 0 outside.
    #[default]
    Clipping,
    /// q = (p − lb)/(ub − lb); q′ = 1 − e^q if p < lb, e^(1−q) if p ≥ ub, else q;
    /// p′ = lb + (ub − lb)·q′. Smooth folding back into the bounds.
    Reflecting,
    /// Values outside `[lb, ub)` are replaced by uniform random draws in the bounds (from the
    /// parametrisation's seeded generator, so runs are reproducible).
    Absorbing,
    /// No transform: values pass unchanged (the model may be evaluated outside its domain).
    None,
}

impl Boundary {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Boundary::Clipping => "clipping",
            Boundary::Reflecting => "reflecting",
            Boundary::Absorbing => "absorbing",
            Boundary::None => "none",
        }
    }
}

/// Float32 bound rows (1, F) as the reference stores them: lb, ub, ub − lb, ½(ub − lb), ½(ub + lb).
struct BoundRows {
    lb: Vec<f32>,
    ub: Vec<f32>,
}

impl BoundRows {
    fn new(bounds: &[(f64, f64)]) -> Self {
        Self {
            lb: bounds.iter().map(|b| b.0 as f32).collect(),
            ub: bounds.iter().map(|b| b.1 as f32).collect(),
        }
    }

    fn row(&self, f: impl Fn(f32, f32) -> f32, device: &Device) -> Tensor<2> {
        let v: Vec<f32> = self
            .lb
            .iter()
            .zip(&self.ub)
            .map(|(&l, &u)| f(l, u))
            .collect();
        let n = v.len();
        const2(v, [1, n], device)
    }
}

/// Applies `boundary` to free parameters `p` (N, F) with float64 `bounds` (F of them; used in
/// float32 like the reference). `rng` is only drawn from by [`Boundary::Absorbing`] (N·F
/// uniform numbers per call, in row-major order).
pub(crate) fn apply<R: Rng + ?Sized>(
    boundary: Boundary,
    p: Tensor<2>,
    bounds: &[(f64, f64)],
    rng: &mut R,
) -> Tensor<2> {
    let device = p.device();
    let [n, f] = p.dims();
    debug_assert_eq!(f, bounds.len());
    let b = BoundRows::new(bounds);
    match boundary {
        Boundary::None => p,
        Boundary::Clipping => {
            let radius = b.row(|l, u| 0.5 * (u - l), &device);
            let centre = b.row(|l, u| 0.5 * (u + l), &device);
            let lim = 1.0 - CLIP_EPS;
            let q = ((p - centre.clone()) / radius.clone()).clamp(-lim, lim);
            radius * q + centre
        }
        Boundary::Reflecting => {
            let lb = b.row(|l, _| l, &device);
            let ub = b.row(|_, u| u, &device);
            let width = b.row(|l, u| u - l, &device);
            let left = p.clone().lower(lb.clone().expand([n, f]));
            let right = p.clone().greater_equal(ub.expand([n, f]));
            let q = (p - lb.clone()) / width.clone();
            // The exponent of each branch is clamped to the branch's own range, which changes
            // nothing where the branch is used but keeps the unused branches finite (and so
            // their zero gradients free of 0·∞).
            let q_left = q.clone().clamp_max(0.0).exp().neg().add_scalar(1.0);
            let q_right = q.clone().clamp_min(1.0).neg().add_scalar(1.0).exp();
            let q = q.mask_where(left, q_left).mask_where(right, q_right);
            lb + width * q
        }
        Boundary::Absorbing => {
            let lb = b.row(|l, _| l, &device);
            let ub = b.row(|_, u| u, &device);
            let inside = p
                .clone()
                .greater_equal(lb.clone().expand([n, f]))
                .bool_and(p.clone().lower(ub.clone().expand([n, f])));
            let draws: Vec<f32> = (0..n * f)
                .map(|k| {
                    let (l, u) = (b.lb[k % f], b.ub[k % f]);
                    l + (u - l) * rng.random::<f64>() as f32
                })
                .collect();
            let draws = const2(draws, [n, f], &device);
            draws.mask_where(inside, p)
        }
    }
}
