//! The statistics of a corner plot (in the manner of corner.py): weighted marginal quantiles,
//! axis ranges, 1-D and 2-D histograms, Gaussian smoothing and the density levels of the
//! contours. The drawing is in `galsed-plot`.
//!
//! Axis ranges cover the weighted 0.1–99.9 % quantiles (so that the low-weight tail of nested
//! sampling does not squash the posterior), widened to include truths and best-fit values.

use galsed_core::numeric::weighted_quantile_sorted;
use ndarray::Array2;

/// Most parameters in one corner plot (the image grows with the square of the count).
pub const MAX_PARAMS: usize = 30;

/// Enclosed weight of the 2-D contours: 1σ and 2σ of a 2-D Gaussian.
pub const LEVELS: [f64; 2] = [0.393_469_340_287_366_6, 0.864_664_716_763_387_3];
/// Percentiles marked on the diagonal.
pub const QUANTILES: [f64; 3] = [0.16, 0.5, 0.84];
/// Quantiles bounding the axis ranges.
pub const RANGE_Q: (f64, f64) = (0.001, 0.999);

/// Samples that cannot be summarised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarginalsError {
    /// Inconsistent lengths, bad weights or no finite sample.
    #[error("{0}")]
    Invalid(String),
}

macro_rules! invalid {
    ($($t:tt)*) => {
        MarginalsError::Invalid(format!($($t)*))
    };
}

/// Everything a corner plot draws, in data units.
#[derive(Debug, Clone)]
pub struct Marginals {
    /// Parameter names.
    pub names: Vec<String>,
    /// Finite samples, one vector per parameter.
    pub cols: Vec<Vec<f64>>,
    /// Weights of the kept samples (sum 1).
    pub w: Vec<f64>,
    /// Samples left out for non-finite values.
    pub dropped: usize,
    /// Kish effective sample size.
    pub n_eff: f64,
    /// Whether weights were given.
    pub weighted: bool,
    /// Axis range of each parameter: the [`RANGE_Q`] quantiles widened to the truths and
    /// best-fit values, padded by 5 % (or an interval around a constant).
    pub ranges: Vec<(f64, f64)>,
    /// The [`QUANTILES`] (16th, 50th, 84th percentiles) of each parameter.
    pub quantiles: Vec<[f64; 3]>,
    /// True values (NaN to skip one).
    pub truths: Option<Vec<f64>>,
    /// Best-fit values (NaN to skip one).
    pub best: Option<Vec<f64>>,
    /// Bins of the 1-D histograms (odd).
    pub bins1: usize,
    /// Bins per axis of the 2-D histograms (odd).
    pub bins2: usize,
    /// Whether pairs are drawn as scatters (few samples) rather than 2-D histograms.
    pub scatter: bool,
}

impl Marginals {
    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// The statistics of `samples` (n_samples × dim, one column per name). `weights` (one per
    /// sample, ≥ 0) default to equal; `truths` and `best` hold one value per parameter.
    ///
    /// Samples with a non-finite value in any parameter are left out (and counted); a parameter
    /// that is never finite, bad weights or inconsistent lengths are errors.
    pub fn new(
        names: &[String],
        samples: &Array2<f64>,
        weights: Option<&[f64]>,
        truths: Option<&[f64]>,
        best: Option<&[f64]>,
    ) -> Result<Self, MarginalsError> {
        let (n, dim) = samples.dim();
        if dim == 0 {
            return Err(invalid!("no parameters to plot"));
        }
        if dim > MAX_PARAMS {
            return Err(invalid!(
                "{dim} parameters are too many for one corner plot (at most {MAX_PARAMS})"
            ));
        }
        if names.len() != dim {
            return Err(invalid!(
                "{} parameter names for {dim} sample columns",
                names.len()
            ));
        }
        if n == 0 {
            return Err(invalid!("no samples to plot"));
        }
        for (what, v) in [("truths", truths), ("best-fit values", best)] {
            if let Some(v) = v
                && v.len() != dim
            {
                return Err(invalid!("{} {what} for {dim} parameters", v.len()));
            }
        }
        if let Some(w) = weights {
            if w.len() != n {
                return Err(invalid!("{} weights for {n} samples", w.len()));
            }
            if let Some((k, x)) = w
                .iter()
                .enumerate()
                .find(|(_, x)| !x.is_finite() || **x < 0.0)
            {
                return Err(invalid!(
                    "weight {} of sample {} is not a finite number ≥ 0",
                    x,
                    k + 1
                ));
            }
        }
        let keep: Vec<usize> = (0..n)
            .filter(|&i| samples.row(i).iter().all(|v| v.is_finite()))
            .collect();
        if keep.is_empty() {
            let never = (0..dim)
                .find(|&j| samples.column(j).iter().all(|v| !v.is_finite()))
                .map(|j| format!(": parameter '{}' is never finite", names[j]))
                .unwrap_or_default();
            return Err(invalid!(
                "no sample has finite values for every parameter{never}"
            ));
        }
        let mut w: Vec<f64> = keep
            .iter()
            .map(|&i| weights.map_or(1.0, |w| w[i]))
            .collect();
        let total: f64 = w.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return Err(invalid!("the weights of the finite samples sum to {total}"));
        }
        w.iter_mut().for_each(|x| *x /= total);
        let n_eff = 1.0 / w.iter().map(|x| x * x).sum::<f64>();
        let cols: Vec<Vec<f64>> = (0..dim)
            .map(|j| keep.iter().map(|&i| samples[[i, j]]).collect())
            .collect();
        let mut ranges = vec![];
        let mut quantiles = vec![];
        for (j, c) in cols.iter().enumerate() {
            let q = weighted_quantiles(
                c,
                &w,
                &[
                    RANGE_Q.0,
                    QUANTILES[0],
                    QUANTILES[1],
                    QUANTILES[2],
                    RANGE_Q.1,
                ],
            );
            quantiles.push([q[1], q[2], q[3]]);
            let (mut lo, mut hi) = (q[0], q[4]);
            for extra in [truths, best].into_iter().flatten() {
                let v = extra[j];
                if v.is_finite() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            let scale = lo.abs().max(hi.abs());
            if hi - lo <= 1e-9 * scale || hi - lo < f64::MIN_POSITIVE * 1e6 {
                // A constant parameter: an interval around its value.
                let half = if scale > 0.0 { 0.01 * scale } else { 0.5 };
                let mid = 0.5 * (lo + hi);
                (lo, hi) = (mid - half, mid + half);
            } else {
                let pad = 0.05 * (hi - lo);
                (lo, hi) = (lo - pad, hi + pad);
            }
            ranges.push((lo, hi));
        }
        // Odd, so that a constant parameter falls in the middle of a bin.
        let bins1 = (n_eff.sqrt().round() as usize).clamp(8, 40) | 1;
        let bins2 = ((2.0 * n_eff.cbrt()).round() as usize).clamp(8, 30) | 1;
        Ok(Marginals {
            names: names.to_vec(),
            cols,
            w,
            dropped: n - keep.len(),
            n_eff,
            weighted: weights.is_some(),
            ranges,
            quantiles,
            truths: truths.map(<[f64]>::to_vec),
            best: best.map(<[f64]>::to_vec),
            bins1,
            bins2,
            scatter: keep.len() < 300 || n_eff < 60.0,
        })
    }
}

/// Weighted quantiles as corner.py: interpolation in the cumulative weight
/// ([`weighted_quantile_sorted`]).
pub fn weighted_quantiles(x: &[f64], w: &[f64], qs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let total: f64 = w.iter().sum();
    let mut cdf = Vec::with_capacity(x.len());
    let mut acc = 0.0;
    for &i in &idx {
        acc += w[i];
        cdf.push(acc / total);
    }
    let sorted: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
    qs.iter()
        .map(|&q| weighted_quantile_sorted(&sorted, &cdf, q))
        .collect()
}

/// Weighted histogram over `range` (values outside are ignored).
pub fn histogram(x: &[f64], w: &[f64], range: (f64, f64), bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins];
    let scale = bins as f64 / (range.1 - range.0);
    for (&v, &wt) in x.iter().zip(w) {
        let b = ((v - range.0) * scale).floor();
        if b >= 0.0 && b < bins as f64 {
            h[b as usize] += wt;
        }
    }
    h
}

/// Weighted 2-D histogram over `rx` × `ry` with `bins` per axis, `h[iy][ix]`.
pub fn histogram2(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    rx: (f64, f64),
    ry: (f64, f64),
    bins: usize,
) -> Vec<Vec<f64>> {
    let mut h = vec![vec![0.0; bins]; bins];
    let (sx, sy) = (bins as f64 / (rx.1 - rx.0), bins as f64 / (ry.1 - ry.0));
    for ((&u, &v), &wt) in x.iter().zip(y).zip(w) {
        let (bx, by) = (((u - rx.0) * sx).floor(), ((v - ry.0) * sy).floor());
        if bx >= 0.0 && by >= 0.0 && bx < bins as f64 && by < bins as f64 {
            h[by as usize][bx as usize] += wt;
        }
    }
    h
}

/// Gaussian smoothing with σ = 1 bin (mass leaving the grid is lost, as in corner.py).
pub fn smooth(h: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let k: Vec<f64> = (-2i32..=2)
        .map(|d| (-0.5 * f64::from(d * d)).exp())
        .collect();
    let norm: f64 = k.iter().sum();
    let n = h.len();
    let pass = |get: &dyn Fn(usize, i64) -> f64| -> Vec<Vec<f64>> {
        (0..n)
            .map(|a| {
                (0..n)
                    .map(|b| {
                        (0..5)
                            .map(|t| k[t] * get(a, b as i64 + t as i64 - 2))
                            .sum::<f64>()
                            / norm
                    })
                    .collect()
            })
            .collect()
    };
    let inside = |i: i64| (0..n as i64).contains(&i);
    let rows = pass(&|a, b| if inside(b) { h[a][b as usize] } else { 0.0 });
    let cols_t = pass(&|a, b| if inside(b) { rows[b as usize][a] } else { 0.0 });
    // cols_t[x][y]: transpose back.
    (0..n)
        .map(|y| (0..n).map(|x| cols_t[x][y]).collect())
        .collect()
}

/// Density thresholds enclosing the given fractions of the histogram's weight.
pub fn thresholds(h: &[Vec<f64>], fractions: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = h.iter().flatten().copied().filter(|x| *x > 0.0).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = v.iter().sum();
    fractions
        .iter()
        .map(|&f| {
            let mut acc = 0.0;
            for &x in &v {
                acc += x;
                if acc >= f * total {
                    return x;
                }
            }
            v.last().copied().unwrap_or(0.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        let x = [3.0, 1.0, 2.0, 4.0];
        let w = [0.25; 4];
        let q = weighted_quantiles(&x, &w, &[0.0, 0.5, 1.0]);
        assert_eq!(q, vec![1.0, 2.0, 4.0]);
    }
}
