//! No-U-turn Hamiltonian Monte Carlo ([`NutsSampler`]) with the objective's gradient.
//!
//! The sampler itself is `nuts-rs` (PyMC's nutpie sampler: multinomial NUTS, Stan-like windowed
//! adaptation of a diagonal mass matrix and the step size). Here are what it needs to work on
//! a box: the map to an unbounded space, the chains, and the convergence checks.

use ndarray::{Array2, Array3, Axis};
use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, DiagNutsSettings, HasDims, LogpError, LowRankNutsSettings,
    NutsSettings, Settings,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{Summary, integrated_time, no_progress, require};
use crate::optim::{Objective, OptimError, checked_bounds};

/// Hamiltonian Monte Carlo with the No-U-Turn Sampler (Hoffman & Gelman 2014) in the multinomial
/// form of Stan and PyMC, run as `n_chains` independent chains from around a starting point.
///
/// HMC needs an unbounded space and a gradient: each parameter `x ∈ (lo, hi)` is sampled as
/// `y = logit((x − lo)/(hi − lo))`, whose density carries the Jacobian
/// `(hi − lo)·s(y)·(1 − s(y))`, so the uniform prior of the box is kept exactly. Points where the
/// objective is +∞ (outside the selectors' support) end a trajectory as a divergence.
///
/// Every chain adapts its step size (to an acceptance of `target_accept`) and its diagonal mass
/// matrix during `n_tune` draws, which are discarded, then draws `n_draws`. Convergence is
/// judged over all chains: the split-R̂ of every parameter ≤ `max_rhat` and its effective sample
/// size (draws / integrated autocorrelation time) ≥ `min_ess`. If `until_converged`, the chains
/// keep drawing `n_draws` more at a time until both hold or `max_draws` per chain are reached.
///
/// The chains run in turn on the calling thread (a nuts-rs chain cannot move between threads;
/// catalogues are fitted in parallel across galaxies instead), each from its own seeded stream
/// (`seed`, chain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NutsSampler {
    /// Independent chains (default 4; R̂ needs at least 2).
    pub n_chains: usize,
    /// Adaptation draws per chain, discarded (default 300).
    pub n_tune: usize,
    /// Draws per chain kept (default 250), and the block added per round with `until_converged`.
    pub n_draws: usize,
    /// Keep drawing until converged (default true).
    pub until_converged: bool,
    /// Most draws per chain with `until_converged` (default 2000).
    pub max_draws: usize,
    /// Deepest trajectory tree: at most 2^max_depth leapfrog steps per draw (default 8).
    pub max_depth: u64,
    /// Target mean acceptance of the step-size adaptation (default 0.8).
    pub target_accept: f64,
    /// Convergence needs split-R̂ ≤ this for every parameter (default 1.01).
    pub max_rhat: f64,
    /// Convergence needs an effective sample size ≥ this for every parameter (default 400).
    pub min_ess: f64,
    /// The mass matrix adapted during tuning (default diagonal).
    pub mass_matrix: MassMatrix,
    /// Chains start uniformly within ± this fraction of each box width of the start (default 0.01).
    pub init_scale: f64,
    /// Seed of the chains' ChaCha8 streams (default 0).
    pub seed: u64,
}

impl Default for NutsSampler {
    fn default() -> Self {
        Self {
            n_chains: 4,
            n_tune: 300,
            n_draws: 250,
            until_converged: true,
            max_draws: 2000,
            max_depth: 8,
            target_accept: 0.8,
            max_rhat: 1.01,
            min_ess: 400.0,
            init_scale: 0.01,
            mass_matrix: MassMatrix::Diagonal,
            seed: 0,
        }
    }
}

/// The metric of the Hamiltonian, adapted to the draws during tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MassMatrix {
    /// The posterior's variances (Stan's default).
    #[default]
    Diagonal,
    /// Variances plus the leading eigenvectors of the covariance (nutpie's low-rank
    /// adaptation), for strongly correlated parameters.
    LowRank,
}

/// Result of [`NutsSampler::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct NutsResult {
    /// Draws after adaptation: draws × chains × dim, in the box's coordinates.
    pub chain: Array3<f64>,
    /// ln p (= −objective) of `chain`: draws × chains.
    pub log_prob: Array2<f64>,
    /// Split-R̂ of each parameter (Gelman et al. 2013, BDA3 §11.4).
    pub rhat: Vec<f64>,
    /// Effective sample size of each parameter over all chains.
    pub ess: Vec<f64>,
    /// Draws (after adaptation) whose trajectory diverged.
    pub divergences: usize,
    /// Mean leapfrog steps per draw after adaptation.
    pub mean_steps: f64,
    /// Adapted step size of each chain.
    pub step_size: Vec<f64>,
    /// R̂ and ESS met their targets.
    pub converged: bool,
    /// Gradient evaluations of all chains, adaptation included.
    pub n_evaluations: usize,
}

impl NutsResult {
    /// All draws as rows (draws·chains × dim), chain after chain.
    pub fn flat_samples(&self) -> Array2<f64> {
        flatten(&self.chain)
    }

    /// The posterior summary of the draws.
    pub fn summary(&self) -> Result<Summary, OptimError> {
        Summary::from_samples(self.flat_samples().view())
    }

    /// The draw of highest ln p and its ln p.
    pub fn max_log_prob(&self) -> (Vec<f64>, f64) {
        let (n, m) = self.log_prob.dim();
        let mut best = (0, 0, f64::NEG_INFINITY);
        for i in 0..n {
            for k in 0..m {
                if self.log_prob[[i, k]] > best.2 {
                    best = (i, k, self.log_prob[[i, k]]);
                }
            }
        }
        (
            self.chain.slice(ndarray::s![best.0, best.1, ..]).to_vec(),
            best.2,
        )
    }
}

fn flatten(chain: &Array3<f64>) -> Array2<f64> {
    let (n, m, d) = chain.dim();
    let mut out = Array2::zeros((n * m, d));
    for k in 0..m {
        for i in 0..n {
            out.row_mut(k * n + i)
                .assign(&chain.slice(ndarray::s![i, k, ..]));
        }
    }
    out
}

/// Split-R̂ of each parameter of `chain` (draws × chains × dim): every chain is cut in two halves
/// and R̂ = √(((n−1)/n·W + B/n)/W) over the halves, W the mean within-half variance and B/n the
/// variance of the half means.
pub fn split_rhat(chain: &Array3<f64>) -> Vec<f64> {
    let (n, m, d) = chain.dim();
    let half = n / 2;
    if half < 2 || m == 0 {
        return vec![f64::NAN; d];
    }
    (0..d)
        .map(|j| {
            let mut means = Vec::with_capacity(2 * m);
            let mut vars = Vec::with_capacity(2 * m);
            for k in 0..m {
                for part in [0..half, n - half..n] {
                    let x: Vec<f64> = part.map(|i| chain[[i, k, j]]).collect();
                    let mean = x.iter().sum::<f64>() / half as f64;
                    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (half - 1) as f64;
                    means.push(mean);
                    vars.push(var);
                }
            }
            let w = vars.iter().sum::<f64>() / vars.len() as f64;
            let grand = means.iter().sum::<f64>() / means.len() as f64;
            let b_over_n =
                means.iter().map(|v| (v - grand).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
            if w == 0.0 {
                return if b_over_n == 0.0 { 1.0 } else { f64::INFINITY };
            }
            let nf = half as f64;
            (((nf - 1.0) / nf * w + b_over_n) / w).sqrt()
        })
        .collect()
}

/// The objective seen by nuts-rs: ln p in the logit coordinates, with the Jacobian.
struct Unbounded<'a, O: ?Sized> {
    obj: &'a O,
    lo: Vec<f64>,
    width: Vec<f64>,
}

/// The objective is +∞ there: the trajectory ends as a divergence and the chain stays put.
#[derive(Debug, thiserror::Error)]
#[error("zero posterior probability")]
struct OutsideSupport;

impl LogpError for OutsideSupport {
    fn is_recoverable(&self) -> bool {
        true
    }
}

fn sigmoid(y: f64) -> f64 {
    1.0 / (1.0 + (-y).exp())
}

/// ln(1 + eᵛ) without overflow.
fn softplus(v: f64) -> f64 {
    if v > 0.0 {
        v + (-v).exp().ln_1p()
    } else {
        v.exp().ln_1p()
    }
}

impl<O: Objective + ?Sized> Unbounded<'_, O> {
    fn in_box(&self, y: &[f64]) -> Vec<f64> {
        y.iter()
            .zip(self.lo.iter().zip(&self.width))
            .map(|(&y, (&lo, &w))| lo + w * sigmoid(y))
            .collect()
    }

    fn unbounded(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.lo.iter().zip(&self.width))
            .map(|(&x, (&lo, &w))| {
                let u = (x - lo) / w;
                (u / (1.0 - u)).ln()
            })
            .collect()
    }
}

impl<O: Objective + ?Sized> HasDims for Unbounded<'_, O> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([("unconstrained_parameter".to_string(), self.lo.len() as u64)])
    }
}

impl<O: Objective + ?Sized> CpuLogpFunc for Unbounded<'_, O> {
    type LogpError = OutsideSupport;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.lo.len()
    }

    fn logp(&mut self, y: &[f64], grad: &mut [f64]) -> Result<f64, OutsideSupport> {
        let x = self.in_box(y);
        let (f, g) = self.obj.value_grad(&x);
        if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err(OutsideSupport);
        }
        let mut logp = -f;
        for (j, &y) in y.iter().enumerate() {
            let s = sigmoid(y);
            // ln[(hi − lo)·s·(1 − s)] and its derivative 1 − 2s.
            logp += self.width[j].ln() - softplus(-y) - softplus(y);
            grad[j] = -g[j] * self.width[j] * s * (1.0 - s) + (1.0 - 2.0 * s);
        }
        Ok(logp)
    }

    fn expand_vector<R: rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        y: &[f64],
    ) -> Result<Vec<f64>, nuts_rs::CpuMathError> {
        Ok(self.in_box(y))
    }
}

/// Draws per chain between two progress reports.
const PROGRESS_BLOCK: usize = 25;

/// One chain's draws after adaptation.
struct ChainDraws {
    x: Vec<Vec<f64>>,
    log_prob: Vec<f64>,
    divergences: usize,
    steps: u64,
    gradients: u64,
    step_size: f64,
}

impl NutsSampler {
    fn validate(&self) -> Result<(), OptimError> {
        require(self.n_chains >= 2, || {
            format!(
                "n_chains must be at least 2 (for R-hat), got {}",
                self.n_chains
            )
        })?;
        require(self.n_tune >= 50, || {
            format!("n_tune must be at least 50, got {}", self.n_tune)
        })?;
        require(self.n_draws >= 10, || {
            format!("n_draws must be at least 10, got {}", self.n_draws)
        })?;
        require(self.max_draws >= self.n_draws, || {
            format!(
                "max_draws ({}) must be at least n_draws ({})",
                self.max_draws, self.n_draws
            )
        })?;
        require((1..=15).contains(&self.max_depth), || {
            format!("max_depth must be in 1..=15, got {}", self.max_depth)
        })?;
        require(self.target_accept > 0.0 && self.target_accept < 1.0, || {
            format!(
                "target_accept must be in (0, 1), got {}",
                self.target_accept
            )
        })?;
        require(self.max_rhat >= 1.0, || {
            format!("max_rhat must be at least 1, got {}", self.max_rhat)
        })?;
        require(self.min_ess.is_finite() && self.min_ess >= 0.0, || {
            format!("min_ess must be finite and ≥ 0, got {}", self.min_ess)
        })?;
        require(self.init_scale > 0.0 && self.init_scale < 0.5, || {
            format!("init_scale must be in (0, 0.5), got {}", self.init_scale)
        })
    }

    /// Sample `obj` with chains started around `start`.
    pub fn run<O: Objective + ?Sized>(
        &self,
        obj: &O,
        start: &[f64],
    ) -> Result<NutsResult, OptimError> {
        self.run_with_progress(obj, start, &mut no_progress)
    }

    /// [`run`](Self::run), calling `progress(draws done, draws planned)` (all chains, adaptation
    /// included) as the chains advance.
    pub fn run_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        start: &[f64],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<NutsResult, OptimError> {
        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let d = bounds.len();
        if start.len() != d {
            return Err(OptimError::Dimension {
                what: "starting point",
                expected: d,
                got: start.len(),
            });
        }
        if let Some(i) = start.iter().position(|v| !v.is_finite()) {
            return Err(OptimError::Start(format!("parameter {i} is not finite")));
        }
        let model = Unbounded {
            obj,
            lo: bounds.iter().map(|b| b.0).collect(),
            width: bounds.iter().map(|b| b.1 - b.0).collect(),
        };

        // Starts: uniform jitter around the (clamped) point, kept off the bounds.
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let starts: Vec<Vec<f64>> = (0..self.n_chains)
            .map(|_| {
                let x: Vec<f64> = bounds
                    .iter()
                    .zip(start)
                    .map(|(&(lo, hi), &x0)| {
                        let w = hi - lo;
                        let jitter = self.init_scale * w * (2.0 * rng.random::<f64>() - 1.0);
                        (x0 + jitter).clamp(lo + 1e-4 * w, hi - 1e-4 * w)
                    })
                    .collect();
                model.unbounded(&x)
            })
            .collect();

        match self.mass_matrix {
            MassMatrix::Diagonal => {
                let mut settings = DiagNutsSettings::default();
                settings.adapt_options.step_size_settings.target_accept = self.target_accept;
                self.run_chains(settings, &model, starts, progress)
            }
            MassMatrix::LowRank => {
                let mut settings = LowRankNutsSettings::default();
                settings.adapt_options.step_size_settings.target_accept = self.target_accept;
                self.run_chains(settings, &model, starts, progress)
            }
        }
    }

    /// The chains of [`run_with_progress`](Self::run_with_progress) with nuts-rs's `settings`.
    fn run_chains<O: Objective + ?Sized, A>(
        &self,
        mut settings: NutsSettings<A>,
        model: &Unbounded<'_, O>,
        starts: Vec<Vec<f64>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<NutsResult, OptimError>
    where
        A: std::fmt::Debug + Copy + Default + Serialize,
        NutsSettings<A>: Settings,
    {
        settings.num_tune = self.n_tune as u64;
        settings.num_draws = self.max_draws as u64;
        settings.maxdepth = self.max_depth;
        settings.num_chains = self.n_chains;
        settings.seed = self.seed;
        let (obj, d) = (model.obj, model.lo.len());
        // Each chain has its own stream (seed, chain); the chains advance in blocks of draws,
        // with progress reported after each block.
        let mut chains = starts
            .into_iter()
            .enumerate()
            .map(|(k, y0)| -> Result<_, OptimError> {
                let mut chain_rng = ChaCha8Rng::seed_from_u64(self.seed);
                chain_rng.set_stream(k as u64 + 1);
                let math = CpuMath::new(Unbounded {
                    obj,
                    lo: model.lo.clone(),
                    width: model.width.clone(),
                });
                let mut sampler = settings
                    .new_chain(k as u64, math, &mut chain_rng)
                    .map_err(|e| OptimError::Objective(format!("NUTS chain {k}: {e}")))?;
                sampler
                    .set_position(&y0)
                    .map_err(|e| OptimError::Start(format!("chain {k} cannot start there: {e}")))?;
                let draws = ChainDraws {
                    x: Vec::new(),
                    log_prob: Vec::new(),
                    divergences: 0,
                    steps: 0,
                    gradients: 0,
                    step_size: f64::NAN,
                };
                Ok((sampler, draws))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let rounds = if self.until_converged {
            self.max_draws / self.n_draws
        } else {
            1
        };
        let total = self.n_chains * (self.n_tune + rounds * self.n_draws);
        let mut done = 0;
        let mut advance = |chains: &mut Vec<_>, n: usize, keep: bool| -> Result<(), OptimError> {
            for block in (0..n).step_by(PROGRESS_BLOCK) {
                let len = PROGRESS_BLOCK.min(n - block);
                chains.iter_mut().enumerate().try_for_each(
                    |(k, (sampler, out)): (usize, &mut (_, ChainDraws))| {
                        for _ in 0..len {
                            let (y, info) = Chain::draw(sampler).map_err(|e| {
                                OptimError::Objective(format!("NUTS chain {k}: {e}"))
                            })?;
                            out.gradients += info.num_gradients;
                            if keep {
                                let x = model.in_box(&y);
                                let row =
                                    ndarray::ArrayView2::from_shape((1, d), &x).expect("one row");
                                out.log_prob.push(-obj.values(row)[0]);
                                out.x.push(x);
                                out.divergences += usize::from(info.diverging);
                                out.steps += info.num_steps;
                                out.step_size = info.step_size;
                            }
                        }
                        Ok::<(), OptimError>(())
                    },
                )?;
                done += len * self.n_chains;
                progress(done, total);
            }
            Ok(())
        };

        advance(&mut chains, self.n_tune, false)?;
        let (chain, rhat, ess, converged) = loop {
            advance(&mut chains, self.n_draws, true)?;
            let n = chains[0].1.x.len();
            let mut chain = Array3::zeros((n, self.n_chains, d));
            for (k, (_, c)) in chains.iter().enumerate() {
                for (i, x) in c.x.iter().enumerate() {
                    for (j, &v) in x.iter().enumerate() {
                        chain[[i, k, j]] = v;
                    }
                }
            }
            let rhat = split_rhat(&chain);
            let ess: Vec<f64> = integrated_time(chain.view(), 5.0)
                .iter()
                .map(|&tau| (n * self.n_chains) as f64 / tau.max(1.0))
                .collect();
            let converged =
                rhat.iter().all(|&r| r <= self.max_rhat) && ess.iter().all(|&e| e >= self.min_ess);
            if converged || !self.until_converged || n + self.n_draws > self.max_draws {
                break (chain, rhat, ess, converged);
            }
        };
        let draws: Vec<ChainDraws> = chains.into_iter().map(|(_, c)| c).collect();
        let mut log_prob = Array2::zeros((chain.len_of(Axis(0)), self.n_chains));
        for (k, c) in draws.iter().enumerate() {
            for (i, &lp) in c.log_prob.iter().enumerate() {
                log_prob[[i, k]] = lp;
            }
        }
        let n_draws_total: u64 = draws.iter().map(|c| c.x.len() as u64).sum();
        Ok(NutsResult {
            mean_steps: draws.iter().map(|c| c.steps).sum::<u64>() as f64
                / n_draws_total.max(1) as f64,
            divergences: draws.iter().map(|c| c.divergences).sum(),
            step_size: draws.iter().map(|c| c.step_size).collect(),
            n_evaluations: draws.iter().map(|c| c.gradients as usize).sum(),
            chain,
            log_prob,
            rhat,
            ess,
            converged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rhat_is_one_for_identical_halves_and_large_for_separate_chains() {
        let n = 100;
        let mut same = Array3::zeros((n, 2, 1));
        let mut apart = Array3::zeros((n, 2, 1));
        for i in 0..n {
            let v = (i as f64 * 0.7).sin();
            same[[i, 0, 0]] = v;
            same[[i, 1, 0]] = (i as f64 * 0.7 + 1.3).sin();
            apart[[i, 0, 0]] = v;
            apart[[i, 1, 0]] = v + 5.0;
        }
        assert!((split_rhat(&same)[0] - 1.0).abs() < 0.02);
        assert!(split_rhat(&apart)[0] > 2.0);
    }

    #[test]
    fn bad_settings_are_refused() {
        for s in [
            NutsSampler {
                n_chains: 1,
                ..NutsSampler::default()
            },
            NutsSampler {
                target_accept: 1.0,
                ..NutsSampler::default()
            },
            NutsSampler {
                max_draws: 10,
                ..NutsSampler::default()
            },
        ] {
            assert!(matches!(s.validate(), Err(OptimError::Config(_))));
        }
    }
}
