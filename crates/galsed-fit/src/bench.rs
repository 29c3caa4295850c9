//! Timings of the fitting machinery: the tutorial set-up (reference pack §8), one parameter vector
//! or a swarm-sized batch, the tutorial's Adam fit, the paper's particle swarm and MCMC to
//! convergence.
//!
//! The target is a mock galaxy drawn in the valid region and observed in the tutorial's 19 bands
//! with 0.1 mag errors; the posterior is the tutorial's (11 parameters). The posterior timings
//! carry the names that `torch_time.py --nlp` of the reference pack gives its counterparts, so
//! that `galsed bench --fit --torch FILE` can put the PyTorch figures measured in the same run
//! beside them; nothing here holds figures measured elsewhere.

use std::time::Instant;

use galsed_core::filters::Filter;
use galsed_core::ssp::SspLibrary;
use galsed_emulator::Starduster;
use galsed_emulator::predict::{Observer, Photometry};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::likelihood::{Likelihood, LikelihoodSettings, Observations};
use crate::mock;
use crate::optim::{Adam, Objective, OptimError, ParticleSwarm};
use crate::params::Parametrization;
use crate::posterior::{Posterior, PosteriorError, Prior};
use crate::sample::{EnsembleSampler, Start};

/// The tutorial's 19 bands.
pub const BANDS: [&str; 19] = galsed_core::filters::DEFAULT19;

/// A task of [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// The posterior of one vector, its gradient, and one batch of 32 vectors (a swarm step).
    Posterior,
    /// The tutorial's 300-step Adam fit.
    Adam,
    /// The particle swarm given to [`run`].
    Swarm,
    /// Ensemble MCMC to convergence.
    Mcmc,
}

impl Task {
    /// All tasks, in the order [`run`] takes them.
    pub const ALL: [Task; 4] = [Task::Posterior, Task::Adam, Task::Swarm, Task::Mcmc];
}

/// One timed task.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Short name: for the posterior timings the name `torch_time.py --nlp` gives the same
    /// measurement (`nlp_forward_b1`, `nlp_forward_backward_b1`, `nlp_forward_b32`); `adam_300`,
    /// `swarm`, `mcmc` otherwise.
    pub key: String,
    /// What was timed.
    pub task: String,
    /// Wall time \[s\] (median over repetitions for the short tasks).
    pub seconds: f64,
    /// Posterior evaluations in one timed call.
    pub evaluations: usize,
    /// Details of the run.
    pub note: String,
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
/// `model` should use the `auto` grid to compare with the reference timings (§8).
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

/// Times the chosen `tasks` in the calling thread's rayon pool (use a 1-thread pool for one-core
/// figures): the posterior of one vector, with its gradient, and of a batch of 32 vectors
/// uniform in the bounds (seeded), the tutorial's Adam fit, the particle swarm `swarm` (the
/// paper's by default) and an ensemble MCMC run to convergence (started at the swarm's optimum,
/// or at the truth when the swarm is not timed).
pub fn run(
    post: &Posterior<'_>,
    truth: &[f64],
    swarm: &ParticleSwarm,
    tasks: &[Task],
) -> Result<Vec<Timing>, BenchError> {
    let mut out = vec![];
    if tasks.contains(&Task::Posterior) {
        let x = Array2::from_shape_vec((1, truth.len()), truth.to_vec()).expect("one row");
        let t = median_time(200, || {
            post.values(x.view());
        });
        out.push(Timing {
            key: "nlp_forward_b1".into(),
            task: "posterior, one parameter vector".into(),
            seconds: t,
            evaluations: 1,
            note: "median of 200 calls".into(),
        });
        let t = median_time(200, || {
            post.value_grad(truth);
        });
        out.push(Timing {
            key: "nlp_forward_backward_b1".into(),
            task: "posterior + gradient, one parameter vector".into(),
            seconds: t,
            evaluations: 1,
            note: "median of 200 calls".into(),
        });
        let mut rng = ChaCha8Rng::seed_from_u64(20220101);
        let bounds = post.bounds();
        let x32 = Array2::from_shape_fn((32, bounds.len()), |(_, j)| {
            let (lo, hi) = bounds[j];
            lo + (hi - lo) * rng.random::<f64>()
        });
        let t = median_time(50, || {
            post.values(x32.view());
        });
        out.push(Timing {
            key: "nlp_forward_b32".into(),
            task: "posterior, batch of 32 vectors (one swarm step)".into(),
            seconds: t,
            evaluations: 32,
            note: "median of 50 calls; vectors uniform in the bounds".into(),
        });
    }
    if tasks.contains(&Task::Adam) {
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
            key: "adam_300".into(),
            task: "Adam, 300 steps".into(),
            seconds: t,
            evaluations: 300,
            note: "median of 3 fits from the centre of the bounds".into(),
        });
    }
    let mut start = truth.to_vec();
    if tasks.contains(&Task::Swarm) {
        let s = Instant::now();
        let r = swarm.minimize(post)?;
        let t = s.elapsed().as_secs_f64();
        out.push(Timing {
            key: "swarm".into(),
            task: format!(
                "particle swarm {} × {} × {}",
                swarm.n_particles, swarm.n_iterations, swarm.n_restarts
            ),
            seconds: t,
            evaluations: r.n_evaluations,
            note: format!(
                "{} evaluations, {:.0}/s; best −ln p {:.2}, restarts agree: {}",
                r.n_evaluations,
                r.n_evaluations as f64 / t,
                r.value,
                r.restarts_agree
            ),
        });
        start = r.x;
    }
    if tasks.contains(&Task::Mcmc) {
        // At most 10⁵ steps: with τ ≈ 600 steps on this posterior, 50τ is reached well before.
        let sampler = EnsembleSampler {
            n_steps: 100_000,
            until_converged: true,
            ..EnsembleSampler::default()
        };
        let s = Instant::now();
        let e = sampler.run(post, Start::Point(&start))?;
        let t = s.elapsed().as_secs_f64();
        let tau = e.tau.iter().fold(0.0f64, |m, &v| m.max(v));
        out.push(Timing {
            key: "mcmc".into(),
            task: format!(
                "ensemble MCMC to convergence ({} walkers × {} steps)",
                e.acceptance.len(),
                e.n_steps(),
            ),
            seconds: t,
            evaluations: e.n_evaluations,
            note: format!(
                "{} evaluations; converged: {}, τ_max {tau:.0} steps, acceptance {:.2}",
                e.n_evaluations,
                e.converged,
                e.mean_acceptance()
            ),
        });
    }
    Ok(out)
}

/// Runs `f(i)` for i in 0..n on `jobs` threads, each with its own one-thread rayon pool: how the
/// examples time "one galaxy on one core" while keeping every core busy. A panic in `f` is
/// passed on.
pub fn each_on_one_core(
    n: usize,
    jobs: usize,
    f: impl Fn(usize) + Sync,
) -> Result<(), rayon::ThreadPoolBuildError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                s.spawn(|| -> Result<(), rayon::ThreadPoolBuildError> {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        pool.install(|| f(i));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })
}
