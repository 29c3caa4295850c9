//! Nelder–Mead simplex ([`NelderMead`]).

use serde::{Deserialize, Serialize};

use super::{
    Objective, OptimError, check_start, checked_bounds, eval_rows, no_progress, non_negative,
    positive, rows_to_array,
};

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
