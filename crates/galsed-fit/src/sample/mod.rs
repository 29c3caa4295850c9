//! Posterior samplers over the box of an [`Objective`](crate::optim::Objective) (whose values are −ln p):
//! affine-invariant ensemble MCMC ([`EnsembleSampler`], emcee's stretch move), nested sampling
//! with evidence ([`NestedSampler`]), Hamiltonian Monte Carlo with the gradient ([`NutsSampler`]),
//! and posterior summaries ([`Summary`]).
//!
//! The prior is uniform over the box (any further prior term is part of the objective); points
//! outside the box have zero probability and are rejected without evaluating the objective.
//! As in [`crate::optim`], configurations are `serde` structs with defaults and a `seed`
//! (ChaCha8), and bad configurations or inputs give an [`OptimError`].

use crate::optim::OptimError;

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

mod autocorr;
mod ensemble;
mod nested;
mod nuts;
mod summary;

pub use autocorr::{integrated_time, integrated_time_1d};
pub use ensemble::{EnsembleResult, EnsembleSampler, Start};
pub use nested::{NestedResult, NestedSampler};
pub use nuts::{MassMatrix, NutsResult, NutsSampler, split_rhat};
pub use summary::Summary;
