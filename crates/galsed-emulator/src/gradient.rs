//! Gradients of band fluxes and selector log-probabilities with respect to the model inputs,
//! by a hand-written reverse pass of the fast forward model.
//!
//! Unlike burn-autodiff, which keeps its graph in global state (concurrent `backward()` calls
//! can deadlock or lose a gradient: tracel-ai/burn#5573, #5193), a [`FluxTape`] is an ordinary
//! value: fits running on many threads each hold their own, and nothing is shared. The cost is
//! about two forward passes. burn-autodiff of the tensor path is the test oracle.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use galsed_core::ssp::WavelengthGrid;
//! use galsed_emulator::Starduster;
//! use galsed_emulator::inputs::Batch;
//! use galsed_emulator::predict::{Observer, Photometry};
//! # let dir = std::path::Path::new("../shared/reference/starduster/model");
//! # let filters: Vec<galsed_core::filters::Filter> = vec![];
//! let model = Starduster::from_dir(dir, &WavelengthGrid::Auto)?;
//! let phot = Photometry::new(&model, &filters, Observer::new(0.0, 25.0)?)?;
//! let batch = Batch::from_adapted(vec![0.0; 7], vec![1.0 / 36.0; 36], vec![1.0 / 36.0; 36])?;
//! let tape = model.flux_tape(&batch, &phot);
//! // ∂(Σ fluxes)/∂inputs:
//! let ones = ndarray::Array2::ones(tape.fluxes().dim());
//! let grad = tape.backward(ones.view(), None);
//! assert_eq!(grad.gp.len(), 7);
//! # Ok(()) }
//! ```

use ndarray::{Array2, ArrayView2};

use crate::inputs::Batch;
use crate::predict::{Photometry, log_sigmoid};
use crate::sed::fast::{self, CombineTape};
use crate::{N_GP, N_SSP, Starduster};

/// Gradients with respect to the three model inputs, row-major like [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct InputGradient {
    /// ∂/∂gp, (N × 7), unit space.
    pub gp: Vec<f32>,
    /// ∂/∂sfh_disk, (N × 36).
    pub sfh_disk: Vec<f32>,
    /// ∂/∂sfh_bulge, (N × 36).
    pub sfh_bulge: Vec<f32>,
}

/// Band fluxes and selector log-probabilities of a batch, with what their reverse pass needs.
pub struct FluxTape<'m> {
    model: &'m Starduster,
    phot: &'m Photometry,
    combine: CombineTape,
    selectors: [Vec<Vec<f32>>; 2],
    fluxes: Array2<f32>,
    log_p: (Vec<f32>, Vec<f32>),
}

impl Starduster {
    /// Band fluxes \[Jy\] of the combined SED of `batch` through `phot`, and the selectors'
    /// log-probabilities, recorded for [`FluxTape::backward`]. The values are bitwise those of
    /// [`Starduster::fluxes`] (component `Combine`) and [`Starduster::selector_log_probs`].
    /// Single-threaded: callers parallelise over galaxies.
    pub fn flux_tape<'m>(&'m self, batch: &Batch, phot: &'m Photometry) -> FluxTape<'m> {
        let combine = self
            .fast
            .combine_with_tape(batch.gp(), batch.sfh_disk(), batch.sfh_bulge());
        let n_lam = self.grid().lam_eval.len();
        let nb = phot.names().len();
        let fluxes = fast::matmul_transposed(&combine.lum, &phot.q_t, n_lam);
        let fluxes = Array2::from_shape_vec((batch.len(), nb), fluxes).expect("n × bands");
        let selectors = self.fast.selectors_with_tape(batch.gp());
        let log_p = |t: &Vec<Vec<f32>>| -> Vec<f32> {
            t.last()
                .expect("selector has layers")
                .iter()
                .map(|&x| log_sigmoid(x))
                .collect()
        };
        let log_p = (log_p(&selectors[0]), log_p(&selectors[1]));
        FluxTape {
            model: self,
            phot,
            combine,
            selectors,
            fluxes,
            log_p,
        }
    }
}

impl FluxTape<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.fluxes.nrows()
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Band fluxes \[Jy\], (N × n_bands).
    pub fn fluxes(&self) -> ArrayView2<'_, f32> {
        self.fluxes.view()
    }

    /// ln p of the disk and bulge selectors, each (N).
    pub fn selector_log_probs(&self) -> (&[f32], &[f32]) {
        (&self.log_p.0, &self.log_p.1)
    }

    /// Gradient of Σ ḡ_flux ⊙ fluxes (+ Σ ḡ_disk ⊙ ln p_disk + Σ ḡ_bulge ⊙ ln p_bulge) with
    /// respect to each row's inputs.
    ///
    /// # Panics
    /// If `g_flux` is not (N × n_bands) or the selector gradients are not N long.
    pub fn backward(
        &self,
        g_flux: ArrayView2<f32>,
        g_log_p: Option<(&[f32], &[f32])>,
    ) -> InputGradient {
        assert_eq!(g_flux.dim(), self.fluxes.dim(), "flux gradient shape");
        let n = self.len();
        let n_lam = self.model.grid().lam_eval.len();
        let q_t = &self.phot.q_t;
        // flux_f = Σ_l lum_l·Qᵀ[f, l]  ⇒  ∂/∂lum_l = Σ_f ḡ_f·Qᵀ[f, l].
        let mut g_lum = vec![0f32; n * n_lam];
        for (g_row, out) in g_flux.rows().into_iter().zip(g_lum.chunks_exact_mut(n_lam)) {
            for (&g, q) in g_row.iter().zip(q_t.chunks_exact(n_lam)) {
                if g != 0.0 {
                    out.iter_mut().zip(q).for_each(|(o, q)| *o += g * q);
                }
            }
        }
        let (mut gp, sfh_disk, sfh_bulge) = self.model.fast.combine_backward(&self.combine, &g_lum);
        if let Some((gd, gb)) = g_log_p {
            assert!(gd.len() == n && gb.len() == n, "selector gradient length");
            // d ln σ(x)/dx = 1 − σ(x) = −expm1(ln σ(x)).
            let chain = |g: &[f32], lp: &[f32]| -> Vec<f32> {
                g.iter().zip(lp).map(|(g, lp)| -g * lp.exp_m1()).collect()
            };
            let g = self.model.fast.selectors_backward(
                &self.selectors,
                &chain(gd, &self.log_p.0),
                &chain(gb, &self.log_p.1),
            );
            gp.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        }
        debug_assert_eq!(gp.len(), n * N_GP);
        debug_assert_eq!(sfh_disk.len(), n * N_SSP);
        InputGradient {
            gp,
            sfh_disk,
            sfh_bulge,
        }
    }
}
