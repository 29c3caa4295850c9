//! Optimisers over a box: particle swarm ([`ParticleSwarm`]), PyTorch's Adam ([`Adam`]),
//! bounded L-BFGS-B ([`Lbfgsb`], [`lbfgsb`]) and Nelder–Mead ([`NelderMead`]).
//!
//! Everything works against the [`Objective`] trait: a negative log-density over a box whose
//! batch evaluation ([`Objective::values`]) is much cheaper per row than one row at a time.
//! The algorithms therefore evaluate whole swarms, simplices or batches of trial points in a
//! single call wherever the algorithm allows it.
//!
//! Every algorithm is configured by a plain struct that is `serde`-(de)serialisable with
//! defaults (`#[serde(default)]`: a missing field takes its default, an unknown field is an
//! error), is reproducible from its `seed` (ChaCha8 streams) where it is random, and reports
//! problems with the configuration or the objective as [`OptimError`] instead of panicking.
//!
//! ```
//! use galsed_fit::optim::{Objective, ParticleSwarm};
//! use ndarray::ArrayView2;
//!
//! /// f(x) = Σ (x_i − 0.3)² on [−1, 1]³.
//! struct Sphere;
//! impl Objective for Sphere {
//!     fn dim(&self) -> usize { 3 }
//!     fn bounds(&self) -> Vec<(f64, f64)> { vec![(-1.0, 1.0); 3] }
//!     fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
//!         x.rows().into_iter().map(|r| r.iter().map(|v| (v - 0.3).powi(2)).sum()).collect()
//!     }
//!     fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
//!         let f = x.iter().map(|v| (v - 0.3).powi(2)).sum();
//!         (f, x.iter().map(|v| 2.0 * (v - 0.3)).collect())
//!     }
//! }
//!
//! let pso = ParticleSwarm { n_iterations: 200, n_restarts: 3, seed: 7, ..Default::default() };
//! let result = pso.minimize(&Sphere).unwrap();
//! assert!(result.value < 1e-10);
//! assert!(result.x.iter().all(|v| (v - 0.3).abs() < 1e-5));
//! assert!(result.restarts_agree);
//! assert_eq!(result.n_evaluations, 3 * 32 * 201);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array2, ArrayView2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A negative log-density to minimise / sample, over a box.
pub trait Objective: Sync {
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// Lower and upper bound of each parameter (finite).
    fn bounds(&self) -> Vec<(f64, f64)>;
    /// −ln p of each row of `x` (N × dim). +∞ marks an invalid point (never NaN).
    /// Evaluating many rows at once is much cheaper per row than one at a time (the model is batched),
    /// so algorithms should evaluate whole swarms / half-ensembles / batches of proposals in one call.
    fn values(&self, x: ndarray::ArrayView2<f64>) -> Vec<f64>;
    /// −ln p and its gradient at one point.
    fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>);
}

/// Errors of the optimisers and samplers (shared by [`crate::optim`] and [`crate::sample`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    /// A configuration value is out of its valid range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The objective's bounds are unusable (not finite, or lower ≥ upper).
    #[error("invalid bounds of parameter {index}: ({lo}, {hi}); need finite lower < upper")]
    Bounds {
        /// Parameter index.
        index: usize,
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// A vector or array has the wrong length / shape.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    Dimension {
        /// What was being checked.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// A given starting point or walker is outside the box or not finite.
    #[error("invalid starting point: {0}")]
    Start(String),
    /// The objective never returned a finite value.
    #[error("no finite objective value found: {0}")]
    NoFiniteValue(String),
    /// The objective returned something unusable (NaN gradient, …).
    #[error("objective failure: {0}")]
    Objective(String),
}

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by `crate::sample`).
// ---------------------------------------------------------------------------------------------

/// Bounds of `obj`, checked: `dim ≥ 1`, one pair per dimension, finite, `lo < hi`.
pub(crate) fn checked_bounds<O: Objective + ?Sized>(
    obj: &O,
) -> Result<Vec<(f64, f64)>, OptimError> {
    let dim = obj.dim();
    if dim == 0 {
        return Err(OptimError::Config("the objective has dimension 0".into()));
    }
    let bounds = obj.bounds();
    if bounds.len() != dim {
        return Err(OptimError::Dimension {
            what: "objective bounds",
            expected: dim,
            got: bounds.len(),
        });
    }
    for (index, &(lo, hi)) in bounds.iter().enumerate() {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(OptimError::Bounds { index, lo, hi });
        }
    }
    Ok(bounds)
}

/// `obj.values(x)` with the length checked and NaN mapped to +∞ (an invalid point).
pub(crate) fn eval_rows<O: Objective + ?Sized>(
    obj: &O,
    x: ArrayView2<f64>,
) -> Result<Vec<f64>, OptimError> {
    if x.nrows() == 0 {
        return Ok(Vec::new());
    }
    let mut v = obj.values(x);
    if v.len() != x.nrows() {
        return Err(OptimError::Dimension {
            what: "objective values",
            expected: x.nrows(),
            got: v.len(),
        });
    }
    for f in &mut v {
        if f.is_nan() {
            *f = f64::INFINITY;
        }
    }
    Ok(v)
}

/// `obj.value_grad(x)` with the gradient length checked and a NaN value mapped to +∞.
pub(crate) fn eval_grad<O: Objective + ?Sized>(
    obj: &O,
    x: &[f64],
) -> Result<(f64, Vec<f64>), OptimError> {
    let (mut f, g) = obj.value_grad(x);
    if g.len() != x.len() {
        return Err(OptimError::Dimension {
            what: "objective gradient",
            expected: x.len(),
            got: g.len(),
        });
    }
    if f.is_nan() {
        f = f64::INFINITY;
    }
    Ok((f, g))
}

/// Rows (each of length `dim`, concatenated) as an N × dim array.
pub(crate) fn rows_to_array(rows: Vec<f64>, dim: usize) -> Array2<f64> {
    let n = rows.len() / dim;
    Array2::from_shape_vec((n, dim), rows).expect("rows are a whole number of points")
}

fn check_start(x0: &[f64], bounds: &[(f64, f64)]) -> Result<Vec<f64>, OptimError> {
    if x0.len() != bounds.len() {
        return Err(OptimError::Dimension {
            what: "starting point",
            expected: bounds.len(),
            got: x0.len(),
        });
    }
    if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
        return Err(OptimError::Start(format!("parameter {i} is not finite")));
    }
    Ok(x0
        .iter()
        .zip(bounds)
        .map(|(&v, &(lo, hi))| v.clamp(lo, hi))
        .collect())
}

fn positive(name: &str, v: f64) -> Result<(), OptimError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(OptimError::Config(format!(
            "{name} must be finite and > 0, got {v}"
        )))
    }
}

fn non_negative(name: &str, v: f64) -> Result<(), OptimError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(OptimError::Config(format!(
            "{name} must be finite and ≥ 0, got {v}"
        )))
    }
}

fn at_least(name: &str, v: usize, min: usize) -> Result<(), OptimError> {
    if v >= min {
        Ok(())
    } else {
        Err(OptimError::Config(format!(
            "{name} must be ≥ {min}, got {v}"
        )))
    }
}

fn no_progress(_: usize, _: usize) {}

// ---------------------------------------------------------------------------------------------
// Particle swarm.
// ---------------------------------------------------------------------------------------------

/// How a particle that leaves the box is put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryMode {
    /// Absorbing walls: the coordinate is clamped onto the bound and that velocity component
    /// set to zero. Particles can sit exactly on a bound, so minima on a bound (common for SED
    /// parameters) are reached exactly.
    #[default]
    Clamp,
    /// Reflecting walls: the overshoot is mirrored back into the box and that velocity
    /// component reversed (then clamped, should it still be outside).
    Reflect,
}

/// Global-best particle swarm optimisation with independent restarts (best-of), the optimiser
/// of the Starduster paper (32 particles, 2000 iterations, 10 restarts).
///
/// Each particle moves as `v ← w·v + c₁·r₁∘(p − x) + c₂·r₂∘(g − x)`, `x ← x + v`, with
/// `r₁, r₂ ~ U(0,1)` drawn per component, `p` its own best and `g` its swarm's best (synchronous
/// update). The defaults are Clerc & Kennedy's (2002) constriction values `w = 0.7298`,
/// `c₁ = c₂ = 1.49618` (χ = 0.7298 for φ = 4.1), which converge without a velocity clamp;
/// velocities are still limited to `max_velocity` × box width per component to keep the first
/// iterations inside the box. Initial positions are uniform in the box and initial velocities
/// `U(lo − x, hi − x)` per component (SPSO-2011), so that `x + v` starts inside the box.
///
/// The restarts are independent swarms with their own ChaCha8 stream (`seed`, stream = restart
/// index), advanced in lockstep: every iteration evaluates the particles of **all** swarms in
/// one [`Objective::values`] call (`n_restarts × n_particles` rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParticleSwarm {
    /// Particles per swarm (default 32).
    pub n_particles: usize,
    /// Iterations (velocity/position updates) after the initial evaluation (default 2000).
    pub n_iterations: usize,
    /// Independent swarms; the best is returned (default 10).
    pub n_restarts: usize,
    /// Inertia weight `w` (default 0.7298).
    pub inertia: f64,
    /// Cognitive (own best) acceleration `c₁` (default 1.49618).
    pub cognitive: f64,
    /// Social (swarm best) acceleration `c₂` (default 1.49618).
    pub social: f64,
    /// Maximum speed per component, as a fraction of that parameter's box width (default 0.5).
    pub max_velocity: f64,
    /// What happens at the walls (default [`BoundaryMode::Clamp`]).
    pub boundary: BoundaryMode,
    /// Early stop of a swarm: when its best has not improved by more than `ftol` for this many
    /// iterations (default 0 = never; the paper runs all iterations).
    pub patience: usize,
    /// Improvement threshold of `patience` (default 1e-8, absolute, in units of −ln p).
    pub ftol: f64,
    /// Restarts "agree" when every restart's best is within this of the overall best
    /// (default 0.5 in −ln p, i.e. Δχ² = 1).
    pub agree_tol: f64,
    /// Seed of the ChaCha8 streams (default 0).
    pub seed: u64,
}

impl Default for ParticleSwarm {
    fn default() -> Self {
        Self {
            n_particles: 32,
            n_iterations: 2000,
            n_restarts: 10,
            inertia: 0.7298,
            cognitive: 1.49618,
            social: 1.49618,
            max_velocity: 0.5,
            boundary: BoundaryMode::Clamp,
            patience: 0,
            ftol: 1e-8,
            agree_tol: 0.5,
            seed: 0,
        }
    }
}

/// The best point of one swarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwarmBest {
    /// Best position.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Iterations this swarm ran (fewer than `n_iterations` after an early stop).
    pub iterations: usize,
}

/// Result of [`ParticleSwarm::minimize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsoResult {
    /// Best position over all restarts.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Index of the restart that found `x`.
    pub best_restart: usize,
    /// Best of each restart.
    pub restarts: Vec<SwarmBest>,
    /// Rows evaluated in total.
    pub n_evaluations: usize,
    /// `max − min` of the restarts' best values (0 with one restart).
    pub spread: f64,
    /// Restarts whose best is within `agree_tol` of the overall best (including the best).
    pub n_agree: usize,
    /// All restarts within `agree_tol` of the best (trivially true with one restart).
    pub restarts_agree: bool,
}

struct Swarm {
    rng: ChaCha8Rng,
    x: Vec<f64>,
    v: Vec<f64>,
    pbest_x: Vec<f64>,
    pbest_f: Vec<f64>,
    gbest: usize,
    ref_f: f64,
    ref_iter: usize,
    iterations: usize,
    active: bool,
}

impl ParticleSwarm {
    fn validate(&self) -> Result<(), OptimError> {
        at_least("n_particles", self.n_particles, 1)?;
        at_least("n_restarts", self.n_restarts, 1)?;
        non_negative("inertia", self.inertia)?;
        non_negative("cognitive", self.cognitive)?;
        non_negative("social", self.social)?;
        positive("max_velocity", self.max_velocity)?;
        non_negative("ftol", self.ftol)?;
        non_negative("agree_tol", self.agree_tol)
    }

    /// Minimise `obj` over its box.
    pub fn minimize<O: Objective + ?Sized>(&self, obj: &O) -> Result<PsoResult, OptimError> {
        self.minimize_with_progress(obj, &mut no_progress)
    }

    /// [`minimize`](Self::minimize), calling `progress(iteration, n_iterations)` after the
    /// initial evaluation (iteration 0) and after every iteration.
    pub fn minimize_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<PsoResult, OptimError> {
        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let d = bounds.len();
        let np = self.n_particles;
        let width: Vec<f64> = bounds.iter().map(|(lo, hi)| hi - lo).collect();
        let vmax: Vec<f64> = width.iter().map(|w| w * self.max_velocity).collect();

        let mut swarms: Vec<Swarm> = (0..self.n_restarts)
            .map(|r| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                rng.set_stream(r as u64);
                let mut x = vec![0.0; np * d];
                let mut v = vec![0.0; np * d];
                for p in 0..np {
                    for j in 0..d {
                        let (lo, hi) = bounds[j];
                        let xi = lo + rng.random::<f64>() * width[j];
                        let xi = xi.clamp(lo, hi);
                        let vi = (lo - xi) + rng.random::<f64>() * width[j];
                        x[p * d + j] = xi;
                        v[p * d + j] = vi.clamp(-vmax[j], vmax[j]);
                    }
                }
                Swarm {
                    rng,
                    pbest_x: x.clone(),
                    x,
                    v,
                    pbest_f: vec![f64::INFINITY; np],
                    gbest: 0,
                    ref_f: f64::INFINITY,
                    ref_iter: 0,
                    iterations: 0,
                    active: true,
                }
            })
            .collect();

        let mut n_evaluations = 0usize;
        // Evaluate the particles of all active swarms in one call; update personal/global bests.
        let mut evaluate = |swarms: &mut [Swarm], first: bool| -> Result<(), OptimError> {
            let active: Vec<usize> = (0..swarms.len()).filter(|&s| swarms[s].active).collect();
            let mut rows = Vec::with_capacity(active.len() * np * d);
            for &s in &active {
                rows.extend_from_slice(&swarms[s].x);
            }
            let f = eval_rows(obj, rows_to_array(rows, d).view())?;
            n_evaluations += f.len();
            for (k, &s) in active.iter().enumerate() {
                let sw = &mut swarms[s];
                for p in 0..np {
                    let fp = f[k * np + p];
                    if first || fp < sw.pbest_f[p] {
                        sw.pbest_f[p] = fp;
                        sw.pbest_x[p * d..(p + 1) * d].copy_from_slice(&sw.x[p * d..(p + 1) * d]);
                    }
                }
                let mut g = sw.gbest;
                for p in 0..np {
                    if sw.pbest_f[p] < sw.pbest_f[g] {
                        g = p;
                    }
                }
                sw.gbest = g;
            }
            Ok(())
        };

        evaluate(&mut swarms, true)?;
        for sw in &mut swarms {
            sw.ref_f = sw.pbest_f[sw.gbest];
        }
        progress(0, self.n_iterations);

        let (w, c1, c2) = (self.inertia, self.cognitive, self.social);
        for it in 1..=self.n_iterations {
            if !swarms.iter().any(|s| s.active) {
                break;
            }
            for sw in swarms.iter_mut().filter(|s| s.active) {
                let g = sw.gbest;
                for p in 0..np {
                    for j in 0..d {
                        let i = p * d + j;
                        let r1: f64 = sw.rng.random();
                        let r2: f64 = sw.rng.random();
                        let xi = sw.x[i];
                        let mut vi = w * sw.v[i]
                            + c1 * r1 * (sw.pbest_x[i] - xi)
                            + c2 * r2 * (sw.pbest_x[g * d + j] - xi);
                        vi = vi.clamp(-vmax[j], vmax[j]);
                        let (lo, hi) = bounds[j];
                        let mut xn = xi + vi;
                        match self.boundary {
                            BoundaryMode::Clamp => {
                                if xn < lo || xn > hi {
                                    xn = xn.clamp(lo, hi);
                                    vi = 0.0;
                                }
                            }
                            BoundaryMode::Reflect => {
                                if xn < lo {
                                    xn = lo + (lo - xn);
                                    vi = -vi;
                                } else if xn > hi {
                                    xn = hi - (xn - hi);
                                    vi = -vi;
                                }
                                xn = xn.clamp(lo, hi);
                            }
                        }
                        sw.x[i] = xn;
                        sw.v[i] = vi;
                    }
                }
            }
            evaluate(&mut swarms, false)?;
            for sw in swarms.iter_mut().filter(|s| s.active) {
                sw.iterations = it;
                let best = sw.pbest_f[sw.gbest];
                if best < sw.ref_f - self.ftol {
                    sw.ref_f = best;
                    sw.ref_iter = it;
                }
                if self.patience > 0 && it - sw.ref_iter >= self.patience {
                    sw.active = false;
                }
            }
            progress(it, self.n_iterations);
        }

        let restarts: Vec<SwarmBest> = swarms
            .iter()
            .map(|sw| SwarmBest {
                x: sw.pbest_x[sw.gbest * d..(sw.gbest + 1) * d].to_vec(),
                value: sw.pbest_f[sw.gbest],
                iterations: sw.iterations,
            })
            .collect();
        let mut best_restart = 0;
        for (r, s) in restarts.iter().enumerate() {
            if s.value < restarts[best_restart].value {
                best_restart = r;
            }
        }
        let best = restarts[best_restart].clone();
        if !best.value.is_finite() {
            return Err(OptimError::NoFiniteValue(format!(
                "particle swarm evaluated {n_evaluations} points, all +∞"
            )));
        }
        let worst = restarts
            .iter()
            .map(|s| s.value)
            .fold(f64::NEG_INFINITY, f64::max);
        let spread = worst - best.value;
        let n_agree = restarts
            .iter()
            .filter(|s| s.value - best.value <= self.agree_tol)
            .count();
        Ok(PsoResult {
            x: best.x,
            value: best.value,
            best_restart,
            restarts_agree: n_agree == restarts.len(),
            restarts,
            n_evaluations,
            spread,
            n_agree,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Adam.
// ---------------------------------------------------------------------------------------------

/// Adam exactly as PyTorch's `torch.optim.Adam` (single-tensor path, `maximize=False`).
///
/// At step `t = 1, 2, …` with gradient `g` of the objective at `p`:
/// ```text
/// g  ← g + weight_decay·p                          (if weight_decay ≠ 0)
/// m  ← m + (1−β₁)·(g − m)                          (torch's lerp_, = β₁m + (1−β₁)g)
/// v  ← β₂·v + (1−β₂)·g·g
/// v̂max ← max(v̂max, v)                               (amsgrad only; then v → v̂max below)
/// p  ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + eps)
/// ```
/// which is `p −= lr·m̂ / (√v̂ + eps)` with the bias-corrected moments, written in torch's
/// order of floating-point operations. Parameters are **not** clamped to the bounds (the
/// objective handles them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adam {
    /// Learning rate (default 1e-3, torch's).
    pub lr: f64,
    /// `(β₁, β₂)` (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator (default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// AMSGrad variant (default false).
    pub amsgrad: bool,
    /// Number of steps (gradient evaluations + updates) (default 1000).
    pub n_steps: usize,
}

impl Default for Adam {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            n_steps: 1000,
        }
    }
}

/// One Adam step: parameters, objective and gradient **before** that step's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamStep {
    /// Parameters.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Gradient at `x`.
    pub grad: Vec<f64>,
}

/// Result of [`Adam::minimize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamResult {
    /// Every step taken (`n_steps` entries unless stopped early).
    pub trajectory: Vec<AdamStep>,
    /// Parameters after the last update.
    pub x: Vec<f64>,
    /// Objective at `x` (one [`Objective::values`] row; +∞ if invalid).
    pub value: f64,
    /// Best evaluated parameters (trajectory and final point).
    pub best_x: Vec<f64>,
    /// Objective at `best_x`.
    pub best_value: f64,
    /// Why the run stopped before `n_steps` (non-finite value or gradient), if it did.
    pub stopped: Option<String>,
}

impl Adam {
    fn validate(&self) -> Result<(), OptimError> {
        non_negative("lr", self.lr)?;
        let (b1, b2) = self.betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return Err(OptimError::Config(format!(
                "betas must be in [0, 1), got ({b1}, {b2})"
            )));
        }
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        at_least("n_steps", self.n_steps, 1)
    }

    /// Run `n_steps` Adam steps from `x0`.
    pub fn minimize<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
    ) -> Result<AdamResult, OptimError> {
        self.minimize_with_progress(obj, x0, &mut no_progress)
    }

    /// [`minimize`](Self::minimize), calling `progress(step, n_steps)` after every step.
    pub fn minimize_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<AdamResult, OptimError> {
        self.validate()?;
        let dim = obj.dim();
        if x0.len() != dim {
            return Err(OptimError::Dimension {
                what: "starting point",
                expected: dim,
                got: x0.len(),
            });
        }
        let (beta1, beta2) = self.betas;
        let mut p = x0.to_vec();
        let mut m = vec![0.0; dim];
        let mut v = vec![0.0; dim];
        let mut vmax = vec![0.0; dim];
        let mut trajectory = Vec::with_capacity(self.n_steps);
        let mut stopped = None;
        for step in 1..=self.n_steps {
            let (f, g) = eval_grad(obj, &p)?;
            if !f.is_finite() || g.iter().any(|x| !x.is_finite()) {
                stopped = Some(format!("non-finite objective or gradient at step {step}"));
                break;
            }
            trajectory.push(AdamStep {
                x: p.clone(),
                value: f,
                grad: g.clone(),
            });
            let t = step as f64;
            let bias_correction1 = 1.0 - beta1.powf(t);
            let bias_correction2 = 1.0 - beta2.powf(t);
            let step_size = self.lr / bias_correction1;
            let bias_correction2_sqrt = bias_correction2.sqrt();
            let w1 = 1.0 - beta1;
            for i in 0..dim {
                let mut gi = g[i];
                if self.weight_decay != 0.0 {
                    gi += self.weight_decay * p[i];
                }
                // torch lerp_: weight < 0.5 → self + w·(end − self), else end − (end − self)·(1 − w).
                m[i] = if w1.abs() < 0.5 {
                    m[i] + w1 * (gi - m[i])
                } else {
                    gi - (gi - m[i]) * (1.0 - w1)
                };
                v[i] = v[i] * beta2 + (1.0 - beta2) * gi * gi;
                let second = if self.amsgrad {
                    vmax[i] = f64::max(vmax[i], v[i]);
                    vmax[i]
                } else {
                    v[i]
                };
                let denom = second.sqrt() / bias_correction2_sqrt + self.eps;
                p[i] += -step_size * m[i] / denom;
            }
            progress(step, self.n_steps);
        }
        let value = eval_rows(
            obj,
            ndarray::ArrayView2::from_shape((1, dim), &p).expect("1 × dim"),
        )?[0];
        let (mut best_x, mut best_value) = (p.clone(), value);
        for s in &trajectory {
            if s.value < best_value {
                best_value = s.value;
                best_x.clone_from(&s.x);
            }
        }
        Ok(AdamResult {
            trajectory,
            x: p,
            value,
            best_x,
            best_value,
            stopped,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// L-BFGS-B (ganesh).
// ---------------------------------------------------------------------------------------------

/// Bounded limited-memory BFGS with exact gradients: ganesh's pure-Rust L-BFGS-B (Byrd, Lu,
/// Nocedal & Zhu 1995: generalised Cauchy point, subspace minimisation, Moré–Thuente
/// strong-Wolfe line search, iterates always inside the box).
///
/// The line search evaluates the objective alone through [`Objective::values`] (one row) and
/// the gradient through [`Objective::value_grad`]. The run stops when the change of the
/// objective between iterations is below `ftol`, the infinity norm of the projected gradient is
/// below `pgtol`, or after `max_iter` iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lbfgsb {
    /// Correction pairs kept (default 10).
    pub memory: usize,
    /// Maximum iterations (default 1000).
    pub max_iter: usize,
    /// Stop when |f_k − f_{k−1}| < ftol (absolute, −ln p units; default 1e-9).
    pub ftol: f64,
    /// Stop when ‖projected gradient‖_∞ < pgtol (default 1e-5, scipy's).
    pub pgtol: f64,
}

impl Default for Lbfgsb {
    fn default() -> Self {
        Self {
            memory: 10,
            max_iter: 1000,
            ftol: 1e-9,
            pgtol: 1e-5,
        }
    }
}

/// Result of [`Lbfgsb::minimize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LbfgsbResult {
    /// Final point (inside the box).
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Gradient at `x`.
    pub grad: Vec<f64>,
    /// ‖projected gradient‖_∞ at `x` (components pushing outward at an active bound are 0).
    pub projected_grad_norm: f64,
    /// Whether each parameter sits on a bound.
    pub at_bound: Vec<bool>,
    /// Iterations taken.
    pub n_iterations: usize,
    /// Objective-only evaluations ([`Objective::values`] rows).
    pub n_value_evals: usize,
    /// Value-and-gradient evaluations ([`Objective::value_grad`] calls).
    pub n_grad_evals: usize,
    /// Stopped by `ftol` or `pgtol` (not by `max_iter` or a failure).
    pub converged: bool,
    /// ganesh's status message.
    pub message: String,
}

struct GaneshProblem<'a, O: ?Sized> {
    obj: &'a O,
    n_value: AtomicUsize,
    n_grad: AtomicUsize,
}

impl<O: Objective + ?Sized> GaneshProblem<'_, O> {
    fn value(&self, x: &ganesh::core::Vector) -> Result<f64, OptimError> {
        let x = x.to_vec();
        self.n_value.fetch_add(1, Ordering::Relaxed);
        let n = x.len();
        Ok(eval_rows(self.obj, rows_to_array(x, n).view())?[0])
    }

    fn value_grad(
        &self,
        x: &ganesh::core::Vector,
    ) -> Result<(f64, ganesh::core::Vector), OptimError> {
        self.n_grad.fetch_add(1, Ordering::Relaxed);
        let (f, g) = eval_grad(self.obj, &x.to_vec())?;
        if f.is_finite() && g.iter().any(|v| !v.is_finite()) {
            return Err(OptimError::Objective(
                "non-finite gradient at a finite value".into(),
            ));
        }
        Ok((f, ganesh::core::Vector::from_vec(g)))
    }
}

impl<O: Objective + ?Sized>
    ganesh::traits::CostFunction<f64, ganesh::core::NalgebraProvider, (), OptimError>
    for GaneshProblem<'_, O>
{
    fn evaluate(&self, x: &ganesh::core::Vector, _: &()) -> Result<f64, OptimError> {
        self.value(x)
    }
}

impl<O: Objective + ?Sized>
    ganesh::traits::Gradient<f64, ganesh::core::NalgebraProvider, (), OptimError>
    for GaneshProblem<'_, O>
{
    fn gradient(
        &self,
        x: &ganesh::core::Vector,
        _: &(),
    ) -> Result<ganesh::core::Vector, OptimError> {
        Ok(self.value_grad(x)?.1)
    }

    fn evaluate_with_gradient(
        &self,
        x: &ganesh::core::Vector,
        _: &(),
    ) -> Result<(f64, ganesh::core::Vector), OptimError> {
        self.value_grad(x)
    }
}

impl Lbfgsb {
    fn validate(&self) -> Result<(), OptimError> {
        at_least("memory", self.memory, 1)?;
        positive("ftol", self.ftol)?;
        positive("pgtol", self.pgtol)
    }

    /// Minimise `obj` from `x0` (clamped into the box).
    pub fn minimize<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
    ) -> Result<LbfgsbResult, OptimError> {
        self.minimize_with_progress(obj, x0, &mut no_progress)
    }

    /// [`minimize`](Self::minimize), calling `progress(iteration, max_iter)` after every
    /// iteration.
    pub fn minimize_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<LbfgsbResult, OptimError> {
        use ganesh::algorithms::gradient::{
            GradientStatus, LBFGSB, LBFGSBConfig, LBFGSBErrorMode, LBFGSBFTerminator,
            LBFGSBInfNormGTerminator,
        };
        use ganesh::core::{Callbacks, Vector};
        use ganesh::traits::{Algorithm, Status};

        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let x0 = check_start(x0, &bounds)?;
        let cfg_err = |e: ganesh::error::GaneshError| OptimError::Config(e.to_string());
        let config: LBFGSBConfig = LBFGSBConfig::default()
            .with_memory_limit(self.memory)
            .map_err(cfg_err)?
            .with_error_mode(LBFGSBErrorMode::Skip)
            .with_bounds(bounds.iter().copied())
            .map_err(cfg_err)?;
        let problem = GaneshProblem {
            obj,
            n_value: AtomicUsize::new(0),
            n_grad: AtomicUsize::new(0),
        };
        type Cbs<'a, O> =
            Callbacks<LBFGSB, GaneshProblem<'a, O>, GradientStatus, (), OptimError, LBFGSBConfig>;
        let mut callbacks: Cbs<'_, O> = Callbacks::empty()
            .with_terminator(LBFGSBFTerminator::new(self.ftol).map_err(cfg_err)?)
            .with_terminator(LBFGSBInfNormGTerminator::new(self.pgtol).map_err(cfg_err)?);
        let mut algorithm = LBFGSB::default();
        let mut status = GradientStatus::default();
        let init = Vector::from_vec(x0);
        <LBFGSB as Algorithm<GaneshProblem<'_, O>, GradientStatus, (), OptimError>>::initialize(
            &mut algorithm,
            &problem,
            &mut status,
            &(),
            &init,
            &config,
        )?;
        let mut n_iterations = 0;
        if status.check_invariants().is_continue() {
            for step in 0..self.max_iter {
                algorithm.step(step, &problem, &mut status, &(), &config)?;
                n_iterations = step + 1;
                progress(n_iterations, self.max_iter);
                if status.check_invariants().is_break() {
                    break;
                }
                if callbacks
                    .check_for_termination(
                        step,
                        &mut algorithm,
                        &problem,
                        &mut status,
                        &(),
                        &config,
                    )
                    .is_break()
                {
                    break;
                }
            }
        }
        let converged = status.success();
        let message = match status.message.text() {
            Some(t) => t.to_string(),
            None if n_iterations == self.max_iter => "maximum iterations reached".to_string(),
            None => format!("{:?}", status.message.status_type),
        };
        let x = status.x.to_vec();
        problem.n_grad.fetch_add(1, Ordering::Relaxed);
        let (value, grad) = eval_grad(obj, &x)?;
        let at_bound: Vec<bool> = x
            .iter()
            .zip(&bounds)
            .map(|(&v, &(lo, hi))| v <= lo || v >= hi)
            .collect();
        let projected_grad_norm = projected_grad_inf_norm(&x, &grad, &bounds);
        Ok(LbfgsbResult {
            x,
            value,
            grad,
            projected_grad_norm,
            at_bound,
            n_iterations,
            n_value_evals: problem.n_value.load(Ordering::Relaxed),
            n_grad_evals: problem.n_grad.load(Ordering::Relaxed),
            converged,
            message,
        })
    }
}

/// ‖P(x − g) − x‖_∞, the projected-gradient norm of a box-constrained problem (0 at a KKT point).
fn projected_grad_inf_norm(x: &[f64], g: &[f64], bounds: &[(f64, f64)]) -> f64 {
    x.iter()
        .zip(g)
        .zip(bounds)
        .map(|((&xi, &gi), &(lo, hi))| ((xi - gi).clamp(lo, hi) - xi).abs())
        .fold(0.0, f64::max)
}

/// L-BFGS-B with the default [`Lbfgsb`] settings.
pub fn lbfgsb<O: Objective + ?Sized>(obj: &O, x0: &[f64]) -> Result<LbfgsbResult, OptimError> {
    Lbfgsb::default().minimize(obj, x0)
}

// ---------------------------------------------------------------------------------------------
// Nelder–Mead.
// ---------------------------------------------------------------------------------------------

/// Bounded Nelder–Mead simplex search (derivative-free local minimiser).
///
/// Written here rather than taken from ganesh (whose Nelder–Mead handles bounds with a
/// coordinate transform and evaluates one point per call) so that it can use the batched
/// objective: the initial simplex and every shrink are evaluated in one call, and with
/// `speculative = true` the four trial points of an iteration (reflection, expansion, outside
/// and inside contraction) are evaluated together in one call of four rows, so each iteration
/// is a single call. Trial points are clamped into the box. Coefficients are the standard
/// (1, 2, ½, ½) or, with `adaptive = true`, Gao & Han's (2012) dimension-dependent
/// (1, 1 + 2/n, ¾ − 1/(2n), 1 − 1/n). The logic follows scipy's `fmin`.
///
/// Converged when the simplex's values are within `ftol` of the best **and** its vertices are
/// within `xtol` × box width of the best (per component). After convergence the search is
/// restarted `restarts` times from the best point with a fresh simplex (a cheap guard against
/// a collapsed simplex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NelderMead {
    /// Maximum iterations over all restarts (default 10000).
    pub max_iter: usize,
    /// Initial simplex edge, as a fraction of each box width (default 0.05).
    pub initial_step: f64,
    /// Vertex tolerance, as a fraction of each box width (default 1e-8).
    pub xtol: f64,
    /// Value tolerance (absolute, −ln p units; default 1e-10).
    pub ftol: f64,
    /// Gao–Han adaptive coefficients (default true).
    pub adaptive: bool,
    /// Evaluate all four trial points of an iteration in one call (default true).
    pub speculative: bool,
    /// Restarts from the converged point (default 1).
    pub restarts: usize,
}

impl Default for NelderMead {
    fn default() -> Self {
        Self {
            max_iter: 10_000,
            initial_step: 0.05,
            xtol: 1e-8,
            ftol: 1e-10,
            adaptive: true,
            speculative: true,
            restarts: 1,
        }
    }
}

/// Result of [`NelderMead::minimize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NelderMeadResult {
    /// Best vertex.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Iterations over all restarts.
    pub n_iterations: usize,
    /// Rows evaluated.
    pub n_evaluations: usize,
    /// Restarts performed.
    pub n_restarts: usize,
    /// The last simplex met the tolerances (false: `max_iter` reached).
    pub converged: bool,
}

impl NelderMead {
    fn validate(&self) -> Result<(), OptimError> {
        positive("initial_step", self.initial_step)?;
        non_negative("xtol", self.xtol)?;
        non_negative("ftol", self.ftol)
    }

    /// Minimise `obj` from `x0` (clamped into the box).
    pub fn minimize<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
    ) -> Result<NelderMeadResult, OptimError> {
        self.minimize_with_progress(obj, x0, &mut no_progress)
    }

    /// [`minimize`](Self::minimize), calling `progress(iteration, max_iter)` after every
    /// iteration.
    pub fn minimize_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        x0: &[f64],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<NelderMeadResult, OptimError> {
        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let n = bounds.len();
        let x0 = check_start(x0, &bounds)?;
        let width: Vec<f64> = bounds.iter().map(|(lo, hi)| hi - lo).collect();
        let nf = n as f64;
        let (rho, chi, psi, sigma) = if self.adaptive {
            (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf)
        } else {
            (1.0, 2.0, 0.5, 0.5)
        };
        // For n = 1 the adaptive shrink factor is 0; use ½ then.
        let sigma = if sigma <= 0.0 { 0.5 } else { sigma };
        let clamp = |p: &mut [f64]| {
            for (v, &(lo, hi)) in p.iter_mut().zip(&bounds) {
                *v = v.clamp(lo, hi);
            }
        };
        let mut n_evaluations = 0usize;
        let mut eval = |rows: Vec<f64>| -> Result<Vec<f64>, OptimError> {
            let f = eval_rows(obj, rows_to_array(rows, n).view())?;
            n_evaluations += f.len();
            Ok(f)
        };

        let mut best = x0;
        let mut n_iterations = 0usize;
        let mut n_restarts = 0usize;
        let mut converged;
        let mut best_f;
        loop {
            // Fresh simplex around `best`.
            let mut sim: Vec<Vec<f64>> = vec![best.clone()];
            for j in 0..n {
                let mut p = best.clone();
                let step = self.initial_step * width[j];
                p[j] = if p[j] + step <= bounds[j].1 {
                    p[j] + step
                } else {
                    p[j] - step
                };
                clamp(&mut p);
                sim.push(p);
            }
            let mut fs = eval(sim.concat())?;
            converged = false;
            loop {
                // Sort vertices by value (stable; +∞ last).
                let mut order: Vec<usize> = (0..=n).collect();
                order.sort_by(|&a, &b| fs[a].total_cmp(&fs[b]));
                sim = order.iter().map(|&i| sim[i].clone()).collect();
                fs = order.iter().map(|&i| fs[i]).collect();

                let f_spread = fs[1..]
                    .iter()
                    .map(|f| (f - fs[0]).abs())
                    .fold(0.0, f64::max);
                let x_spread = sim[1..]
                    .iter()
                    .flat_map(|p| {
                        p.iter()
                            .zip(&sim[0])
                            .zip(&width)
                            .map(|((a, b), w)| (a - b).abs() / w)
                    })
                    .fold(0.0, f64::max);
                if fs[0].is_finite() && f_spread <= self.ftol && x_spread <= self.xtol {
                    converged = true;
                    break;
                }
                if n_iterations >= self.max_iter {
                    break;
                }
                n_iterations += 1;

                let mut xbar = vec![0.0; n];
                for p in &sim[..n] {
                    for (c, v) in xbar.iter_mut().zip(p) {
                        *c += v / nf;
                    }
                }
                let worst = &sim[n];
                let trial = |a: f64| -> Vec<f64> {
                    let mut p: Vec<f64> = xbar
                        .iter()
                        .zip(worst)
                        .map(|(c, w)| (1.0 + a) * c - a * w)
                        .collect();
                    clamp(&mut p);
                    p
                };
                let xr = trial(rho);
                let xe = trial(rho * chi);
                let xc = trial(psi * rho);
                let xcc = trial(-psi);
                let mut cache: [Option<f64>; 4] = [None; 4];
                if self.speculative {
                    let f = eval([xr.as_slice(), &xe, &xc, &xcc].concat())?;
                    cache = [Some(f[0]), Some(f[1]), Some(f[2]), Some(f[3])];
                }
                let mut value = |k: usize, p: &[f64]| -> Result<f64, OptimError> {
                    match cache[k] {
                        Some(f) => Ok(f),
                        None => {
                            let f = eval(p.to_vec())?[0];
                            cache[k] = Some(f);
                            Ok(f)
                        }
                    }
                };
                let fr = value(0, &xr)?;
                let mut shrink = false;
                if fr < fs[0] {
                    let fe = value(1, &xe)?;
                    if fe < fr {
                        sim[n] = xe;
                        fs[n] = fe;
                    } else {
                        sim[n] = xr;
                        fs[n] = fr;
                    }
                } else if fr < fs[n - 1] {
                    sim[n] = xr;
                    fs[n] = fr;
                } else if fr < fs[n] {
                    let fc = value(2, &xc)?;
                    if fc <= fr {
                        sim[n] = xc;
                        fs[n] = fc;
                    } else {
                        shrink = true;
                    }
                } else {
                    let fcc = value(3, &xcc)?;
                    if fcc < fs[n] {
                        sim[n] = xcc;
                        fs[n] = fcc;
                    } else {
                        shrink = true;
                    }
                }
                if shrink {
                    let x_best = sim[0].clone();
                    let mut rows = Vec::with_capacity(n * n);
                    for p in sim.iter_mut().skip(1) {
                        for (v, b) in p.iter_mut().zip(&x_best) {
                            *v = b + sigma * (*v - b);
                        }
                        rows.extend_from_slice(p);
                    }
                    let f = eval(rows)?;
                    fs[1..].copy_from_slice(&f);
                }
                progress(n_iterations, self.max_iter);
            }
            best = sim[0].clone();
            best_f = fs[0];
            if !converged || n_restarts >= self.restarts {
                break;
            }
            n_restarts += 1;
        }
        if !best_f.is_finite() {
            return Err(OptimError::NoFiniteValue(format!(
                "Nelder–Mead evaluated {n_evaluations} points, best is +∞"
            )));
        }
        Ok(NelderMeadResult {
            x: best,
            value: best_f,
            n_iterations,
            n_evaluations,
            n_restarts,
            converged,
        })
    }
}
