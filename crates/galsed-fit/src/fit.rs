//! One galaxy, start to finish: optimise the posterior, optionally sample it, and derive the
//! physical properties of the best fit and of posterior draws. The configuration is what
//! `galsed fit` reads from TOML.
//!
//! ```toml
//! [parametrization]            # see params::ParamConfig (default: the tutorial's 11 parameters)
//! [likelihood]
//! mag_offset = -0.006          # the paper's systematic offset (default 0)
//! [prior]
//! smoothed_uniform = 1e-3      # default: flat inside the bounds
//! [optimizer]
//! method = "pso"               # pso | multistart | adam | lbfgsb | nelder_mead
//! polish = true                # refine the swarm's best with L-BFGS-B
//! [optimizer.pso]
//! n_iterations = 2000          # paper: 32 particles × 2000 iterations × 10 restarts
//! [sampler]
//! method = "ensemble"          # none | ensemble | nested | nuts
//! [sampler.ensemble]
//! n_steps = 5000
//! until_converged = true
//! ```

use ndarray::{Array2, ArrayView2, Axis, s};
use serde::{Deserialize, Serialize};

use galsed_core::filters::Filter;
use galsed_emulator::Starduster;
use galsed_emulator::predict::Observer;

use crate::derived::{Analyzer, DerivedError};
use crate::likelihood::{
    Likelihood, LikelihoodError, LikelihoodSettings, Measurement, Observations,
};
use crate::optim::{Adam, Lbfgsb, MultiStart, NelderMead, Objective, OptimError, ParticleSwarm};
use crate::params::ParamConfig;
use crate::params::Parametrization;
use crate::posterior::{Posterior, PosteriorError, Prior};
use crate::sample::{EnsembleSampler, NestedSampler, NutsSampler, Start, Summary};

/// The optimiser that finds the best fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerMethod {
    /// Particle swarm (global; the paper's method).
    #[default]
    Pso,
    /// Adam with exact gradients, from the centre of the box (the reference tutorial's method).
    Adam,
    /// Bounded L-BFGS with exact gradients, from the centre of the box.
    Lbfgsb,
    /// L-BFGS-B from the best points of a batched scan of the box, until several agree.
    Multistart,
    /// Derivative-free simplex, from the centre of the box.
    NelderMead,
}

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// The optimiser to run (default PSO).
    pub method: OptimizerMethod,
    /// Refine the optimiser's best point with L-BFGS-B (default true).
    pub polish: bool,
    /// Settings of the particle swarm.
    pub pso: ParticleSwarm,
    /// Settings of Adam.
    pub adam: Adam,
    /// Settings of L-BFGS-B (also used by `polish`).
    pub lbfgsb: Lbfgsb,
    /// Settings of the multi-start L-BFGS-B.
    pub multistart: MultiStart,
    /// Settings of Nelder–Mead.
    pub nelder_mead: NelderMead,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            method: OptimizerMethod::Pso,
            polish: true,
            pso: ParticleSwarm::default(),
            adam: Adam::default(),
            lbfgsb: Lbfgsb::default(),
            multistart: MultiStart::default(),
            nelder_mead: NelderMead::default(),
        }
    }
}

/// The posterior sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerMethod {
    /// Best fit only.
    #[default]
    None,
    /// Affine-invariant ensemble MCMC started around the best fit.
    Ensemble,
    /// Nested sampling (also gives the evidence).
    Nested,
    /// No-U-turn Hamiltonian Monte Carlo with the gradient, chains started around the best fit.
    Nuts,
}

/// Sampler settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerConfig {
    /// The sampler to run, if any (default none).
    pub method: SamplerMethod,
    /// Settings of the ensemble sampler.
    pub ensemble: EnsembleSampler,
    /// Settings of the nested sampler.
    pub nested: NestedSampler,
    /// Settings of the NUTS sampler.
    pub nuts: NutsSampler,
    /// Posterior draws whose derived properties are computed (default 500).
    pub n_derived: usize,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            method: SamplerMethod::None,
            ensemble: EnsembleSampler {
                until_converged: true,
                ..EnsembleSampler::default()
            },
            nested: NestedSampler::default(),
            nuts: NutsSampler::default(),
            n_derived: 500,
        }
    }
}

/// Everything `galsed fit` is told about how to fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Which parameters are free and how they are mapped.
    pub parametrization: ParamConfig,
    /// Likelihood settings.
    pub likelihood: LikelihoodSettings,
    /// Prior over the free parameters.
    pub prior: Prior,
    /// Add the selectors' −ln p (keeps fits inside the emulator's valid region; default true).
    pub selector_penalty: bool,
    /// How the best fit is found.
    pub optimizer: OptimizerConfig,
    /// How the posterior is sampled.
    pub sampler: SamplerConfig,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            parametrization: ParamConfig::default(),
            likelihood: LikelihoodSettings::default(),
            prior: Prior::default(),
            selector_penalty: true,
            optimizer: OptimizerConfig::default(),
            sampler: SamplerConfig::default(),
        }
    }
}

/// Errors setting up the posterior of one galaxy.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Bad likelihood settings.
    #[error(transparent)]
    Likelihood(#[from] LikelihoodError),
    /// The posterior cannot be built (bands, model device, prior).
    #[error(transparent)]
    Posterior(#[from] PosteriorError),
}

impl FitConfig {
    /// The posterior of one galaxy's observations under these settings (likelihood, prior,
    /// selector penalty), as `galsed fit` and Python's `Model.fit` build it. `filters` are the
    /// observed bands in the order of `obs`.
    pub fn posterior<'m>(
        &self,
        model: &'m Starduster,
        param: Parametrization,
        filters: &[Filter],
        observer: Observer,
        obs: Observations,
    ) -> Result<Posterior<'m>, SetupError> {
        let like = Likelihood::new(obs, self.likelihood.clone())?;
        Ok(
            Posterior::new(model, param, filters, observer, like, &self.prior)?
                .with_selector_penalty(self.selector_penalty),
        )
    }
}

/// Errors of a fit.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The optimiser or sampler failed.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// The derived properties could not be computed.
    #[error(transparent)]
    Derived(#[from] DerivedError),
    /// The emulator failed.
    #[error(transparent)]
    Model(#[from] galsed_emulator::ModelError),
    /// Every point the optimiser evaluated had an infinite −ln p.
    #[error(
        "the posterior is infinite everywhere the optimiser looked (is the photometry consistent with the model?)"
    )]
    NoFinitePoint,
}

/// What the optimiser reports beside the best point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimizerReport {
    /// The optimiser that ran.
    pub method: OptimizerMethod,
    /// Posterior evaluations spent by the optimiser.
    pub n_evaluations: usize,
    /// PSO: all restarts reached the same optimum within the tolerance. Multi-start: enough
    /// local searches agreed. Others: converged flag.
    pub converged: bool,
    /// PSO: spread of the restarts' best values; multi-start: of the local searches' values
    /// (0 otherwise).
    pub spread: f64,
}

/// Posterior samples and their diagnostics.
#[derive(Debug, Clone)]
pub struct PosteriorSamples {
    /// Equal-weight samples (n × P).
    pub samples: Array2<f64>,
    /// Median, 16th/84th percentiles, mean and standard deviation of each free parameter.
    pub summary: Summary,
    /// Ensemble: maximum integrated autocorrelation time \[steps\]; NUTS: \[draws\].
    pub tau_max: Option<f64>,
    /// Ensemble: mean acceptance fraction; nested: random-walk acceptance; NUTS: the share of
    /// draws whose trajectory did not diverge.
    pub acceptance: f64,
    /// Ensemble: steps > 50 τ and τ stable; nested: stopped by dlogz; NUTS: R̂ and ESS on target.
    pub converged: bool,
    /// NUTS: the largest split-R̂ and the smallest effective sample size of the parameters.
    pub rhat_ess: Option<(f64, f64)>,
    /// Nested: ln Z and its error.
    pub log_z: Option<(f64, f64)>,
    /// Posterior evaluations spent by the sampler.
    pub n_evaluations: usize,
}

/// The result of fitting one galaxy.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// Free-parameter names.
    pub names: Vec<String>,
    /// Best-fit value of each free parameter, in the order of `names`.
    pub best: Vec<f64>,
    /// −ln p at the best point.
    pub best_value: f64,
    /// χ² of the detections at the best point (upper limits excluded).
    pub chi2: f64,
    /// Number of detections entering χ².
    pub n_detections: usize,
    /// Model band fluxes \[Jy\] at the best point, in band order.
    pub model_flux: Vec<f64>,
    /// What the optimiser reports.
    pub optimizer: OptimizerReport,
    /// Posterior samples, when a sampler ran.
    pub posterior: Option<PosteriorSamples>,
    /// Derived-property column names: the Analyzer's, then [`EXTRA_PROPERTIES`] (`l_ir`,
    /// `att_v`).
    pub derived_names: Vec<String>,
    /// Derived properties of the best fit.
    pub derived_best: Vec<f64>,
    /// Summary of the derived properties over posterior draws.
    pub derived_summary: Option<Summary>,
}

/// Progress of a fit: (stage, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Refines `best` with L-BFGS-B, keeping the result when it is better.
fn polish(
    post: &Posterior<'_>,
    opt: &OptimizerConfig,
    best: &mut Vec<f64>,
    best_value: &mut f64,
    report: &mut OptimizerReport,
    progress: Progress<'_>,
) -> Result<(), FitError> {
    let r = opt
        .lbfgsb
        .minimize_with_progress(post, best, &mut |i, n| progress("polish", i, n))?;
    report.n_evaluations += r.n_value_evals + r.n_grad_evals;
    if r.value < *best_value {
        *best = r.x;
        *best_value = r.value;
    }
    Ok(())
}

/// Fits one galaxy: optimiser (+ polish), sampler, derived properties.
pub fn fit_galaxy(
    post: &Posterior<'_>,
    analyzer: &Analyzer<'_>,
    config: &FitConfig,
    progress: Progress<'_>,
) -> Result<FitResult, FitError> {
    let bounds = post.bounds();
    let centre: Vec<f64> = bounds.iter().map(|b| 0.5 * (b.0 + b.1)).collect();
    let opt = &config.optimizer;
    let (mut best, mut best_value, mut report) = match opt.method {
        OptimizerMethod::Pso => {
            let r = opt
                .pso
                .minimize_with_progress(post, &mut |i, n| progress("swarm", i, n))?;
            let report = OptimizerReport {
                method: opt.method,
                n_evaluations: r.n_evaluations,
                converged: r.restarts_agree,
                spread: r.spread,
            };
            (r.x, r.value, report)
        }
        OptimizerMethod::Adam => {
            let r = opt
                .adam
                .minimize_with_progress(post, &centre, &mut |i, n| progress("adam", i, n))?;
            let report = OptimizerReport {
                method: opt.method,
                n_evaluations: r.trajectory.len(),
                converged: true,
                spread: 0.0,
            };
            (r.best_x, r.best_value, report)
        }
        OptimizerMethod::Lbfgsb => {
            let r = opt
                .lbfgsb
                .minimize_with_progress(post, &centre, &mut |i, n| progress("l-bfgs-b", i, n))?;
            let report = OptimizerReport {
                method: opt.method,
                n_evaluations: r.n_value_evals + r.n_grad_evals,
                converged: r.converged,
                spread: 0.0,
            };
            (r.x, r.value, report)
        }
        OptimizerMethod::Multistart => {
            let r = opt
                .multistart
                .minimize_with_progress(post, &mut |i, n| progress("multi-start", i, n))?;
            let report = OptimizerReport {
                method: opt.method,
                n_evaluations: r.n_evaluations,
                converged: r.agree,
                spread: r.spread,
            };
            (r.x, r.value, report)
        }
        OptimizerMethod::NelderMead => {
            let r = opt
                .nelder_mead
                .minimize_with_progress(post, &centre, &mut |i, n| progress("simplex", i, n))?;
            let report = OptimizerReport {
                method: opt.method,
                n_evaluations: r.n_evaluations,
                converged: r.converged,
                spread: 0.0,
            };
            (r.x, r.value, report)
        }
    };
    if !best_value.is_finite() {
        return Err(FitError::NoFinitePoint);
    }
    // The L-BFGS-B methods end with a local search already.
    let polished = matches!(
        opt.method,
        OptimizerMethod::Lbfgsb | OptimizerMethod::Multistart
    );
    if opt.polish && !polished {
        polish(post, opt, &mut best, &mut best_value, &mut report, progress)?;
    }

    // The sampler's best point, (x, ln p): it explores the whole box and can find a better mode
    // than the optimiser, most often with many parameters (issue 14's flexible SFHs).
    let mut sampler_best: Option<(Vec<f64>, f64)> = None;
    let posterior = match config.sampler.method {
        SamplerMethod::None => None,
        SamplerMethod::Ensemble => {
            let s = &config.sampler.ensemble;
            let r = s.run_with_progress(post, Start::Point(&best), &mut |i, n| {
                progress("mcmc", i, n)
            })?;
            let (discard, thin) = r.burn_in_and_thin();
            let samples = r.flat_samples(discard, thin);
            let summary = Summary::from_samples(samples.view())?;
            sampler_best = Some(r.max_log_prob());
            Some(PosteriorSamples {
                samples,
                summary,
                tau_max: Some(r.tau.iter().fold(0.0f64, |m, &t| m.max(t))),
                acceptance: r.mean_acceptance(),
                converged: r.converged,
                log_z: None,
                rhat_ess: None,
                n_evaluations: r.n_evaluations,
            })
        }
        SamplerMethod::Nuts => {
            let r = config
                .sampler
                .nuts
                .run_with_progress(post, &best, &mut |i, n| progress("nuts", i, n))?;
            let summary = r.summary()?;
            sampler_best = Some(r.max_log_prob());
            let (n, m, _) = r.chain.dim();
            let ess_min = r.ess.iter().copied().fold(f64::INFINITY, f64::min);
            Some(PosteriorSamples {
                samples: r.flat_samples(),
                summary,
                tau_max: Some((n * m) as f64 / ess_min),
                acceptance: 1.0 - r.divergences as f64 / (n * m).max(1) as f64,
                converged: r.converged,
                log_z: None,
                rhat_ess: Some((r.rhat.iter().copied().fold(f64::NAN, f64::max), ess_min)),
                n_evaluations: r.n_evaluations,
            })
        }
        SamplerMethod::Nested => {
            let s = &config.sampler.nested;
            let r = s.run_with_progress(post, &mut |i, n| progress("nested", i, n))?;
            let summary = r.summary()?;
            sampler_best = r
                .log_l
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, &l)| (r.samples.row(i).to_vec(), l));
            Some(PosteriorSamples {
                samples: r.equal_weight_samples.clone(),
                summary,
                tau_max: None,
                acceptance: r.acceptance,
                converged: r.converged,
                log_z: Some((r.log_z, r.log_z_err)),
                rhat_ess: None,
                n_evaluations: r.n_evaluations,
            })
        }
    };

    if let Some((x, log_p)) = sampler_best
        && -log_p < best_value
    {
        best = x;
        best_value = -log_p;
        if opt.polish {
            polish(post, opt, &mut best, &mut best_value, &mut report, progress)?;
        }
    }

    let best_row = Array2::from_shape_vec((1, best.len()), best.clone()).expect("one row");
    let model_flux: Vec<f64> = post
        .model_fluxes(best_row.view())?
        .iter()
        .map(|&f| f64::from(f))
        .collect();
    let (chi2, n_detections) = chi_square(post, &model_flux);

    let (derived_names, best_values) = properties(post, analyzer, best_row.view())?;
    let derived_best = best_values.row(0).to_vec();
    let derived_summary = match &posterior {
        Some(p) if p.samples.nrows() > 0 => {
            let draws = thin_rows(p.samples.view(), config.sampler.n_derived.max(1));
            let (_, d) = properties(post, analyzer, draws.view())?;
            Some(Summary::from_samples(d.view())?)
        }
        _ => None,
    };

    Ok(FitResult {
        names: post.parametrization().names(),
        best,
        best_value,
        chi2,
        n_detections,
        model_flux,
        optimizer: report,
        posterior,
        derived_names,
        derived_best,
        derived_summary,
    })
}

/// Rest-frame window of [`EXTRA_PROPERTIES`]' `att_v` \[Å\], as `galsed sed`'s `att_V`.
pub const V_WINDOW: (f64, f64) = (5450.0, 5550.0);

/// Properties of a fit beyond the reference Analyzer's ([`crate::derived::PROPERTIES`]): name,
/// unit, description. They follow the Analyzer's columns in [`FitResult::derived_names`].
pub const EXTRA_PROPERTIES: [(&str, &str, &str); 2] = [
    (
        "l_ir",
        "L_sun",
        "dust luminosity frac_abs·l_norm (the starlight absorbed and re-emitted, 'L_TIR')",
    ),
    (
        "att_v",
        "mag",
        "V-band attenuation A_V: m(stars with dust) − m(dust-free stars) in a top-hat \
         5450–5550 Å window, rest frame",
    ),
];

/// The Analyzer's properties of the parameter vectors `x`, then [`EXTRA_PROPERTIES`]: column
/// names and one row per vector.
fn properties(
    post: &Posterior<'_>,
    analyzer: &Analyzer<'_>,
    x: ArrayView2<f64>,
) -> Result<(Vec<String>, Array2<f64>), FitError> {
    let batch = post.batch(x)?;
    let derived = analyzer.compute(&batch)?;
    let mut names: Vec<String> = derived.columns().iter().map(|c| c.name.clone()).collect();
    names.extend(EXTRA_PROPERTIES.iter().map(|p| p.0.to_string()));
    let column = |name: &str| {
        derived
            .column(name)
            .map(|c| c.to_owned())
            .ok_or_else(|| DerivedError::Input(format!("no derived property {name}")))
    };
    let l_ir = column("frac_abs")? * column("l_norm")?;
    let att_v = post
        .model()
        .windowed_attenuation(&batch, &[V_WINDOW], Observer::default())?;
    let d = derived.into_values();
    let mut values = Array2::zeros((d.nrows(), d.ncols() + EXTRA_PROPERTIES.len()));
    values.slice_mut(s![.., ..d.ncols()]).assign(&d);
    values.column_mut(d.ncols()).assign(&l_ir);
    values.column_mut(d.ncols() + 1).assign(&att_v.column(0));
    Ok((names, values))
}

/// Evenly spaced rows, at most `n`.
fn thin_rows(x: ArrayView2<f64>, n: usize) -> Array2<f64> {
    let step = x.nrows().div_ceil(n).max(1);
    let rows: Vec<usize> = (0..x.nrows()).step_by(step).collect();
    x.select(Axis(0), &rows)
}

/// χ² of detections, each against its total error ([`Likelihood::sigma_total`]): magnitudes
/// ((m + Δm − m_obs)/σ_tot)², fluxes (F − F_obs)²/σ_tot².
pub fn chi_square(post: &Posterior<'_>, model_flux: &[f64]) -> (f64, usize) {
    let lik = post.likelihood();
    let s = lik.settings();
    let mut chi2 = 0.0;
    let mut n = 0;
    for (i, (m, &f)) in lik
        .observations()
        .measurements()
        .iter()
        .zip(model_flux)
        .enumerate()
    {
        match *m {
            Measurement::Magnitude { mag, .. } => {
                let model = galsed_core::units::ab_mag(f) + s.mag_offset;
                chi2 += ((model - mag) / lik.sigma_total(i, f)).powi(2);
                n += 1;
            }
            Measurement::Flux { flux, .. } => {
                chi2 += ((f - flux) / lik.sigma_total(i, f)).powi(2);
                n += 1;
            }
            Measurement::UpperLimit { .. } => {}
        }
    }
    (chi2, n)
}
