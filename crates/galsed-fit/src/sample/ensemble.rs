//! Affine-invariant ensemble MCMC ([`EnsembleSampler`], emcee's stretch move).

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{Summary, config_err, inside, integrated_time, no_progress, require};
use crate::optim::{BOUND_MARGIN, Objective, OptimError, checked_bounds, eval_rows, rows_to_array};

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
                        // The walkers stay BOUND_MARGIN of the width inside the box, as
                        // L-BFGS-B's iterates: the fitting posteriors are +∞ on the bounds, and a
                        // best fit against a bound (a face-on galaxy, an empty age bin) would
                        // otherwise put half the ball there, all of it when several parameters
                        // sit on their bounds.
                        let (w, m) = (hi - lo, BOUND_MARGIN * (hi - lo));
                        let (lo, hi) = (lo + m, hi - m);
                        let c = x0[j].clamp(lo, hi);
                        let z: f64 = rng.sample(StandardNormal);
                        pos.push((c + self.init_scale * w * z).clamp(lo, hi));
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
