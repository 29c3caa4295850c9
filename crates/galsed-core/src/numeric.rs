//! Small numerical helpers shared across galsed: trapezoid integration, left-sided binary search,
//! linear interpolation with the exact conventions of the reference implementation, and the
//! quantiles of the whole workspace ([`quantile_sorted`], [`weighted_quantile_sorted`]).
//!
//! The integration and interpolation functions are generic over [`num_traits::Float`] (`f32` and
//! `f64`) so that the float32 and float64 pipelines use the same code; the quantiles are `f64`. Slices of mismatched lengths are programming errors and
//! panic (documented per function); every function is otherwise total.

use std::cmp::Ordering;

use num_traits::Float;

/// Trapezoid rule on a non-uniform grid: Σᵢ (xᵢ₊₁ − xᵢ)(yᵢ + yᵢ₊₁)/2, summed left to right.
///
/// Returns 0 for fewer than two points.
///
/// # Panics
/// If `y.len() != x.len()`.
///
/// ```rust
/// use galsed_core::numeric::trapz;
/// let x = [0.0, 1.0, 3.0];
/// let y = [0.0, 2.0, 2.0];
/// assert_eq!(trapz(&y, &x), 1.0 + 4.0);
/// ```
pub fn trapz<T: Float>(y: &[T], x: &[T]) -> T {
    assert_eq!(y.len(), x.len(), "trapz: y and x must have the same length");
    let half = T::from(0.5).unwrap_or_else(T::one);
    x.windows(2)
        .zip(y.windows(2))
        .fold(T::zero(), |acc, (xs, ys)| {
            acc + (xs[1] - xs[0]) * (ys[0] + ys[1]) * half
        })
}

/// Trapezoid rule with a constant step: dx·(Σᵢ yᵢ − (y₀ + y_last)/2).
///
/// This is the form used by the reference for integrals over the uniform ln λ grid. Returns 0
/// for fewer than two points.
///
/// ```rust
/// use galsed_core::numeric::trapz_dx;
/// assert_eq!(trapz_dx(&[1.0_f32, 2.0, 3.0], 0.5), 2.0);
/// ```
pub fn trapz_dx<T: Float>(y: &[T], dx: T) -> T {
    match (y.first(), y.last()) {
        (Some(&first), Some(&last)) if y.len() >= 2 => {
            let two = T::one() + T::one();
            let sum = y.iter().fold(T::zero(), |acc, &v| acc + v);
            dx * (sum - (first + last) / two)
        }
        _ => T::zero(),
    }
}

/// Index of the first element of the ascending slice `sorted` that is `>= value`
/// (`numpy.searchsorted(..., side="left")`, `torch.searchsorted` default).
///
/// Returns `sorted.len()` if every element is smaller. A NaN `value` compares false against
/// everything and gives `sorted.len()`.
///
/// ```rust
/// use galsed_core::numeric::searchsorted_left;
/// let xs = [1.0, 2.0, 2.0, 3.0];
/// assert_eq!(searchsorted_left(&xs, 2.0), 1);
/// assert_eq!(searchsorted_left(&xs, 0.5), 0);
/// assert_eq!(searchsorted_left(&xs, 9.0), 4);
/// ```
pub fn searchsorted_left<T: PartialOrd>(sorted: &[T], value: T) -> usize {
    // Unordered (NaN) counts as "less" so that a NaN value lands past the end.
    sorted.partition_point(|a| matches!(a.partial_cmp(&value), Some(Ordering::Less) | None))
}

/// Interpolation bracket of `x` in the ascending grid `xp` under the reference's rule: `i` is the
/// left-sided search index forced into `[1, n − 1]`, and `w = (x − xp[i−1]) / (xp[i] − xp[i−1])`
/// (so `w` extrapolates for `x` outside the grid).
///
/// Returns `None` if `xp` has fewer than two points.
pub fn interp_bracket<T: Float>(xp: &[T], x: T) -> Option<(usize, T)> {
    let n = xp.len();
    if n < 2 {
        return None;
    }
    let i = searchsorted_left(xp, x).clamp(1, n - 1);
    let (x0, x1) = (xp[i - 1], xp[i]);
    Some((i, (x - x0) / (x1 - x0)))
}

/// `a + w·(b − a)`, evaluated like `torch.lerp` (from the nearer end point, so that `w = 1`
/// returns `b` exactly).
pub fn lerp<T: Float>(a: T, b: T, w: T) -> T {
    let half = T::from(0.5).unwrap_or_else(T::one);
    if w.abs() < half {
        a + w * (b - a)
    } else {
        b - (b - a) * (T::one() - w)
    }
}

/// Linear interpolation in `x` with the reference's regridding rule (see [`interp_bracket`]):
/// points outside `[xp[0], xp[last]]` get `fill`.
///
/// Returns `fill` if `xp` has fewer than two points.
///
/// # Panics
/// If `xp.len() != yp.len()`.
///
/// ```rust
/// use galsed_core::numeric::interp_linear;
/// let xp = [1.0, 2.0, 4.0];
/// let yp = [10.0, 20.0, 0.0];
/// assert_eq!(interp_linear(&xp, &yp, 3.0, -1.0), 10.0);
/// assert_eq!(interp_linear(&xp, &yp, 4.5, -1.0), -1.0);
/// ```
pub fn interp_linear<T: Float>(xp: &[T], yp: &[T], x: T, fill: T) -> T {
    assert_eq!(
        xp.len(),
        yp.len(),
        "interp_linear: xp and yp must have the same length"
    );
    match (interp_bracket(xp, x), xp.first(), xp.last()) {
        (Some((i, w)), Some(&lo), Some(&hi)) if x >= lo && x <= hi => lerp(yp[i - 1], yp[i], w),
        _ => fill,
    }
}

/// Piecewise-linear interpolation with `numpy.interp` semantics, evaluated the way NumPy does
/// it (slope·(x − xpⱼ) + ypⱼ): `left` below `xp[0]`, `right` above `xp[last]`, exact node
/// values at the nodes, NaN for a NaN `x`. `xp` must be ascending.
///
/// Used to put the SSP spectra on a wavelength grid bit-for-bit like the reference.
///
/// # Panics
/// If `xp.len() != fp.len()` or `xp` is empty.
///
/// ```rust
/// use galsed_core::numeric::interp_with_edges;
/// let xp = [0.0, 1.0];
/// let fp = [1.0, 3.0];
/// assert_eq!(interp_with_edges(&xp, &fp, 0.25, 1.0, 0.0), 1.5);
/// assert_eq!(interp_with_edges(&xp, &fp, 2.0, 1.0, 0.0), 0.0);
/// ```
pub fn interp_with_edges<T: Float>(xp: &[T], fp: &[T], x: T, left: T, right: T) -> T {
    assert_eq!(
        xp.len(),
        fp.len(),
        "interp_with_edges: xp and fp must have the same length"
    );
    assert!(!xp.is_empty(), "interp_with_edges: empty grid");
    let n = xp.len();
    if x.is_nan() {
        return x;
    }
    if x > xp[n - 1] {
        return right;
    }
    if x < xp[0] {
        return left;
    }
    // Largest j with xp[j] <= x (exists because x >= xp[0]).
    let j = xp.partition_point(|&a| a <= x) - 1;
    interp_from_node(xp, fp, x, j)
}

/// NumPy's interpolation from node j, the largest with xp\[j\] ≤ x (xp\[0\] ≤ x ≤ xp\[last\]).
pub fn interp_from_node<T: Float>(xp: &[T], fp: &[T], x: T, j: usize) -> T {
    if j == xp.len() - 1 || xp[j] == x {
        return fp[j];
    }
    interp_with_slope(xp, fp, (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]), x, j)
}

/// [`interp_from_node`] strictly inside segment j with its slope (fp[j+1] − fp\[j\]) / (xp[j+1] − xp\[j\])
/// already computed, for callers that interpolate the same curve many times.
pub fn interp_with_slope<T: Float>(xp: &[T], fp: &[T], slope: T, x: T, j: usize) -> T {
    let v = slope * (x - xp[j]) + fp[j];
    if !v.is_nan() {
        return v;
    }
    // NumPy retries from the right node when the left form overflows to NaN.
    let v = slope * (x - xp[j + 1]) + fp[j + 1];
    if v.is_nan() && fp[j] == fp[j + 1] {
        fp[j]
    } else {
        v
    }
}

/// Where a quantile of sorted values falls between two order statistics, for n values and the
/// position p = q·(n − 1) = i + f (i = ⌊p⌋).
///
/// The methods are the conventions galsed's results were computed with; they agree to rounding
/// on the interpolating ones, and each is kept so that every result stays bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantileMethod {
    /// numpy's default (`linear`): x\[i\] + f·(x\[i+1\] − x\[i\]), and x\[n−1\] itself at the top
    /// (p = n − 1). Posterior summaries and validation percentiles.
    Linear,
    /// The same line written x\[i\]·(1 − f) + x\[i+1\]·f (x\[n−1\] at the top): equal to
    /// [`Linear`](Self::Linear) up to rounding. The optical–IR subset boundaries.
    LinearBlend,
    /// numpy's `midpoint`: (x\[⌊p⌋\] + x\[⌈p⌉\])/2, written 0.5·(…), and x\[p\] itself when p is an
    /// integer. At q = 0.5 the textbook median.
    Midpoint,
    /// The nearest order statistic x\[round(p)\], halves rounded away from zero (numpy's `nearest`
    /// rounds them to even). Never interpolates: plot ranges.
    Nearest,
}

/// Quantile `q ∈ [0, 1]` of values sorted in ascending order, by `method` (NaN for no values;
/// q outside [0, 1] gives the extreme values).
///
/// ```rust
/// use galsed_core::numeric::{QuantileMethod, quantile_sorted};
/// let x = [1.0, 2.0, 4.0, 8.0];
/// assert_eq!(quantile_sorted(&x, 0.5, QuantileMethod::Linear), 3.0);
/// assert_eq!(quantile_sorted(&x, 0.5, QuantileMethod::Midpoint), 3.0);
/// assert_eq!(quantile_sorted(&x, 0.5, QuantileMethod::Nearest), 4.0);
/// assert_eq!(quantile_sorted(&x, 1.0, QuantileMethod::LinearBlend), 8.0);
/// ```
pub fn quantile_sorted(sorted: &[f64], q: f64, method: QuantileMethod) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = q * (n - 1) as f64;
    // Clamped so that q outside [0, 1] gives the extreme values instead of a panic.
    let i = (pos.floor() as usize).min(n - 1);
    match method {
        QuantileMethod::Linear if i + 1 < n => {
            let f = pos - i as f64;
            sorted[i] + f * (sorted[i + 1] - sorted[i])
        }
        QuantileMethod::LinearBlend if i + 1 < n => {
            let f = pos.fract();
            sorted[i] * (1.0 - f) + sorted[i + 1] * f
        }
        QuantileMethod::Linear | QuantileMethod::LinearBlend => sorted[i],
        QuantileMethod::Midpoint => {
            let hi = (pos.ceil() as usize).min(n - 1);
            if hi == i {
                sorted[i]
            } else {
                0.5 * (sorted[i] + sorted[hi])
            }
        }
        QuantileMethod::Nearest => sorted[(pos.round() as usize).min(n - 1)],
    }
}

/// Weighted quantile `q` of values sorted in ascending order, given the cumulative normalised
/// weight `cdf` at each value (non-decreasing, ending at 1): linear interpolation in the
/// cumulative weight, clamped to the extreme values (dynesty's and corner.py's `quantile`). NaN
/// for no values.
///
/// # Panics
/// If `cdf.len() != sorted.len()`.
///
/// ```rust
/// use galsed_core::numeric::weighted_quantile_sorted;
/// let x = [1.0, 2.0, 3.0, 4.0];
/// let cdf = [0.25, 0.5, 0.75, 1.0];
/// assert_eq!(weighted_quantile_sorted(&x, &cdf, 0.5), 2.0);
/// assert_eq!(weighted_quantile_sorted(&x, &cdf, 0.625), 2.5);
/// assert_eq!(weighted_quantile_sorted(&x, &cdf, 0.0), 1.0);
/// ```
pub fn weighted_quantile_sorted(sorted: &[f64], cdf: &[f64], q: f64) -> f64 {
    assert_eq!(
        sorted.len(),
        cdf.len(),
        "weighted_quantile_sorted: one cumulative weight per value"
    );
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = cdf.partition_point(|&c| c < q);
    if k == 0 {
        sorted[0]
    } else if k >= n {
        sorted[n - 1]
    } else {
        let (c0, c1) = (cdf[k - 1], cdf[k]);
        let (x0, x1) = (sorted[k - 1], sorted[k]);
        if c1 > c0 {
            x0 + (q - c0) / (c1 - c0) * (x1 - x0)
        } else {
            x1
        }
    }
}

/// A number for messages and listings: at most four decimals without trailing zeros for
/// magnitudes in [1e−3, 1e5) (and 0), three-digit scientific notation otherwise.
///
/// ```rust
/// use galsed_core::numeric::short_number;
/// assert_eq!(short_number(0.5), "0.5");
/// assert_eq!(short_number(90.0), "90");
/// assert_eq!(short_number(3.1622776e7), "3.162e7");
/// ```
pub fn short_number(x: f64) -> String {
    if x == 0.0 || (1e-3..1e5).contains(&x.abs()) {
        let t = format!("{x:.4}");
        t.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{x:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapz_matches_closed_forms() {
        let x: Vec<f64> = (0..=100).map(|i| f64::from(i) / 100.0).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        assert!((trapz(&y, &x) - 1.0).abs() < 1e-14);
        assert!((trapz_dx(&y, 0.01) - 1.0).abs() < 1e-14);
        assert_eq!(trapz::<f64>(&[], &[]), 0.0);
        assert_eq!(trapz_dx(&[5.0_f64], 1.0), 0.0);
    }

    #[test]
    fn bracket_is_forced_into_range() {
        let xp = [1.0_f32, 2.0, 3.0];
        assert_eq!(interp_bracket(&xp, 1.0), Some((1, 0.0)));
        assert_eq!(interp_bracket(&xp, 0.0), Some((1, -1.0)));
        assert_eq!(interp_bracket(&xp, 3.0), Some((2, 1.0)));
        assert_eq!(interp_bracket(&xp, 5.0), Some((2, 3.0)));
        assert_eq!(interp_bracket(&xp[..1], 1.0), None);
    }

    #[test]
    fn interp_linear_fills_outside_and_hits_nodes() {
        let xp = [1.0, 2.0, 3.0];
        let yp = [1.0, 4.0, 9.0];
        assert_eq!(interp_linear(&xp, &yp, 1.0, 0.0), 1.0);
        assert_eq!(interp_linear(&xp, &yp, 3.0, 0.0), 9.0);
        assert_eq!(interp_linear(&xp, &yp, 2.5, 0.0), 6.5);
        assert_eq!(interp_linear(&xp, &yp, 0.999, 7.0), 7.0);
        assert_eq!(interp_linear(&xp, &yp, f64::NAN, 7.0), 7.0);
    }

    #[test]
    fn interp_with_edges_matches_numpy_rules() {
        let xp = [0.0, 1.0, 2.0];
        let fp = [0.0, 10.0, 30.0];
        assert_eq!(interp_with_edges(&xp, &fp, -1.0, -5.0, 99.0), -5.0);
        assert_eq!(interp_with_edges(&xp, &fp, 2.0, -5.0, 99.0), 30.0);
        assert_eq!(interp_with_edges(&xp, &fp, 2.5, -5.0, 99.0), 99.0);
        assert_eq!(interp_with_edges(&xp, &fp, 1.5, -5.0, 99.0), 20.0);
        assert!(interp_with_edges(&xp, &fp, f64::NAN, 0.0, 0.0).is_nan());
    }
}

/// The quantile functions galsed had before [`quantile_sorted`] and [`weighted_quantile_sorted`],
/// verbatim, against which the new ones must agree bit for bit.
#[cfg(test)]
mod quantile_equivalence {
    use super::*;

    /// galsed-fit `sample.rs` (`Summary::from_samples`).
    fn sample_quantile_sorted(sorted: &[f64], q: f64) -> f64 {
        let pos = q * (sorted.len() - 1) as f64;
        let i = pos.floor() as usize;
        let frac = pos - i as f64;
        if i + 1 < sorted.len() {
            sorted[i] + frac * (sorted[i + 1] - sorted[i])
        } else {
            sorted[i]
        }
    }

    /// galsed-fit `sample.rs` (`Summary::from_weighted`).
    fn sample_weighted_quantile(sorted: &[(f64, f64)], cdf: &[f64], q: f64) -> f64 {
        if q <= cdf[0] {
            return sorted[0].0;
        }
        let k = cdf.partition_point(|&c| c < q);
        if k >= cdf.len() {
            return sorted[sorted.len() - 1].0;
        }
        let (c0, c1) = (cdf[k - 1], cdf[k]);
        let (x0, x1) = (sorted[k - 1].0, sorted[k].0);
        if c1 > c0 {
            x0 + (q - c0) / (c1 - c0) * (x1 - x0)
        } else {
            x1
        }
    }

    /// galsed-train `validate.rs`, q in [0, 100].
    fn validate_percentile(sorted: &[f64], q: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let pos = q / 100.0 * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
    }

    /// galsed-optir `evaluate.rs`.
    fn evaluate_quantile(sorted: &[f64], q: f64) -> f64 {
        let pos = q * (sorted.len() - 1) as f64;
        let (i, f) = (pos.floor() as usize, pos.fract());
        if i + 1 < sorted.len() {
            sorted[i] * (1.0 - f) + sorted[i + 1] * f
        } else {
            sorted[i]
        }
    }

    /// galsed-cli `optir_plots.rs`.
    fn optir_plots_percentile(v: &mut [f64], q: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
    }

    /// The median of galsed-optir `occlude.rs` (`median_and_variance`).
    fn occlude_median(v: &[f32]) -> f64 {
        let mut s: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            0.5 * (s[n / 2 - 1] + s[n / 2])
        }
    }

    /// galsed-cli `corner.rs`.
    fn corner_weighted_quantiles(x: &[f64], w: &[f64], qs: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
        let total: f64 = w.iter().sum();
        let mut cdf = Vec::with_capacity(x.len());
        let mut acc = 0.0;
        for &i in &idx {
            acc += w[i];
            cdf.push(acc / total);
        }
        qs.iter()
            .map(|&q| {
                let k = cdf.partition_point(|&c| c < q);
                if k == 0 {
                    x[idx[0]]
                } else if k >= cdf.len() {
                    x[idx[cdf.len() - 1]]
                } else {
                    let (c0, c1) = (cdf[k - 1], cdf[k]);
                    let (x0, x1) = (x[idx[k - 1]], x[idx[k]]);
                    if c1 > c0 {
                        x0 + (q - c0) / (c1 - c0) * (x1 - x0)
                    } else {
                        x1
                    }
                }
            })
            .collect()
    }

    /// Deterministic samples with ties, zeros of both signs, f32-representable values and wide
    /// magnitudes.
    fn cases() -> Vec<Vec<f64>> {
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut out = vec![
            vec![0.0],
            vec![-0.0],
            vec![-0.0, -0.0],
            vec![-0.0, 0.0, -0.0],
            vec![2.5],
            vec![1.0, 1.0, 1.0],
            vec![-3.0, 7.0],
        ];
        for n in 1..200 {
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    let r = next();
                    match r % 7 {
                        0 => f64::from((r >> 8) as u8 % 4) - 1.5,
                        1 => -0.0,
                        2 => 0.0,
                        3 => f64::from(((r >> 11) as f64 / (1u64 << 53) as f64 * 10.0) as f32),
                        4 => ((r >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e12,
                        _ => ((r >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * 1e-7,
                    }
                })
                .collect();
            out.push(v);
        }
        out
    }

    const QS: [f64; 14] = [
        0.0,
        0.001,
        0.005,
        0.16,
        1.0 / 3.0,
        0.5,
        2.0 / 3.0,
        0.84,
        0.995,
        0.999,
        1.0,
        0.025,
        0.975,
        0.95,
    ];

    fn sorted(v: &[f64]) -> Vec<f64> {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    }

    #[test]
    fn unweighted_quantiles_are_bitwise_the_old_ones() {
        for v in cases() {
            let s = sorted(&v);
            for q in QS {
                let bits = |x: f64| x.to_bits();
                let linear = quantile_sorted(&s, q, QuantileMethod::Linear);
                assert_eq!(
                    bits(linear),
                    bits(sample_quantile_sorted(&s, q)),
                    "{s:?} {q}"
                );
                assert_eq!(
                    bits(quantile_sorted(&s, q, QuantileMethod::LinearBlend)),
                    bits(evaluate_quantile(&s, q)),
                    "{s:?} {q}"
                );
                assert_eq!(
                    bits(quantile_sorted(&s, q, QuantileMethod::Nearest)),
                    bits(optir_plots_percentile(&mut v.clone(), q)),
                    "{s:?} {q}"
                );
                // validate.rs took percents and added 0·0 at the top order statistic: + 0.0
                // turns a −0.0 there into +0.0 as it did (the only difference, for finite values).
                let p = q * 100.0;
                assert_eq!(
                    bits(quantile_sorted(&s, p / 100.0, QuantileMethod::Linear) + 0.0),
                    bits(validate_percentile(&s, p)),
                    "{s:?} {p}"
                );
            }
            let f32s: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            let s32 = sorted(&f32s.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>());
            assert_eq!(
                quantile_sorted(&s32, 0.5, QuantileMethod::Midpoint).to_bits(),
                occlude_median(&f32s).to_bits(),
                "{s32:?}"
            );
        }
        assert!(quantile_sorted(&[], 0.5, QuantileMethod::Linear).is_nan());
        assert!(validate_percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn weighted_quantiles_are_bitwise_the_old_ones() {
        let mut s: u64 = 12345;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for v in cases() {
            let n = v.len();
            // Equal, random and partly zero weights.
            let weights: [Vec<f64>; 3] = [
                vec![1.0; n],
                (0..n).map(|_| next() + 1e-3).collect(),
                (0..n)
                    .map(|i| if i % 3 == 0 { 0.0 } else { next() })
                    .chain(std::iter::once(1.0))
                    .take(n)
                    .collect(),
            ];
            for w in weights {
                if w.iter().sum::<f64>() <= 0.0 {
                    continue;
                }
                // corner.rs: cdf as the running sum over the total.
                let old = corner_weighted_quantiles(&v, &w, &QS);
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
                let xs: Vec<f64> = idx.iter().map(|&i| v[i]).collect();
                let total: f64 = w.iter().sum();
                let mut acc = 0.0;
                let cdf: Vec<f64> = idx
                    .iter()
                    .map(|&i| {
                        acc += w[i];
                        acc / total
                    })
                    .collect();
                for (q, o) in QS.iter().zip(&old) {
                    let new = weighted_quantile_sorted(&xs, &cdf, *q);
                    assert_eq!(new.to_bits(), o.to_bits(), "{v:?} {w:?} {q}");
                }
                // sample.rs: weights normalised first, cdf divided by its last value.
                let mut pairs: Vec<(f64, f64)> =
                    v.iter().copied().zip(w.iter().map(|x| x / total)).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut c = 0.0;
                let mut cdf: Vec<f64> = pairs
                    .iter()
                    .map(|(_, x)| {
                        c += x;
                        c
                    })
                    .collect();
                cdf.iter_mut().for_each(|x| *x /= c);
                let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
                for q in QS {
                    assert_eq!(
                        weighted_quantile_sorted(&xs, &cdf, q).to_bits(),
                        sample_weighted_quantile(&pairs, &cdf, q).to_bits(),
                        "{v:?} {w:?} {q}"
                    );
                }
            }
        }
    }
}
