//! What users ask of the model (spec §5.3–5.4): spectra in L_sun or Jy, photometry through
//! filters, absorption fractions, L_IR, selector log-probabilities and attenuation.
//!
//! Large batches are evaluated in chunks of [`CHUNK`] galaxies so that the big intermediates
//! (N × 16 × 495 Planck terms, N × n_λ spectra) stay in cache.

use burn::prelude::*;
use galsed_core::filters::Filter;
use galsed_core::photometry::{self, Passband, filter_weights, trapz_weights, window_weights};
use galsed_core::units::{ab_mag, distance_factor, fnu_unit_jy};
use ndarray::Array2;
use rayon::prelude::*;

use crate::ModelError;
use crate::inputs::Batch;
use crate::sed::{Component, N_GP, N_SSP, Starduster, fast};

/// Galaxies per internal chunk.
pub const CHUNK: usize = 256;

/// The fewest galaxies per chunk when a batch is split across threads. Fewer rows per matrix
/// product cost more per row (16 rows ≈ 20 % more than 32), which matters when the caller
/// already keeps every core busy, one galaxy per worker, with batches of 32 (a swarm step):
/// those stay one chunk.
const MIN_CHUNK: usize = 32;

/// Rows per chunk for a batch of `n` on `threads` workers: [`CHUNK`], or fewer so that a batch
/// smaller than `threads` chunks still keeps every worker busy.
fn chunk_rows(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).clamp(MIN_CHUNK, CHUNK)
}

/// Where the galaxy is seen from: redshift and distance modulus.
///
/// Fluxes are computed at 10 pc scaled by 10^(−0.4 μ); the SED itself is rest-frame and only the
/// wavelengths are stretched by (1+z). With μ the luminosity-distance modulus this gives the
/// observed-frame F_ν.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observer {
    /// Redshift of the galaxy (z ≥ 0).
    pub redshift: f64,
    /// Luminosity-distance modulus μ \[mag\].
    pub distmod: f64,
}

impl Observer {
    /// Validated observer (z ≥ 0, both finite).
    pub fn new(redshift: f64, distmod: f64) -> Result<Self, ModelError> {
        if !(redshift.is_finite() && redshift >= 0.0) {
            return Err(ModelError::Input(format!(
                "redshift must be finite and ≥ 0, got {redshift}"
            )));
        }
        if !distmod.is_finite() {
            return Err(ModelError::Input(format!(
                "distance modulus must be finite, got {distmod}"
            )));
        }
        Ok(Self { redshift, distmod })
    }

    /// Observed wavelengths \[µm\] of a model grid: float32(λ)·(1+z) in float32, as the reference.
    pub fn observed_grid(&self, lam_eval: &[f64]) -> Vec<f32> {
        let zp1 = (1.0 + self.redshift) as f32;
        lam_eval.iter().map(|&l| l as f32 * zp1).collect()
    }

    /// Per grid point, the float32 factor λ_obs·u_ν·10^(−0.4μ) that turns a rest-frame λL_λ
    /// \[L_sun\] into the observed F_ν \[Jy\] on [`Observer::observed_grid`] (multiplied in float32).
    pub fn fnu_factors(&self, lam_eval: &[f64]) -> Vec<f32> {
        let u = fnu_unit_jy() * distance_factor(self.distmod);
        self.observed_grid(lam_eval)
            .iter()
            .map(|&l| (f64::from(l) * u) as f32)
            .collect()
    }
}

/// Where the galaxies of a batch are seen from: one observer for all, or one per galaxy.
#[derive(Debug, Clone, PartialEq)]
pub enum Observers {
    /// Every galaxy seen by the same observer.
    One(Observer),
    /// Galaxy i seen by entry i.
    PerRow(Vec<Observer>),
}

impl Observers {
    /// The observer of galaxy `i`.
    pub fn get(&self, i: usize) -> Observer {
        match self {
            Observers::One(o) => *o,
            Observers::PerRow(v) => v[i],
        }
    }

    /// The observers of the galaxies `rows`, in that order.
    pub fn subset(&self, rows: &[usize]) -> Observers {
        match self {
            Observers::One(o) => Observers::One(*o),
            Observers::PerRow(v) => Observers::PerRow(rows.iter().map(|&i| v[i]).collect()),
        }
    }
}

/// Band-flux weights for a set of filters on a model grid, seen by an [`Observer`].
#[derive(Debug, Clone)]
pub struct Photometry {
    names: Vec<String>,
    /// Qᵀ[f, l] = ω_l · W_f(λ_l) · 10^(−0.4μ): band flux \[Jy\] = Σ_l λL_λ\[L_sun\] · Qᵀ[f, l].
    pub(crate) q_t: Vec<f32>,
    weights: Array2<f64>,
}

impl Photometry {
    /// Builds the weights for `filters` on `model`'s grid.
    pub fn new(
        model: &Starduster,
        filters: &[Filter],
        observer: Observer,
    ) -> Result<Self, ModelError> {
        let lam_obs: Vec<f64> = observer
            .observed_grid(&model.grid().lam_eval)
            .into_iter()
            .map(f64::from)
            .collect();
        let mut w = Array2::zeros((filters.len(), lam_obs.len()));
        for (i, f) in filters.iter().enumerate() {
            let row = filter_weights(
                &f.name,
                &lam_obs,
                &f.wavelength_angstrom,
                &f.transmission,
                false,
            )
            .map_err(photometry_error)?;
            w.row_mut(i).assign(&ndarray::Array1::from(row));
        }
        let names = filters.iter().map(|f| f.name.clone()).collect();
        Ok(Self::from_weights(names, w, &lam_obs, observer.distmod))
    }

    fn from_weights(
        names: Vec<String>,
        weights: Array2<f64>,
        lam_obs: &[f64],
        distmod: f64,
    ) -> Self {
        let omega = trapz_weights(lam_obs);
        let dist = distance_factor(distmod);
        let (nf, nl) = weights.dim();
        let mut q_t = vec![0f32; nf * nl];
        for f in 0..nf {
            for l in 0..nl {
                q_t[f * nl + l] = (omega[l] * weights[[f, l]] * dist) as f32;
            }
        }
        Self {
            names,
            q_t,
            weights,
        }
    }

    /// Filter names, in output column order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Band fluxes \[Jy\] of spectra λL_λ \[L_sun\] (N × n_λ) as a tensor (N × n_filters), on the
    /// spectra's device: the differentiable counterpart of [`Starduster::fluxes`].
    pub fn band_fluxes(&self, lum: Tensor<2>) -> Tensor<2> {
        let [_, n_lam] = lum.dims();
        let nf = self.names.len();
        assert_eq!(
            n_lam * nf,
            self.q_t.len(),
            "spectra on another grid than these filter weights"
        );
        let q_t = Tensor::<2>::from_data(
            TensorData::new(self.q_t.clone(), [nf, n_lam]),
            &lum.device(),
        );
        lum.matmul(q_t.transpose())
    }

    /// W_f on the observed grid (n_filters × n_λ), for inspection.
    pub fn filter_weights(&self) -> &Array2<f64> {
        &self.weights
    }
}

/// Photometry of galaxies that are each seen from their own redshift and distance, as in the
/// catalogues of simulated universes (light cones, several snapshots).
///
/// [`Photometry`] holds dense weights for one observer; here the weights are rebuilt per galaxy on
/// the few grid points each band covers ([`Passband::window`]), and reused while consecutive
/// galaxies share their observer. A band that the model does not cover at a galaxy's redshift
/// gets a NaN flux rather than failing the whole batch.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use galsed_core::filters::Filter;
/// use galsed_emulator::predict::{ObservedPhotometry, Observer};
/// use galsed_emulator::{Component, Starduster, inputs::{Batch, OutOfRange}};
/// # let model: Starduster = unimplemented!();
/// let filters = vec![Filter::builtin("sdss_r0")?, Filter::builtin("wise_w1")?];
/// let phot = ObservedPhotometry::new(&model, &filters);
/// let batch = Batch::new(vec![0.0; 14], vec![1.0 / 36.0; 72], vec![1.0 / 36.0; 72], OutOfRange::Error)?;
/// let observers = [Observer::new(0.1, 38.33)?, Observer::new(0.2, 39.95)?];
/// let jy = phot.fluxes(&model, &batch, Component::Combine, &observers)?; // (2, 2)
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ObservedPhotometry {
    passbands: Vec<Passband>,
    names: Vec<String>,
    lam_eval: Vec<f64>,
}

/// Band weights for one observer: per band, the first grid point and q_l = ω_l·W_f(λ_l)·10^(−0.4μ),
/// or `None` where the model does not cover the band at that redshift.
type BandWindows = Vec<Option<(usize, Vec<f32>)>>;

impl ObservedPhotometry {
    /// Photometry through `filters` on `model`'s grid.
    pub fn new(model: &Starduster, filters: &[Filter]) -> Self {
        Self {
            passbands: filters
                .iter()
                .map(|f| Passband::new(&f.name, &f.wavelength_angstrom, &f.transmission))
                .collect(),
            names: filters.iter().map(|f| f.name.clone()).collect(),
            lam_eval: model.grid().lam_eval.clone(),
        }
    }

    /// Filter names, in output column order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names of the bands that the model does not cover for `observer` (their fluxes are NaN).
    pub fn uncovered(&self, observer: Observer) -> Vec<&str> {
        self.windows(observer)
            .iter()
            .zip(&self.names)
            .filter(|(w, _)| w.is_none())
            .map(|(_, n)| n.as_str())
            .collect()
    }

    fn windows(&self, observer: Observer) -> BandWindows {
        let lam_obs: Vec<f64> = observer
            .observed_grid(&self.lam_eval)
            .into_iter()
            .map(f64::from)
            .collect();
        let dist = distance_factor(observer.distmod);
        self.passbands
            .iter()
            .map(|band| {
                let (first, w) = band.window(&lam_obs, false).ok()?;
                // Trapezoid weight of each grid point, from its neighbours on the whole grid.
                let q = w
                    .iter()
                    .enumerate()
                    .map(|(j, &wf)| {
                        let l = first + j;
                        let left = if l > 0 {
                            lam_obs[l] - lam_obs[l - 1]
                        } else {
                            0.0
                        };
                        let right = if l + 1 < lam_obs.len() {
                            lam_obs[l + 1] - lam_obs[l]
                        } else {
                            0.0
                        };
                        (0.5 * (left + right) * wf * dist) as f32
                    })
                    .collect();
                Some((first, q))
            })
            .collect()
    }

    /// Band fluxes \[Jy\], (N, n_filters), galaxy i seen by `observers[i]`; NaN for bands outside
    /// the model's coverage at that galaxy's redshift.
    pub fn fluxes(
        &self,
        model: &Starduster,
        batch: &Batch,
        component: Component,
        observers: &[Observer],
    ) -> Result<Array2<f32>, ModelError> {
        if observers.len() != batch.len() {
            return Err(ModelError::Input(format!(
                "{} observers for {} galaxies: give one per galaxy",
                observers.len(),
                batch.len()
            )));
        }
        let n_lam = self.lam_eval.len();
        let nf = self.passbands.len();
        Ok(model.per_chunk(batch, nf, |start, gp, sd, sb| {
            let lum = model
                .fast
                .forward(gp, sd, sb, component)
                .component(component);
            let mut out = Vec::with_capacity(lum.len() / n_lam * nf);
            let mut cached: Option<(Observer, BandWindows)> = None;
            for (i, row) in lum.chunks_exact(n_lam).enumerate() {
                let observer = observers[start + i];
                if cached.as_ref().is_none_or(|(o, _)| *o != observer) {
                    cached = Some((observer, self.windows(observer)));
                }
                let windows = &cached.as_ref().expect("just filled").1;
                out.extend(windows.iter().map(|w| match w {
                    Some((first, q)) => {
                        let sum: f64 = row[*first..]
                            .iter()
                            .zip(q)
                            .map(|(&l, &q)| f64::from(l) * f64::from(q))
                            .sum();
                        sum as f32
                    }
                    None => f32::NAN,
                }));
            }
            out
        }))
    }

    /// AB magnitudes, (N, n_filters): +∞ where the flux is zero, NaN where the band is not covered.
    pub fn magnitudes(
        &self,
        model: &Starduster,
        batch: &Batch,
        component: Component,
        observers: &[Observer],
    ) -> Result<Array2<f64>, ModelError> {
        Ok(self
            .fluxes(model, batch, component, observers)?
            .mapv(|f| ab_mag(f64::from(f))))
    }
}

fn photometry_error(e: photometry::PhotometryError) -> ModelError {
    ModelError::Input(e.to_string())
}

/// Spectral units of [`Starduster::spectrum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpectralUnits {
    /// λL_λ \[L_sun\] (rest frame; redshift and distance ignored).
    #[default]
    Luminosity,
    /// F_ν \[Jy\] on the observed grid.
    Fnu,
}

/// Attenuation curves −2.5 log10(F_att/F_free) on the grid points with λ_obs < 1 µm.
#[derive(Debug, Clone)]
pub struct AttenuationCurves {
    /// Observed-frame wavelengths \[µm\] of the points kept (those below 1 µm).
    pub lam_um: Vec<f32>,
    /// Attenuation \[mag\], (N, number of wavelengths).
    pub mag: Array2<f32>,
}

impl Starduster {
    /// Runs `f` on chunks of the batch, one single-threaded chunk per worker of the current rayon
    /// pool (measured faster here than threads inside each operation), and stacks the rows.
    ///
    /// Batch predictions never need gradients, so `f` gets the rows as plain slices (gp, disk
    /// SFH, bulge SFH) after the index of their first row, and uses the fast path (`sed::fast`) rather than the tensor networks.
    fn per_chunk<F>(&self, batch: &Batch, width: usize, f: F) -> Array2<f32>
    where
        F: Fn(usize, &[f32], &[f32], &[f32]) -> Vec<f32> + Sync,
    {
        let chunk = chunk_rows(batch.len(), rayon::current_num_threads());
        let starts: Vec<usize> = (0..batch.len()).step_by(chunk).collect();
        let run = |&start: &usize| {
            let end = (start + chunk).min(batch.len());
            f(
                start,
                &batch.gp()[start * N_GP..end * N_GP],
                &batch.sfh_disk()[start * N_SSP..end * N_SSP],
                &batch.sfh_bulge()[start * N_SSP..end * N_SSP],
            )
        };
        let parts: Vec<Vec<f32>> = if starts.len() > 1 {
            starts.par_iter().map(run).collect()
        } else {
            starts.iter().map(run).collect()
        };
        let out: Vec<f32> = parts.concat();
        Array2::from_shape_vec((batch.len(), width), out)
            .expect("chunk outputs have `width` columns")
    }

    /// The SED of a component, (N, n_λ): λL_λ \[L_sun\] or F_ν \[Jy\] on the observed grid.
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
            SpectralUnits::Fnu => Some(observer.fnu_factors(&self.grid().lam_eval)),
        };
        self.per_chunk(batch, n_lam, |_, gp, sd, sb| {
            let mut lum = self
                .fast
                .forward(gp, sd, sb, component)
                .component(component);
            if let Some(s) = &scale {
                for row in lum.chunks_exact_mut(n_lam) {
                    row.iter_mut().zip(s).for_each(|(v, s)| *v *= s);
                }
            }
            lum
        })
    }

    /// The SED of a component, (N, n_λ): λL_λ \[L_sun\], or F_ν \[Jy\] with galaxy i seen by
    /// `observers.get(i)` (λL_λ times [`Observer::fnu_factors`], in float32, as
    /// [`Starduster::spectrum`]).
    pub fn spectra(
        &self,
        batch: &Batch,
        component: Component,
        units: SpectralUnits,
        observers: &Observers,
    ) -> Array2<f32> {
        let mut lum = self.spectrum(
            batch,
            component,
            SpectralUnits::Luminosity,
            Observer::default(),
        );
        if units == SpectralUnits::Fnu {
            let lam = &self.grid().lam_eval;
            let mut cached: Option<(Observer, Vec<f32>)> = None;
            for (i, mut row) in lum.rows_mut().into_iter().enumerate() {
                let o = observers.get(i);
                if cached.as_ref().is_none_or(|(c, _)| *c != o) {
                    cached = Some((o, o.fnu_factors(lam)));
                }
                let s = &cached.as_ref().expect("just filled").1;
                row.iter_mut().zip(s).for_each(|(v, s)| *v *= s);
            }
        }
        lum
    }

    /// Band fluxes \[Jy\], (N, n_filters), through `filters`. One observer: the dense weights of
    /// [`Photometry`] (a band the model does not cover is an error). One per galaxy:
    /// [`ObservedPhotometry`] (a band not covered at a galaxy's redshift is NaN).
    pub fn band_fluxes(
        &self,
        batch: &Batch,
        component: Component,
        filters: &[Filter],
        observers: &Observers,
    ) -> Result<Array2<f32>, ModelError> {
        match observers {
            Observers::One(o) => {
                let phot = Photometry::new(self, filters, *o)?;
                Ok(self.fluxes(batch, component, &phot))
            }
            Observers::PerRow(list) => {
                ObservedPhotometry::new(self, filters).fluxes(self, batch, component, list)
            }
        }
    }

    /// Band fluxes \[Jy\], (N, n_filters).
    pub fn fluxes(&self, batch: &Batch, component: Component, phot: &Photometry) -> Array2<f32> {
        let n_lam = self.grid().lam_eval.len();
        self.per_chunk(batch, phot.names.len(), |_, gp, sd, sb| {
            let lum = self
                .fast
                .forward(gp, sd, sb, component)
                .component(component);
            fast::matmul_transposed(&lum, &phot.q_t, n_lam)
        })
    }

    /// AB magnitudes, (N, n_filters); +∞ where the flux is zero.
    pub fn magnitudes(
        &self,
        batch: &Batch,
        component: Component,
        phot: &Photometry,
    ) -> Array2<f64> {
        self.fluxes(batch, component, phot)
            .mapv(|f| ab_mag(f64::from(f)))
    }

    /// Fraction of the intrinsic stellar light absorbed by dust, (N).
    pub fn absorption_fraction(&self, batch: &Batch) -> Vec<f32> {
        self.per_chunk(batch, 1, |_, gp, sd, sb| {
            let (fd, fb) = self.fast.absorption(gp, sd, sb);
            let b_to_t = gp.chunks_exact(N_GP).map(|g| (g[6] + 1.0) * 0.5);
            fd.iter()
                .zip(&fb)
                .zip(b_to_t)
                .map(|((d, b), bt)| d * (1.0 - bt) + b * bt)
                .collect()
        })
        .into_raw_vec_and_offset()
        .0
    }

    /// Dust luminosity L_IR = frac · L \[L_sun\], (N).
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
        let both = self.per_chunk(batch, 2, |_, gp, _, _| {
            let (d, b) = self.fast.selector_logits(gp);
            d.iter()
                .zip(&b)
                .flat_map(|(&d, &b)| [log_sigmoid(d), log_sigmoid(b)])
                .collect()
        });
        (both.column(0).to_vec(), both.column(1).to_vec())
    }

    /// Attenuation curves (spec §5.4) on the rest-frame grid points below 1 µm.
    pub fn attenuation_curves(&self, batch: &Batch) -> AttenuationCurves {
        let lam: Vec<f32> = self.grid().lam_eval.iter().map(|&l| l as f32).collect();
        let n = lam.iter().take_while(|&&l| l < 1.0).count();
        let n_lam = lam.len();
        let mag = self.per_chunk(batch, n, |_, gp, sd, sb| {
            let f = self.fast.forward(gp, sd, sb, Component::DustAttenuation);
            let (att, free) = (f.l_main(true), f.l_main(false));
            let k = (-2.5 / std::f64::consts::LN_10) as f32;
            att.chunks_exact(n_lam)
                .zip(free.chunks_exact(n_lam))
                .flat_map(|(a, b)| {
                    a[..n]
                        .iter()
                        .zip(&b[..n])
                        .map(move |(a, b)| (a / b).ln() * k)
                })
                .collect()
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
                return Err(ModelError::Input(format!(
                    "window ({lo}, {hi}) Å: need λ1 < λ2"
                )));
            }
            let row = window_weights(&lam_obs, lo, hi).map_err(photometry_error)?;
            w.row_mut(i).assign(&ndarray::Array1::from(row));
        }
        let names = windows.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        let phot = Photometry::from_weights(names, w, &lam_obs, observer.distmod);
        let with_dust = self.magnitudes(batch, Component::Combine, &phot);
        let free = self.magnitudes(batch, Component::DustFree, &phot);
        Ok(with_dust - free)
    }
}

/// ln σ(x) = −softplus(−x), stable for both signs.
pub(crate) fn log_sigmoid(x: f32) -> f32 {
    -(((-x).max(0.0)) + (-x.abs()).exp().ln_1p())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_batches_are_shared_between_workers() {
        // One thread: chunks of CHUNK rows (a smaller batch is one chunk).
        assert_eq!(chunk_rows(64, 1), 64);
        assert_eq!(chunk_rows(1000, 1), CHUNK);
        // A batch too small to share well: chunks of MIN_CHUNK (a swarm step stays whole).
        assert_eq!(chunk_rows(20, 2), MIN_CHUNK);
        assert_eq!(chunk_rows(32, 2), 32);
        // Batch 64 on two workers: two chunks of 32.
        assert_eq!(chunk_rows(64, 2), 32);
        // Large batches keep chunks of CHUNK rows, which stay in cache.
        assert_eq!(chunk_rows(16384, 2), CHUNK);
        assert_eq!(chunk_rows(0, 0), MIN_CHUNK);
    }
}
