//! Posterior samplers over the box of an [`Objective`] (whose values are −ln p):
//! affine-invariant ensemble MCMC ([`EnsembleSampler`], emcee's stretch move), nested sampling
//! with evidence ([`NestedSampler`]), and posterior summaries ([`Summary`]).
//!
//! The prior is uniform over the box (any further prior term is part of the objective); points
//! outside the box have zero probability and are rejected without evaluating the objective.
//! As in [`crate::optim`], configurations are `serde` structs with defaults and a `seed`
//! (ChaCha8), and bad configurations or inputs give an [`OptimError`].

use std::collections::VecDeque;

use galsed_core::numeric::{QuantileMethod, quantile_sorted, weighted_quantile_sorted};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rustfft::{FftPlanner, num_complex::Complex};
use serde::{Deserialize, Serialize};

use crate::optim::{Objective, OptimError, checked_bounds, eval_rows, rows_to_array};

fn no_progress(_: usize, _: usize) {}

fn config_err(msg: String) -> OptimError {
    OptimError::Config(msg)
}

fn require(cond: bool, msg: impl FnOnce() -> String) -> Result<(), OptimError> {
    if cond { Ok(()) } else { Err(config_err(msg())) }
}

fn logaddexp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + (-(a - b).abs()).exp().ln_1p()
}

fn inside(x: &[f64], bounds: &[(f64, f64)]) -> bool {
    x.iter()
        .zip(bounds)
        .all(|(&v, &(lo, hi))| v >= lo && v <= hi)
}

// ---------------------------------------------------------------------------------------------
// Autocorrelation time (emcee's estimator).
// ---------------------------------------------------------------------------------------------

/// Normalised autocorrelation function of a series (FFT, zero-padded to twice the next power
/// of two, as emcee's `function_1d`); `None` for a constant series.
fn autocorr_function(x: &[f64], planner: &mut FftPlanner<f64>) -> Option<Vec<f64>> {
    let n = x.len();
    if n == 0 {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let size = 2 * n.next_power_of_two();
    let mut buf: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v - mean, 0.0)).collect();
    buf.resize(size, Complex::new(0.0, 0.0));
    planner.plan_fft_forward(size).process(&mut buf);
    for c in &mut buf {
        *c = Complex::new(c.norm_sqr(), 0.0);
    }
    planner.plan_fft_inverse(size).process(&mut buf);
    let acf0 = buf[0].re;
    if acf0 <= 0.0 || !acf0.is_finite() {
        return None;
    }
    Some(buf[..n].iter().map(|c| c.re / acf0).collect())
}

/// τ from a walker-averaged autocorrelation function with Sokal's automatic window:
/// `τ(M) = 1 + 2 Σ_{k=1}^{M} ρ(k)`, the smallest `M` with `M ≥ c·τ(M)` (emcee's `auto_window`).
fn tau_from_acf(f: &[f64], c: f64) -> f64 {
    let mut cum = 0.0;
    let mut last = f64::NAN;
    for (m, &r) in f.iter().enumerate() {
        cum += r;
        let tau = 2.0 * cum - 1.0;
        if (m as f64) >= c * tau {
            return tau;
        }
        last = tau;
    }
    last
}

/// Integrated autocorrelation time of each parameter of a chain (steps × walkers × dim), with
/// emcee's estimator (`emcee.autocorr.integrated_time`): the normalised autocorrelation
/// functions of the walkers are averaged, `τ(M) = 2 Σ_{k=0}^{M} ρ(k) − 1`, and the window is
/// the smallest `M ≥ c·τ(M)` (Sokal's automatic window; emcee's default `c = 5`). A parameter
/// that some walker never changes gets `τ = ∞`. No "chain too short" check is made here (see
/// [`EnsembleResult::converged`]).
pub fn integrated_time(chain: ArrayView3<f64>, c: f64) -> Vec<f64> {
    let (n, m, d) = chain.dim();
    let mut planner = FftPlanner::new();
    (0..d)
        .map(|j| {
            let mut f = vec![0.0; n];
            for k in 0..m {
                let series: Vec<f64> = chain.slice(ndarray::s![.., k, j]).to_vec();
                match autocorr_function(&series, &mut planner) {
                    Some(acf) => f.iter_mut().zip(&acf).for_each(|(a, b)| *a += b),
                    None => return f64::INFINITY,
                }
            }
            if m == 0 || n == 0 {
                return f64::NAN;
            }
            f.iter_mut().for_each(|a| *a /= m as f64);
            tau_from_acf(&f, c)
        })
        .collect()
}

/// [`integrated_time`] of a single series.
pub fn integrated_time_1d(x: &[f64], c: f64) -> f64 {
    let view = ArrayView3::from_shape((x.len(), 1, 1), x).expect("n × 1 × 1");
    integrated_time(view, c)[0]
}

// ---------------------------------------------------------------------------------------------
// Ensemble sampler.
// ---------------------------------------------------------------------------------------------

/// Probability of a mode-hopping γ = 1 proposal in a differential-evolution step (ter Braak 2006).
const DE_MODE_HOP: f64 = 0.1;
/// Relative spread of γ around 2.38/√(2d) (emcee's `DEMove` default).
const DE_GAMMA_SIGMA: f64 = 1e-5;

/// `v` folded into `[lo, hi]` by reflection at the walls. A symmetric proposal stays symmetric
/// when reflected, so posteriors piled against a bound keep their acceptance.
fn reflect(v: f64, lo: f64, hi: f64) -> f64 {
    let w = hi - lo;
    let t = (v - lo).rem_euclid(2.0 * w);
    lo + if t > w { 2.0 * w - t } else { t }
}

/// Where the walkers of an [`EnsembleSampler`] start.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// A small Gaussian ball around this point: walker = x0 + `init_scale`·width·N(0, 1) per
    /// component, clamped into the box (the point itself is clamped first).
    Point(&'a [f64]),
    /// These walkers (n_walkers × dim), each finite and inside the box.
    Walkers(ArrayView2<'a, f64>),
}

/// Affine-invariant ensemble MCMC (Goodman & Weare 2010), as emcee, with the stretch and the
/// differential-evolution moves.
///
/// The walkers are split into two halves; each half in turn proposes, for each of its walkers
/// `x_k`, with `x_j`, `x_l` random walkers of the other half:
/// * **stretch** — `y = x_j + z (x_k − x_j)` with `z` drawn from `g(z) ∝ 1/√z` on `[1/a, a]`,
///   accepted with probability `min(1, z^{d−1} p(y)/p(x_k))`;
/// * **differential evolution** (ter Braak 2006; emcee's `DEMove`) — `y = x_k + γ (x_j − x_l)`,
///   `j ≠ l`, with `γ = 2.38/√(2d)·(1 + 10⁻⁵ N(0, 1))`, and with probability 0.1 `γ = 1`, which
///   carries a walker from one mode to the same place in another; accepted with probability
///   `min(1, p(y)/p(x_k))`. A proposal beyond a bound is reflected back into the box (the
///   move stays symmetric), where a stretch proposal beyond it is rejected.
///
/// Each step draws its move: differential evolution with probability `de_weight`, else stretch.
/// On the multimodal SED posteriors the mixture mixes faster than the stretch move alone.
/// All proposals of a half that lie inside the box are evaluated in **one**
/// [`Objective::values`] call (the others are rejected unevaluated).
///
/// The run lasts `n_steps` steps, or with `until_converged` stops earlier once converged,
/// checking on multiples of `check_every` steps. Converged means (emcee's recipe)
/// `steps > tau_factor·τ_max` and every τ changed by less than `tau_rtol` (relative) since the
/// estimate `check_every` steps earlier. After an estimate τ_max, the next check waits until
/// the run is `0.8·tau_factor·τ_max` steps long (it cannot converge before), so that long runs
/// do not spend their time re-estimating τ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleSampler {
    /// Walkers (default `None`: max(32, 2·dim)); at least 2·dim, as emcee requires. With
    /// [`Start::Walkers`] the array's rows are the walkers, and this must match them if set.
    pub n_walkers: Option<usize>,
    /// Steps, or the maximum with `until_converged` (default 5000).
    pub n_steps: usize,
    /// Stretch scale `a` (default 2, emcee's).
    pub stretch: f64,
    /// Probability that a step uses the differential-evolution move instead of the stretch move
    /// (default 0.8).
    pub de_weight: f64,
    /// Radius of the initial ball, as a fraction of each box width (default 1e-3).
    pub init_scale: f64,
    /// Stop as soon as converged (default false).
    pub until_converged: bool,
    /// Convergence checks fall on multiples of this many steps (default 100).
    pub check_every: usize,
    /// Convergence needs `steps > tau_factor·τ_max` (default 50).
    pub tau_factor: f64,
    /// Convergence needs relative τ changes below this (default 0.01).
    pub tau_rtol: f64,
    /// Sokal window constant `c` (default 5).
    pub window_c: f64,
    /// Seed of the ChaCha8 stream (default 0).
    pub seed: u64,
}

impl Default for EnsembleSampler {
    fn default() -> Self {
        Self {
            n_walkers: None,
            n_steps: 5000,
            stretch: 2.0,
            de_weight: 0.8,
            init_scale: 1e-3,
            until_converged: false,
            check_every: 100,
            tau_factor: 50.0,
            tau_rtol: 0.01,
            window_c: 5.0,
            seed: 0,
        }
    }
}

/// Result of [`EnsembleSampler::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleResult {
    /// Positions after each step: steps × walkers × dim (the start is not included).
    pub chain: Array3<f64>,
    /// ln p (= −objective) of `chain`: steps × walkers.
    pub log_prob: Array2<f64>,
    /// Accepted fraction of each walker's proposals.
    pub acceptance: Vec<f64>,
    /// Integrated autocorrelation time of each parameter (whole chain, [`integrated_time`]).
    pub tau: Vec<f64>,
    /// τ estimates made during / at the end of the run: (steps so far, τ).
    pub tau_history: Vec<(usize, Vec<f64>)>,
    /// `steps > tau_factor·τ_max` and τ stable to `tau_rtol` over the last `check_every` steps.
    pub converged: bool,
    /// Rows evaluated (including the initial walkers).
    pub n_evaluations: usize,
}

impl EnsembleSampler {
    fn validate(&self) -> Result<(), OptimError> {
        require(self.n_steps >= 1, || {
            format!("n_steps must be ≥ 1, got {}", self.n_steps)
        })?;
        require(self.stretch.is_finite() && self.stretch > 1.0, || {
            format!("stretch must be finite and > 1, got {}", self.stretch)
        })?;
        require((0.0..=1.0).contains(&self.de_weight), || {
            format!("de_weight must be in [0, 1], got {}", self.de_weight)
        })?;
        require(self.init_scale.is_finite() && self.init_scale > 0.0, || {
            format!("init_scale must be finite and > 0, got {}", self.init_scale)
        })?;
        require(self.check_every >= 1, || {
            format!("check_every must be ≥ 1, got {}", self.check_every)
        })?;
        require(self.tau_factor.is_finite() && self.tau_factor > 0.0, || {
            format!("tau_factor must be finite and > 0, got {}", self.tau_factor)
        })?;
        require(self.tau_rtol.is_finite() && self.tau_rtol > 0.0, || {
            format!("tau_rtol must be finite and > 0, got {}", self.tau_rtol)
        })?;
        require(self.window_c.is_finite() && self.window_c > 0.0, || {
            format!("window_c must be finite and > 0, got {}", self.window_c)
        })
    }

    /// Sample `obj` from `start`.
    pub fn run<O: Objective + ?Sized>(
        &self,
        obj: &O,
        start: Start<'_>,
    ) -> Result<EnsembleResult, OptimError> {
        self.run_with_progress(obj, start, &mut no_progress)
    }

    /// [`run`](Self::run), calling `progress(step, n_steps)` after every step.
    pub fn run_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        start: Start<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<EnsembleResult, OptimError> {
        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let d = bounds.len();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);

        // Initial walkers (row-major nw × d).
        let (nw, mut pos) = match start {
            Start::Point(x0) => {
                if x0.len() != d {
                    return Err(OptimError::Dimension {
                        what: "starting point",
                        expected: d,
                        got: x0.len(),
                    });
                }
                if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
                    return Err(OptimError::Start(format!("parameter {i} is not finite")));
                }
                let nw = self.n_walkers.unwrap_or_else(|| (2 * d).max(32));
                let mut pos = Vec::with_capacity(nw * d);
                for _ in 0..nw {
                    for (j, &(lo, hi)) in bounds.iter().enumerate() {
                        let c = x0[j].clamp(lo, hi);
                        let z: f64 = rng.sample(StandardNormal);
                        pos.push((c + self.init_scale * (hi - lo) * z).clamp(lo, hi));
                    }
                }
                (nw, pos)
            }
            Start::Walkers(w) => {
                if w.ncols() != d {
                    return Err(OptimError::Dimension {
                        what: "walker dimension",
                        expected: d,
                        got: w.ncols(),
                    });
                }
                if let Some(n) = self.n_walkers.filter(|&n| n != w.nrows()) {
                    return Err(OptimError::Dimension {
                        what: "number of walkers",
                        expected: n,
                        got: w.nrows(),
                    });
                }
                for (k, row) in w.rows().into_iter().enumerate() {
                    let row = row.to_vec();
                    if row.iter().any(|v| !v.is_finite()) || !inside(&row, &bounds) {
                        return Err(OptimError::Start(format!(
                            "walker {k} is not finite or outside the box"
                        )));
                    }
                }
                (w.nrows(), w.iter().copied().collect())
            }
        };
        if nw < 2 * d || nw < 2 {
            return Err(config_err(format!(
                "n_walkers must be ≥ max(2, 2·dim) = {}, got {nw}",
                (2 * d).max(2)
            )));
        }

        let mut n_evaluations = 0usize;
        let mut lnp: Vec<f64> =
            eval_rows(obj, ArrayView2::from_shape((nw, d), &pos).expect("nw × d"))?
                .iter()
                .map(|f| -f)
                .collect();
        n_evaluations += nw;
        if lnp.iter().all(|v| !v.is_finite()) {
            return Err(OptimError::NoFiniteValue(
                "no initial walker has a finite log-probability".into(),
            ));
        }

        let a = self.stretch;
        let gamma0 = 2.38 / (2.0 * d as f64).sqrt();
        let half = nw / 2;
        let mut chain: Vec<f64> = Vec::with_capacity(self.n_steps.min(1 << 16) * nw * d);
        let mut chain_lp: Vec<f64> = Vec::with_capacity(self.n_steps.min(1 << 16) * nw);
        let mut accepted = vec![0usize; nw];
        let mut tau_history: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut steps = 0usize;
        let mut converged_early = false;
        let mut next_check = self.check_every;
        let mut proposal = vec![0.0; d];
        for step in 1..=self.n_steps {
            // Differential evolution needs two walkers in each half.
            let de = half >= 2 && rng.random::<f64>() < self.de_weight;
            for s in 0..2 {
                let (act, comp) = if s == 0 {
                    (0..half, half..nw)
                } else {
                    (half..nw, 0..half)
                };
                // (walker, ln of the proposal's Hastings factor, inside the box)
                let mut props: Vec<(usize, f64, bool)> = Vec::with_capacity(act.len());
                let mut rows: Vec<f64> = Vec::with_capacity(act.len() * d);
                let mut all = Vec::with_capacity(act.len() * d);
                for k in act.clone() {
                    let j = comp.start + rng.random_range(0..comp.len());
                    let ln_factor = if de {
                        // A second, different walker of the other half.
                        let l = comp.start
                            + (j - comp.start + 1 + rng.random_range(0..comp.len() - 1))
                                % comp.len();
                        let gamma = if rng.random::<f64>() < DE_MODE_HOP {
                            1.0
                        } else {
                            gamma0 * (1.0 + DE_GAMMA_SIGMA * rng.sample::<f64, _>(StandardNormal))
                        };
                        for (i, &(lo, hi)) in bounds.iter().enumerate() {
                            proposal[i] = reflect(
                                pos[k * d + i] + gamma * (pos[j * d + i] - pos[l * d + i]),
                                lo,
                                hi,
                            );
                        }
                        0.0
                    } else {
                        let u: f64 = rng.random();
                        let z = ((a - 1.0) * u + 1.0).powi(2) / a;
                        for i in 0..d {
                            proposal[i] = pos[j * d + i] + z * (pos[k * d + i] - pos[j * d + i]);
                        }
                        (d as f64 - 1.0) * z.ln()
                    };
                    let ok = inside(&proposal, &bounds);
                    if ok {
                        rows.extend_from_slice(&proposal);
                    }
                    all.extend_from_slice(&proposal);
                    props.push((k, ln_factor, ok));
                }
                let vals = eval_rows(obj, rows_to_array(rows, d).view())?;
                n_evaluations += vals.len();
                let mut next = 0;
                for (idx, &(k, ln_factor, ok)) in props.iter().enumerate() {
                    let new_lnp = if ok {
                        next += 1;
                        -vals[next - 1]
                    } else {
                        f64::NEG_INFINITY
                    };
                    let ln_q = ln_factor + new_lnp - lnp[k];
                    let r: f64 = rng.random();
                    if ln_q > r.ln() {
                        pos[k * d..(k + 1) * d].copy_from_slice(&all[idx * d..(idx + 1) * d]);
                        lnp[k] = new_lnp;
                        accepted[k] += 1;
                    }
                }
            }
            chain.extend_from_slice(&pos);
            chain_lp.extend_from_slice(&lnp);
            steps = step;
            progress(step, self.n_steps);
            if self.until_converged && step % self.check_every == 0 && step >= next_check {
                // Each estimate transforms the whole chain, so estimates every `check_every`
                // steps would cost O(steps²): estimate again only once the run could be
                // `tau_factor·τ` long, with the estimate `check_every` steps earlier that the
                // stability test compares against.
                let earlier = step - self.check_every;
                if earlier > 0 && tau_history.last().map(|(s, _)| *s) != Some(earlier) {
                    let view = ArrayView3::from_shape((earlier, nw, d), &chain[..earlier * nw * d])
                        .expect("steps × nw × d");
                    tau_history.push((earlier, integrated_time(view, self.window_c)));
                }
                let view = ArrayView3::from_shape((step, nw, d), &chain).expect("steps × nw × d");
                let tau = integrated_time(view, self.window_c);
                let tau_max = tau.iter().copied().fold(0.0, f64::max);
                tau_history.push((step, tau));
                if self.is_converged(&tau_history) {
                    converged_early = true;
                    break;
                }
                next_check = if tau_max.is_finite() {
                    ((0.8 * self.tau_factor * tau_max) as usize).max(step + 1)
                } else {
                    step + 1
                };
            }
        }

        let chain = Array3::from_shape_vec((steps, nw, d), chain).expect("steps × nw × d");
        if tau_history.last().map(|(s, _)| *s) != Some(steps) {
            tau_history.push((steps, integrated_time(chain.view(), self.window_c)));
        }
        if tau_history.len() < 2 && steps > self.check_every {
            let earlier = steps - self.check_every;
            let view = chain.slice(ndarray::s![..earlier, .., ..]);
            tau_history.insert(0, (earlier, integrated_time(view, self.window_c)));
        }
        let converged = converged_early || self.is_converged(&tau_history);
        let tau = tau_history
            .last()
            .expect("at least one τ estimate")
            .1
            .clone();
        Ok(EnsembleResult {
            chain,
            log_prob: Array2::from_shape_vec((steps, nw), chain_lp).expect("steps × nw"),
            acceptance: accepted.iter().map(|&n| n as f64 / steps as f64).collect(),
            tau,
            tau_history,
            converged,
            n_evaluations,
        })
    }

    fn is_converged(&self, history: &[(usize, Vec<f64>)]) -> bool {
        let [.., (_, prev), (steps, tau)] = history else {
            return false;
        };
        let tau_max = tau.iter().copied().fold(0.0, f64::max);
        tau.iter().all(|t| t.is_finite())
            && (*steps as f64) > self.tau_factor * tau_max
            && tau
                .iter()
                .zip(prev)
                .all(|(t, p)| ((t - p) / t).abs() < self.tau_rtol)
    }
}

impl EnsembleResult {
    /// Steps in the chain.
    pub fn n_steps(&self) -> usize {
        self.chain.dim().0
    }

    /// Mean acceptance fraction over the walkers.
    pub fn mean_acceptance(&self) -> f64 {
        self.acceptance.iter().sum::<f64>() / self.acceptance.len() as f64
    }

    /// emcee's rule of thumb for a burn-in and thinning: (2·τ_max, ⌊τ_min/2⌋), at least 1 for
    /// the thinning; with a non-finite τ, half the chain and 1.
    pub fn burn_in_and_thin(&self) -> (usize, usize) {
        let n = self.n_steps();
        let tmax = self.tau.iter().copied().fold(0.0, f64::max);
        let tmin = self.tau.iter().copied().fold(f64::INFINITY, f64::min);
        if !tmax.is_finite() || !tmin.is_finite() {
            return (n / 2, 1);
        }
        (
            ((2.0 * tmax) as usize).min(n.saturating_sub(1)),
            ((0.5 * tmin) as usize).max(1),
        )
    }

    /// Samples of all walkers after discarding `discard` steps and keeping every `thin`-th step
    /// (0 is taken as 1), step-major like emcee's `get_chain(flat=True)`: (steps·walkers) × dim.
    pub fn flat_samples(&self, discard: usize, thin: usize) -> Array2<f64> {
        let (n, nw, d) = self.chain.dim();
        let thin = thin.max(1);
        let steps: Vec<usize> = (discard.min(n)..n).step_by(thin).collect();
        let mut out = Array2::zeros((steps.len() * nw, d));
        for (i, &s) in steps.iter().enumerate() {
            out.slice_mut(ndarray::s![i * nw..(i + 1) * nw, ..])
                .assign(&self.chain.slice(ndarray::s![s, .., ..]));
        }
        out
    }

    /// ln p of [`flat_samples`](Self::flat_samples), in the same order.
    pub fn flat_log_prob(&self, discard: usize, thin: usize) -> Vec<f64> {
        let n = self.n_steps();
        (discard.min(n)..n)
            .step_by(thin.max(1))
            .flat_map(|s| self.log_prob.row(s).to_vec())
            .collect()
    }

    /// Monte-Carlo standard error of each posterior mean estimated from the chain after
    /// `discard` steps: `σ_j √(τ_j / N)` with `N` = samples kept (all walkers, no thinning).
    pub fn mean_std_error(&self, discard: usize) -> Vec<f64> {
        let samples = self.flat_samples(discard, 1);
        let n = samples.nrows() as f64;
        samples
            .columns()
            .into_iter()
            .zip(&self.tau)
            .map(|(c, &tau)| {
                let mean = c.sum() / n;
                let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                (var * tau / n).sqrt()
            })
            .collect()
    }

    /// The sample with the highest ln p and that ln p.
    pub fn max_log_prob(&self) -> (Vec<f64>, f64) {
        let (mut best, mut best_lp) = ((0, 0), f64::NEG_INFINITY);
        for ((s, k), &lp) in self.log_prob.indexed_iter() {
            if lp > best_lp {
                best = (s, k);
                best_lp = lp;
            }
        }
        (
            self.chain.slice(ndarray::s![best.0, best.1, ..]).to_vec(),
            best_lp,
        )
    }

    /// [`Summary`] of [`flat_samples`](Self::flat_samples)`(discard, thin)`.
    pub fn summary(&self, discard: usize, thin: usize) -> Result<Summary, OptimError> {
        Summary::from_samples(self.flat_samples(discard, thin).view())
    }
}

// ---------------------------------------------------------------------------------------------
// Nested sampling.
// ---------------------------------------------------------------------------------------------

/// Static nested sampling (Skilling 2004/2006) with a uniform prior over the box and
/// replacement points drawn by constrained random walks (dynesty's `rwalk`).
///
/// The evidence is `Z = ∫ exp(−f(x)) dx / V` over the box of volume `V` (`f` the objective), i.e.
/// the objective is −ln L (plus any extra −ln prior term, which then counts as part of `L`).
///
/// * Live points: `n_live`, uniform in the box, evaluated in one call.
/// * Iteration `i` removes the worst live point `L*`, with prior volume `X_i = e^{−i/n_live}`,
///   weight `w_i = L*·(X_{i−1} − X_i)`, and updates `ln Z` and the information `H` by Skilling's
///   recurrences.
/// * Replacements come from a queue, filled `queue_size` at a time: `queue_size` random-walk
///   chains start from random live points above the current `L*` and take `walks` steps each,
///   `u' = u + s·C^{1/2}·N(0, I)` in unit-cube coordinates, with `C` the covariance of the live
///   points (Cholesky factor) and `s` adapted after each fill towards 50 % acceptance
///   (`s ← s·exp(2(acc − ½)/dim)`, dynesty's rule); a move is accepted if it stays inside the box
///   and `L > L*`. The `queue_size` proposals of a walk step are evaluated in **one** call. A
///   queued point is used only if it is still above the (risen) `L*` when popped (dynesty's
///   queue rule; points uniform above an older threshold are uniform above the new one).
/// * Stop when the remaining evidence estimate is small: `ln(Z + L_max·X_i) − ln Z < dlogz`;
///   then the live points are added, each with volume `X_i / n_live`.
/// * `ln Z` error: `√(H / n_live)` (Skilling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NestedSampler {
    /// Live points (default 500, dynesty's).
    pub n_live: usize,
    /// Stopping threshold on the remaining ln-evidence (default 0.01).
    pub dlogz: f64,
    /// Random-walk steps per new point (default 25, dynesty's).
    pub walks: usize,
    /// Chains run (and proposals batched) together (default 32).
    pub queue_size: usize,
    /// Maximum iterations (dead points) (default 1 000 000).
    pub max_iterations: usize,
    /// Seed of the ChaCha8 stream (default 0).
    pub seed: u64,
}

impl Default for NestedSampler {
    fn default() -> Self {
        Self {
            n_live: 500,
            dlogz: 0.01,
            walks: 25,
            queue_size: 32,
            max_iterations: 1_000_000,
            seed: 0,
        }
    }
}

/// Result of [`NestedSampler::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct NestedResult {
    /// ln Z (see [`NestedSampler`] for the normalisation).
    pub log_z: f64,
    /// Its statistical error `√(H / n_live)`.
    pub log_z_err: f64,
    /// Information `H` (KL divergence of posterior from prior, nats).
    pub information: f64,
    /// Dead points then the final live points: n × dim.
    pub samples: Array2<f64>,
    /// ln L of `samples`.
    pub log_l: Vec<f64>,
    /// Normalised ln posterior weights of `samples` (`Σ exp = 1`).
    pub log_weights: Vec<f64>,
    /// Equal-weight posterior samples (systematic resampling, as many as the Kish effective
    /// sample size).
    pub equal_weight_samples: Array2<f64>,
    /// Iterations (dead points before the live points were added).
    pub n_iterations: usize,
    /// Rows evaluated.
    pub n_evaluations: usize,
    /// Live points used.
    pub n_live: usize,
    /// Random-walk acceptance fraction over the run.
    pub acceptance: f64,
    /// Stopped by `dlogz` (false: `max_iterations` reached).
    pub converged: bool,
}

struct Accumulator {
    log_z: f64,
    h: f64,
}

impl Accumulator {
    /// Skilling's update of ln Z and H with a point of ln-weight `log_wt` and ln-likelihood `log_l`.
    fn add(&mut self, log_wt: f64, log_l: f64) {
        let new = logaddexp(self.log_z, log_wt);
        if new == f64::NEG_INFINITY {
            return;
        }
        let a = if log_wt == f64::NEG_INFINITY {
            0.0
        } else {
            (log_wt - new).exp() * log_l
        };
        let b = if self.log_z == f64::NEG_INFINITY {
            0.0
        } else {
            (self.log_z - new).exp() * (self.h + self.log_z)
        };
        self.h = a + b - new;
        self.log_z = new;
    }
}

/// Lower Cholesky factor of a symmetric d × d matrix (row-major), or `None` if not positive
/// definite.
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Cholesky factor of the covariance of the points (unit-cube coordinates), regularised.
fn live_cholesky(points: &[Vec<f64>], d: usize) -> Vec<f64> {
    let n = points.len() as f64;
    let mut mean = vec![0.0; d];
    for p in points {
        mean.iter_mut().zip(p).for_each(|(m, v)| *m += v / n);
    }
    let mut cov = vec![0.0; d * d];
    for p in points {
        for i in 0..d {
            for j in 0..=i {
                cov[i * d + j] += (p[i] - mean[i]) * (p[j] - mean[j]) / (n - 1.0).max(1.0);
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[j * d + i] = cov[i * d + j];
        }
        cov[i * d + i] += 1e-12;
    }
    cholesky(&cov, d).unwrap_or_else(|| {
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            l[i * d + i] = cov[i * d + i].max(1e-12).sqrt();
        }
        l
    })
}

/// Systematic resampling of `weights` (normalised) into `n` indices.
fn systematic_resample(weights: &[f64], n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    let offset: f64 = rng.random();
    let mut idx = Vec::with_capacity(n);
    let mut cum = 0.0;
    let mut j = 0;
    for i in 0..n {
        let pos = (offset + i as f64) / n as f64 * total;
        while j + 1 < weights.len() && cum + weights[j] < pos {
            cum += weights[j];
            j += 1;
        }
        idx.push(j);
    }
    idx
}

impl NestedSampler {
    fn validate(&self) -> Result<(), OptimError> {
        require(self.n_live >= 2, || {
            format!("n_live must be ≥ 2, got {}", self.n_live)
        })?;
        require(self.dlogz.is_finite() && self.dlogz > 0.0, || {
            format!("dlogz must be finite and > 0, got {}", self.dlogz)
        })?;
        require(self.walks >= 1, || {
            format!("walks must be ≥ 1, got {}", self.walks)
        })?;
        require(self.queue_size >= 1, || {
            format!("queue_size must be ≥ 1, got {}", self.queue_size)
        })
    }

    /// Run nested sampling on `obj`.
    pub fn run<O: Objective + ?Sized>(&self, obj: &O) -> Result<NestedResult, OptimError> {
        self.run_with_progress(obj, &mut no_progress)
    }

    /// [`run`](Self::run), calling `progress(iteration, estimated_total)` after every
    /// iteration; the estimate (`iteration + n_live·ln(Δln Z / dlogz)`, at most
    /// `max_iterations`) changes as the run goes.
    pub fn run_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<NestedResult, OptimError> {
        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let d = bounds.len();
        let n_live = self.n_live;
        let nf = n_live as f64;
        let to_x = |u: &[f64]| -> Vec<f64> {
            u.iter()
                .zip(&bounds)
                .map(|(&v, &(lo, hi))| lo + v * (hi - lo))
                .collect()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut n_evaluations = 0usize;
        let mut eval_u = |us: &[Vec<f64>]| -> Result<Vec<f64>, OptimError> {
            let rows: Vec<f64> = us.iter().flat_map(|u| to_x(u)).collect();
            let f = eval_rows(obj, rows_to_array(rows, d).view())?;
            n_evaluations += f.len();
            Ok(f.iter().map(|v| -v).collect())
        };

        let mut live_u: Vec<Vec<f64>> = (0..n_live)
            .map(|_| (0..d).map(|_| rng.random::<f64>()).collect())
            .collect();
        let mut live_l = eval_u(&live_u)?;
        if live_l.iter().all(|v| !v.is_finite()) {
            return Err(OptimError::NoFiniteValue(format!(
                "all {n_live} initial live points are invalid"
            )));
        }

        let mut acc = Accumulator {
            log_z: f64::NEG_INFINITY,
            h: 0.0,
        };
        let log_shrink = (-(-1.0 / nf).exp_m1()).ln(); // ln(1 − e^{−1/N})
        let mut log_vol = 0.0;
        let mut dead_u: Vec<Vec<f64>> = Vec::new();
        let mut dead_l: Vec<f64> = Vec::new();
        let mut dead_wt: Vec<f64> = Vec::new();
        let mut queue: VecDeque<(Vec<f64>, f64)> = VecDeque::new();
        let mut scale = 1.0 / (d as f64).sqrt();
        let (mut n_accept, mut n_propose) = (0usize, 0usize);
        let mut iterations = 0usize;
        let mut converged = false;
        loop {
            let l_max = live_l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let delta = logaddexp(acc.log_z, l_max + log_vol) - acc.log_z;
            if delta < self.dlogz {
                converged = true;
                break;
            }
            if iterations >= self.max_iterations {
                break;
            }
            iterations += 1;
            let worst = (0..n_live).fold(0, |w, i| if live_l[i] < live_l[w] { i } else { w });
            let l_star = live_l[worst];
            let log_wt = l_star + log_vol + log_shrink;
            acc.add(log_wt, l_star);
            dead_u.push(live_u[worst].clone());
            dead_l.push(l_star);
            dead_wt.push(log_wt);
            log_vol -= 1.0 / nf;

            // Replacement above L*.
            loop {
                if queue.is_empty() {
                    let candidates: Vec<usize> =
                        (0..n_live).filter(|&i| live_l[i] > l_star).collect();
                    if candidates.is_empty() {
                        return Err(OptimError::Objective(format!(
                            "likelihood plateau: no live point above ln L* = {l_star} at iteration {iterations}"
                        )));
                    }
                    let chol = live_cholesky(&live_u, d);
                    let mut cur: Vec<(Vec<f64>, f64)> = (0..self.queue_size)
                        .map(|_| {
                            let i = candidates[rng.random_range(0..candidates.len())];
                            (live_u[i].clone(), live_l[i])
                        })
                        .collect();
                    let (mut acc_fill, mut prop_fill) = (0usize, 0usize);
                    for _ in 0..self.walks {
                        let mut props: Vec<Option<Vec<f64>>> = Vec::with_capacity(cur.len());
                        for (u, _) in &cur {
                            let z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
                            let p: Vec<f64> = (0..d)
                                .map(|i| {
                                    u[i] + scale
                                        * (0..=i).map(|k| chol[i * d + k] * z[k]).sum::<f64>()
                                })
                                .collect();
                            props.push(p.iter().all(|v| (0.0..=1.0).contains(v)).then_some(p));
                        }
                        let batch: Vec<Vec<f64>> = props.iter().flatten().cloned().collect();
                        let ls = eval_u(&batch)?;
                        let mut next = 0;
                        for (c, p) in cur.iter_mut().zip(props) {
                            prop_fill += 1;
                            if let Some(p) = p {
                                let l = ls[next];
                                next += 1;
                                if l > l_star {
                                    *c = (p, l);
                                    acc_fill += 1;
                                }
                            }
                        }
                    }
                    n_accept += acc_fill;
                    n_propose += prop_fill;
                    let facc = acc_fill as f64 / prop_fill as f64;
                    scale = (scale * (2.0 * (facc - 0.5) / d as f64).exp()).clamp(1e-9, 10.0);
                    queue.extend(cur);
                }
                let (u, l) = queue.pop_front().expect("queue filled above");
                if l > l_star {
                    live_u[worst] = u;
                    live_l[worst] = l;
                    break;
                }
            }
            let remaining = if delta.is_finite() {
                nf * (delta / self.dlogz).ln().max(0.0)
            } else {
                10.0 * nf
            };
            let estimate = ((iterations as f64 + remaining).ceil() as usize)
                .clamp(iterations, self.max_iterations.max(iterations));
            progress(iterations, estimate);
        }

        // Add the live points, each with volume X/N.
        let mut order: Vec<usize> = (0..n_live).collect();
        order.sort_by(|&a, &b| live_l[a].total_cmp(&live_l[b]));
        for &i in &order {
            let log_wt = live_l[i] + log_vol - nf.ln();
            acc.add(log_wt, live_l[i]);
            dead_u.push(live_u[i].clone());
            dead_l.push(live_l[i]);
            dead_wt.push(log_wt);
        }
        let log_z = acc.log_z;
        let information = acc.h.max(0.0);
        let log_weights: Vec<f64> = dead_wt.iter().map(|w| w - log_z).collect();
        let weights: Vec<f64> = log_weights.iter().map(|w| w.exp()).collect();
        let samples = rows_to_array(dead_u.iter().flat_map(|u| to_x(u)).collect(), d);
        let ess = kish_ess(&weights);
        let n_eq = (ess.round() as usize).max(1);
        let mut rs_rng = ChaCha8Rng::seed_from_u64(self.seed);
        rs_rng.set_stream(1);
        let idx = systematic_resample(&weights, n_eq, &mut rs_rng);
        let mut equal = Array2::zeros((n_eq, d));
        for (r, &i) in idx.iter().enumerate() {
            equal.row_mut(r).assign(&samples.row(i));
        }
        Ok(NestedResult {
            log_z,
            log_z_err: (information / nf).sqrt(),
            information,
            samples,
            log_l: dead_l,
            log_weights,
            equal_weight_samples: equal,
            n_iterations: iterations,
            n_evaluations,
            n_live,
            acceptance: if n_propose > 0 {
                n_accept as f64 / n_propose as f64
            } else {
                f64::NAN
            },
            converged,
        })
    }
}

fn kish_ess(w: &[f64]) -> f64 {
    let s: f64 = w.iter().sum();
    let s2: f64 = w.iter().map(|v| v * v).sum();
    if s2 > 0.0 { s * s / s2 } else { 0.0 }
}

impl NestedResult {
    /// Normalised posterior weights of `samples`.
    pub fn weights(&self) -> Vec<f64> {
        self.log_weights.iter().map(|w| w.exp()).collect()
    }

    /// Kish effective sample size of the weights.
    pub fn effective_sample_size(&self) -> f64 {
        kish_ess(&self.weights())
    }

    /// `n` equal-weight samples by systematic resampling with its own `seed`.
    pub fn resample_equal(&self, n: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let idx = systematic_resample(&self.weights(), n, &mut rng);
        let mut out = Array2::zeros((n, self.samples.ncols()));
        for (r, &i) in idx.iter().enumerate() {
            out.row_mut(r).assign(&self.samples.row(i));
        }
        out
    }

    /// Weighted [`Summary`] of the samples.
    pub fn summary(&self) -> Result<Summary, OptimError> {
        Summary::from_weighted(self.samples.view(), &self.weights())
    }
}

// ---------------------------------------------------------------------------------------------
// Summary.
// ---------------------------------------------------------------------------------------------

/// Per-parameter posterior summary: median, 16th and 84th percentiles, mean and standard
/// deviation (population form, normalised by the total weight).
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
            let mut v = col.to_vec();
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / n as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
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
            let mut v: Vec<(f64, f64)> = col
                .iter()
                .copied()
                .zip(weights.iter().map(|w| w / total))
                .collect();
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
}
