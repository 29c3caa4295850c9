//! Posterior summaries ([`Summary`]).

use galsed_core::numeric::{QuantileMethod, quantile_sorted, weighted_quantile_sorted};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::config_err;
use super::nested::kish_ess;
use crate::optim::OptimError;

/// Per-parameter posterior summary: median, 16th and 84th percentiles, mean and standard
/// deviation (population form, normalised by the total weight).
///
/// NaN values are left out of their column: a derived property can be undefined for some draws
/// (the metallicity of an age bin without stars is 0/0), and the draws where it is defined still
/// describe it. A column without any other value is summarised as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// 50th percentile.
    pub median: Vec<f64>,
    /// 16th percentile.
    pub p16: Vec<f64>,
    /// 84th percentile.
    pub p84: Vec<f64>,
    /// Mean.
    pub mean: Vec<f64>,
    /// Standard deviation.
    pub std: Vec<f64>,
    /// Samples used.
    pub n_samples: usize,
    /// Effective number of samples of the weights (Kish; `n_samples` when unweighted). Not
    /// corrected for autocorrelation.
    pub n_effective: f64,
}

impl Summary {
    /// Summary of equally weighted samples (n × dim). Percentiles interpolate linearly between
    /// order statistics (numpy's default).
    pub fn from_samples(samples: ArrayView2<f64>) -> Result<Self, OptimError> {
        let n = samples.nrows();
        if n == 0 || samples.ncols() == 0 {
            return Err(config_err("no samples to summarise".into()));
        }
        let mut s = Summary {
            median: vec![],
            p16: vec![],
            p84: vec![],
            mean: vec![],
            std: vec![],
            n_samples: n,
            n_effective: n as f64,
        };
        for col in samples.columns() {
            let mut v: Vec<f64> = col.iter().copied().filter(|x| !x.is_nan()).collect();
            if v.is_empty() {
                s.push_undefined();
                continue;
            }
            v.sort_by(f64::total_cmp);
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            s.median
                .push(quantile_sorted(&v, 0.5, QuantileMethod::Linear));
            s.p16
                .push(quantile_sorted(&v, 0.16, QuantileMethod::Linear));
            s.p84
                .push(quantile_sorted(&v, 0.84, QuantileMethod::Linear));
            s.mean.push(mean);
            s.std.push(var.sqrt());
        }
        Ok(s)
    }

    /// Summary of weighted samples (n × dim, weights ≥ 0, not all 0; they need not be
    /// normalised). Percentiles interpolate the weighted empirical CDF (dynesty's `quantile`).
    pub fn from_weighted(samples: ArrayView2<f64>, weights: &[f64]) -> Result<Self, OptimError> {
        let n = samples.nrows();
        if n == 0 || samples.ncols() == 0 {
            return Err(config_err("no samples to summarise".into()));
        }
        if weights.len() != n {
            return Err(OptimError::Dimension {
                what: "weights",
                expected: n,
                got: weights.len(),
            });
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(config_err("weights must be finite and ≥ 0".into()));
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err(config_err("weights sum to 0".into()));
        }
        let mut s = Summary {
            median: vec![],
            p16: vec![],
            p84: vec![],
            mean: vec![],
            std: vec![],
            n_samples: n,
            n_effective: kish_ess(weights),
        };
        for col in samples.columns() {
            let kept = || {
                col.iter()
                    .copied()
                    .zip(weights.iter().copied())
                    .filter(|(x, _)| !x.is_nan())
            };
            // Summed in row order: without NaNs, exactly the total of all weights.
            let total: f64 = kept().map(|(_, w)| w).sum();
            if total <= 0.0 {
                s.push_undefined();
                continue;
            }
            let mut v: Vec<(f64, f64)> = kept().map(|(x, w)| (x, w / total)).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut cdf = Vec::with_capacity(n);
            let mut c = 0.0;
            for (_, w) in &v {
                c += w;
                cdf.push(c);
            }
            let last = c;
            cdf.iter_mut().for_each(|x| *x /= last);
            let mean = v.iter().map(|(x, w)| x * w).sum::<f64>();
            let var = v.iter().map(|(x, w)| w * (x - mean).powi(2)).sum::<f64>();
            let xs: Vec<f64> = v.iter().map(|p| p.0).collect();
            s.median.push(weighted_quantile_sorted(&xs, &cdf, 0.5));
            s.p16.push(weighted_quantile_sorted(&xs, &cdf, 0.16));
            s.p84.push(weighted_quantile_sorted(&xs, &cdf, 0.84));
            s.mean.push(mean);
            s.std.push(var.sqrt());
        }
        Ok(s)
    }

    /// NaN for every statistic of a column without a defined value.
    fn push_undefined(&mut self) {
        for stat in [
            &mut self.median,
            &mut self.p16,
            &mut self.p84,
            &mut self.mean,
            &mut self.std,
        ] {
            stat.push(f64::NAN);
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    /// A column with NaNs: the percentiles of the other values, as if the NaNs were absent.
    /// Negative NaN (what 0.0/0.0 gives on x86) sorts first under `total_cmp`, where it used to
    /// become the 16th percentile.
    #[test]
    fn nans_are_left_out_of_their_column() {
        let nan = -f64::NAN;
        let with = array![[1.0, nan], [2.0, 5.0], [3.0, nan], [4.0, 6.0], [5.0, 7.0]];
        let without = array![[5.0], [6.0], [7.0]];
        let a = Summary::from_samples(with.view()).unwrap();
        let b = Summary::from_samples(without.view()).unwrap();
        assert_eq!(
            (a.p16[1], a.median[1], a.p84[1], a.mean[1], a.std[1]),
            (b.p16[0], b.median[0], b.p84[0], b.mean[0], b.std[0])
        );
        assert_eq!(a.median[0], 3.0);

        let w = [0.5, 1.0, 2.0, 1.0, 0.5];
        let a = Summary::from_weighted(with.view(), &w).unwrap();
        let b = Summary::from_weighted(without.view(), &[1.0, 1.0, 0.5]).unwrap();
        assert_eq!(
            (a.p16[1], a.median[1], a.p84[1], a.mean[1], a.std[1]),
            (b.p16[0], b.median[0], b.p84[0], b.mean[0], b.std[0])
        );

        let undefined = array![[1.0, nan], [2.0, nan]];
        let a = Summary::from_samples(undefined.view()).unwrap();
        assert!(a.p16[1].is_nan() && a.median[1].is_nan() && a.std[1].is_nan());
        assert_eq!(a.median[0], 1.5);
    }
}
