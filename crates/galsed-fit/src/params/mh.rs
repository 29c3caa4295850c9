//! Metallicity components (spec §5.5): parameters (and the SFH) → weights of the n_met library
//! metallicities, (N, n_met, 1) for one metallicity at all ages or (N, n_met, n_age).

use burn::prelude::*;
use galsed_core::ssp::SspLibrary;

use super::sfh::{f32s, log10_f32};
use super::tensor::{interp_weights, pow10, rescale_pow2};

/// Solar metallicity of the reference (Z_sun = 0.019).
pub const MET_SOL: f64 = 0.019;

/// The library metallicities in solar units, float32 (Z/0.019 divided in float32).
fn met_solar_f32(ssp: &SspLibrary) -> Vec<f32> {
    f32s(&ssp.met)
        .into_iter()
        .map(|z| z / MET_SOL as f32)
        .collect()
}

/// One parameter `log_met` = log10(Z/Z_sun), interpolated linearly in log10 Z between library
/// metallicities and applied to all ages (the reference's `InterpolatedMH`). Bounds
/// [log10(Z_0/Z_sun), log10(Z_last/Z_sun)] = [−2.626, 0.124] for the built-in library.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpolatedMh {
    log_met: Vec<f32>,
}

impl InterpolatedMh {
    /// The model on a library's metallicities.
    pub fn new(ssp: &SspLibrary) -> Self {
        Self {
            log_met: log10_f32(&met_solar_f32(ssp)),
        }
    }

    /// The float32 grid log10(Z/Z_sun).
    pub fn grid(&self) -> &[f32] {
        &self.log_met
    }

    /// `["log_met"]`.
    pub fn param_names(&self) -> Vec<String> {
        vec!["log_met".into()]
    }

    /// [log10(Z_0/Z_sun), log10(Z_last/Z_sun)] (float32 values).
    pub fn domain(&self) -> Vec<(f64, f64)> {
        vec![(
            f64::from(self.log_met[0]),
            f64::from(*self.log_met.last().expect("metallicities")),
        )]
    }

    /// Metallicity weights (N, n_met, 1) of `log_met` (N, 1).
    pub fn forward(&self, p: Tensor<2>) -> Tensor<3> {
        let w = interp_weights(p, &self.log_met);
        let [n, m] = w.dims();
        w.reshape([n, m, 1])
    }
}

/// Closed-box chemical evolution (the reference's `ClosedBoxMH`), parameters `log10_met_max`
/// (log10 Z_max/Z_sun, the present metallicity) and `log10_frac` (log10 f ∈ [−3, 0]).
///
/// Z_min = Z_max − (Z_max − Z_0)(1 − f) with Z_0 the lowest library metallicity; the
/// metallicity of the stars of age i is Z_min + (Z_max − Z_min)·c_i with c_i the fraction of the
/// mass formed before them (the reversed normalised cumulative SFH), interpolated linearly in Z
/// on the library grid, separately for each age.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedBoxMh {
    pub(super) met: Vec<f32>,
    domain: Vec<(f64, f64)>,
}

impl ClosedBoxMh {
    /// The model on a library's metallicities.
    pub fn new(ssp: &SspLibrary) -> Self {
        let met = met_solar_f32(ssp);
        let lo = f64::from(met[0]).log10();
        let hi = f64::from(*met.last().expect("metallicities")).log10();
        Self {
            met,
            domain: vec![(lo, hi), (-3.0, 0.0)],
        }
    }

    /// `["log10_met_max", "log10_frac"]`.
    pub fn param_names(&self) -> Vec<String> {
        vec!["log10_met_max".into(), "log10_frac".into()]
    }

    /// Model domain of the parameters.
    pub fn domain(&self) -> Vec<(f64, f64)> {
        self.domain.clone()
    }

    /// Metallicity weights (N, n_met, n_age) of parameters (N, 2) and the SFH (N, n_age) (any
    /// normalisation; mass or light weights as the SFH model gives them).
    pub fn forward(&self, p: Tensor<2>, sfh: Tensor<2>) -> Tensor<3> {
        let [n, n_age] = sfh.dims();
        let pw = pow10(p);
        let met_max = pw.clone().narrow(1, 0, 1);
        let frac = pw.narrow(1, 1, 1);
        let met_min =
            met_max.clone() - met_max.clone().sub_scalar(self.met[0]) * frac.neg().add_scalar(1.0);
        // csfh/total is scale invariant: an exact power-of-two rescaling keeps the derivative
        // −csfh/total² finite for large (mass-weighted) SFHs without changing any value.
        let csfh = rescale_pow2(sfh).cumsum(1);
        let total = csfh.clone().narrow(1, n_age - 1, 1);
        let csfh = (csfh / total).flip([1]);
        let met = met_min.clone() + (met_max - met_min) * csfh;
        let w = interp_weights(met.reshape([n * n_age, 1]), &self.met);
        let n_met = self.met.len();
        w.reshape([n, n_age, n_met]).swap_dims(1, 2)
    }
}

/// A metallicity model for [`CompositeGrid`](super::CompositeGrid).
#[derive(Debug, Clone, PartialEq)]
pub enum MhModel {
    /// One metallicity for all ages.
    Interpolated(InterpolatedMh),
    /// Closed-box enrichment following the SFH.
    ClosedBox(ClosedBoxMh),
}

impl MhModel {
    /// Parameter names (without component suffix).
    pub fn param_names(&self) -> Vec<String> {
        match self {
            MhModel::Interpolated(m) => m.param_names(),
            MhModel::ClosedBox(m) => m.param_names(),
        }
    }

    /// Model domain (default bounds) of the parameters.
    pub fn domain(&self) -> Vec<(f64, f64)> {
        match self {
            MhModel::Interpolated(m) => m.domain(),
            MhModel::ClosedBox(m) => m.domain(),
        }
    }

    /// Metallicity weights (N, n_met, 1 or n_age).
    pub fn forward(&self, p: Tensor<2>, sfh: Tensor<2>) -> Tensor<3> {
        match self {
            MhModel::Interpolated(m) => m.forward(p),
            MhModel::ClosedBox(m) => m.forward(p, sfh),
        }
    }
}
