//! Nested sampling with evidence ([`NestedSampler`]).

use std::collections::VecDeque;

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{Summary, logaddexp, no_progress, require};
use crate::optim::{Objective, OptimError, checked_bounds, eval_rows, rows_to_array};

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
    /// Live points (default 250; dynesty's 500 with 25 walk steps cost the same and give
    /// narrower, worse-covering posteriors on the 11-parameter SED posteriors, docs/fitting.md).
    pub n_live: usize,
    /// Stopping threshold on the remaining ln-evidence (default 0.01).
    pub dlogz: f64,
    /// Random-walk steps per new point (default 50; dynesty's 25 leave the replacements
    /// correlated with their starting points in ~10 dimensions).
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
            n_live: 250,
            dlogz: 0.01,
            walks: 50,
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

pub(super) fn kish_ess(w: &[f64]) -> f64 {
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
