//! Converter from semi-analytic-model (SAM) galaxy properties to Starduster inputs (spec §5.6):
//! the reference's `SemiAnalyticConventer`, reproduced bit for bit.
//!
//! A SAM describes a galaxy by its inclination, dust mass and radii, and the stellar mass and
//! metal mass formed in each of its own age bins, separately for the disk and the bulge. The
//! emulator wants unit-space galaxy parameters and two light-weighted SFHs over the 36 SSPs of
//! the library. The conversion:
//!
//! 1. den_dust = m_dust/(2π r_dust²), r_dust_to_rd = r_dust/r_disk; masses and metal masses are
//!    multiplied by 1/(1 − frac_recycle) (the SAM gives the mass still in stars; the SSP
//!    normalisation counts the mass ever formed).
//! 2. The SAM ages are projected on the library ages with a fixed `n_bins × n_age` matrix
//!    ([`SamConverter::tau_matrix`]): by overlap time for age bins ([`AgeBins::Step`]), by linear
//!    interpolation between library ages for instantaneous ages ([`AgeBins::Instant`]).
//! 3. Z = metal/mass per library age (0 where the mass is 0), clamped into the library's
//!    metallicity range and spread over the two neighbouring metallicities by linear weights.
//! 4. light = mass · norm per SSP (float32); l_norm = Σ light; sfh = light/l_norm (all 1/36
//!    for a component without stars).
//! 5. l_norm = l_norm_disk + l_norm_bulge, b_to_t = l_norm_bulge/l_norm, and the seven
//!    parameters go through the forward transforms of §3.1 without clipping.
//!
//! # Precision
//!
//! The reference mixes float64 NumPy and float32 torch, and the SFH weights feed a float32
//! model, so the precision of every step is copied from it (each one was confirmed against the
//! golden files, which are reproduced bit for bit):
//!
//! * library ages, age edges, metallicities and `norm` are the float32 roundings of the
//!   library's values (the reference keeps them as float32 tensors);
//! * differences of two library values (age-bin widths, the gap between two metallicities or
//!   two ages) are float32 differences, everything else in steps 1–3 is float64, and the age
//!   matrix and the metallicity weights are rounded to float32;
//! * step 4 is float32; l_norm is summed in the order of torch's AVX2 reduction kernel
//!   (eight lanes over elements 0–31, then elements 32–35, then the lanes);
//! * l_norm and b_to_t are float32, the transforms float64, and the reference finally rounds
//!   gp to float32 — which `galsed_emulator::inputs::Batch::new` does, so [`SamInputs::gp`]
//!   keeps the float64 values.
//!
//! The summation order is that of the machine the golden files were made on (AVX2 kernels); a
//! torch run on AVX-512 kernels would sum l_norm in another order (a few float32 ulps apart).

use std::f64::consts::PI;

use ndarray::Array2;

use crate::params::{GALAXY_PARAMS, Transform};
use crate::ssp::SspLibrary;

/// Number of SSPs (metallicities × ages) of an SFH vector.
pub const N_SSP: usize = 36;

/// Unit-space value returned for a parameter whose reference value is −∞ (zero dust mass,
/// zero bulge radius, or a ratio that underflows): the reference's input adapter clips −∞ to
/// −(1 − 10⁻⁶), and so does it clip −1, so the SED is identical while the value stays finite
/// (`Batch::new` rejects non-finite values) and inside the model's range.
pub const UNIT_BELOW_RANGE: f64 = -1.0;

/// Unit-space value returned for a parameter whose reference value is +∞ (a density or ratio
/// that overflows float64); clipped to 1 − 10⁻⁶ like +∞.
pub const UNIT_ABOVE_RANGE: f64 = 1.0;

/// Ages of the SAM's star-formation history columns.
#[derive(Debug, Clone, PartialEq)]
pub enum AgeBins {
    /// n+1 bin edges \[yr\], strictly increasing (step mode).
    Step(Vec<f64>),
    /// n instantaneous ages \[yr\], strictly increasing (instant mode).
    Instant(Vec<f64>),
}

impl AgeBins {
    /// Number of SAM age columns these bins describe (0 for an empty/degenerate list).
    pub fn n_bins(&self) -> usize {
        match self {
            AgeBins::Step(e) => e.len().saturating_sub(1),
            AgeBins::Instant(a) => a.len(),
        }
    }
}

/// Errors of the SAM converter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamError {
    /// The age bins are unusable (the converter cannot be built).
    #[error("invalid SAM age bins: {0}")]
    AgeBins(String),
    /// The recycled fraction is not in [0, 1).
    #[error("frac_recycle = {0} must be finite and in [0, 1)")]
    FracRecycle(f64),
    /// The SSP library cannot be used by the converter.
    #[error("SSP library unusable for the SAM converter: {0}")]
    Library(String),
    /// One galaxy cannot be converted; the message names the offending field.
    #[error("{0}")]
    InvalidRow(String),
}

/// Converts SAM galaxies into emulator inputs. Building it precomputes the age matrix and the
/// float32 library tables; [`convert`](Self::convert) then works on one galaxy without
/// allocating.
///
/// ```
/// use galsed_core::sam::{AgeBins, SamConverter, SamGalaxy};
/// use galsed_core::ssp::SspLibrary;
/// use ndarray::{Array2, Array3};
///
/// // A toy library: 6 metallicities × 6 ages, every SSP with 1 L_sun per M_sun.
/// let lib = SspLibrary {
///     lam: vec![0.1, 1.0],
///     met: vec![1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
///     tau: vec![2e6, 1e7, 5e7, 2e8, 1e9, 6e9],
///     tau_edges: vec![1e6, 5e6, 2.5e7, 1e8, 5e8, 3e9, 1.4e10],
///     flx: Array3::zeros((2, 6, 6)),
///     norm: Array2::ones((6, 6)),
///     lam_main: vec![0.1, 1.0],
/// };
/// // Two SAM bins: 1–5 Myr (one library bin) and 5 Myr–1 Gyr (spread over four).
/// let conv = SamConverter::new(&lib, AgeBins::Step(vec![1e6, 5e6, 1e9]), 0.0).unwrap();
/// assert_eq!(conv.n_bins(), 2);
/// let g = SamGalaxy {
///     theta_deg: 60.0, m_dust: 1e7, r_dust: 4.0, r_disk: 3.0, r_bulge: 1.0,
///     mass_disk: &[1e8, 3e9], metal_disk: &[2e6, 6e7],   // Z = 0.02
///     mass_bulge: &[0.0, 0.0], metal_bulge: &[0.0, 0.0], // no bulge
/// };
/// let inputs = conv.convert(&g).unwrap();
/// assert!((inputs.l_norm_disk - 3.1e9).abs() < 1e3);
/// assert_eq!(inputs.l_norm_bulge, 0.0);
/// assert_eq!(inputs.sfh_bulge, [f64::from(1.0f32 / 36.0); 36]); // empty component: uniform
/// assert_eq!(inputs.gp[6], -1.0);                          // b_to_t = 0
/// assert!((inputs.sfh_disk.iter().sum::<f64>() - 1.0).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct SamConverter {
    ages: AgeBins,
    frac_recycle: f64,
    /// 1/(1 − frac_recycle).
    mass_scale: f64,
    n_bins: usize,
    n_met: usize,
    n_age: usize,
    tau_matrix: Array2<f32>,
    /// `tau_matrix` as float64, row-major (n_bins × n_age).
    matrix: Vec<f64>,
    /// Float32 metallicities (as f64).
    met: Vec<f64>,
    /// `met_gap\[k\]` = float32(met\[k\] − met[k−1]) for k ≥ 1 (`met_gap[0]` unused).
    met_gap: Vec<f64>,
    /// Float32 `norm`, flattened metallicity-major.
    norm: [f32; N_SSP],
}

/// One SAM galaxy. Masses are per SAM age column, in the order of the converter's bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamGalaxy<'a> {
    /// Inclination \[deg\] (0 = face-on).
    pub theta_deg: f64,
    /// Dust mass \[M_sun\].
    pub m_dust: f64,
    /// Dust-disk scale radius \[kpc\].
    pub r_dust: f64,
    /// Stellar-disk scale radius \[kpc\].
    pub r_disk: f64,
    /// Bulge radius \[kpc\].
    pub r_bulge: f64,
    /// Stellar mass formed in each age bin, disk \[M_sun\].
    pub mass_disk: &'a [f64],
    /// Metal mass in each age bin, disk \[M_sun\].
    pub metal_disk: &'a [f64],
    /// Stellar mass formed in each age bin, bulge \[M_sun\].
    pub mass_bulge: &'a [f64],
    /// Metal mass in each age bin, bulge \[M_sun\].
    pub metal_bulge: &'a [f64],
}

/// Emulator inputs of one galaxy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamInputs {
    /// Unit-space galaxy parameters, NOT clipped (feed to `Batch::new` with
    /// `OutOfRange::Clip`, which rounds them to float32 exactly as the reference does). Where the
    /// reference produces ±∞ (zero dust mass, zero bulge radius, over/underflow) this holds
    /// [`UNIT_BELOW_RANGE`] / [`UNIT_ABOVE_RANGE`], which clip to the same values.
    pub gp: [f64; 7],
    /// Disk light fractions over the 36 SSPs (k = 6·i_met + i_age); float32 values.
    pub sfh_disk: [f64; N_SSP],
    /// Bulge light fractions; float32 values.
    pub sfh_bulge: [f64; N_SSP],
    /// Intrinsic bolometric luminosity of the disk \[L_sun\] (float32 value).
    pub l_norm_disk: f64,
    /// Intrinsic bolometric luminosity of the bulge \[L_sun\] (float32 value).
    pub l_norm_bulge: f64,
}

impl SamInputs {
    /// Total intrinsic luminosity \[L_sun\], the float32 sum the reference transforms into `gp[5]`.
    pub fn l_norm(&self) -> f64 {
        f64::from(self.l_norm_disk as f32 + self.l_norm_bulge as f32)
    }

    /// Bulge-to-total luminosity ratio, the float32 value the reference transforms into `gp[6]`.
    pub fn b_to_t(&self) -> f64 {
        let l = self.l_norm_disk as f32 + self.l_norm_bulge as f32;
        f64::from(self.l_norm_bulge as f32 / l)
    }
}

fn f32r(x: f64) -> f64 {
    f64::from(x as f32)
}

/// Python's `bisect_left` / NumPy's `searchsorted(side="left")`: the number of values < x.
fn bisect_left(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|&v| v < x)
}

fn check_axis(name: &str, v: &[f64], min_len: usize) -> Result<(), SamError> {
    if v.len() < min_len {
        return Err(SamError::Library(format!(
            "`{name}` has {} values, needs ≥ {min_len}",
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) || v.windows(2).any(|w| w[0] >= w[1]) {
        return Err(SamError::Library(format!(
            "`{name}` must be finite and strictly increasing"
        )));
    }
    Ok(())
}

fn check_bins(what: &str, v: &[f64], min_len: usize) -> Result<(), SamError> {
    if v.len() < min_len {
        return Err(SamError::AgeBins(format!(
            "{} {what} given, need at least {min_len}",
            v.len()
        )));
    }
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(SamError::AgeBins(format!(
            "{what}[{i}] = {x} is not finite"
        )));
    }
    if let Some(i) = v.windows(2).position(|w| w[0] >= w[1]) {
        return Err(SamError::AgeBins(format!(
            "{what} must be strictly increasing: [{i}] = {} ≥ [{}] = {}",
            v[i],
            i + 1,
            v[i + 1]
        )));
    }
    Ok(())
}

/// Step mode: each SAM bin spread over the library bins by overlap time / bin width; the parts
/// below the first or above the last library edge go to the first/last library bin. A bin
/// entirely outside the library is refused, as by the reference.
fn step_matrix(edges_in: &[f64], tau_edges: &[f64], n_age: usize) -> Result<Array2<f32>, SamError> {
    let edges: Vec<f64> = tau_edges.iter().map(|&e| f32r(e)).collect();
    let n_edge = edges.len();
    let d_base: Vec<f64> = edges
        .windows(2)
        .map(|w| f64::from(w[1] as f32 - w[0] as f32))
        .collect();
    let n_bins = edges_in.len() - 1;
    let mut m = Array2::<f32>::zeros((n_bins, n_age));
    let mut d_tau = vec![0.0f64; n_age];
    for i in 0..n_bins {
        let (lo, hi) = (edges_in[i], edges_in[i + 1]);
        let dt = hi - lo;
        let mut il = bisect_left(&edges, lo);
        let mut iu = bisect_left(&edges, hi);
        if il == 0 {
            if iu == 0 {
                return Err(SamError::AgeBins(format!(
                    "bin {i} [{lo:e}, {hi:e}] yr is entirely younger than the library's first age edge {:e} yr",
                    edges[0]
                )));
            }
            il = 1;
        }
        if iu == n_edge {
            if il == n_edge {
                return Err(SamError::AgeBins(format!(
                    "bin {i} [{lo:e}, {hi:e}] yr is entirely older than the library's last age edge {:e} yr",
                    edges[n_edge - 1]
                )));
            }
            iu = n_edge - 1;
        }
        let mut row = m.row_mut(i);
        if iu == il {
            row[il - 1] = 1.0;
        } else {
            d_tau.iter_mut().for_each(|v| *v = 0.0);
            d_tau[il..iu - 1].copy_from_slice(&d_base[il..iu - 1]);
            d_tau[il - 1] = edges[il] - lo;
            d_tau[iu - 1] = hi - edges[iu - 1];
            for (r, &d) in row.iter_mut().zip(&d_tau) {
                *r = (d / dt) as f32;
            }
        }
    }
    Ok(m)
}

/// Instant mode: linear interpolation in age between the bracketing library ages (upper weight
/// (t − τ_lo)/float32(τ_hi − τ_lo), lower weight 1 − upper), one-hot on the first/last age
/// outside the library range and at an exact library age.
fn instant_matrix(ages: &[f64], tau: &[f64]) -> Array2<f32> {
    let tau: Vec<f64> = tau.iter().map(|&t| f32r(t)).collect();
    let last = tau.len() - 1;
    let mut m = Array2::<f32>::zeros((ages.len(), tau.len()));
    for (i, &t) in ages.iter().enumerate() {
        let mut row = m.row_mut(i);
        if t <= tau[0] {
            row[0] = 1.0;
        } else if t >= tau[last] {
            row[last] = 1.0;
        } else {
            let k = bisect_left(&tau, t);
            if tau[k] == t {
                row[k] = 1.0;
            } else {
                let gap = f64::from(tau[k] as f32 - tau[k - 1] as f32);
                let w_hi = (t - tau[k - 1]) / gap;
                row[k] = w_hi as f32;
                row[k - 1] = (1.0 - w_hi) as f32;
            }
        }
    }
    m
}

/// Sum of 36 float32 values in the order of torch's vectorised (AVX2, 8 lanes) inner-sum
/// kernel, which the reference's `sum(dim=(1, 2))` over (6, 6) used.
fn torch_sum36(v: &[f32; N_SSP]) -> f32 {
    let mut lanes = [0.0f32; 8];
    lanes.copy_from_slice(&v[0..8]);
    for block in 1..4 {
        for (l, &x) in lanes.iter_mut().zip(&v[8 * block..8 * block + 8]) {
            *l += x;
        }
    }
    let mut s = 0.0f32;
    for &x in &v[32..] {
        s += x;
    }
    for &l in &lanes {
        s += l;
    }
    s
}

fn unit(t: Transform, x: f64) -> f64 {
    match t {
        Transform::Theta => 2.0 * (PI / 180.0 * x).cos() - 1.0,
        Transform::Log { a, b } => 2.0 * (x.log10() - a) / (b - a) - 1.0,
        Transform::Frac => 2.0 * x - 1.0,
    }
}

impl SamConverter {
    /// Builds the converter for SAM histories given on `ages`, with a fraction `frac_recycle`
    /// of the formed stellar mass returned to the gas (the SAM masses are divided by
    /// 1 − frac_recycle).
    ///
    /// Errors on bad bins (non-finite, not strictly increasing, fewer than 2 edges or 1 age, a
    /// step bin entirely outside the library's age edges — the reference refuses those too),
    /// `frac_recycle` outside [0, 1), or a library that does not have 36 SSPs with increasing
    /// axes and `tau_edges` one longer than `tau`.
    pub fn new(lib: &SspLibrary, ages: AgeBins, frac_recycle: f64) -> Result<Self, SamError> {
        if !(frac_recycle.is_finite() && (0.0..1.0).contains(&frac_recycle)) {
            return Err(SamError::FracRecycle(frac_recycle));
        }
        let (n_met, n_age) = (lib.met.len(), lib.tau.len());
        if n_met * n_age != N_SSP {
            return Err(SamError::Library(format!(
                "{n_met} metallicities × {n_age} ages = {} SSPs, the emulator needs {N_SSP}",
                n_met * n_age
            )));
        }
        check_axis("met", &lib.met, 2)?;
        check_axis("tau", &lib.tau, 2)?;
        check_axis("tau_edges", &lib.tau_edges, n_age + 1)?;
        if lib.tau_edges.len() != n_age + 1 {
            return Err(SamError::Library(format!(
                "`tau_edges` has {} values, expected {}",
                lib.tau_edges.len(),
                n_age + 1
            )));
        }
        if lib.norm.dim() != (n_met, n_age)
            || lib.norm.iter().any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return Err(SamError::Library(format!(
                "`norm` must be ({n_met}, {n_age}), finite and ≥ 0"
            )));
        }
        let tau_matrix = match &ages {
            AgeBins::Step(edges) => {
                check_bins("age edges", edges, 2)?;
                step_matrix(edges, &lib.tau_edges, n_age)?
            }
            AgeBins::Instant(a) => {
                check_bins("ages", a, 1)?;
                instant_matrix(a, &lib.tau)
            }
        };
        let met: Vec<f64> = lib.met.iter().map(|&m| f32r(m)).collect();
        let mut met_gap = vec![0.0; n_met];
        for k in 1..n_met {
            met_gap[k] = f64::from(met[k] as f32 - met[k - 1] as f32);
        }
        let mut norm = [0.0f32; N_SSP];
        for (n, &v) in norm.iter_mut().zip(lib.norm.iter()) {
            *n = v as f32;
        }
        Ok(Self {
            n_bins: ages.n_bins(),
            ages,
            frac_recycle,
            mass_scale: 1.0 / (1.0 - frac_recycle),
            n_met,
            n_age,
            matrix: tau_matrix.iter().map(|&v| f64::from(v)).collect(),
            tau_matrix,
            met,
            met_gap,
            norm,
        })
    }

    /// Number of SAM age columns (the length every history slice must have).
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// The SAM-age → library-age matrix (n_bins × n_age, float32 as in the reference): row i
    /// tells how SAM column i is shared among the library ages.
    pub fn tau_matrix(&self) -> &Array2<f32> {
        &self.tau_matrix
    }

    /// The age bins the converter was built for.
    pub fn ages(&self) -> &AgeBins {
        &self.ages
    }

    /// The recycled fraction the converter was built with.
    pub fn frac_recycle(&self) -> f64 {
        self.frac_recycle
    }

    /// Converts one galaxy.
    ///
    /// Refused (with [`SamError::InvalidRow`] naming the field): non-finite values, negative
    /// masses, metal masses, dust mass or radii, r_dust = 0 or r_disk = 0, history slices whose
    /// length is not [`n_bins`](Self::n_bins), a galaxy without stars (the reference gives a NaN
    /// b_to_t), luminosities that overflow float32, and any NaN parameter.
    ///
    /// Accepted like the reference: any finite θ (u = 2cos θ − 1; θ beyond 90° clips to
    /// edge-on), metal mass above the stellar mass (Z clamped to the library's range), a
    /// component without stars (uniform SFH, zero luminosity), zero dust mass or zero bulge
    /// radius (gp = [`UNIT_BELOW_RANGE`], see [`SamInputs::gp`]).
    pub fn convert(&self, g: &SamGalaxy<'_>) -> Result<SamInputs, SamError> {
        let bad = |msg: String| Err(SamError::InvalidRow(msg));
        for (name, v) in [
            ("theta", g.theta_deg),
            ("m_dust", g.m_dust),
            ("r_dust", g.r_dust),
            ("r_disk", g.r_disk),
            ("r_bulge", g.r_bulge),
        ] {
            if !v.is_finite() {
                return bad(format!("{name} = {v} is not finite"));
            }
        }
        if g.m_dust < 0.0 {
            return bad(format!("m_dust = {} is negative", g.m_dust));
        }
        for (name, v) in [("r_dust", g.r_dust), ("r_disk", g.r_disk)] {
            if v <= 0.0 {
                return bad(format!("{name} = {v} must be > 0"));
            }
        }
        if g.r_bulge < 0.0 {
            return bad(format!("r_bulge = {} is negative", g.r_bulge));
        }
        let (l_disk, sfh_disk) = self.component("disk", g.mass_disk, g.metal_disk)?;
        let (l_bulge, sfh_bulge) = self.component("bulge", g.mass_bulge, g.metal_bulge)?;
        let l_norm = l_disk + l_bulge;
        if !l_norm.is_finite() {
            return bad(format!(
                "the total luminosity {l_disk:e} + {l_bulge:e} L_sun overflows float32"
            ));
        }
        if l_norm == 0.0 {
            return bad(
                "no stars: mass_disk and mass_bulge are all zero, so l_norm = 0 and b_to_t is undefined"
                    .to_string(),
            );
        }
        let b_to_t = l_bulge / l_norm;
        let physical = [
            g.theta_deg,
            g.m_dust / (2.0 * PI * g.r_dust * g.r_dust),
            g.r_dust / g.r_disk,
            g.r_disk,
            g.r_bulge,
            f64::from(l_norm),
            f64::from(b_to_t),
        ];
        let mut gp = [0.0; 7];
        for ((u, p), &x) in gp.iter_mut().zip(&GALAXY_PARAMS).zip(&physical) {
            let v = unit(p.transform, x);
            *u = if v.is_nan() {
                return bad(format!(
                    "{} = {x} (computed from the inputs) has no unit-space value",
                    p.name
                ));
            } else if v == f64::NEG_INFINITY {
                UNIT_BELOW_RANGE
            } else if v == f64::INFINITY {
                UNIT_ABOVE_RANGE
            } else {
                v
            };
        }
        Ok(SamInputs {
            gp,
            sfh_disk: sfh_disk.map(f64::from),
            sfh_bulge: sfh_bulge.map(f64::from),
            l_norm_disk: f64::from(l_disk),
            l_norm_bulge: f64::from(l_bulge),
        })
    }

    /// Steps 2–4 for one component: luminosity and light fractions (float32).
    fn component(
        &self,
        which: &str,
        mass: &[f64],
        metal: &[f64],
    ) -> Result<(f32, [f32; N_SSP]), SamError> {
        let nb = self.n_bins;
        for (name, v) in [("mass", mass), ("metal", metal)] {
            if v.len() != nb {
                return Err(SamError::InvalidRow(format!(
                    "{name}_{which} has {} values, expected {nb} (one per SAM age bin)",
                    v.len()
                )));
            }
            if let Some((i, x)) = v
                .iter()
                .enumerate()
                .find(|(_, x)| !(x.is_finite() && **x >= 0.0))
            {
                let what = if x.is_finite() {
                    "is negative"
                } else {
                    "is not finite"
                };
                return Err(SamError::InvalidRow(format!(
                    "{name}_{which}[{i}] = {x} {what}"
                )));
            }
        }
        let (n_met, n_age) = (self.n_met, self.n_age);
        // Mass and metal mass per library age (float64, summed in SAM-bin order).
        let mut m = [0.0f64; N_SSP];
        let mut z = [0.0f64; N_SSP];
        for (i, row) in self.matrix.chunks_exact(n_age).enumerate() {
            let a = mass[i] * self.mass_scale;
            let b = metal[i] * self.mass_scale;
            for (j, &w) in row.iter().enumerate() {
                m[j] += a * w;
                z[j] += b * w;
            }
        }
        let mut light = [0.0f32; N_SSP];
        let (lo, hi) = (self.met[0], self.met[n_met - 1]);
        for j in 0..n_age {
            let met = if m[j] > 0.0 { z[j] / m[j] } else { 0.0 };
            let x = met.clamp(lo, hi);
            let k = bisect_left(&self.met, x).max(1);
            let w_lo = (self.met[k] - x) / self.met_gap[k];
            let w_hi = 1.0 - w_lo;
            for (kk, w) in [(k - 1, w_lo), (k, w_hi)] {
                let cell = kk * n_age + j;
                let mass_cell = (m[j] * f64::from(w as f32)) as f32;
                light[cell] = mass_cell * self.norm[cell];
            }
        }
        let l_norm = torch_sum36(&light);
        if !l_norm.is_finite() {
            return Err(SamError::InvalidRow(format!(
                "the {which} luminosity overflows float32 (masses too large)"
            )));
        }
        let sfh = if l_norm == 0.0 {
            [(1.0f64 / N_SSP as f64) as f32; N_SSP]
        } else {
            light.map(|v| v / l_norm)
        };
        Ok((l_norm, sfh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_sum_order_differs_from_sequential_but_sums() {
        let v: [f32; N_SSP] = std::array::from_fn(|i| 1.0 + i as f32 * 1e-3);
        let s = torch_sum36(&v);
        let exact: f64 = v.iter().map(|&x| f64::from(x)).sum();
        assert!((f64::from(s) - exact).abs() < 1e-5);
    }

    #[test]
    fn bisect_left_matches_python() {
        let v = [1.0, 2.0, 3.0];
        assert_eq!(bisect_left(&v, 0.5), 0);
        assert_eq!(bisect_left(&v, 1.0), 0);
        assert_eq!(bisect_left(&v, 1.5), 1);
        assert_eq!(bisect_left(&v, 3.0), 2);
        assert_eq!(bisect_left(&v, 4.0), 3);
    }
}
