//! Mock galaxies: parameters drawn inside the emulator's valid region and their noisy photometry,
//! for recovery tests and the demo.

use galsed_emulator::predict::Photometry;
use galsed_emulator::{Component, ModelError, Starduster};
use ndarray::Array2;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};

use crate::params::Parametrization;

/// Draws `n` parameter vectors uniformly inside the parametrisation's bounds, keeping those the
/// selectors accept (both probabilities > ½), as the reference's `sample_effective_region`.
/// Gives up with an error after `max_draws` candidates.
pub fn draw_valid(
    model: &Starduster,
    param: &Parametrization,
    n: usize,
    max_draws: usize,
    rng: &mut impl Rng,
) -> Result<Array2<f64>, ModelError> {
    let bounds = param.bounds();
    let dim = bounds.len();
    let mut out = Vec::with_capacity(n * dim);
    let mut drawn = 0;
    let ln_half = 0.5f32.ln();
    while out.len() < n * dim {
        if drawn >= max_draws {
            return Err(ModelError::Input(format!(
                "only {} of {n} draws fell inside the selectors' valid region after {max_draws} candidates",
                out.len() / dim
            )));
        }
        let m = 256.min(max_draws - drawn);
        drawn += m;
        let cand = Array2::from_shape_fn((m, dim), |(_, j)| {
            rng.random_range(bounds[j].0..bounds[j].1)
        });
        let (gp, sd, sb) = param.apply_rows(cand.view());
        let batch = galsed_emulator::inputs::Batch::from_adapted(gp, sd, sb)?;
        let (ld, lb) = model.selector_log_probs(&batch);
        for (i, row) in cand.rows().into_iter().enumerate() {
            if ld[i] > ln_half && lb[i] > ln_half && out.len() < n * dim {
                out.extend(row.iter());
            }
        }
    }
    Ok(Array2::from_shape_vec((n, dim), out).expect("n rows of dim values"))
}

/// AB magnitudes of parameter rows with Gaussian noise of `sigma` mag added (noise-free with
/// `sigma = 0`). Returns (noisy, true) magnitudes, each (N × n_bands).
pub fn observe_magnitudes(
    model: &Starduster,
    param: &Parametrization,
    phot: &Photometry,
    x: &Array2<f64>,
    sigma: f64,
    rng: &mut impl Rng,
) -> Result<(Array2<f64>, Array2<f64>), ModelError> {
    let (gp, sd, sb) = param.apply_rows(x.view());
    let batch = galsed_emulator::inputs::Batch::from_adapted(gp, sd, sb)?;
    let truth = model.magnitudes(&batch, Component::Combine, phot);
    let noise = Normal::new(0.0, sigma.max(0.0))
        .map_err(|e| ModelError::Input(format!("noise σ = {sigma}: {e}")))?;
    let noisy = truth.mapv(|m| m + noise.sample(rng));
    Ok((noisy, truth))
}
