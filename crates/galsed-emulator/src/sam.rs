//! Semi-analytic-model (SAM) galaxies → photometry and spectra, a batch at a time: the conversion
//! of [`galsed_core::sam`], the emulator and the per-observer photometry in one call, as used by
//! `galsed catalog run` (per chunk) and by the Python bindings' `Model.sam_photometry`.
//!
//! Rows that cannot be converted are reported per row and give NaN outputs; they never fail the
//! batch.

use galsed_core::filters::Filter;
use galsed_core::sam::{SamConverter, SamError, SamGalaxy};
use ndarray::Array2;

use crate::inputs::{Batch, OutOfRange};
use crate::predict::{ObservedPhotometry, Observers, SpectralUnits};
use crate::{Component, ModelError, N_GP, N_SSP, Starduster};

/// The SAM columns of N galaxies, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct SamRows<'a> {
    /// Number of SAM age bins (width of each history).
    pub n_bins: usize,
    /// `theta` \[deg\], `m_dust` \[M_sun\], `r_dust`, `r_disk`, `r_bulge` \[kpc\]: N values each.
    pub scalars: [&'a [f64]; 5],
    /// `mass_disk`, `metal_disk`, `mass_bulge`, `metal_bulge` \[M_sun\]: row-major N × n_bins each.
    pub histories: [&'a [f64]; 4],
}

impl<'a> SamRows<'a> {
    /// Number of galaxies.
    pub fn len(&self) -> usize {
        self.scalars[0].len()
    }

    /// Whether there are no galaxies.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Galaxy `i`.
    pub fn galaxy(&self, i: usize) -> SamGalaxy<'a> {
        let nb = self.n_bins;
        let h = |k: usize| &self.histories[k][i * nb..(i + 1) * nb];
        SamGalaxy {
            theta_deg: self.scalars[0][i],
            m_dust: self.scalars[1][i],
            r_dust: self.scalars[2][i],
            r_disk: self.scalars[3][i],
            r_bulge: self.scalars[4][i],
            mass_disk: h(0),
            metal_disk: h(1),
            mass_bulge: h(2),
            metal_bulge: h(3),
        }
    }
}

/// Converted rows: the model's inputs, row-major, with NaN rows where a galaxy was not converted.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Unit-space galaxy parameters, N × 7 (not clipped: [`Converted::batch`] clips them).
    pub gp: Vec<f64>,
    /// Disk light fractions, N × 36.
    pub sfh_disk: Vec<f64>,
    /// Bulge light fractions, N × 36.
    pub sfh_bulge: Vec<f64>,
    /// Intrinsic luminosity of the disk \[L_sun\], N.
    pub l_norm_disk: Vec<f64>,
    /// Intrinsic luminosity of the bulge \[L_sun\], N.
    pub l_norm_bulge: Vec<f64>,
    /// Per row, why it could not be converted (`None` for converted and skipped rows).
    pub errors: Vec<Option<SamError>>,
    /// The converted rows, in increasing order.
    pub good: Vec<usize>,
}

impl Converted {
    /// Converts every row of `rows` except those with `skip[i]` (`skip` empty: none skipped).
    pub fn new(converter: &SamConverter, rows: &SamRows<'_>, skip: &[bool]) -> Self {
        let n = rows.len();
        let mut out = Self {
            gp: vec![f64::NAN; n * N_GP],
            sfh_disk: vec![f64::NAN; n * N_SSP],
            sfh_bulge: vec![f64::NAN; n * N_SSP],
            l_norm_disk: vec![f64::NAN; n],
            l_norm_bulge: vec![f64::NAN; n],
            errors: vec![None; n],
            good: vec![],
        };
        for i in 0..n {
            if skip.get(i).copied().unwrap_or(false) {
                continue;
            }
            match converter.convert(&rows.galaxy(i)) {
                Ok(x) => {
                    out.gp[i * N_GP..(i + 1) * N_GP].copy_from_slice(&x.gp);
                    out.sfh_disk[i * N_SSP..(i + 1) * N_SSP].copy_from_slice(&x.sfh_disk);
                    out.sfh_bulge[i * N_SSP..(i + 1) * N_SSP].copy_from_slice(&x.sfh_bulge);
                    out.l_norm_disk[i] = x.l_norm_disk;
                    out.l_norm_bulge[i] = x.l_norm_bulge;
                    out.good.push(i);
                }
                Err(e) => out.errors[i] = Some(e),
            }
        }
        out
    }

    /// The converted rows ([`Converted::good`]) as a batch, clipped as the reference does;
    /// `None` when no row was converted.
    pub fn batch(&self) -> Result<Option<Batch>, ModelError> {
        if self.good.is_empty() {
            return Ok(None);
        }
        let gather = |v: &[f64], w: usize| -> Vec<f64> {
            self.good
                .iter()
                .flat_map(|&r| v[r * w..(r + 1) * w].iter().copied())
                .collect()
        };
        Batch::new(
            gather(&self.gp, N_GP),
            gather(&self.sfh_disk, N_SSP),
            gather(&self.sfh_bulge, N_SSP),
            OutOfRange::Clip,
        )
        .map(Some)
    }

    /// Total intrinsic luminosity l_norm_disk + l_norm_bulge \[L_sun\], N (NaN where not converted).
    pub fn l_norm(&self) -> Vec<f64> {
        self.l_norm_disk
            .iter()
            .zip(&self.l_norm_bulge)
            .map(|(d, b)| d + b)
            .collect()
    }

    /// Bulge-to-total luminosity ratio, N (NaN where not converted or the luminosity is 0).
    pub fn b_to_t(&self) -> Vec<f64> {
        self.l_norm()
            .iter()
            .zip(&self.l_norm_bulge)
            .map(|(&l, &b)| if l > 0.0 { b / l } else { f64::NAN })
            .collect()
    }
}

/// Photometry (and optionally spectra) of SAM galaxies through a set of filters.
#[derive(Debug, Clone)]
pub struct SamPhotometry {
    filters: Vec<Filter>,
    observed: ObservedPhotometry,
    component: Component,
    spectra: Option<SpectralUnits>,
}

/// What [`SamPhotometry::compute`] returns for N galaxies.
#[derive(Debug, Clone)]
pub struct SamResult {
    /// The conversion of the rows (inputs, luminosities, per-row errors).
    pub converted: Converted,
    /// Band fluxes \[Jy\], N × n_filters; NaN rows where a galaxy was not converted, NaN entries
    /// where a band lies outside the model's coverage at that galaxy's redshift.
    pub fluxes: Array2<f32>,
    /// Spectra, N × n_λ, in the units asked for (NaN rows where a galaxy was not converted).
    pub spectra: Option<Array2<f32>>,
}

impl SamResult {
    /// The bands (indices) that the model does not cover for row `i` (its NaN fluxes).
    pub fn uncovered(&self, i: usize) -> Vec<usize> {
        let row = self.fluxes.row(i);
        (0..row.len()).filter(|&b| row[b].is_nan()).collect()
    }
}

impl SamPhotometry {
    /// Photometry through `filters` on `model`'s grid, of one SED component; with
    /// `spectra = Some(units)` also the spectra (λL_λ, or F_ν as seen by each galaxy's observer).
    pub fn new(
        model: &Starduster,
        filters: Vec<Filter>,
        component: Component,
        spectra: Option<SpectralUnits>,
    ) -> Self {
        Self {
            observed: ObservedPhotometry::new(model, &filters),
            filters,
            component,
            spectra,
        }
    }

    /// Filter names, in output column order.
    pub fn names(&self) -> &[String] {
        self.observed.names()
    }

    /// Converts the galaxies of `rows` (except those with `skip[i]`; `skip` empty: none) and
    /// computes their band fluxes, galaxy i seen by `observers.get(i)`.
    ///
    /// One observer for all rows uses the dense weights of
    /// [`Photometry`](crate::predict::Photometry) (a band the model does not cover is an error);
    /// one per row uses [`ObservedPhotometry`] (such a band is NaN in the rows concerned).
    pub fn compute(
        &self,
        model: &Starduster,
        converter: &SamConverter,
        rows: &SamRows<'_>,
        observers: &Observers,
        skip: &[bool],
    ) -> Result<SamResult, ModelError> {
        let n = rows.len();
        let converted = Converted::new(converter, rows, skip);
        let nf = self.filters.len();
        let mut fluxes = Array2::from_elem((n, nf), f32::NAN);
        let n_lam = model.grid().lam_eval.len();
        let mut spectra = self
            .spectra
            .map(|_| Array2::from_elem((n, n_lam), f32::NAN));
        if let Some(batch) = converted.batch()? {
            let good = &converted.good;
            let obs = observers.subset(good);
            let flux = match &obs {
                Observers::One(_) => {
                    model.band_fluxes(&batch, self.component, &self.filters, &obs)?
                }
                Observers::PerRow(list) => {
                    self.observed.fluxes(model, &batch, self.component, list)?
                }
            };
            for (k, &i) in good.iter().enumerate() {
                fluxes.row_mut(i).assign(&flux.row(k));
            }
            if let (Some(units), Some(out)) = (self.spectra, spectra.as_mut()) {
                let s = model.spectra(&batch, self.component, units, &obs);
                for (k, &i) in good.iter().enumerate() {
                    out.row_mut(i).assign(&s.row(k));
                }
            }
        }
        Ok(SamResult {
            converted,
            fluxes,
            spectra,
        })
    }
}
