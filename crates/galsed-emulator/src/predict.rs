//! What users ask of the model (spec §5.3–5.4): spectra in L_sun or Jy, photometry through
//! filters, absorption fractions, L_IR, selector log-probabilities and attenuation.
//!
//! Large batches are evaluated in chunks of [`CHUNK`] galaxies so that the big intermediates
//! (N × 16 × 495 Planck terms, N × n_λ spectra) stay in cache.

use burn::prelude::*;
use galsed_core::filters::Filter;
use galsed_core::photometry::{self, filter_weights, trapz_weights, window_weights};
use galsed_core::units::{ab_mag, distance_factor, fnu_unit_jy};
use ndarray::Array2;
use rayon::prelude::*;

use crate::inputs::Batch;
use crate::sed::{Component, Forward, N_GP, N_SSP, Starduster};
use crate::weights::{tensor2, to_vec};
use crate::ModelError;

/// Galaxies per internal chunk.
pub const CHUNK: usize = 256;

/// Where the galaxy is seen from: redshift and distance modulus.
///
/// Fluxes are computed at 10 pc scaled by 10^(−0.4 μ); the SED itself is rest-frame and only the
/// wavelengths are stretched by (1+z). With μ the luminosity-distance modulus this gives the
/// observed-frame F_ν.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observer {
    pub redshift: f64,
    pub distmod: f64,
}

impl Observer {
    /// Validated observer (z ≥ 0, both finite).
    pub fn new(redshift: f64, distmod: f64) -> Result<Self, ModelError> {
        if !(redshift.is_finite() && redshift >= 0.0) {
            return Err(ModelError::Input(format!("redshift must be finite and ≥ 0, got {redshift}")));
        }
        if !distmod.is_finite() {
            return Err(ModelError::Input(format!("distance modulus must be finite, got {distmod}")));
        }
        Ok(Self { redshift, distmod })
    }

    /// Observed wavelengths [µm] of a model grid: float32(λ)·(1+z) in float32, as the reference.
    pub fn observed_grid(&self, lam_eval: &[f64]) -> Vec<f32> {
        let zp1 = (1.0 + self.redshift) as f32;
        lam_eval.iter().map(|&l| l as f32 * zp1).collect()
    }
}

/// Band-flux weights for a set of filters on a model grid, seen by an [`Observer`].
#[derive(Debug, Clone)]
pub struct Photometry {
    names: Vec<String>,
    /// Q[l, f] = ω_l · W_f(λ_l) · 10^(−0.4μ): band flux [Jy] = λL_λ[L_sun] · Q.
    q: Tensor<2>,
    weights: Array2<f64>,
}

impl Photometry {
    /// Builds the weights for `filters` on `model`'s grid.
    pub fn new(model: &Starduster, filters: &[Filter], observer: Observer) -> Result<Self, ModelError> {
        let lam_obs: Vec<f64> = observer
            .observed_grid(&model.grid().lam_eval)
            .into_iter()
            .map(f64::from)
            .collect();
        let mut w = Array2::zeros((filters.len(), lam_obs.len()));
        for (i, f) in filters.iter().enumerate() {
            let row = filter_weights(&f.name, &lam_obs, &f.wavelength_angstrom, &f.transmission, false)
                .map_err(photometry_error)?;
            w.row_mut(i).assign(&ndarray::Array1::from(row));
        }
        let names = filters.iter().map(|f| f.name.clone()).collect();
        Ok(Self::from_weights(model, names, w, &lam_obs, observer.distmod))
    }

    fn from_weights(
        model: &Starduster,
        names: Vec<String>,
        weights: Array2<f64>,
        lam_obs: &[f64],
        distmod: f64,
    ) -> Self {
        let omega = trapz_weights(lam_obs);
        let dist = distance_factor(distmod);
        let (nf, nl) = weights.dim();
        let mut q = vec![0f32; nl * nf];
        for l in 0..nl {
            for f in 0..nf {
                q[l * nf + f] = (omega[l] * weights[[f, l]] * dist) as f32;
            }
        }
        Self {
            names,
            q: tensor2(q, [nl, nf], model.device()),
            weights,
        }
    }

    /// Filter names, in output column order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// W_f on the observed grid (n_filters × n_λ), for inspection.
    pub fn filter_weights(&self) -> &Array2<f64> {
        &self.weights
    }
}

fn photometry_error(e: photometry::PhotometryError) -> ModelError {
    ModelError::Input(e.to_string())
}

/// Spectral units of [`Starduster::spectrum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpectralUnits {
    /// λL_λ [L_sun] (rest frame; redshift and distance ignored).
    #[default]
    Luminosity,
    /// F_ν [Jy] on the observed grid.
    Fnu,
}

/// Attenuation curves −2.5 log10(F_att/F_free) on the grid points with λ_obs < 1 µm.
#[derive(Debug, Clone)]
pub struct AttenuationCurves {
    pub lam_um: Vec<f32>,
    pub mag: Array2<f32>,
}

impl Starduster {
    fn tensors(&self, b: &Batch) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let n = b.len();
        let d = self.device();
        (
            tensor2(b.gp().to_vec(), [n, N_GP], d),
            tensor2(b.sfh_disk().to_vec(), [n, N_SSP], d),
            tensor2(b.sfh_bulge().to_vec(), [n, N_SSP], d),
        )
    }

    /// Runs `f` on chunks of the batch, one single-threaded chunk per worker of the current rayon
    /// pool (measured faster here than threads inside each operation), and stacks the rows.
    fn per_chunk<F>(&self, batch: &Batch, width: usize, f: F) -> Array2<f32>
    where
        F: Fn(Tensor<2>, Tensor<2>, Tensor<2>) -> Tensor<2> + Sync,
    {
        let starts: Vec<usize> = (0..batch.len()).step_by(CHUNK).collect();
        let run = |&start: &usize| {
            let chunk = batch.rows(start, (start + CHUNK).min(batch.len()));
            let (gp, sd, sb) = self.tensors(&chunk);
            to_vec(f(gp, sd, sb))
        };
        let parts: Vec<Vec<f32>> = if starts.len() > 1 {
            starts.par_iter().map(run).collect()
        } else {
            starts.iter().map(run).collect()
        };
        let out: Vec<f32> = parts.concat();
        Array2::from_shape_vec((batch.len(), width), out).expect("chunk outputs have `width` columns")
    }

    /// The SED of a component, (N, n_λ): λL_λ [L_sun] or F_ν [Jy] on the observed grid.
    pub fn spectrum(
        &self,
        batch: &Batch,
        component: Component,
        units: SpectralUnits,
        observer: Observer,
    ) -> Array2<f32> {
        let n_lam = self.grid().lam_eval.len();
        let scale = match units {
            SpectralUnits::Luminosity => None,
            SpectralUnits::Fnu => {
                let u = fnu_unit_jy() * distance_factor(observer.distmod);
                let s: Vec<f32> = observer
                    .observed_grid(&self.grid().lam_eval)
                    .iter()
                    .map(|&l| (f64::from(l) * u) as f32)
                    .collect();
                Some(tensor2(s, [1, n_lam], self.device()))
            }
        };
        self.per_chunk(batch, n_lam, |gp, sd, sb| {
            let lum = self.luminosity(gp, sd, sb, component);
            match &scale {
                Some(s) => lum * s.clone(),
                None => lum,
            }
        })
    }

    /// Band fluxes [Jy], (N, n_filters).
    pub fn fluxes(&self, batch: &Batch, component: Component, phot: &Photometry) -> Array2<f32> {
        self.per_chunk(batch, phot.names.len(), |gp, sd, sb| {
            self.luminosity(gp, sd, sb, component).matmul(phot.q.clone())
        })
    }

    /// AB magnitudes, (N, n_filters); +∞ where the flux is zero.
    pub fn magnitudes(&self, batch: &Batch, component: Component, phot: &Photometry) -> Array2<f64> {
        self.fluxes(batch, component, phot).mapv(|f| ab_mag(f64::from(f)))
    }

    /// Fraction of the intrinsic stellar light absorbed by dust, (N).
    pub fn absorption_fraction(&self, batch: &Batch) -> Vec<f32> {
        self.per_chunk(batch, 1, |gp, sd, sb| {
            let b = gp.clone().narrow(1, 6, 1).add_scalar(1.0).mul_scalar(0.5);
            let (fd, fb) = self.absorption(gp, sd, sb);
            fd * b.clone().neg().add_scalar(1.0) + fb * b
        })
        .into_raw_vec_and_offset()
        .0
    }

    /// Dust luminosity L_IR = frac · L [L_sun], (N).
    pub fn l_ir(&self, batch: &Batch) -> Vec<f64> {
        let frac = self.absorption_fraction(batch);
        frac.iter()
            .zip(batch.gp().chunks(N_GP))
            .map(|(&f, gp)| {
                // L = 10^(4(u+1)+6) in float32 as in the model.
                let l = (f64::from(gp[5] + 1.0) * 4.0 + 6.0) as f32;
                f64::from(f * 10f32.powf(l))
            })
            .collect()
    }

    /// Selector log-probabilities logsigmoid(logit) of (disk, bulge), each (N).
    pub fn selector_log_probs(&self, batch: &Batch) -> (Vec<f32>, Vec<f32>) {
        let both = self.per_chunk(batch, 2, |gp, _, _| {
            let (d, b) = self.selector_log_prob(gp);
            Tensor::cat(vec![d, b], 1)
        });
        (both.column(0).to_vec(), both.column(1).to_vec())
    }

    /// Attenuation curves (spec §5.4) on the rest-frame grid points below 1 µm.
    pub fn attenuation_curves(&self, batch: &Batch) -> AttenuationCurves {
        let lam: Vec<f32> = self.grid().lam_eval.iter().map(|&l| l as f32).collect();
        let n = lam.iter().take_while(|&&l| l < 1.0).count();
        let mag = self.per_chunk(batch, n, |gp, sd, sb| {
            let f: Forward = self.forward(gp, sd, sb, Component::DustAttenuation);
            let ratio = f.l_main(true).narrow(1, 0, n) / f.l_main(false).narrow(1, 0, n);
            ratio.log().mul_scalar(-2.5 / std::f64::consts::LN_10)
        });
        AttenuationCurves {
            lam_um: lam[..n].to_vec(),
            mag,
        }
    }

    /// Attenuation in top-hat windows [(λ1, λ2) in Å]: m(combine) − m(dust_free), (N, n_windows).
    pub fn windowed_attenuation(
        &self,
        batch: &Batch,
        windows: &[(f64, f64)],
        observer: Observer,
    ) -> Result<Array2<f64>, ModelError> {
        let lam_obs: Vec<f64> = observer
            .observed_grid(&self.grid().lam_eval)
            .into_iter()
            .map(f64::from)
            .collect();
        let mut w = Array2::zeros((windows.len(), lam_obs.len()));
        for (i, &(lo, hi)) in windows.iter().enumerate() {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(ModelError::Input(format!("window ({lo}, {hi}) Å: need λ1 < λ2")));
            }
            let row = window_weights(&lam_obs, lo, hi).map_err(photometry_error)?;
            w.row_mut(i).assign(&ndarray::Array1::from(row));
        }
        let names = windows.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        let phot = Photometry::from_weights(self, names, w, &lam_obs, observer.distmod);
        let with_dust = self.magnitudes(batch, Component::Combine, &phot);
        let free = self.magnitudes(batch, Component::DustFree, &phot);
        Ok(with_dust - free)
    }
}
