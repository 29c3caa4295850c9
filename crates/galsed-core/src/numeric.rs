//! Small numerical helpers shared across galsed: trapezoid integration, left-sided binary search
//! and linear interpolation with the exact conventions of the reference implementation.
//!
//! All functions are generic over [`num_traits::Float`] (`f32` and `f64`) so that the float32 and
//! float64 pipelines use the same code. Slices of mismatched lengths are programming errors and
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

/// NumPy's interpolation from node j, the largest with xp[j] ≤ x (xp[0] ≤ x ≤ xp[last]).
pub fn interp_from_node<T: Float>(xp: &[T], fp: &[T], x: T, j: usize) -> T {
    if j == xp.len() - 1 || xp[j] == x {
        return fp[j];
    }
    interp_with_slope(xp, fp, (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]), x, j)
}

/// [`interp_from_node`] strictly inside segment j with its slope (fp[j+1] − fp[j]) / (xp[j+1] − xp[j])
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
