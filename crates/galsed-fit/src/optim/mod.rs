//! Optimisers over a box: particle swarm ([`ParticleSwarm`]), PyTorch's Adam ([`Adam`]),
//! bounded L-BFGS-B ([`Lbfgsb`], [`lbfgsb`]), multi-start L-BFGS-B ([`MultiStart`]) and
//! Nelder–Mead ([`NelderMead`]).
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

use ndarray::{Array2, ArrayView2};

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

mod adam;
mod lbfgs_b;
mod line_search;
mod multistart;
mod nelder_mead;
mod swarm;

pub use adam::{Adam, AdamResult, AdamStep};
pub use lbfgs_b::{BOUND_MARGIN, Lbfgsb, LbfgsbResult, lbfgsb};
pub use multistart::{LocalSearch, MultiStart, MultiStartResult};
pub use nelder_mead::{NelderMead, NelderMeadResult};
pub use swarm::{BoundaryMode, ParticleSwarm, PsoResult, SwarmBest};
