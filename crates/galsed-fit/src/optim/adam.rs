//! PyTorch's Adam ([`Adam`]).

use serde::{Deserialize, Serialize};

use super::{Objective, OptimError, at_least, eval_grad, eval_rows, no_progress, non_negative};

/// Adam exactly as PyTorch's `torch.optim.Adam` (single-tensor path, `maximize=False`).
///
/// At step `t = 1, 2, …` with gradient `g` of the objective at `p`:
/// ```text
/// g  ← g + weight_decay·p                          (if weight_decay ≠ 0)
/// m  ← m + (1−β₁)·(g − m)                          (torch's lerp_, = β₁m + (1−β₁)g)
/// v  ← β₂·v + (1−β₂)·g·g
/// v̂max ← max(v̂max, v)                               (amsgrad only; then v → v̂max below)
/// p  ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + eps)
/// ```
/// which is `p −= lr·m̂ / (√v̂ + eps)` with the bias-corrected moments, written in torch's
/// order of floating-point operations. Parameters are **not** clamped to the bounds (the
/// objective handles them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adam {
    /// Learning rate (default 1e-3, torch's).
    pub lr: f64,
    /// `(β₁, β₂)` (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator (default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// AMSGrad variant (default false).
    pub amsgrad: bool,
    /// Number of steps (gradient evaluations + updates) (default 1000).
    pub n_steps: usize,
}

impl Default for Adam {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            n_steps: 1000,
        }
    }
}

/// One Adam step: parameters, objective and gradient **before** that step's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamStep {
    /// Parameters.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Gradient at `x`.
    pub grad: Vec<f64>,
}

/// Result of [`Adam::minimize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamResult {
    /// Every step taken (`n_steps` entries unless stopped early).
    pub trajectory: Vec<AdamStep>,
    /// Parameters after the last update.
    pub x: Vec<f64>,
    /// Objective at `x` (one [`Objective::values`] row; +∞ if invalid).
    pub value: f64,
    /// Best evaluated parameters (trajectory and final point).
    pub best_x: Vec<f64>,
    /// Objective at `best_x`.
    pub best_value: f64,
    /// Why the run stopped before `n_steps` (non-finite value or gradient), if it did.
    pub stopped: Option<String>,
}

impl Adam {
    fn validate(&self) -> Result<(), OptimError> {
        non_negative("lr", self.lr)?;
        let (b1, b2) = self.betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return Err(OptimError::Config(format!(
                "betas must be in [0, 1), got ({b1}, {b2})"
            )));
        }
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        at_least("n_steps", self.n_steps, 1)
    }

    /// Run `n_steps` Adam steps from `x0`.
    pub fn minimize<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
    ) -> Result<AdamResult, OptimError> {
        self.minimize_with_progress(obj, x0, &mut no_progress)
    }

    /// [`minimize`](Self::minimize), calling `progress(step, n_steps)` after every step.
    pub fn minimize_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<AdamResult, OptimError> {
        self.validate()?;
        let dim = obj.dim();
        if x0.len() != dim {
            return Err(OptimError::Dimension {
                what: "starting point",
                expected: dim,
                got: x0.len(),
            });
        }
        let (beta1, beta2) = self.betas;
        let mut p = x0.to_vec();
        let mut m = vec![0.0; dim];
        let mut v = vec![0.0; dim];
        let mut vmax = vec![0.0; dim];
        let mut trajectory = Vec::with_capacity(self.n_steps);
        let mut stopped = None;
        for step in 1..=self.n_steps {
            let (f, g) = eval_grad(obj, &p)?;
            if !f.is_finite() || g.iter().any(|x| !x.is_finite()) {
                stopped = Some(format!("non-finite objective or gradient at step {step}"));
                break;
            }
            trajectory.push(AdamStep {
                x: p.clone(),
                value: f,
                grad: g.clone(),
            });
            let t = step as f64;
            let bias_correction1 = 1.0 - beta1.powf(t);
            let bias_correction2 = 1.0 - beta2.powf(t);
            let step_size = self.lr / bias_correction1;
            let bias_correction2_sqrt = bias_correction2.sqrt();
            let w1 = 1.0 - beta1;
            for i in 0..dim {
                let mut gi = g[i];
                if self.weight_decay != 0.0 {
                    gi += self.weight_decay * p[i];
                }
                // torch lerp_: weight < 0.5 → self + w·(end − self), else end − (end − self)·(1 − w).
                m[i] = if w1.abs() < 0.5 {
                    m[i] + w1 * (gi - m[i])
                } else {
                    gi - (gi - m[i]) * (1.0 - w1)
                };
                v[i] = v[i] * beta2 + (1.0 - beta2) * gi * gi;
                let second = if self.amsgrad {
                    vmax[i] = f64::max(vmax[i], v[i]);
                    vmax[i]
                } else {
                    v[i]
                };
                let denom = second.sqrt() / bias_correction2_sqrt + self.eps;
                p[i] += -step_size * m[i] / denom;
            }
            progress(step, self.n_steps);
        }
        let value = eval_rows(
            obj,
            ndarray::ArrayView2::from_shape((1, dim), &p).expect("1 × dim"),
        )?[0];
        let (mut best_x, mut best_value) = (p.clone(), value);
        for s in &trajectory {
            if s.value < best_value {
                best_value = s.value;
                best_x.clone_from(&s.x);
            }
        }
        Ok(AdamResult {
            trajectory,
            x: p,
            value,
            best_x,
            best_value,
            stopped,
        })
    }
}
