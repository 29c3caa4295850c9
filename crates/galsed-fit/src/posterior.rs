//! The negative log-posterior of a galaxy's free parameters (spec §5.5):
//!
//! −ln p(x | data) = −ln L(F(x)) − ln p_disk(x) − ln p_bulge(x) − ln π(x),
//!
//! with F the model band fluxes of the parametrised galaxy, p_disk and p_bulge the selectors'
//! probabilities that the galaxy lies in the region the emulator was trained on (a penalty that
//! keeps fits out of extrapolated territory, as the reference) and π the prior.
//!
//! Values for a batch of parameter vectors use the emulator's fast path; gradients come from its
//! hand-written reverse pass ([`galsed_emulator::gradient`]) and the parametrisation's
//! ([`crate::params::ParamTrace`]), with no state shared between threads, so that fits run in
//! parallel. The tensor formula ([`Posterior::neg_log_post_tensor`]) differentiated by
//! burn-autodiff is their test oracle.

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use galsed_core::filters::Filter;
use galsed_emulator::inputs::Batch;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_emulator::{Component, ModelError, Starduster};
use ndarray::ArrayView2;

use crate::likelihood::Likelihood;
use crate::optim::Objective;
use crate::params::Parametrization;

/// Errors when setting up a posterior.
#[derive(Debug, thiserror::Error)]
pub enum PosteriorError {
    /// The filters are not the observed bands, in the same order.
    #[error("filters {filters:?} do not match the observed bands {bands:?}")]
    Bands {
        /// Names of the filters given.
        filters: Vec<String>,
        /// Names of the observed bands.
        bands: Vec<String>,
    },
    /// The prior is invalid (unknown parameter, bad mean or σ, …).
    #[error("prior: {0}")]
    Prior(String),
    /// The emulator failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A Gaussian prior on one free parameter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianPrior {
    /// Free-parameter name (see [`Parametrization::names`]).
    pub name: String,
    /// Mean, in the parameter's own units.
    pub mean: f64,
    /// Standard deviation (> 0), in the same units.
    pub sigma: f64,
}

/// Prior π(x) over the free parameters. The default is flat inside the bounds.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prior {
    /// Starduster's smoothed uniform prior with this ε: flat inside the bounds with the
    /// normalisation −Σ ln((1+ε)(ub − lb)), Gaussian tails −π/(ε(ub − lb))²·d² outside.
    pub smoothed_uniform: Option<f64>,
    /// Independent Gaussian priors on named parameters.
    pub gaussian: Vec<GaussianPrior>,
}

/// The smoothed uniform prior per parameter column: bounds, tail curvature α, normalisation.
#[derive(Debug, Clone)]
struct Smoothed {
    lb: Vec<f32>,
    ub: Vec<f32>,
    alpha: Vec<f32>,
    log_norm: f64,
}

/// Gaussian priors per parameter column (1/σ = 0 where a column has none).
#[derive(Debug, Clone)]
struct Gaussians {
    mean: Vec<f32>,
    inv_sigma: Vec<f32>,
    norm: Vec<f32>,
}

/// The prior as constant rows over the parameter columns.
#[derive(Debug, Clone)]
struct PriorTerms {
    smoothed: Option<Smoothed>,
    gaussian: Option<Gaussians>,
}

impl PriorTerms {
    fn new(prior: &Prior, names: &[String], bounds: &[(f64, f64)]) -> Result<Self, PosteriorError> {
        let smoothed = match prior.smoothed_uniform {
            None => None,
            Some(eps) if eps.is_finite() && eps > 0.0 => {
                let lb = bounds.iter().map(|b| b.0 as f32).collect();
                let ub = bounds.iter().map(|b| b.1 as f32).collect();
                let alpha = bounds
                    .iter()
                    .map(|b| (std::f64::consts::PI / (eps * (b.1 - b.0)).powi(2)) as f32)
                    .collect();
                let log_norm = -bounds
                    .iter()
                    .map(|b| ((1.0 + eps) * (b.1 - b.0)).ln())
                    .sum::<f64>();
                Some(Smoothed {
                    lb,
                    ub,
                    alpha,
                    log_norm,
                })
            }
            Some(eps) => {
                return Err(PosteriorError::Prior(format!(
                    "smoothed_uniform ε must be > 0, got {eps}"
                )));
            }
        };
        let gaussian = if prior.gaussian.is_empty() {
            None
        } else {
            let n = names.len();
            let (mut mean, mut inv_sigma, mut norm) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
            for g in &prior.gaussian {
                let i = names.iter().position(|n| *n == g.name).ok_or_else(|| {
                    PosteriorError::Prior(format!(
                        "no free parameter named '{}' (free: {})",
                        g.name,
                        names.join(", ")
                    ))
                })?;
                if !(g.mean.is_finite() && g.sigma.is_finite() && g.sigma > 0.0) {
                    return Err(PosteriorError::Prior(format!(
                        "{}: need a finite mean and σ > 0, got {} ± {}",
                        g.name, g.mean, g.sigma
                    )));
                }
                mean[i] = g.mean as f32;
                inv_sigma[i] = (1.0 / g.sigma) as f32;
                norm[i] = (0.5 * (2.0 * std::f64::consts::PI * g.sigma * g.sigma).ln()) as f32;
            }
            Some(Gaussians {
                mean,
                inv_sigma,
                norm,
            })
        };
        Ok(Self { smoothed, gaussian })
    }

    /// ∂(−ln π)/∂p of one row, in float64 on the float32 values the tensor formulas use.
    fn grad(&self, row: &[f64]) -> Vec<f64> {
        let mut g = vec![0f64; row.len()];
        if let Some(Smoothed { lb, ub, alpha, .. }) = &self.smoothed {
            for (i, gi) in g.iter_mut().enumerate() {
                let p = f64::from(row[i] as f32);
                let below = (p - f64::from(lb[i])).min(0.0);
                let above = (p - f64::from(ub[i])).max(0.0);
                *gi += 2.0 * f64::from(alpha[i]) * (below + above);
            }
        }
        if let Some(Gaussians {
            mean, inv_sigma, ..
        }) = &self.gaussian
        {
            for (i, gi) in g.iter_mut().enumerate() {
                let s = f64::from(inv_sigma[i]);
                *gi += (f64::from(row[i] as f32) - f64::from(mean[i])) * s * s;
            }
        }
        g
    }

    /// −ln π for each row of p (N × P) → (N × 1).
    fn neg_log_prior(&self, p: &Tensor<2>) -> Tensor<2> {
        let [n, width] = p.dims();
        let device = p.device();
        let row =
            |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, width]), &device);
        let mut total = Tensor::<2>::zeros([n, 1], &device);
        if let Some(Smoothed {
            lb,
            ub,
            alpha,
            log_norm,
        }) = &self.smoothed
        {
            let below = (p.clone() - row(lb)).clamp_max(0.0);
            let above = (p.clone() - row(ub)).clamp_min(0.0);
            let d2 = below.clone() * below + above.clone() * above;
            total = total + (d2 * row(alpha)).sum_dim(1).add_scalar(-log_norm);
        }
        if let Some(Gaussians {
            mean,
            inv_sigma,
            norm,
        }) = &self.gaussian
        {
            let r = (p.clone() - row(mean)) * row(inv_sigma);
            let used = row(&inv_sigma
                .iter()
                .map(|&s| f32::from(u8::from(s > 0.0)))
                .collect::<Vec<_>>());
            total = total + ((r.clone() * r).mul_scalar(0.5) * used + row(norm)).sum_dim(1);
        }
        total
    }
}

/// The negative log-posterior of one galaxy, ready for optimisers and samplers.
pub struct Posterior<'m> {
    model: &'m Starduster,
    param: Parametrization,
    phot: Photometry,
    likelihood: Likelihood,
    prior: PriorTerms,
    selector_penalty: bool,
    observer: Observer,
}

impl<'m> Posterior<'m> {
    /// Builds the posterior of `likelihood`'s observations. `filters` must be the observed bands in
    /// the same order; `observer` places the galaxy (redshift, distance modulus). The model may
    /// live on any device: values and gradients use its fast path.
    pub fn new(
        model: &'m Starduster,
        param: Parametrization,
        filters: &[Filter],
        observer: Observer,
        likelihood: Likelihood,
        prior: &Prior,
    ) -> Result<Self, PosteriorError> {
        let names: Vec<String> = filters.iter().map(|f| f.name.clone()).collect();
        if names != likelihood.observations().bands() {
            return Err(PosteriorError::Bands {
                filters: names,
                bands: likelihood.observations().bands().to_vec(),
            });
        }
        let phot = Photometry::new(model, filters, observer)?;
        let prior = PriorTerms::new(prior, &param.names(), &param.bounds())?;
        Ok(Self {
            model,
            param,
            phot,
            likelihood,
            prior,
            selector_penalty: true,
            observer,
        })
    }

    /// Whether the selectors' −ln p_disk − ln p_bulge is added (default true, as the reference).
    pub fn with_selector_penalty(mut self, on: bool) -> Self {
        self.selector_penalty = on;
        self
    }

    /// The parametrisation.
    pub fn parametrization(&self) -> &Parametrization {
        &self.param
    }

    /// The likelihood.
    pub fn likelihood(&self) -> &Likelihood {
        &self.likelihood
    }

    /// The filter weights of the observed bands.
    pub fn photometry(&self) -> &Photometry {
        &self.phot
    }

    /// Where the galaxy is seen from.
    pub fn observer(&self) -> Observer {
        self.observer
    }

    /// The emulator.
    pub fn model(&self) -> &'m Starduster {
        self.model
    }

    /// The model inputs of parameter rows (N × P), as a batch for the emulator's predictions.
    pub fn batch(&self, x: ArrayView2<f64>) -> Result<Batch, ModelError> {
        let (gp, sd, sb) = self.param.apply_rows(x);
        Batch::from_adapted(gp, sd, sb)
    }

    /// Model band fluxes \[Jy\] (N × n_bands) of parameter rows.
    pub fn model_fluxes(&self, x: ArrayView2<f64>) -> Result<ndarray::Array2<f32>, ModelError> {
        Ok(self
            .model
            .fluxes(&self.batch(x)?, Component::Combine, &self.phot))
    }

    /// −ln p of every row through the tensor path on the model's device: the reference formula
    /// (differentiable on an autodiff device, single-threaded) that tests check
    /// [`Objective::values`] and [`Posterior::value_grads`] against.
    pub fn neg_log_post_tensor(&self, p: Tensor<2>) -> Tensor<2> {
        let inputs = self.param.apply(p.clone());
        let gp = inputs.gp.clone();
        let lum = self
            .model
            .forward(
                inputs.gp,
                inputs.sfh_disk,
                inputs.sfh_bulge,
                Component::Combine,
            )
            .component(Component::Combine);
        let mut total = self.likelihood.neg_log_like(self.phot.band_fluxes(lum));
        if self.selector_penalty {
            let (ld, lb) = self.model.selector_logits(gp);
            total = total - log_sigmoid(ld) - log_sigmoid(lb);
        }
        total + self.prior.neg_log_prior(&p)
    }

    fn is_outside(&self, row: &[f64]) -> bool {
        row.iter().any(|v| !v.is_finite()) || self.param.out_of_bounds(row)
    }
}

fn to_f64(t: Tensor<2>) -> Vec<f64> {
    t.into_data()
        .try_to_vec::<f32>()
        .expect("float32 tensor")
        .into_iter()
        .map(f64::from)
        .collect()
}

impl Objective for Posterior<'_> {
    fn dim(&self) -> usize {
        self.param.n_params()
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        self.param.bounds()
    }

    /// −ln p of each row; +∞ outside the bounds.
    fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
        let (inside, rows) = self.inside_rows(x);
        let mut out = vec![f64::INFINITY; x.nrows()];
        if inside.is_empty() {
            return out;
        }
        let Ok(batch) = self.batch(rows.view()) else {
            return out;
        };
        let flux = self.model.fluxes(&batch, Component::Combine, &self.phot);
        let (ld, lb) = self.model.selector_log_probs(&batch);
        let values = self.combine(rows.view(), flux.view(), (&ld, &lb));
        for (&i, v) in inside.iter().zip(values) {
            out[i] = v;
        }
        out
    }

    /// −ln p and its gradient; (+∞, 0) outside the bounds.
    fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
        let x = ndarray::ArrayView2::from_shape((1, x.len()), x).expect("one row");
        self.value_grads(x).pop().expect("one row")
    }
}

impl Posterior<'_> {
    /// Rows inside the bounds (indices and values).
    fn inside_rows(&self, x: ArrayView2<f64>) -> (Vec<usize>, ndarray::Array2<f64>) {
        let inside: Vec<usize> = (0..x.nrows())
            .filter(|&i| !self.is_outside(&x.row(i).to_vec()))
            .collect();
        let rows = x.select(ndarray::Axis(0), &inside);
        (inside, rows)
    }

    /// −ln p of rows from their model fluxes and selector log-probabilities (NaN → +∞).
    fn combine(
        &self,
        rows: ArrayView2<f64>,
        flux: ArrayView2<f32>,
        (ld, lb): (&[f32], &[f32]),
    ) -> Vec<f64> {
        let device = Device::flex();
        let (n, nb) = flux.dim();
        let flux = Tensor::<2>::from_data(
            TensorData::new(flux.iter().copied().collect::<Vec<f32>>(), [n, nb]),
            &device,
        );
        let mut total = to_f64(self.likelihood.neg_log_like(flux));
        if self.selector_penalty {
            for (t, (d, b)) in total.iter_mut().zip(ld.iter().zip(lb)) {
                *t -= f64::from(*d) + f64::from(*b);
            }
        }
        let p: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
        let prior = to_f64(self.prior.neg_log_prior(&Tensor::from_data(
            TensorData::new(p, [n, rows.ncols()]),
            &device,
        )));
        total
            .into_iter()
            .zip(prior)
            .map(|(t, pr)| {
                if (t + pr).is_nan() {
                    f64::INFINITY
                } else {
                    t + pr
                }
            })
            .collect()
    }

    /// −ln p and its gradient for each row of `x` (N × P) in one batch: values identical to
    /// [`Objective::values`], gradients by the hand-written reverse passes of the emulator and
    /// the parametrisation. Safe to call from many threads at once. (+∞, 0) for rows outside the
    /// bounds or where −ln p is not finite.
    pub fn value_grads(&self, x: ArrayView2<f64>) -> Vec<(f64, Vec<f64>)> {
        let dim = x.ncols();
        let mut out = vec![(f64::INFINITY, vec![0.0; dim]); x.nrows()];
        let (inside, rows) = self.inside_rows(x);
        if inside.is_empty() {
            return out;
        }
        let (gp, sd, sb, trace) = self.param.apply_rows_traced(rows.view());
        let Ok(batch) = Batch::from_adapted(gp, sd, sb) else {
            return out;
        };
        let tape = self.model.flux_tape(&batch, &self.phot);
        let values = self.combine(rows.view(), tape.fluxes(), tape.selector_log_probs());
        let mut g_flux = ndarray::Array2::<f32>::zeros(tape.fluxes().dim());
        for (mut g, f) in g_flux.rows_mut().into_iter().zip(tape.fluxes().rows()) {
            let f: Vec<f32> = f.to_vec();
            for (gi, v) in g.iter_mut().zip(self.likelihood.neg_log_like_grad(&f)) {
                *gi = v as f32;
            }
        }
        // −ln p_disk − ln p_bulge.
        let minus_one = vec![-1f32; inside.len()];
        let g_sel = self
            .selector_penalty
            .then_some((&minus_one[..], &minus_one[..]));
        let g_in = tape.backward(g_flux.view(), g_sel);
        let g_p = trace.vjp(&g_in.gp, &g_in.sfh_disk, &g_in.sfh_bulge);
        for (k, (&i, v)) in inside.iter().zip(values).enumerate() {
            if !v.is_finite() {
                continue;
            }
            let row = rows.row(k).to_vec();
            let g: Vec<f64> = g_p
                .row(k)
                .iter()
                .zip(self.prior.grad(&row))
                .map(|(a, b)| a + b)
                .collect();
            if g.iter().all(|v| v.is_finite()) {
                out[i] = (v, g);
            }
        }
        out
    }
}
