//! The training losses of Starduster (Qiu & Kang 2022, §2.3), per sample, as burn tensor
//! operations (so they run on the autodiff device during training and on the plain device for
//! validation). The training loss of a batch is the mean over its samples.

use burn::prelude::*;
use burn::tensor::activation::relu;

/// Floor of the arguments of logarithms: keeps ln finite where a predicted density underflows
/// to zero (where the target is also zero the term is multiplied by an exact zero).
pub const LOG_FLOOR: f64 = 1e-30;

/// Max-abs (L∞) error over wavelength, per row: max_j |pred − target| → (N).
pub fn max_abs(pred: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    (pred - target).abs().max_dim(1).squeeze_dim(1)
}

/// trapz(y, dx) along each row, (N): dx·(Σ y − (y₀ + y_last)/2).
pub fn trapz_dx(y: Tensor<2>, dx: f64) -> Tensor<1> {
    let [_, m] = y.dims();
    let ends = y.clone().narrow(1, 0, 1) + y.clone().narrow(1, m - 1, 1);
    (y.sum_dim(1) - ends.mul_scalar(0.5))
        .mul_scalar(dx)
        .squeeze_dim(1)
}

/// Kullback–Leibler divergence of the predicted shape `q` from the target shape `p`, both
/// densities over a uniform grid of step `dx` (ln λ for the dust emission), integrated with the
/// trapezoid rule: trapz(p·ln(p/q), dx), per row (N). Points where p = 0 contribute 0.
pub fn kl_trapz(p: Tensor<2>, q: Tensor<2>, dx: f64) -> Tensor<1> {
    let log_ratio = p.clone().clamp_min(LOG_FLOOR).log() - q.clamp_min(LOG_FLOOR).log();
    trapz_dx(p * log_ratio, dx)
}

/// Binary KL divergence of a predicted fraction q from the target fraction p, per element:
/// p·ln(p/q) + (1−p)·ln((1−p)/(1−q)).
pub fn binary_kl(p: Tensor<1>, q: Tensor<1>) -> Tensor<1> {
    let ln = |x: Tensor<1>| x.clamp_min(LOG_FLOOR).log();
    let one_minus = |x: Tensor<1>| x.neg().add_scalar(1.0);
    let pos = p.clone() * (ln(p.clone()) - ln(q.clone()));
    let neg = one_minus(p.clone()) * (ln(one_minus(p)) - ln(one_minus(q)));
    pos + neg
}

/// Binary cross-entropy of labels y ∈ {0, 1} given logits z, per element, in the numerically
/// stable form max(z, 0) − z·y + ln(1 + e^(−|z|)).
pub fn bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let softplus_tail = logits.clone().abs().neg().exp().log1p();
    relu(logits.clone()) - logits * labels + softplus_tail
}
