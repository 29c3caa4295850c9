//! Particle swarm optimisation ([`ParticleSwarm`]).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{
    Objective, OptimError, at_least, checked_bounds, eval_rows, no_progress, non_negative,
    positive, rows_to_array,
};

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
