//! The SED-fitting baseline, joining the two papers: fit the optical with galsed's own fitting
//! and predict WISE from the posterior.
//!
//! As the paper's CIGALE set-up, the spectrum is first reduced to synthetic photometry in
//! [`N_BOXCAR`] top-hat bands spanning the SDSS range (observed frame, equal widths in log λ).
//! Each galaxy is then fitted with a particle swarm (polished by L-BFGS-B) and a short ensemble
//! MCMC; the WISE magnitudes of the posterior draws give the prediction (their median) and its
//! spread.
//!
//! Two models:
//! * [`SedModel::Full`] — all seven galaxy parameters free, and for each of disk and bulge a
//!   delayed-exponential SFH and one metallicity (13 parameters). This is close to the world the
//!   synthetic survey is drawn from, so it is the best a fit can do there.
//! * [`SedModel::Separable`] — the deliberately simplified model: one SFH and metallicity shared
//!   by disk and bulge, and the geometry fixed at typical values ([`SEPARABLE_FIXED`]); only the
//!   dust surface density and the luminosity remain free beside the SFH (5 parameters). Optical
//!   and infrared are then tied together only through the dust column and the stellar
//!   population, as in simple energy-balance codes.

use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::ssp::SspLibrary;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_emulator::{Component, Starduster};
use galsed_fit::derived::Analyzer;
use galsed_fit::fit::{FitConfig, OptimizerMethod, SamplerMethod, fit_galaxy};
use galsed_fit::likelihood::{Likelihood, LikelihoodSettings, Measurement, Observations};
use galsed_fit::optim::Objective;
use galsed_fit::params::{DEFAULT_N_SUB, MhConfig, ParamConfig, Parametrization, SfhConfig};
use galsed_fit::posterior::Posterior;
use ndarray::{Array2, ArrayView1};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::OptirError;
use crate::survey::{Survey, WISE_FILTERS, WISE_ZERO_POINT_JY};

/// Number of top-hat bands the spectrum is reduced to.
pub const N_BOXCAR: usize = 10;
/// Observed-frame range of the top-hat bands \[Å\].
pub const BOXCAR_RANGE: (f64, f64) = (3800.0, 9200.0);
/// Minimum fraction of unmasked pixels for a top-hat band to be used.
pub const MIN_COVERAGE: f64 = 0.5;
/// Geometry of the separable model (physical units: deg, –, kpc, kpc, –).
pub const SEPARABLE_FIXED: [(&str, f64); 5] = [
    ("theta", 60.0),
    ("r_dust_to_rd", 1.0),
    ("r_disk", 3.0),
    ("r_bulge", 1.0),
    ("b_to_t", 0.2),
];
/// F_ν \[Jy\] per F_λ [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹] per λ² \[Å²\]: 10⁻¹⁷ · 10²³ / c [Å/s].
const FLAMBDA_TO_JY: f64 = 1e6 / 2.997_924_58e18;

/// Which model the optical is fitted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SedModel {
    /// All seven galaxy parameters free, with a separate SFH and metallicity for disk and bulge.
    Full,
    /// One SFH and metallicity shared by disk and bulge, geometry fixed ([`SEPARABLE_FIXED`]).
    Separable,
}

impl SedModel {
    /// Name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            SedModel::Full => "sedfit_full",
            SedModel::Separable => "sedfit_separable",
        }
    }

    /// The parametrisation of this model.
    pub fn parametrization(self, ssp: &SspLibrary) -> Result<Parametrization, OptirError> {
        let mut cfg = ParamConfig {
            sfh: SfhConfig::DelayedExponential {
                n_sub: DEFAULT_N_SUB,
            },
            mh: Some(MhConfig::Interpolated {}),
            ..ParamConfig::default()
        };
        if self == SedModel::Separable {
            cfg.shared_sfh = true;
            cfg.fixed = SEPARABLE_FIXED
                .iter()
                .map(|&(n, v)| (n.to_string(), v))
                .collect();
        }
        Parametrization::from_config(&cfg, ssp)
            .map_err(|e| OptirError::Input(format!("{} parametrisation: {e}", self.name())))
    }
}

/// How hard each galaxy is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SedFitSettings {
    /// Swarm particles, iterations and restarts.
    pub particles: usize,
    /// Swarm iterations per restart.
    pub iterations: usize,
    /// Independent swarm restarts.
    pub restarts: usize,
    /// Ensemble MCMC walkers and steps after the best fit (0 steps: best fit only).
    pub walkers: usize,
    /// MCMC steps after the best fit (0: best fit only).
    pub steps: usize,
    /// Posterior draws whose WISE magnitudes are predicted.
    pub draws: usize,
    /// Fractional calibration error added in quadrature to the top-hat fluxes.
    pub calibration: f64,
    /// Seed of the random number generator.
    pub seed: u64,
}

impl Default for SedFitSettings {
    fn default() -> Self {
        Self {
            particles: 32,
            iterations: 300,
            restarts: 2,
            walkers: 32,
            steps: 300,
            draws: 200,
            calibration: 0.02,
            seed: 0,
        }
    }
}

/// What a fit predicts for one galaxy.
#[derive(Debug, Clone, PartialEq)]
pub struct SedFitPrediction {
    /// Posterior median and standard deviation of the WISE Vega magnitudes.
    pub wise: [f64; 4],
    /// Posterior standard deviation of the WISE Vega magnitudes \[mag\].
    pub wise_std: [f64; 4],
    /// χ² of the top-hat fluxes at the best fit, and the number of bands used.
    pub chi2: f64,
    /// Number of bands used.
    pub n_bands: usize,
}

/// The top-hat bands: [`N_BOXCAR`] equal steps in log λ across [`BOXCAR_RANGE`], named `box0…`.
pub fn boxcar_filters() -> Vec<Filter> {
    let (lo, hi) = (BOXCAR_RANGE.0.ln(), BOXCAR_RANGE.1.ln());
    let step = (hi - lo) / N_BOXCAR as f64;
    (0..N_BOXCAR)
        .map(|i| {
            let (a, b) = (
                (lo + step * i as f64).exp(),
                (lo + step * (i + 1) as f64).exp(),
            );
            // Steep but finite edges: a curve needs distinct wavelengths.
            let wl = vec![a - 1.0, a, b, b + 1.0];
            Filter::new(format!("box{i}"), wl, vec![0.0, 1.0, 1.0, 0.0])
                .expect("a valid top-hat curve")
        })
        .collect()
}

/// Top-hat fluxes \[Jy\] and errors of one spectrum (F_λ in SDSS units on `loglam`), or `None` for
/// a band with less than [`MIN_COVERAGE`] of its pixels unmasked.
///
/// The model's band flux is the photon-weighted mean of F_ν, ∫F_ν T dλ/λ / ∫T dλ/λ; on pixels
/// uniform in log λ this is the mean F_ν over the band's pixels, which is what is returned.
pub fn boxcar_fluxes(
    loglam: &[f64],
    flux: ArrayView1<f32>,
    ivar: ArrayView1<f32>,
    filters: &[Filter],
) -> Vec<Option<(f64, f64)>> {
    filters
        .iter()
        .map(|f| {
            let (a, b) = (f.wavelength_angstrom[1], f.wavelength_angstrom[2]);
            let (mut sum, mut var, mut used, mut total) = (0.0, 0.0, 0usize, 0usize);
            for ((&l, &fl), &w) in loglam.iter().zip(flux.iter()).zip(ivar.iter()) {
                let lam = 10f64.powf(l);
                if lam < a || lam > b {
                    continue;
                }
                total += 1;
                if w > 0.0 && fl.is_finite() {
                    let k = lam * lam * FLAMBDA_TO_JY;
                    sum += f64::from(fl) * k;
                    var += k * k / f64::from(w);
                    used += 1;
                }
            }
            (total > 0 && used as f64 >= MIN_COVERAGE * total as f64)
                .then(|| (sum / used as f64, var.sqrt() / used as f64))
        })
        .collect()
}

/// Fits one galaxy's optical spectrum and predicts its WISE magnitudes.
///
#[allow(clippy::too_many_arguments)]
pub fn fit_and_predict(
    model: &Starduster,
    ssp: &SspLibrary,
    sed_model: SedModel,
    loglam: &[f64],
    flux: ArrayView1<f32>,
    ivar: ArrayView1<f32>,
    redshift: f64,
    settings: &SedFitSettings,
) -> Result<SedFitPrediction, OptirError> {
    if !(redshift.is_finite() && redshift > 0.0) {
        return Err(OptirError::Input(format!(
            "SED fit: redshift must be finite and > 0, got {redshift}"
        )));
    }
    let filters = boxcar_filters();
    let measured = boxcar_fluxes(loglam, flux, ivar, &filters);
    let (mut used_filters, mut bands) = (Vec::new(), Vec::new());
    for (f, m) in filters.iter().zip(&measured) {
        if let Some((value, sigma)) = *m {
            let sigma = sigma.hypot(settings.calibration * value.abs());
            used_filters.push(f.clone());
            bands.push((f.name.clone(), Measurement::Flux { flux: value, sigma }));
        }
    }
    let n_bands = bands.len();
    if n_bands < 3 {
        return Err(OptirError::Input(format!(
            "SED fit: only {n_bands} top-hat bands have data"
        )));
    }
    let fit_err = |e: &dyn std::fmt::Display| OptirError::Input(format!("SED fit: {e}"));
    let obs = Observations::new(bands).map_err(|e| fit_err(&e))?;
    let like = Likelihood::new(obs, LikelihoodSettings::default()).map_err(|e| fit_err(&e))?;
    let distmod = Cosmology::planck18()
        .distance_modulus(redshift)
        .map_err(|e| fit_err(&e))?;
    let observer = Observer::new(redshift, distmod)?;
    let param = sed_model.parametrization(ssp)?;
    let mut config = FitConfig::default();
    let post = Posterior::new(model, param, &used_filters, observer, like, &config.prior)
        .map_err(|e| fit_err(&e))?;

    config.optimizer.method = OptimizerMethod::Pso;
    config.optimizer.pso.n_particles = settings.particles;
    config.optimizer.pso.n_iterations = settings.iterations;
    config.optimizer.pso.n_restarts = settings.restarts;
    config.optimizer.pso.seed = settings.seed;
    if settings.steps > 0 {
        config.sampler.method = SamplerMethod::Ensemble;
        let e = &mut config.sampler.ensemble;
        // The ensemble needs at least 2·dim walkers.
        e.n_walkers = Some(settings.walkers.max(2 * post.bounds().len() + 2));
        e.n_steps = settings.steps;
        e.until_converged = false;
        e.seed = settings.seed;
    }
    config.sampler.n_derived = 1;
    let analyzer = Analyzer::new(model, ssp).map_err(|e| fit_err(&e))?;
    let fit = fit_galaxy(&post, &analyzer, &config, &mut |_, _, _| {}).map_err(|e| fit_err(&e))?;

    let draws = match &fit.posterior {
        Some(p) if p.samples.nrows() > 0 => {
            let step = p.samples.nrows().div_ceil(settings.draws.max(1)).max(1);
            let rows: Vec<usize> = (0..p.samples.nrows()).step_by(step).collect();
            p.samples.select(ndarray::Axis(0), &rows)
        }
        _ => Array2::from_shape_vec((1, fit.best.len()), fit.best.clone()).expect("one row"),
    };
    let wise_filters: Vec<Filter> = WISE_FILTERS
        .iter()
        .map(|n| Filter::builtin(n).expect("built-in WISE filters"))
        .collect();
    let phot = Photometry::new(model, &wise_filters, observer)?;
    let jy = model.fluxes(&post.batch(draws.view())?, Component::Combine, &phot);
    let mut wise = [0.0; 4];
    let mut wise_std = [0.0; 4];
    for b in 0..4 {
        let mut m: Vec<f64> = jy
            .column(b)
            .iter()
            .map(|&f| -2.5 * (f64::from(f) / WISE_ZERO_POINT_JY[b]).log10())
            .collect();
        let mean = m.iter().sum::<f64>() / m.len() as f64;
        wise_std[b] = (m.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m.len() as f64).sqrt();
        m.sort_by(f64::total_cmp);
        wise[b] = m[m.len() / 2];
    }
    Ok(SedFitPrediction {
        wise,
        wise_std,
        chi2: fit.chi2,
        n_bands,
    })
}

/// Fits the galaxies `rows` of a survey in parallel; `progress(done, total)` after each.
/// A galaxy whose fit fails gets NaN predictions (and is counted in the returned failures).
pub fn fit_survey(
    model: &Starduster,
    ssp: &SspLibrary,
    sed_model: SedModel,
    survey: &Survey,
    rows: &[usize],
    settings: &SedFitSettings,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> (Vec<SedFitPrediction>, Vec<(usize, String)>) {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<SedFitPrediction, OptirError>> = rows
        .par_iter()
        .map(|&i| {
            let s = &survey.spectra;
            let settings = SedFitSettings {
                seed: settings.seed.wrapping_add(i as u64),
                ..settings.clone()
            };
            let r = fit_and_predict(
                model,
                ssp,
                sed_model,
                &s.loglam,
                s.flux.row(i),
                s.ivar.row(i),
                survey.redshift[i],
                &settings,
            );
            progress(
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                rows.len(),
            );
            r
        })
        .collect();
    let mut preds = Vec::with_capacity(rows.len());
    let mut failures = Vec::new();
    for (&i, r) in rows.iter().zip(results) {
        match r {
            Ok(p) => preds.push(p),
            Err(e) => {
                failures.push((i, e.to_string()));
                preds.push(SedFitPrediction {
                    wise: [f64::NAN; 4],
                    wise_std: [f64::NAN; 4],
                    chi2: f64::NAN,
                    n_bands: 0,
                });
            }
        }
    }
    (preds, failures)
}
