//! Serde description of a parametrisation (read from TOML by the command-line tool).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::boundary::Boundary;

/// Default number of sub-steps per age bin of the analytic SFH models (the reference's 16).
pub const DEFAULT_N_SUB: usize = 16;

fn default_n_sub() -> usize {
    DEFAULT_N_SUB
}

/// A parametrisation: boundary condition, SFH and metallicity models, bounds and fixed values.
///
/// `Default` is galsed's set-up for real galaxies: clipping, the seven galaxy parameters free in
/// their full range, and for disk and bulge separately one simplex weight per SSP age (any
/// star-formation history on the library's six age bins, [`SfhConfig::Discrete`] with
/// `simplex = true`) and one interpolated metallicity (21 parameters). It contains the
/// tutorial's single ages and the paper's merged bins as special cases; why it is the default is
/// in `docs/fitting.md` ("Which SFH"). [`ParamConfig::tutorial`] is the reference tutorial's
/// set-up (11 parameters).
///
/// Bounds and fixed values are keyed by the user-facing parameter names of
/// [`Parametrization::names`](super::Parametrization::names): galaxy parameters in physical
/// units (`theta` \[deg\], `den_dust` [M_sun/kpc²], `r_dust_to_rd`, `r_disk` \[kpc\], `r_bulge`
/// \[kpc\], `l_norm` \[L_sun\], `b_to_t`), SFH/MH parameters in their own units with the suffix
/// `_disk`/`_bulge` (no suffix with `shared_sfh`), e.g. `log_tau_disk`, `log_met_bulge`.
///
/// ```toml
/// boundary = "clipping"        # clipping | reflecting | absorbing | none
/// seed = 0                     # random stream of the absorbing boundary
/// shared_sfh = false           # one SFH parametrisation for disk and bulge
///
/// [sfh]
/// model = "delayed_exponential" # discrete | interpolated | exponential | delayed_exponential | vanilla
/// n_sub = 16
///
/// [mh]
/// model = "closed_box"          # interpolated | closed_box (not with sfh.model = "vanilla")
///
/// [bounds]
/// theta = [10.0, 60.0]
/// l_norm = [1e8, 1e11]
/// log10_t0_disk = [8.0, 10.1]
///
/// [fixed]
/// r_bulge = 1.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ParamConfig {
    /// Boundary condition of every free parameter.
    pub boundary: Boundary,
    /// Seed of the random stream used by [`Boundary::Absorbing`].
    pub seed: u64,
    /// Use one SFH parametrisation (and one set of parameters) for both disk and bulge.
    pub shared_sfh: bool,
    /// The SFH model (of each of disk and bulge).
    pub sfh: SfhConfig,
    /// The metallicity model; `None` = interpolated. Not allowed with `sfh.model = "vanilla"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mh: Option<MhConfig>,
    /// Working bounds `[lo, hi]` by parameter name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bounds: BTreeMap<String, [f64; 2]>,
    /// Fixed values by parameter name (these parameters are not free).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fixed: BTreeMap<String, f64>,
}

impl ParamConfig {
    /// The reference tutorial's set-up: `CompositeGrid(InterpolatedSFH, InterpolatedMH)` for
    /// disk and bulge separately (one age and one metallicity each), 11 parameters.
    pub fn tutorial() -> Self {
        Self {
            sfh: SfhConfig::Interpolated {},
            ..Self::default()
        }
    }
}

/// The SFH model of a [`ParamConfig`] (`model = "…"` plus the model's options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum SfhConfig {
    /// [`DiscreteSfh`](super::DiscreteSfh): free weights in age bins `[[start, end), …]`
    /// (indices into the 6 library ages; no bins = one weight per age).
    Discrete {
        /// Age-index ranges `[start, end]` (end exclusive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bins: Option<Vec<[usize; 2]>>,
        /// Map the unit cube onto the simplex (weights sum to 1).
        #[serde(default)]
        simplex: bool,
    },
    /// [`InterpolatedSfh`](super::InterpolatedSfh): one age, `log_tau`. (An empty struct
    /// variant so that unknown options are refused.)
    Interpolated {},
    /// [`AnalyticSfh`](super::AnalyticSfh), exponential: `log10_tau`, `log10_t0`.
    Exponential {
        /// Sub-steps per age bin.
        #[serde(default = "default_n_sub")]
        n_sub: usize,
    },
    /// [`AnalyticSfh`](super::AnalyticSfh), delayed exponential: `log10_tau`, `log10_t0`.
    DelayedExponential {
        /// Sub-steps per age bin.
        #[serde(default = "default_n_sub")]
        n_sub: usize,
    },
    /// [`VanillaGrid`](super::VanillaGrid): the 36 SSP weights `sfr_0 … sfr_35` directly.
    Vanilla {
        /// Map the unit cube onto the simplex (weights sum to 1).
        #[serde(default)]
        simplex: bool,
    },
}

/// The metallicity model of a [`ParamConfig`] (`model = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum MhConfig {
    /// [`InterpolatedMh`](super::InterpolatedMh): one metallicity, `log_met`. (Empty struct
    /// variants so that unknown options are refused.)
    Interpolated {},
    /// [`ClosedBoxMh`](super::ClosedBoxMh): `log10_met_max`, `log10_frac`.
    ClosedBox {},
}

/// galsed's default SFH model: one simplex weight per SSP age (`discrete`, `simplex = true`).
impl Default for SfhConfig {
    fn default() -> Self {
        SfhConfig::Discrete {
            bins: None,
            simplex: true,
        }
    }
}

/// The tutorial's metallicity model, `interpolated`.
impl Default for MhConfig {
    fn default() -> Self {
        MhConfig::Interpolated {}
    }
}
