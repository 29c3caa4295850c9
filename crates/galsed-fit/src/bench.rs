//! Timings of the fitting machinery next to the Python reference (reference pack §8: tutorial
//! set-up, `auto` grid, one parameter vector, torch 2.5.1 on the same kind of 2-core VM).
//!
//! The target is a mock galaxy drawn in the valid region and observed in the tutorial's 19 bands
//! with 0.1 mag errors; the posterior is the tutorial's (11 parameters).

use std::time::Instant;

use galsed_core::filters::Filter;
use galsed_core::ssp::SspLibrary;
use galsed_emulator::Starduster;
use galsed_emulator::predict::{Observer, Photometry};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::likelihood::{Likelihood, LikelihoodSettings, Observations};
use crate::mock;
use crate::optim::{Adam, Objective, OptimError, ParticleSwarm};
use crate::params::Parametrization;
use crate::posterior::{Posterior, PosteriorError, Prior};
use crate::sample::{EnsembleSampler, Start};

/// The tutorial's 19 bands.
pub const BANDS: [&str; 19] = galsed_core::filters::DEFAULT19;

/// PyTorch, `auto` grid, 19-band photometry at batch 64, one thread [SEDs/s] (§8): the rate at
/// which a Python swarm or ensemble evaluates its particles.
pub const PYTHON_BATCH_RATE: f64 = 2228.0;

/// One timed task.
#[derive(Debug, Clone)]
pub struct Timing {
    /// What was timed.
    pub task: String,
    /// Wall time \[s\].
    pub seconds: f64,
    /// The Python reference's time for the same task: measured (§8) or, where marked in
    /// `note`, estimated from its measured throughput.
    pub python_seconds: Option<f64>,
    /// How the Python time was obtained (measured or estimated), with details of the run.
    pub note: String,
}

impl Timing {
    /// Speed-up over the Python reference.
    pub fn ratio(&self) -> Option<f64> {
        self.python_seconds.map(|p| p / self.seconds)
    }
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up a posterior failed.
    #[error(transparent)]
    Posterior(#[from] PosteriorError),
    /// An optimiser or sampler failed.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// Loading or running the emulator failed.
    #[error(transparent)]
    Model(#[from] galsed_emulator::ModelError),
    /// A benchmark filter could not be built.
    #[error(transparent)]
    Filter(#[from] galsed_core::filters::FilterError),
    /// The synthetic observations are invalid.
    #[error(transparent)]
    Likelihood(#[from] crate::likelihood::LikelihoodError),
}

/// The benchmark's posterior: a mock galaxy (seeded) at z = 0.01, μ = 0, as the tutorial.
/// `model` must live on an autodiff device and use the `auto` grid to compare with §8.
pub fn mock_posterior<'m>(
    model: &'m Starduster,
    ssp: &SspLibrary,
    seed: u64,
) -> Result<(Posterior<'m>, Vec<f64>), BenchError> {
    let param = Parametrization::tutorial(ssp);
    let filters: Vec<Filter> = BANDS
        .iter()
        .map(|b| Filter::builtin(b))
        .collect::<Result<_, _>>()?;
    let observer = Observer::new(0.01, 0.0)?;
    let phot = Photometry::new(model, &filters, observer)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let truth = mock::draw_valid(model, &param, 1, 100_000, &mut rng)?;
    let (mags, _) = mock::observe_magnitudes(model, &param, &phot, &truth, 0.1, &mut rng)?;
    let bands: Vec<String> = BANDS.iter().map(|s| s.to_string()).collect();
    let obs = Observations::magnitudes(&bands, mags.row(0).as_slice().expect("row"), 0.1)?;
    let like = Likelihood::new(obs, LikelihoodSettings::default())?;
    let post = Posterior::new(model, param, &filters, observer, like, &Prior::default())?;
    Ok((post, truth.row(0).to_vec()))
}

/// Median wall time of `reps` calls of `f` after one warm-up call.
fn median_time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Times the posterior, its gradient, the tutorial's Adam fit, the paper's particle swarm and an
/// ensemble MCMC run to convergence, in the calling thread's rayon pool (use a 1-thread pool
/// for the paper's one-core figures). `swarm` is the swarm to time (the paper's by default).
pub fn run(
    post: &Posterior<'_>,
    truth: &[f64],
    swarm: &ParticleSwarm,
) -> Result<Vec<Timing>, BenchError> {
    let mut out = vec![];
    let x = Array2::from_shape_vec((1, truth.len()), truth.to_vec()).expect("one row");
    let t = median_time(200, || {
        post.values(x.view());
    });
    out.push(Timing {
        task: "posterior, one parameter vector".into(),
        seconds: t,
        python_seconds: Some(5.71e-3),
        note: "measured (§8)".into(),
    });
    let t = median_time(100, || {
        post.value_grad(truth);
    });
    out.push(Timing {
        task: "posterior + gradient".into(),
        seconds: t,
        python_seconds: Some(13.76e-3),
        note: "measured (§8)".into(),
    });
    let centre: Vec<f64> = post.bounds().iter().map(|b| 0.5 * (b.0 + b.1)).collect();
    let adam = Adam {
        lr: 1e-2,
        n_steps: 300,
        ..Adam::default()
    };
    let t = median_time(3, || {
        adam.minimize(post, &centre).ok();
    });
    out.push(Timing {
        task: "Adam, 300 steps".into(),
        seconds: t,
        python_seconds: Some(4.15),
        note: "measured (§8)".into(),
    });

    let s = Instant::now();
    let r = swarm.minimize(post)?;
    let t = s.elapsed().as_secs_f64();
    out.push(Timing {
        task: format!(
            "particle swarm {} × {} × {} ({} evaluations)",
            swarm.n_particles, swarm.n_iterations, swarm.n_restarts, r.n_evaluations
        ),
        seconds: t,
        python_seconds: Some(r.n_evaluations as f64 / PYTHON_BATCH_RATE),
        note: format!(
            "Python estimated at its batch-64 rate, {PYTHON_BATCH_RATE} SEDs/s; best −ln p {:.2}, restarts agree: {}",
            r.value, r.restarts_agree
        ),
    });

    // At most 10⁵ steps: with τ ≈ 600 steps on this posterior, 50τ is reached well before.
    let sampler = EnsembleSampler {
        n_steps: 100_000,
        until_converged: true,
        ..EnsembleSampler::default()
    };
    let s = Instant::now();
    let e = sampler.run(post, Start::Point(&r.x))?;
    let t = s.elapsed().as_secs_f64();
    let tau = e.tau.iter().fold(0.0f64, |m, &v| m.max(v));
    out.push(Timing {
        task: format!(
            "ensemble MCMC to convergence ({} walkers × {} steps, {} evaluations)",
            e.acceptance.len(),
            e.n_steps(),
            e.n_evaluations
        ),
        seconds: t,
        python_seconds: Some(e.n_evaluations as f64 / PYTHON_BATCH_RATE),
        note: format!(
            "Python estimated at its batch-64 rate; converged: {}, τ_max {tau:.0} steps, acceptance {:.2}",
            e.converged,
            e.mean_acceptance()
        ),
    });
    Ok(out)
}
