//! Small tensor helpers shared by the parametrisation components: constants on the device of an
//! input and the differentiable linear-interpolation weights of the reference.

use burn::prelude::*;

/// A constant (R, C) float tensor from row-major data.
pub(crate) fn const2(data: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A constant 1-D integer tensor (indices for `select`).
pub(crate) fn index1(data: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// Row-major float32 contents of a tensor (converted if the device computes in another float
/// type, e.g. float64 for reference gradients).
pub(crate) fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensor contents")
}

/// Weights of linear interpolation of each x (a column, (R, 1)) on the ascending grid `xp`
/// (D ≥ 2 points), shape (R, D), exactly as the reference's `compute_interp_weights`:
///
/// i = first grid index with xp\[i\] ≥ x (a left search), forced into [1, D−1];
/// w_{i−1} = (xp\[i\] − x)/(xp\[i\] − xp[i−1]), w_i = 1 − w_{i−1}, all other weights 0.
///
/// The segment is chosen with comparisons (no gradient); the weights are differentiable
/// arithmetic in x, so d w / d x = ∓1/(xp\[i\] − xp[i−1]) inside a segment (and the same linear
/// extrapolation outside the grid).
pub(crate) fn interp_weights(x: Tensor<2>, xp: &[f32]) -> Tensor<2> {
    let device = x.device();
    let [r, _] = x.dims();
    let d = xp.len();
    debug_assert!(d >= 2, "interpolation needs two grid points");
    let grid = const2(xp.to_vec(), [1, d], &device);
    // Left search: the index is the number of grid points strictly below x.
    let below = grid.clone().expand([r, d]).lower(x.clone().expand([r, d]));
    let hi = below.int().sum_dim(1).clamp(1, d as i64 - 1);
    let cols = Tensor::<1, Int>::arange(0..d as i64, &device)
        .reshape([1, d])
        .expand([r, d]);
    let one_hi = cols.clone().equal(hi.clone().expand([r, d])).float();
    let one_lo = cols.equal(hi.sub_scalar(1).expand([r, d])).float();
    // Exactly one non-zero term in each sum: the selected grid values are reproduced exactly.
    let x1 = (one_hi.clone() * grid.clone()).sum_dim(1);
    let x0 = (one_lo.clone() * grid).sum_dim(1);
    let w0 = (x1.clone() - x) / (x1 - x0);
    let w1 = w0.clone().neg().add_scalar(1.0);
    w0 * one_lo + w1 * one_hi
}

/// The reference's `simplex_transform` along the columns: y = −ln(1 − x), then y / Σ y.
/// Maps the unit hypercube onto the simplex (uniform inputs give a flat Dirichlet).
pub(crate) fn simplex(x: Tensor<2>) -> Tensor<2> {
    let y = x.neg().add_scalar(1.0).log().neg();
    let s = y.clone().sum_dim(1);
    y / s
}

/// 10^p elementwise, as float32 `pow(10, p)` (the reference's `10**params`).
pub(crate) fn pow10(p: Tensor<2>) -> Tensor<2> {
    let dims = p.dims();
    let device = p.device();
    Tensor::<2>::full(dims, 10.0, &device).powf(p)
}

/// Divides each row by a power of two near its largest value (a constant, outside the
/// gradient). For the reference's scale-invariant maps of mass-weighted SFHs (normalised
/// cumulative sums, light fractions renormalised to 1) this changes no forward value — scaling
/// by 2^k is exact in float32 — but keeps the backward pass finite: the derivative of a/b is
/// −a/b², and b² overflows float32 for masses beyond ~1e19 (the analytic SFHs reach 1e30).
pub(crate) fn rescale_pow2(x: Tensor<2>) -> Tensor<2> {
    let [n, _] = x.dims();
    let device = x.device();
    let max = to_vec(x.clone().detach().abs().max_dim(1));
    let scale: Vec<f32> = max
        .iter()
        .map(|&m| {
            if m.is_finite() && m > 0.0 {
                let e = f64::from(m).log2().floor().clamp(-120.0, 120.0) as i32;
                2f64.powi(-e) as f32
            } else {
                1.0
            }
        })
        .collect();
    x * const2(scale, [n, 1], &device)
}
