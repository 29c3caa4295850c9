//! Bounded L-BFGS-B through ganesh ([`Lbfgsb`], [`lbfgsb`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::line_search::NoisyWolfe;
use super::{
    Objective, OptimError, at_least, check_start, checked_bounds, eval_grad, eval_rows,
    no_progress, positive, rows_to_array,
};

/// Bounded limited-memory BFGS with exact gradients: ganesh's pure-Rust L-BFGS-B (Byrd, Lu,
/// Nocedal & Zhu 1995: generalised Cauchy point, subspace minimisation, Moré–Thuente
/// strong-Wolfe line search, iterates always inside the box).
///
/// The line search evaluates the objective alone through [`Objective::values`] (one row) and
/// the gradient through [`Objective::value_grad`]. The run stops when the change of the
/// objective between iterations is below `ftol`, the infinity norm of the projected gradient is
/// below `pgtol`, when two line searches in a row fail (the second along the projected
/// steepest descent), or after `max_iter` iterations.
///
/// The iterates stay [`BOUND_MARGIN`] of each box width inside the box: the posterior, like the
/// reference's `check_bounds`, is +∞ on the bounds themselves, and a line search that steps
/// onto a bound would fail there.
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
    /// ‖projected gradient‖_∞ at `x` (components pushing outward at an active bound are 0;
    /// bounds as in `at_bound`).
    pub projected_grad_norm: f64,
    /// Whether each parameter sits on a bound (of the box the iterates keep to,
    /// [`BOUND_MARGIN`] inside the objective's bounds).
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

/// Fraction of each box width that L-BFGS-B's iterates keep from the bounds. The fitting
/// parametrisations clamp their inputs 1e-6 of the width inside the bounds (as the reference),
/// so the objective is the same in this margin as at its edge.
pub const BOUND_MARGIN: f64 = 1e-6;

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
            GradientStatus, LBFGSB, LBFGSBConfig, LBFGSBErrorMode, LBFGSBInfNormGTerminator,
        };
        use ganesh::core::{Callbacks, NalgebraProvider, Vector};
        use ganesh::traits::{Algorithm, Status};

        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let inner: Vec<(f64, f64)> = bounds
            .iter()
            .map(|&(lo, hi)| (lo + BOUND_MARGIN * (hi - lo), hi - BOUND_MARGIN * (hi - lo)))
            .collect();
        let x0 = check_start(x0, &inner)?;
        type Lbfgsb = LBFGSB<f64, NalgebraProvider, NoisyWolfe>;
        type Config = LBFGSBConfig<f64, NoisyWolfe>;
        let cfg_err = |e: ganesh::error::GaneshError| OptimError::Config(e.to_string());
        let config = Config::default()
            .with_memory_limit(self.memory)
            .map_err(cfg_err)?
            .with_error_mode(LBFGSBErrorMode::Skip)
            .with_bounds(inner.iter().copied())
            .map_err(cfg_err)?;
        let problem = GaneshProblem {
            obj,
            n_value: AtomicUsize::new(0),
            n_grad: AtomicUsize::new(0),
        };
        type Cbs<'a, O> =
            Callbacks<Lbfgsb, GaneshProblem<'a, O>, GradientStatus, (), OptimError, Config>;
        let mut callbacks: Cbs<'_, O> = Callbacks::empty()
            .with_terminator(LBFGSBInfNormGTerminator::new(self.pgtol).map_err(cfg_err)?);
        let mut algorithm = Lbfgsb::default();
        let mut status = GradientStatus::default();
        let init = Vector::from_vec(x0);
        <Lbfgsb as Algorithm<GaneshProblem<'_, O>, GradientStatus, (), OptimError>>::initialize(
            &mut algorithm,
            &problem,
            &mut status,
            &(),
            &init,
            &config,
        )?;
        let mut n_iterations = 0;
        // Our own `ftol` test: ganesh's counts a failed line search (which leaves x and f
        // unchanged and resets the curvature pairs) as convergence. After a failure the next
        // step is projected steepest descent; a second failure in a row ends the run.
        let mut stop: Option<&str> = None;
        if status.check_invariants().is_continue() {
            let mut failures = 0;
            for step in 0..self.max_iter {
                let (x_before, f_before) = (status.x.clone(), status.fx);
                algorithm.step(step, &problem, &mut status, &(), &config)?;
                n_iterations = step + 1;
                progress(n_iterations, self.max_iter);
                if status.check_invariants().is_break() {
                    break;
                }
                if status.x == x_before {
                    failures += 1;
                    if failures == 2 {
                        stop = Some("LINE SEARCH FAILED TWICE");
                        break;
                    }
                    continue;
                }
                failures = 0;
                if (f_before - status.fx).abs() < self.ftol {
                    stop = Some("F_EVAL CONVERGED");
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
        let converged = stop == Some("F_EVAL CONVERGED") || status.success();
        let message = match stop.or(status.message.text()) {
            Some(t) => t.to_string(),
            None if n_iterations == self.max_iter => "maximum iterations reached".to_string(),
            None => format!("{:?}", status.message.status_type),
        };
        let x = status.x.to_vec();
        problem.n_grad.fetch_add(1, Ordering::Relaxed);
        let (value, grad) = eval_grad(obj, &x)?;
        let at_bound: Vec<bool> = x
            .iter()
            .zip(&inner)
            .map(|(&v, &(lo, hi))| v <= lo || v >= hi)
            .collect();
        let projected_grad_norm = projected_grad_inf_norm(&x, &grad, &inner);
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
