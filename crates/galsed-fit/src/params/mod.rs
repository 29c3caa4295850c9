//! Parametrisations (spec §5.5; the reference's `parametrization.py`): a flat matrix of free
//! parameters (N, P) → the three model inputs `gp` (N, 7, unit space), `sfh_disk` and
//! `sfh_bulge` (N, 36 light fractions, k = 6·i_met + i_age).
//!
//! A [`Parametrization`] is made of three [`ParamBlock`]s (galaxy parameters, disk SFH, bulge
//! SFH — or one SFH block shared by both). Each block applies its [`Boundary`] condition to its
//! free parameters, inserts its fixed parameters and maps the result:
//!
//! * galaxy block — identity in unit space (the reference's `GalaxyParameter`); bounds and
//!   fixed values may be given in physical units;
//! * [`VanillaGrid`] — the 36 weights directly (optionally through the simplex transform);
//! * [`CompositeGrid`] — an SFH model ([`DiscreteSfh`], [`InterpolatedSfh`], [`AnalyticSfh`])
//!   times a metallicity model ([`InterpolatedMh`], [`ClosedBoxMh`]).
//!
//! Everything in [`Parametrization::apply`] is burn tensor arithmetic in float32 (as the
//! reference), so it runs on any device and gradients flow on an autodiff device. Interpolation
//! weights pick their segment with comparisons and are linear in the parameter inside it; the
//! clipping boundary has derivative 1 inside the bounds and 0 outside.
//!
//! [`Parametrization::apply_rows_traced`] and [`ParamTrace::vjp`] give the same derivatives
//! without burn-autodiff (a hand-written reverse pass with no global state), for gradients
//! computed on many threads at once.

use std::sync::Mutex;

use burn::prelude::*;
use galsed_core::ssp::SspLibrary;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod block;
mod boundary;
mod config;
mod mh;
mod sfh;
mod tensor;
mod vjp;

pub use block::{BlockKind, CompositeGrid, ParamBlock, VanillaGrid};
pub use boundary::{Boundary, CLIP_EPS};
pub use config::{DEFAULT_N_SUB, MhConfig, ParamConfig, SfhConfig};
pub use mh::{ClosedBoxMh, InterpolatedMh, MET_SOL, MhModel};
pub use sfh::{AnalyticKind, AnalyticSfh, DiscreteSfh, InterpolatedSfh, SfhModel};
pub use vjp::ParamTrace;

use tensor::{const2, to_vec};

/// Errors of building a parametrisation (bad configuration or bad library).
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// A name in `bounds` or `fixed` is not a parameter of the parametrisation.
    #[error("unknown parameter '{name}' (valid names: {valid})")]
    UnknownName {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A parameter was given both bounds and a fixed value.
    #[error("parameter '{name}' is both fixed and bounded; give one or the other")]
    FixedAndBounded {
        /// The parameter.
        name: String,
    },
    /// Bounds that are not finite or not increasing.
    #[error("bounds of '{name}' must be finite with lower < upper, got [{lo}, {hi}]")]
    InvalidBounds {
        /// The parameter.
        name: String,
        /// Lower bound given.
        lo: f64,
        /// Upper bound given.
        hi: f64,
    },
    /// Bounds outside the range where the model is defined.
    #[error("bounds [{lo}, {hi}] of '{name}' are outside the model's range [{min}, {max}]{unit}")]
    BoundsOutsideDomain {
        /// The parameter.
        name: String,
        /// Lower bound given.
        lo: f64,
        /// Upper bound given.
        hi: f64,
        /// Lowest allowed value.
        min: f64,
        /// Highest allowed value.
        max: f64,
        /// Unit of the values (with a leading space), or empty.
        unit: String,
    },
    /// A fixed value outside the range where the model is defined (or not finite).
    #[error("fixed value {value} of '{name}' is outside the model's range [{min}, {max}]{unit}")]
    FixedOutsideDomain {
        /// The parameter.
        name: String,
        /// Value given.
        value: f64,
        /// Lowest allowed value.
        min: f64,
        /// Highest allowed value.
        max: f64,
        /// Unit of the values (with a leading space), or empty.
        unit: String,
    },
    /// Invalid age bins of a discrete SFH.
    #[error("invalid SFH bins: {0}")]
    SfhBins(String),
    /// An SSP library the models cannot be built on.
    #[error("SSP library not usable for the parametrisation: {0}")]
    Ssp(String),
    /// Any other inconsistent setting.
    #[error("{0}")]
    Config(String),
}

/// The three inputs of the emulator for a batch of N parameter vectors.
#[derive(Debug, Clone)]
pub struct ModelInputs {
    /// Galaxy parameters in unit space, (N, 7).
    pub gp: Tensor<2>,
    /// Disk SFH: light fractions of the 36 SSPs, (N, 36).
    pub sfh_disk: Tensor<2>,
    /// Bulge SFH, (N, 36).
    pub sfh_bulge: Tensor<2>,
}

/// The seeded random stream of the absorbing boundary. Cloning copies the state, so clones
/// reproduce the same draws.
struct RngCell(Mutex<ChaCha8Rng>);

impl RngCell {
    fn new(seed: u64) -> Self {
        Self(Mutex::new(ChaCha8Rng::seed_from_u64(seed)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChaCha8Rng> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clone for RngCell {
    fn clone(&self) -> Self {
        Self(Mutex::new(self.lock().clone()))
    }
}

impl std::fmt::Debug for RngCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChaCha8Rng")
    }
}

/// Free parameters → model inputs: galaxy parameters plus disk and bulge SFHs.
///
/// The free parameters are ordered: galaxy parameters, disk SFH parameters, bulge SFH
/// parameters (none when the SFH is shared). Names are unique: galaxy parameters keep their
/// names, SFH parameters get `_disk`/`_bulge` appended (nothing when shared).
///
/// ```
/// use burn::prelude::*;
/// use galsed_fit::params::{ParamConfig, Parametrization, SfhConfig};
/// # let ssp = galsed_core::ssp::SspLibrary::new(
/// #     vec![0.1, 1.0], vec![1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 2e-2],
/// #     vec![3e6, 1e7, 3e7, 1e8, 1e9, 5e9], vec![1e6, 5e6, 2e7, 5e7, 3e8, 3e9, 1.4e10],
/// #     ndarray::Array3::ones((2, 6, 6)), ndarray::Array2::ones((6, 6)),
/// #     (0..300).map(|i| 0.1 * 1.03f64.powi(i)).collect(),
/// # ).unwrap();
/// // `ssp` is the SSP library (galsed_core::ssp::SspLibrary) of the model.
/// let param = Parametrization::tutorial(&ssp);
/// assert_eq!(param.n_params(), 11);
/// assert_eq!(param.names()[7], "log_tau_disk");
///
/// // Two rows of parameters → model inputs (unit-space gp, 36 SSP weights per component).
/// let device = Device::flex();
/// let p = Tensor::<2>::from_data(
///     TensorData::new(vec![0.1f32, 0.2, 0.3, 0.0, -0.2, 0.5, -0.4, 8.0, -1.0, 9.5, 0.0,
///                          0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, -0.5, 9.0, -2.0], [2, 11]),
///     &device,
/// );
/// let inputs = param.apply(p);
/// assert_eq!(inputs.sfh_disk.dims(), [2, 36]);
/// let total: f32 = inputs.sfh_bulge.sum().into_scalar();
/// assert!((total - 2.0).abs() < 1e-5); // light fractions sum to 1 per row
///
/// // A configuration (as read from TOML): exponential SFH, inclination in degrees.
/// let mut cfg = ParamConfig::default();
/// cfg.sfh = SfhConfig::Exponential { n_sub: 16 };
/// cfg.bounds.insert("theta".into(), [10.0, 60.0]);
/// cfg.fixed.insert("r_bulge".into(), 1.0);
/// let param = Parametrization::from_config(&cfg, &ssp).unwrap();
/// assert_eq!(param.names()[5], "b_to_t"); // r_bulge is fixed
/// assert!(param.names().contains(&"log10_t0_bulge".to_string()));
/// ```
#[derive(Debug, Clone)]
pub struct Parametrization {
    gp: ParamBlock,
    sfh_disk: ParamBlock,
    sfh_bulge: Option<ParamBlock>,
    rng: RngCell,
}

impl Parametrization {
    /// Assembles a parametrisation from its blocks. `sfh_bulge = None` shares the disk SFH
    /// block (and its parameters) with the bulge. `seed` seeds the absorbing boundary's stream.
    pub fn new(
        gp: ParamBlock,
        sfh_disk: ParamBlock,
        sfh_bulge: Option<ParamBlock>,
        seed: u64,
    ) -> Result<Self, ParamError> {
        if *gp.kind() != BlockKind::Galaxy {
            return Err(ParamError::Config(
                "the first block must be the galaxy-parameter block".into(),
            ));
        }
        for b in std::iter::once(&sfh_disk).chain(sfh_bulge.as_ref()) {
            if *b.kind() == BlockKind::Galaxy {
                return Err(ParamError::Config(
                    "an SFH block cannot be a galaxy-parameter block".into(),
                ));
            }
        }
        if let Some(b) = &sfh_bulge
            && b.output_width() != sfh_disk.output_width()
        {
            return Err(ParamError::Config(format!(
                "disk and bulge SFH widths differ ({} and {})",
                sfh_disk.output_width(),
                b.output_width()
            )));
        }
        let p = Self {
            gp,
            sfh_disk,
            sfh_bulge,
            rng: RngCell::new(seed),
        };
        if p.n_params() == 0 {
            return Err(ParamError::Config(
                "every parameter is fixed; nothing to fit".into(),
            ));
        }
        Ok(p)
    }

    /// The reference tutorial's parametrisation: `GalaxyParameter()` and
    /// `CompositeGrid(InterpolatedSFH, InterpolatedMH)` for disk and bulge, clipping, 11
    /// parameters [theta, den_dust, r_dust_to_rd, r_disk, r_bulge, l_norm, b_to_t,
    /// log_tau_disk, log_met_disk, log_tau_bulge, log_met_bulge].
    ///
    /// # Panics
    /// If the library has fewer than two ages or metallicities (the built-in one has six each).
    pub fn tutorial(ssp: &SspLibrary) -> Self {
        Self::from_config(&ParamConfig::tutorial(), ssp).expect(
            "the tutorial set-up needs an SSP library with at least 2 ages and 2 metallicities",
        )
    }

    /// Builds the parametrisation a configuration describes, checking every name, bound and
    /// option.
    pub fn from_config(cfg: &ParamConfig, ssp: &SspLibrary) -> Result<Self, ParamError> {
        check_library(ssp)?;
        let mut gp = ParamBlock::galaxy(cfg.boundary);
        let sfh_block = sfh_block(cfg, ssp)?;
        let (mut disk, mut bulge) = if cfg.shared_sfh {
            (sfh_block, None)
        } else {
            (sfh_block.clone(), Some(sfh_block))
        };

        // User-facing name → (block, name within the block).
        enum Which {
            Gp,
            Disk,
            Bulge,
        }
        let disk_suffix = if cfg.shared_sfh { "" } else { "_disk" };
        let mut lookup: Vec<(String, Which, String)> = Vec::new();
        for n in gp.all_names() {
            lookup.push((n.clone(), Which::Gp, n.clone()));
        }
        for n in disk.all_names() {
            lookup.push((format!("{n}{disk_suffix}"), Which::Disk, n.clone()));
        }
        if let Some(b) = &bulge {
            for n in b.all_names() {
                lookup.push((format!("{n}_bulge"), Which::Bulge, n.clone()));
            }
        }
        let valid = || {
            lookup
                .iter()
                .map(|l| l.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let find = |name: &str| {
            lookup
                .iter()
                .find(|l| l.0 == name)
                .ok_or_else(|| ParamError::UnknownName {
                    name: name.to_string(),
                    valid: valid(),
                })
        };
        // Errors from the blocks name the parameter as the user wrote it.
        let rename = |e: ParamError, user: &str| match e {
            ParamError::InvalidBounds { lo, hi, .. } => ParamError::InvalidBounds {
                name: user.into(),
                lo,
                hi,
            },
            ParamError::BoundsOutsideDomain {
                lo,
                hi,
                min,
                max,
                unit,
                ..
            } => ParamError::BoundsOutsideDomain {
                name: user.into(),
                lo,
                hi,
                min,
                max,
                unit,
            },
            ParamError::FixedOutsideDomain {
                value,
                min,
                max,
                unit,
                ..
            } => ParamError::FixedOutsideDomain {
                name: user.into(),
                value,
                min,
                max,
                unit,
            },
            e => e,
        };

        for (name, &value) in &cfg.fixed {
            if cfg.bounds.contains_key(name) {
                return Err(ParamError::FixedAndBounded { name: name.clone() });
            }
            let (_, which, local) = find(name)?;
            let r = match which {
                Which::Gp => gp.fix_physical(local, value),
                Which::Disk => disk.fix(local, value),
                Which::Bulge => bulge.as_mut().expect("bulge block").fix(local, value),
            };
            r.map_err(|e| rename(e, name))?;
        }
        for (name, &[lo, hi]) in &cfg.bounds {
            let (_, which, local) = find(name)?;
            let r = match which {
                Which::Gp => gp.set_physical_bounds(local, lo, hi),
                Which::Disk => disk.set_bounds(local, lo, hi),
                Which::Bulge => bulge
                    .as_mut()
                    .expect("bulge block")
                    .set_bounds(local, lo, hi),
            };
            r.map_err(|e| rename(e, name))?;
        }
        Self::new(gp, disk, bulge, cfg.seed)
    }

    /// Number of free parameters P.
    pub fn n_params(&self) -> usize {
        self.blocks().map(ParamBlock::n_free).sum()
    }

    /// Unique names of the free parameters, in input order.
    pub fn names(&self) -> Vec<String> {
        let mut v = self.gp.free_names();
        let disk_suffix = if self.sfh_bulge.is_some() {
            "_disk"
        } else {
            ""
        };
        v.extend(
            self.sfh_disk
                .free_names()
                .into_iter()
                .map(|n| format!("{n}{disk_suffix}")),
        );
        if let Some(b) = &self.sfh_bulge {
            v.extend(b.free_names().into_iter().map(|n| format!("{n}_bulge")));
        }
        v
    }

    /// Position of a free parameter by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names().iter().position(|n| n == name)
    }

    /// Working bounds (lo, hi) of the free parameters, in input order (galaxy parameters in unit
    /// space).
    pub fn bounds(&self) -> Vec<(f64, f64)> {
        self.blocks().flat_map(ParamBlock::free_bounds).collect()
    }

    /// The galaxy-parameter block.
    pub fn galaxy_block(&self) -> &ParamBlock {
        &self.gp
    }

    /// The disk SFH block (also the bulge's when shared).
    pub fn sfh_disk_block(&self) -> &ParamBlock {
        &self.sfh_disk
    }

    /// The bulge SFH block (the disk's when shared).
    pub fn sfh_bulge_block(&self) -> &ParamBlock {
        self.sfh_bulge.as_ref().unwrap_or(&self.sfh_disk)
    }

    /// Whether disk and bulge share one SFH parametrisation.
    pub fn shared_sfh(&self) -> bool {
        self.sfh_bulge.is_none()
    }

    /// Restarts the absorbing boundary's random stream from `seed`.
    pub fn reseed(&self, seed: u64) {
        *self.rng.lock() = ChaCha8Rng::seed_from_u64(seed);
    }

    fn blocks(&self) -> impl Iterator<Item = &ParamBlock> {
        [
            Some(&self.gp),
            Some(&self.sfh_disk),
            self.sfh_bulge.as_ref(),
        ]
        .into_iter()
        .flatten()
    }

    /// Maps parameters (N, P) to the model inputs, on the device of `p`. Differentiable: works
    /// on `Device::flex()` and on `Device::flex().autodiff()`. The absorbing boundary draws from
    /// the parametrisation's own seeded stream.
    ///
    /// # Panics
    /// If `p` does not have [`Parametrization::n_params`] columns.
    pub fn apply(&self, p: Tensor<2>) -> ModelInputs {
        if self.absorbing() {
            let mut rng = self.rng.lock();
            self.apply_with_rng(p, &mut *rng)
        } else {
            self.apply_with_rng(p, &mut NoRng)
        }
    }

    /// [`Parametrization::apply`] with an explicit random stream for the absorbing boundary.
    ///
    /// # Panics
    /// If `p` does not have [`Parametrization::n_params`] columns.
    pub fn apply_with_rng<R: Rng + ?Sized>(&self, p: Tensor<2>, rng: &mut R) -> ModelInputs {
        let [n, w] = p.dims();
        assert_eq!(
            w,
            self.n_params(),
            "expected {} parameter columns ({:?})",
            self.n_params(),
            self.names()
        );
        let device = p.device();
        let mut offset = 0;
        let mut take = |k: usize| {
            let t = (k > 0).then(|| p.clone().narrow(1, offset, k));
            offset += k;
            t
        };
        let p_gp = take(self.gp.n_free());
        let p_disk = take(self.sfh_disk.n_free());
        let p_bulge = self.sfh_bulge.as_ref().map(|b| take(b.n_free()));
        let gp = self.gp.apply_with_rng(p_gp, n, &device, rng);
        let sfh_disk = self.sfh_disk.apply_with_rng(p_disk, n, &device, rng);
        let sfh_bulge = match (&self.sfh_bulge, p_bulge) {
            (Some(b), Some(p)) => b.apply_with_rng(p, n, &device, rng),
            _ => sfh_disk.clone(),
        };
        ModelInputs {
            gp,
            sfh_disk,
            sfh_bulge,
        }
    }

    /// For gradient-free callers: rows of parameters → row-major float32 (gp (N·7),
    /// sfh_disk (N·36), sfh_bulge (N·36)), computed on `Device::flex()`.
    ///
    /// # Panics
    /// If `p` does not have [`Parametrization::n_params`] columns.
    pub fn apply_rows(&self, p: ndarray::ArrayView2<f64>) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        if self.checked_rows(p) == 0 {
            return (Vec::new(), Vec::new(), Vec::new());
        }
        if self.absorbing() {
            let mut rng = self.rng.lock();
            self.apply_rows_with_rng(p, &mut *rng)
        } else {
            self.apply_rows_with_rng(p, &mut NoRng)
        }
    }

    /// The number of rows of `p`, after checking its width.
    pub(super) fn checked_rows(&self, p: ndarray::ArrayView2<f64>) -> usize {
        assert_eq!(
            p.ncols(),
            self.n_params(),
            "expected {} parameter columns",
            self.n_params()
        );
        p.nrows()
    }

    /// [`Parametrization::apply_rows`] with an explicit random stream (N ≥ 1 rows, checked
    /// width).
    fn apply_rows_with_rng<R: Rng + ?Sized>(
        &self,
        p: ndarray::ArrayView2<f64>,
        rng: &mut R,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let data: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let device = Device::flex();
        let out = self.apply_with_rng(const2(data, [p.nrows(), p.ncols()], &device), rng);
        (to_vec(out.gp), to_vec(out.sfh_disk), to_vec(out.sfh_bulge))
    }

    /// Whether any block draws from the random stream (absorbing boundary).
    fn absorbing(&self) -> bool {
        self.blocks().any(|b| b.boundary() == Boundary::Absorbing)
    }

    /// Whether a parameter vector lies outside the open box of the bounds (any p ≤ lo or
    /// p ≥ hi, or a NaN), like the reference's `check_bounds`.
    ///
    /// # Panics
    /// If `row` does not have [`Parametrization::n_params`] values.
    pub fn out_of_bounds(&self, row: &[f64]) -> bool {
        assert_eq!(
            row.len(),
            self.n_params(),
            "expected {} parameters",
            self.n_params()
        );
        row.iter()
            .zip(self.bounds())
            .any(|(&v, (lo, hi))| !(v > lo && v < hi))
    }
}

/// A random stream for calls that never draw (no absorbing boundary).
struct NoRng;

impl rand::TryRng for NoRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("only the absorbing boundary draws random numbers")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("only the absorbing boundary draws random numbers")
    }
    fn try_fill_bytes(&mut self, _dst: &mut [u8]) -> Result<(), Self::Error> {
        unreachable!("only the absorbing boundary draws random numbers")
    }
}

fn check_library(ssp: &SspLibrary) -> Result<(), ParamError> {
    if ssp.n_age() < 2 || ssp.n_met() < 2 {
        return Err(ParamError::Ssp(format!(
            "need at least 2 ages and 2 metallicities, got {} and {}",
            ssp.n_age(),
            ssp.n_met()
        )));
    }
    if ssp.tau_edges.len() != ssp.n_age() + 1 || ssp.norm.dim() != (ssp.n_met(), ssp.n_age()) {
        return Err(ParamError::Ssp(
            "tau_edges or norm do not match the age/metallicity axes".into(),
        ));
    }
    let positive = |v: &[f64]| {
        v.iter().all(|&x| x.is_finite() && x > 0.0) && v.windows(2).all(|w| w[0] < w[1])
    };
    if !positive(&ssp.tau) || !positive(&ssp.met) || !positive(&ssp.tau_edges) {
        return Err(ParamError::Ssp(
            "ages, age edges and metallicities must be positive and increasing".into(),
        ));
    }
    Ok(())
}

/// The SFH block a configuration describes.
fn sfh_block(cfg: &ParamConfig, ssp: &SspLibrary) -> Result<ParamBlock, ParamError> {
    let sfh = match &cfg.sfh {
        SfhConfig::Vanilla { simplex } => {
            if cfg.mh.is_some() {
                return Err(ParamError::Config(
                    "a metallicity model cannot be combined with sfh.model = \"vanilla\" (its 36 weights already cover every metallicity)".into(),
                ));
            }
            return Ok(ParamBlock::vanilla(
                VanillaGrid::new(ssp, *simplex),
                cfg.boundary,
            ));
        }
        SfhConfig::Discrete { bins, simplex } => {
            let bins = bins
                .as_ref()
                .map(|b| b.iter().map(|&[s, e]| (s, e)).collect());
            SfhModel::Discrete(DiscreteSfh::new(ssp.n_age(), bins, *simplex)?)
        }
        SfhConfig::Interpolated {} => SfhModel::Interpolated(InterpolatedSfh::new(ssp)),
        SfhConfig::Exponential { n_sub } => {
            SfhModel::Analytic(AnalyticSfh::new(AnalyticKind::Exponential, ssp, *n_sub)?)
        }
        SfhConfig::DelayedExponential { n_sub } => SfhModel::Analytic(AnalyticSfh::new(
            AnalyticKind::DelayedExponential,
            ssp,
            *n_sub,
        )?),
    };
    let mh = match cfg.mh.unwrap_or_default() {
        MhConfig::Interpolated {} => MhModel::Interpolated(InterpolatedMh::new(ssp)),
        MhConfig::ClosedBox {} => MhModel::ClosedBox(ClosedBoxMh::new(ssp)),
    };
    Ok(ParamBlock::composite(
        CompositeGrid::new(sfh, mh, ssp),
        cfg.boundary,
    ))
}
