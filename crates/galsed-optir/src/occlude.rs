//! Multiscale occlusion attribution (Jespersen et al. 2025, §4): which parts of a spectrum carry
//! the information the WISE predictor uses.
//!
//! For each window length, a window slides across the spectrum with half-window steps; the
//! pixels inside are replaced by Gaussian noise around the window's median flux with five times
//! the variance of the window's fluxes, the spectrum is re-encoded, and the predicted WISE
//! magnitudes change. The change in χ of band b, |ŷ_occluded − ŷ|/σ_b, is given to every pixel of
//! the window; per scale a pixel gets the mean over the windows covering it, and the attribution
//! is the mean over scales. Galaxies are stacked in the rest frame, so that features line up.

use galsed_core::numeric::{QuantileMethod, quantile_sorted};
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::survey::{LOGLAM_STEP, UNDETECTED_SIGMA};
use crate::{OptirError, SpectrumEncoder};

/// Rest-frame features marked on attribution plots: (label, λ \[Å\]).
pub const LINE_MARKERS: [(&str, f64); 18] = [
    ("[OII]", 3727.4),
    ("CaII K", 3933.7),
    ("CaII H", 3968.5),
    ("SrII", 4077.7),
    ("Hδ", 4101.7),
    ("G band", 4304.4),
    ("Hγ", 4340.5),
    ("Hβ", 4861.3),
    ("[OIII]", 5006.8),
    ("Mg b", 5175.0),
    ("FeI", 5270.0),
    ("NaD", 5892.9),
    ("Hα", 6562.8),
    ("[NII]", 6583.5),
    ("[SII]", 6724.0),
    ("CaII 8498", 8498.0),
    ("CaII 8542", 8542.1),
    ("CaII 8662", 8662.1),
];

/// Occlusion settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcclusionSettings {
    /// Window lengths \[pixels\].
    pub window_lengths: Vec<usize>,
    /// Variance of the replacement noise in units of the window's flux variance (paper: 5).
    pub variance_factor: f64,
    /// Seed of the replacement noise.
    pub seed: u64,
}

impl Default for OcclusionSettings {
    fn default() -> Self {
        Self {
            window_lengths: vec![10, 30, 100, 300],
            variance_factor: 5.0,
            seed: 0,
        }
    }
}

/// Predicted WISE magnitudes (n, 4) from latents (n, S), normalisations and redshifts.
pub type Predict<'a> =
    dyn Fn(ArrayView2<f32>, &[f64], &[f64]) -> Result<Array2<f64>, OptirError> + Sync + 'a;

/// One galaxy's normalised spectrum and what the predictor is compared with.
#[derive(Debug, Clone, Copy)]
pub struct Galaxy<'a> {
    /// Normalised flux per observed pixel.
    pub flux: ArrayView1<'a, f32>,
    /// Inverse variance of the normalised flux per pixel.
    pub ivar: ArrayView1<'a, f32>,
    /// The normalisation the spectrum was divided by.
    pub norm: f64,
    /// Redshift of the galaxy.
    pub redshift: f64,
    /// WISE errors \[mag\]; undetected bands get no attribution (NaN).
    pub wise_err: [f64; 4],
}

/// Per-pixel attribution of one galaxy on its observed grid: (4 bands, n_pix), and per scale
/// (n_scales, 4, n_pix) before averaging.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// Attribution averaged over the window scales, (4, n_pix).
    pub mean: Array2<f64>,
    /// Attribution of each window scale, (4, n_pix) each.
    pub per_scale: Vec<Array2<f64>>,
}

/// The occlusion attribution of one galaxy.
pub fn attribute(
    encoder: &dyn SpectrumEncoder,
    predict: &Predict<'_>,
    loglam: &[f64],
    galaxy: Galaxy<'_>,
    settings: &OcclusionSettings,
) -> Result<Attribution, OptirError> {
    let n_pix = loglam.len();
    if galaxy.flux.len() != n_pix || galaxy.ivar.len() != n_pix {
        return Err(OptirError::Input(format!(
            "occlusion: spectrum has {} pixels and {} inverse variances, the grid {n_pix}",
            galaxy.flux.len(),
            galaxy.ivar.len()
        )));
    }
    if settings.window_lengths.is_empty()
        || settings.window_lengths.iter().any(|&w| w == 0 || w > n_pix)
    {
        return Err(OptirError::Input(format!(
            "occlusion: window lengths must be between 1 and {n_pix} pixels, got {:?}",
            settings.window_lengths
        )));
    }
    if !(settings.variance_factor.is_finite() && settings.variance_factor >= 0.0) {
        return Err(OptirError::Input(format!(
            "occlusion: variance factor must be ≥ 0, got {}",
            settings.variance_factor
        )));
    }
    let flux = galaxy.flux.to_owned();
    let ivar2 = galaxy.ivar.insert_axis(Axis(0));
    let base_latents = encoder.encode(
        loglam,
        flux.view().insert_axis(Axis(0)),
        ivar2,
        &[galaxy.redshift],
    )?;
    let base = predict(base_latents.view(), &[galaxy.norm], &[galaxy.redshift])?;

    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut per_scale = Vec::with_capacity(settings.window_lengths.len());
    for &len in &settings.window_lengths {
        let stride = (len / 2).max(1);
        let mut starts: Vec<usize> = (0..=n_pix - len).step_by(stride).collect();
        // The last window ends on the last pixel, so that every pixel is covered.
        if starts.last() != Some(&(n_pix - len)) {
            starts.push(n_pix - len);
        }
        let mut occluded = Array2::<f32>::zeros((starts.len(), n_pix));
        for (row, &s) in starts.iter().enumerate() {
            let mut r = occluded.row_mut(row);
            r.assign(&flux);
            let window: Vec<f32> = (s..s + len)
                .filter(|&k| galaxy.ivar[k] > 0.0)
                .map(|k| flux[k])
                .collect();
            if window.is_empty() {
                continue;
            }
            let (median, var) = median_and_variance(&window);
            let noise =
                Normal::new(median, (settings.variance_factor * var).sqrt()).expect("finite σ ≥ 0");
            for k in s..s + len {
                r[k] = noise.sample(&mut rng) as f32;
            }
        }
        let ivar = galaxy
            .ivar
            .insert_axis(Axis(0))
            .broadcast((starts.len(), n_pix))
            .expect("one row")
            .to_owned();
        let z = vec![galaxy.redshift; starts.len()];
        let norms = vec![galaxy.norm; starts.len()];
        let latents = encoder.encode(loglam, occluded.view(), ivar.view(), &z)?;
        let pred = predict(latents.view(), &norms, &z)?;

        let mut sum = Array2::<f64>::zeros((4, n_pix));
        let mut count = vec![0usize; n_pix];
        for (row, &s) in starts.iter().enumerate() {
            for b in 0..4 {
                let dchi = (pred[[row, b]] - base[[0, b]]).abs() / galaxy.wise_err[b];
                for k in s..s + len {
                    sum[[b, k]] += dchi;
                }
            }
            for c in &mut count[s..s + len] {
                *c += 1;
            }
        }
        for b in 0..4 {
            let detected = galaxy.wise_err[b] < UNDETECTED_SIGMA;
            for k in 0..n_pix {
                sum[[b, k]] = if detected && count[k] > 0 {
                    sum[[b, k]] / count[k] as f64
                } else {
                    f64::NAN
                };
            }
        }
        per_scale.push(sum);
    }
    let mut mean = Array2::<f64>::zeros((4, n_pix));
    for s in &per_scale {
        mean += s;
    }
    mean /= per_scale.len() as f64;
    Ok(Attribution { mean, per_scale })
}

/// Median and (population) variance of a non-empty sample.
fn median_and_variance(v: &[f32]) -> (f64, f64) {
    let mut s: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = quantile_sorted(&s, 0.5, QuantileMethod::Midpoint);
    let mean = s.iter().sum::<f64>() / n as f64;
    let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    (median, var)
}

/// Attributions of many galaxies stacked on a common rest-frame log-λ grid.
#[derive(Debug, Clone)]
pub struct RestStack {
    /// log10 of rest-frame λ \[Å\].
    pub loglam_rest: Vec<f64>,
    /// Mean attribution per band, (4, n_rest); NaN where no galaxy covers a pixel.
    pub mean: Array2<f64>,
    /// Galaxies contributing to each pixel and band, (4, n_rest).
    pub count: Array2<u32>,
}

impl RestStack {
    /// An empty stack covering `rest_range` \[Å\] in steps of the SDSS pixel.
    pub fn new(rest_range: (f64, f64)) -> Self {
        let (lo, hi) = (rest_range.0.log10(), rest_range.1.log10());
        let n = ((hi - lo) / LOGLAM_STEP).ceil() as usize + 1;
        Self {
            loglam_rest: (0..n).map(|k| lo + LOGLAM_STEP * k as f64).collect(),
            mean: Array2::zeros((4, n)),
            count: Array2::zeros((4, n)),
        }
    }

    /// Adds one galaxy's attribution (observed grid `loglam`) at its redshift.
    pub fn add(&mut self, loglam: &[f64], attribution: &Array2<f64>, redshift: f64) {
        let shift = (1.0 + redshift).log10();
        let lo = self.loglam_rest[0];
        let n = self.loglam_rest.len();
        for (k, &l) in loglam.iter().enumerate() {
            let pos = ((l - shift - lo) / LOGLAM_STEP).round();
            if pos < 0.0 || pos >= n as f64 {
                continue;
            }
            let j = pos as usize;
            for b in 0..4 {
                let v = attribution[[b, k]];
                if v.is_finite() {
                    // Running mean: the stack never holds sums that later need dividing.
                    let c = &mut self.count[[b, j]];
                    *c += 1;
                    let m = &mut self.mean[[b, j]];
                    *m += (v - *m) / f64::from(*c);
                }
            }
        }
    }

    /// The stack with NaN where nothing was added.
    pub fn finish(mut self) -> Self {
        for (m, &c) in self.mean.iter_mut().zip(self.count.iter()) {
            if c == 0 {
                *m = f64::NAN;
            }
        }
        self
    }

    /// Mean attribution per band within ±`half_width` Å of each rest-frame line marker, next to
    /// the median over all pixels: which features matter.
    pub fn feature_table(&self, half_width: f64) -> Vec<(&'static str, f64, [f64; 4])> {
        LINE_MARKERS
            .iter()
            .map(|&(name, lam)| {
                let (lo, hi) = ((lam - half_width).log10(), (lam + half_width).log10());
                let vals: [f64; 4] = std::array::from_fn(|b| {
                    let v: Vec<f64> = self
                        .loglam_rest
                        .iter()
                        .zip(self.mean.row(b))
                        .filter(|&(&l, m)| l >= lo && l <= hi && m.is_finite())
                        .map(|(_, &m)| m)
                        .collect();
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().sum::<f64>() / v.len() as f64
                    }
                });
                (name, lam, vals)
            })
            .collect()
    }
}

/// A random subset of `k` of `rows` (seeded), for choosing galaxies to attribute.
pub fn choose(rows: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pool = rows.to_vec();
    let k = k.min(pool.len());
    for i in 0..k {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool
}
