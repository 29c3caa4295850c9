//! The simple-stellar-population (SSP) library and the arrays the SED model derives from it
//! (specification §3.2–§3.4): normalised spectra, the adaptive integral reduction, the
//! evaluation wavelength grids, `l_ssp`, `L_ssp` and the float32 regridding tables.
//!
//! Everything is computed in `f64` in the same order of operations as the reference, so the
//! float32 roundings used by the shipped model come out identical.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, Ix1, Ix2, Ix3, OwnedRepr};
use ndarray_npy::{NpzReader, ReadNpzError};
use num_traits::Float;

use crate::numeric::{interp_bracket, interp_with_edges, lerp};

/// Tolerance of the reduction that picks the extra wavelengths of [`WavelengthGrid::Auto`].
pub const AUTO_GRID_EPS: f64 = 1e-5;

/// Number of points of the attenuation-curve grid: the networks predict A(λ) on
/// `lam_main[0..297]` (0.1011–99.51 µm, `slice_lam_da` of the helper table).
pub const N_LAM_ATTENUATION: usize = 297;

/// Errors of the SSP library and of the derived tables.
#[derive(Debug, thiserror::Error)]
pub enum SspError {
    /// The npz file could not be opened.
    #[error("cannot open SSP library {path}: {source}")]
    Open {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A member of the npz file is missing or has the wrong dtype/rank.
    #[error("cannot read array `{member}` from SSP library {path}: {source}")]
    Member {
        /// File that failed.
        path: PathBuf,
        /// Name of the npz member.
        member: &'static str,
        /// Underlying npz error.
        source: ReadNpzError,
    },
    /// An array of the library violates an invariant.
    #[error("invalid SSP library: `{array}` {problem}")]
    Invalid {
        /// Name of the offending array.
        array: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A user-given wavelength grid was rejected.
    #[error("invalid custom wavelength grid: {0}")]
    CustomGrid(String),
    /// The reduction tolerance is not a finite positive number.
    #[error("reduction tolerance must be finite and > 0, got {0}")]
    Eps(f64),
    /// A regridding table cannot be built or applied.
    #[error("regrid: {0}")]
    Regrid(String),
}

/// An SSP library: spectra of single-age, single-metallicity populations.
///
/// SSP `k = n_age·i_met + i_age` (metallicity-major) is the spectrum `flx[.., i_met, i_age]`
/// normalised by `norm[i_met, i_age]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SspLibrary {
    /// Wavelengths of the spectra \[µm\], strictly increasing.
    pub lam: Vec<f64>,
    /// Metallicities (absolute Z), ascending.
    pub met: Vec<f64>,
    /// Ages \[yr\], ascending.
    pub tau: Vec<f64>,
    /// Edges of the age bins \[yr\] (`tau.len() + 1` values).
    pub tau_edges: Vec<f64>,
    /// Spectra L_λ [L_sun/µm], indexed (lam, met, age).
    pub flx: Array3<f64>,
    /// Bolometric luminosities \[L_sun\], indexed (met, age).
    pub norm: Array2<f64>,
    /// The training grid of the networks ("lam_base") \[µm\], uniform in ln λ.
    pub lam_main: Vec<f64>,
}

/// Result of the adaptive integral reduction (§3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    /// Integral of each curve over each segment, shape (n_curves, n_segments).
    pub values: Array2<f64>,
    /// Sorted point indices of all segment end points (n_segments + 1 values).
    pub breakpoints: Vec<usize>,
    /// Segment mid-points in x (ln λ for the SSP library).
    pub x_mid: Vec<f64>,
}

/// Choice of the wavelength grid on which the SED is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum WavelengthGrid {
    /// The training grid `lam_main` (495 points); no regridding.
    Base,
    /// `lam_main` plus the SSP wavelengths of the breakpoints of a reduction with
    /// [`AUTO_GRID_EPS`] (resolves the strongest lines; 2086 points for the built-in library).
    Auto,
    /// `lam_main` plus every SSP wavelength ≥ `lam_main[0]`.
    Full,
    /// A user grid \[µm\]: finite, strictly increasing and inside `[lam_main[0], lam_main[last]]`
    /// (0.1011–10000 µm for the built-in library), the range where the attenuation and emission
    /// networks are defined. Stellar light is exactly 0 beyond the last SSP wavelength
    /// (99.08 µm), the attenuation curve is taken as 1 beyond its last point (99.51 µm).
    Custom(Vec<f64>),
}

/// Why a grid specification (`base`, `auto`, `full` or a file of wavelengths) was refused.
#[derive(Debug, thiserror::Error)]
pub enum GridSpecError {
    /// Neither a grid name nor an existing file.
    #[error("{0:?}: expected base, auto, full or a file of wavelengths in µm (no such file)")]
    Unknown(String),
    /// The grid file could not be read.
    #[error("cannot read the grid file {path}: {source}")]
    Read {
        /// The grid file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A line of the grid file is not a number.
    #[error("{path}, line {line}: cannot read {text:?} as a wavelength in µm")]
    Value {
        /// The grid file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The text of the line (without its comment).
        text: String,
    },
    /// The grid file holds no wavelength.
    #[error("the grid file {} holds no wavelengths", .0.display())]
    Empty(PathBuf),
}

impl WavelengthGrid {
    /// Parses a grid specification: `base`, `auto`, `full`, or the path of a text file with one
    /// wavelength \[µm\] per line (`#` starts a comment; blank lines are skipped).
    ///
    /// ```
    /// use galsed_core::ssp::WavelengthGrid;
    /// assert_eq!(WavelengthGrid::parse("auto").unwrap(), WavelengthGrid::Auto);
    /// assert!(WavelengthGrid::parse("no/such/file").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<Self, GridSpecError> {
        match spec {
            "base" => return Ok(Self::Base),
            "auto" => return Ok(Self::Auto),
            "full" => return Ok(Self::Full),
            _ => {}
        }
        let path = Path::new(spec);
        if !path.is_file() {
            return Err(GridSpecError::Unknown(spec.to_owned()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| GridSpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lam = vec![];
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let v: f64 = line.parse().map_err(|_| GridSpecError::Value {
                path: path.to_path_buf(),
                line: i + 1,
                text: line.to_owned(),
            })?;
            lam.push(v);
        }
        if lam.is_empty() {
            return Err(GridSpecError::Empty(path.to_path_buf()));
        }
        Ok(Self::Custom(lam))
    }
}

impl std::str::FromStr for WavelengthGrid {
    type Err = GridSpecError;
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Self::parse(spec)
    }
}

/// Everything the SED model needs from the SSP library for one wavelength grid.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedSsp {
    /// The grid the request was made with.
    pub grid: WavelengthGrid,
    /// Evaluation wavelengths \[µm\]; the model uses their float32 rounding.
    pub lam_eval: Vec<f64>,
    /// Normalised SSP spectra λL_λ/L_bol on `lam_eval`, shape (n_ssp, n_λ), before the
    /// float32 rounding the model applies.
    pub l_ssp: Array2<f64>,
    /// Reduced SSP spectra `L_ssp` (segment integrals over ln λ), shape (n_ssp, n_segments).
    pub big_l_ssp: Array2<f64>,
    /// Point indices of the segment boundaries of `big_l_ssp` (n_segments + 1 values).
    pub reduce_breakpoints: Vec<usize>,
    /// Segment mid-points of `big_l_ssp` in ln λ.
    pub reduce_x_mid: Vec<f64>,
    /// Attenuation curve (on `lam_main[0..297]`) → `lam_eval`, fill 1; `None` for the base grid.
    pub regrid_attenuation: Option<Regrid>,
    /// Dust emission (on `lam_main`) → `lam_eval`, fill 0; `None` for the base grid.
    pub regrid_emission: Option<Regrid>,
}

/// A fixed linear interpolation in λ from a source grid to a target grid, built in float32
/// exactly like the reference (§3.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Regrid {
    /// Upper source index of each target point, in `[1, n_src − 1]`.
    pub inds: Vec<usize>,
    /// Interpolation weight of the upper source point (extrapolates outside the source range).
    pub weights: Vec<f32>,
    /// Whether the target point lies inside `[x_src[0], x_src[last]]`.
    pub mask: Vec<bool>,
    /// Value given to target points outside the source range.
    pub fill: f32,
    /// Length of the source grid.
    pub n_src: usize,
}

fn invalid(array: &'static str, problem: impl Into<String>) -> SspError {
    SspError::Invalid {
        array,
        problem: problem.into(),
    }
}

/// Checks that `xs` has at least `min_len` finite, strictly increasing values.
fn check_increasing(array: &'static str, xs: &[f64], min_len: usize) -> Result<(), SspError> {
    if xs.len() < min_len {
        return Err(invalid(
            array,
            format!("needs at least {min_len} values, has {}", xs.len()),
        ));
    }
    if let Some(i) = xs.iter().position(|v| !v.is_finite()) {
        return Err(invalid(
            array,
            format!("has a non-finite value at index {i}"),
        ));
    }
    if let Some(i) = xs.windows(2).position(|w| w[1] <= w[0]) {
        return Err(invalid(
            array,
            format!("is not strictly increasing at index {}", i + 1),
        ));
    }
    Ok(())
}

fn check_positive(array: &'static str, xs: &[f64]) -> Result<(), SspError> {
    match xs.iter().position(|&v| v <= 0.0) {
        Some(i) => Err(invalid(
            array,
            format!("must be > 0, has {} at index {i}", xs[i]),
        )),
        None => Ok(()),
    }
}

impl SspLibrary {
    /// Builds a library after checking that shapes agree, every value is finite, the
    /// wavelength/age/metallicity axes are strictly increasing and positive, `tau_edges` has one
    /// value more than `tau` and `norm > 0`.
    pub fn new(
        lam: Vec<f64>,
        met: Vec<f64>,
        tau: Vec<f64>,
        tau_edges: Vec<f64>,
        flx: Array3<f64>,
        norm: Array2<f64>,
        lam_main: Vec<f64>,
    ) -> Result<Self, SspError> {
        check_increasing("lam", &lam, 2)?;
        check_positive("lam", &lam)?;
        check_increasing("met", &met, 1)?;
        check_positive("met", &met)?;
        check_increasing("tau", &tau, 1)?;
        check_positive("tau", &tau)?;
        check_increasing("tau_edges", &tau_edges, 2)?;
        if tau_edges.len() != tau.len() + 1 {
            return Err(invalid(
                "tau_edges",
                format!(
                    "must have len(tau) + 1 = {} values, has {}",
                    tau.len() + 1,
                    tau_edges.len()
                ),
            ));
        }
        check_increasing("lam_main", &lam_main, N_LAM_ATTENUATION)?;
        check_positive("lam_main", &lam_main)?;
        let want = (lam.len(), met.len(), tau.len());
        if flx.dim() != want {
            return Err(invalid(
                "flx",
                format!("has shape {:?}, expected {want:?}", flx.dim()),
            ));
        }
        if flx.iter().any(|v| !v.is_finite()) {
            return Err(invalid("flx", "has non-finite values"));
        }
        if norm.dim() != (met.len(), tau.len()) {
            let want = (met.len(), tau.len());
            return Err(invalid(
                "norm",
                format!("has shape {:?}, expected {want:?}", norm.dim()),
            ));
        }
        if norm.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
            return Err(invalid("norm", "must be finite and > 0"));
        }
        Ok(Self {
            lam,
            met,
            tau,
            tau_edges,
            flx,
            norm,
            lam_main,
        })
    }

    /// Loads a library from an npz file with float64 members `lam`, `met`, `tau`, `tau_edges`,
    /// `flx` (lam, met, age), `norm` (met, age) and `lam_main`, then validates it like
    /// [`SspLibrary::new`].
    ///
    /// ```rust,no_run
    /// use galsed_core::ssp::{DerivedSsp, SspLibrary, WavelengthGrid};
    /// # fn main() -> Result<(), galsed_core::ssp::SspError> {
    /// let lib = SspLibrary::from_npz("ssp_library.npz")?;
    /// let derived = DerivedSsp::new(&lib, &WavelengthGrid::Auto, 5e-4)?;
    /// assert_eq!(derived.l_ssp.dim(), (lib.n_ssp(), derived.lam_eval.len()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_npz(path: impl AsRef<Path>) -> Result<Self, SspError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| SspError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut npz = NpzReader::new(BufReader::new(file)).map_err(|source| SspError::Member {
            path: path.to_path_buf(),
            member: "(archive)",
            source,
        })?;
        let err = |member| {
            move |source| SspError::Member {
                path: path.to_path_buf(),
                member,
                source,
            }
        };
        let mut vec1 = |member: &'static str| {
            npz.by_name::<OwnedRepr<f64>, Ix1>(member)
                .map(|a| a.to_vec())
                .map_err(err(member))
        };
        let lam = vec1("lam")?;
        let met = vec1("met")?;
        let tau = vec1("tau")?;
        let tau_edges = vec1("tau_edges")?;
        let lam_main = vec1("lam_main")?;
        let flx = npz
            .by_name::<OwnedRepr<f64>, Ix3>("flx")
            .map_err(err("flx"))?;
        let norm = npz
            .by_name::<OwnedRepr<f64>, Ix2>("norm")
            .map_err(err("norm"))?;
        Self::new(lam, met, tau, tau_edges, flx, norm, lam_main)
    }

    /// Number of metallicities.
    pub fn n_met(&self) -> usize {
        self.met.len()
    }

    /// Number of ages.
    pub fn n_age(&self) -> usize {
        self.tau.len()
    }

    /// Number of SSPs (`n_met · n_age`).
    pub fn n_ssp(&self) -> usize {
        self.met.len() * self.tau.len()
    }

    /// Raw normalised spectra `l_raw[k, i] = λ_i · flx[i, i_met, i_age] / norm[i_met, i_age]`
    /// (λL_λ per unit bolometric luminosity), shape (n_ssp, n_λ), `k = n_age·i_met + i_age`.
    pub fn raw_normalised(&self) -> Array2<f64> {
        let (n_lam, n_met, n_age) = self.flx.dim();
        Array2::from_shape_fn((n_met * n_age, n_lam), |(k, i)| {
            let (m, a) = (k / n_age, k % n_age);
            // Same operation order as the reference: divide by norm first, then multiply by λ.
            self.flx[[i, m, a]] / self.norm[[m, a]] * self.lam[i]
        })
    }

    /// ln λ of the SSP wavelengths.
    fn log_lam(&self) -> Vec<f64> {
        self.lam.iter().map(|v| v.ln()).collect()
    }

    /// Adaptive reduction of `l_raw` over ln λ (§3.3): contiguous segments whose trapezoid and
    /// Simpson integrals agree to `eps` for every SSP. With the checkpoint's `eps = 5e-4` the
    /// built-in library gives 283 segments (`L_ssp`).
    pub fn reduce(&self, eps: f64) -> Result<Reduction, SspError> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(SspError::Eps(eps));
        }
        // The reduction scans (n_λ, n_ssp) rows.
        let y = self
            .raw_normalised()
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        let y = y
            .as_slice()
            .ok_or_else(|| invalid("flx", "internal layout error"))?;
        Ok(reduce_rows(&self.log_lam(), y, self.n_ssp(), eps))
    }

    /// Builds the evaluation wavelengths \[µm\] of a grid (§3.3), validating custom grids.
    pub fn lam_eval(&self, grid: &WavelengthGrid) -> Result<Vec<f64>, SspError> {
        // The fields are public, so re-check the one invariant indexed below.
        let (Some(&lo), Some(&hi)) = (self.lam_main.first(), self.lam_main.last()) else {
            return Err(invalid("lam_main", "is empty"));
        };
        let merge = |extra: Vec<f64>| {
            let mut out: Vec<f64> = extra.into_iter().filter(|&v| v >= lo).collect();
            out.extend_from_slice(&self.lam_main);
            out.sort_by(f64::total_cmp);
            out
        };
        match grid {
            WavelengthGrid::Base => Ok(self.lam_main.clone()),
            WavelengthGrid::Auto => {
                let red = self.reduce(AUTO_GRID_EPS)?;
                Ok(merge(
                    red.breakpoints.iter().map(|&i| self.lam[i]).collect(),
                ))
            }
            WavelengthGrid::Full => Ok(merge(self.lam.clone())),
            WavelengthGrid::Custom(lam) => {
                if lam.is_empty() {
                    return Err(SspError::CustomGrid("the grid is empty".into()));
                }
                if let Some(i) = lam.iter().position(|v| !v.is_finite()) {
                    return Err(SspError::CustomGrid(format!(
                        "non-finite value at index {i}"
                    )));
                }
                if let Some(i) = lam.windows(2).position(|w| w[1] <= w[0]) {
                    let (a, b) = (lam[i], lam[i + 1]);
                    return Err(SspError::CustomGrid(format!(
                        "not strictly increasing at index {}: {a} µm then {b} µm",
                        i + 1
                    )));
                }
                if let Some(i) = lam.iter().position(|&v| v < lo || v > hi) {
                    return Err(SspError::CustomGrid(format!(
                        "{} µm at index {i} is outside the model range [{lo}, {hi}] µm",
                        lam[i]
                    )));
                }
                Ok(lam.clone())
            }
        }
    }
}

/// The reduction on `y` stored row-major as (n_x, n_c): one row of `n_c` curve values per x.
/// Sums and Simpson estimates follow the reference's operation order so that the accept/split
/// decisions (and hence the breakpoints) are reproduced exactly.
fn reduce_rows(x: &[f64], y: &[f64], n_c: usize, eps: f64) -> Reduction {
    let n_x = x.len();
    if n_x < 2 {
        return Reduction {
            values: Array2::zeros((n_c, 0)),
            breakpoints: vec![],
            x_mid: vec![],
        };
    }
    let row = |i: usize| &y[i * n_c..(i + 1) * n_c];
    let blocks: Vec<f64> = (0..n_x - 1)
        .flat_map(|i| {
            let dx = x[i + 1] - x[i];
            row(i)
                .iter()
                .zip(row(i + 1))
                .map(move |(a, b)| 0.5 * (a + b) * dx)
        })
        .collect();
    let block = |i: usize| &blocks[i * n_c..(i + 1) * n_c];

    let simpson = |a: usize, m: usize, b: usize| -> Vec<f64> {
        let (h, h0, h1) = (x[b] - x[a], x[m] - x[a], x[b] - x[m]);
        let (c0, c1, c2) = (2.0 - h0 / h1, h * h / (h0 * h1), 2.0 - h1 / h0);
        let (ya, ym, yb) = (row(a), row(m), row(b));
        (0..n_c)
            .map(|k| h / 6.0 * (c0 * ya[k] + c1 * ym[k] + c2 * yb[k]))
            .collect()
    };
    let converged = |a: usize, b: usize, s: &[f64]| {
        // Sequential sum over the segment's blocks, as NumPy does along a non-contiguous axis.
        let mut trap = block(a).to_vec();
        for i in a + 1..b {
            trap.iter_mut().zip(block(i)).for_each(|(t, v)| *t += v);
        }
        trap.iter().zip(s).all(|(t, s)| (t - s).abs() < eps)
    };

    let mut accepted: Vec<(usize, usize, Vec<f64>)> = Vec::new();
    let mut pending = vec![(0, n_x - 1)];
    while let Some((a, b)) = pending.pop() {
        match b - a {
            0 => {}
            1 => accepted.push((a, b, block(a).to_vec())),
            2 => {
                let s = simpson(a, a + 1, b);
                if converged(a, b, &s) {
                    accepted.push((a, b, s));
                } else {
                    accepted.push((a, a + 1, block(a).to_vec()));
                    accepted.push((a + 1, b, block(a + 1).to_vec()));
                }
            }
            _ => {
                let m = (a + b) / 2;
                let s = simpson(a, m, b);
                if converged(a, b, &s) {
                    accepted.push((a, b, s));
                } else {
                    pending.push((m, b));
                    pending.push((a, m));
                }
            }
        }
    }
    accepted.sort_unstable_by_key(|seg| seg.0);

    let n_seg = accepted.len();
    let mut values = Array2::zeros((n_c, n_seg));
    let mut breakpoints = Vec::with_capacity(n_seg + 1);
    let mut x_mid = Vec::with_capacity(n_seg);
    for (j, (a, b, v)) in accepted.iter().enumerate() {
        values
            .column_mut(j)
            .iter_mut()
            .zip(v)
            .for_each(|(o, v)| *o = *v);
        breakpoints.push(*a);
        x_mid.push(0.5 * (x[*a] + x[*b]));
    }
    breakpoints.push(n_x - 1);
    Reduction {
        values,
        breakpoints,
        x_mid,
    }
}

impl DerivedSsp {
    /// Derives `lam_eval`, `l_ssp`, `L_ssp` (reduction with `eps_reduce`; the checkpoint's value
    /// is 5e-4) and, for every grid except [`WavelengthGrid::Base`], the regridding tables.
    ///
    /// ```rust
    /// use galsed_core::ssp::{DerivedSsp, SspLibrary, WavelengthGrid};
    /// use ndarray::{Array2, Array3};
    /// # fn main() -> Result<(), galsed_core::ssp::SspError> {
    /// // A toy library: one metallicity, two ages, flat λL_λ from 0.01 to 100 µm.
    /// let lam: Vec<f64> = (0..=400).map(|i| 0.01 * 10f64.powf(f64::from(i) / 100.0)).collect();
    /// let flx = Array3::from_shape_fn((lam.len(), 1, 2), |(i, _, a)| (a + 1) as f64 / lam[i]);
    /// let norm = Array2::from_elem((1, 2), 4.0 * 10f64.ln());
    /// let lam_main: Vec<f64> = (0..495).map(|i| 0.1 * 10f64.powf(f64::from(i) / 98.8)).collect();
    /// let lib = SspLibrary::new(lam, vec![0.02], vec![1e7, 1e9], vec![1e6, 1e8, 1e10], flx, norm, lam_main)?;
    ///
    /// let grid = WavelengthGrid::Custom(vec![0.5, 1.0, 2.0, 500.0]);
    /// let derived = DerivedSsp::new(&lib, &grid, 5e-4)?;
    /// assert_eq!(derived.l_ssp.dim(), (2, 4));
    /// assert!((derived.l_ssp[[0, 1]] - 1.0 / (4.0 * 10f64.ln())).abs() < 1e-12);
    /// assert_eq!(derived.l_ssp[[0, 3]], 0.0); // beyond the last SSP wavelength
    /// // The reduced spectra integrate to one over ln λ.
    /// assert!((derived.big_l_ssp.row(1).sum() - 2.0).abs() < 1e-9);
    /// assert!(derived.regrid_emission.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(lib: &SspLibrary, grid: &WavelengthGrid, eps_reduce: f64) -> Result<Self, SspError> {
        let lam_eval = lib.lam_eval(grid)?;
        let reduction = lib.reduce(eps_reduce)?;

        // l_ssp: interpolation in ln λ; first value below the SSP range, 0 above it.
        let log_lam = lib.log_lam();
        let log_eval: Vec<f64> = lam_eval.iter().map(|v| v.ln()).collect();
        let raw = lib.raw_normalised();
        let mut l_ssp = Array2::zeros((lib.n_ssp(), lam_eval.len()));
        for (mut out, fp) in l_ssp.rows_mut().into_iter().zip(raw.rows()) {
            let fp = fp
                .as_slice()
                .ok_or_else(|| invalid("flx", "internal layout error"))?;
            for (o, &x) in out.iter_mut().zip(&log_eval) {
                *o = interp_with_edges(&log_lam, fp, x, fp[0], 0.0);
            }
        }

        let (regrid_attenuation, regrid_emission) = if *grid == WavelengthGrid::Base {
            (None, None)
        } else {
            let target: Vec<f32> = lam_eval.iter().map(|&v| v as f32).collect();
            let src: Vec<f32> = lib.lam_main.iter().map(|&v| v as f32).collect();
            let src_da = src.get(..N_LAM_ATTENUATION).ok_or_else(|| {
                invalid(
                    "lam_main",
                    format!("needs at least {N_LAM_ATTENUATION} values"),
                )
            })?;
            (
                Some(Regrid::new(src_da, &target, 1.0)?),
                Some(Regrid::new(&src, &target, 0.0)?),
            )
        };

        Ok(Self {
            grid: grid.clone(),
            lam_eval,
            l_ssp,
            big_l_ssp: reduction.values,
            reduce_breakpoints: reduction.breakpoints,
            reduce_x_mid: reduction.x_mid,
            regrid_attenuation,
            regrid_emission,
        })
    }

    /// `lam_eval` rounded to float32, as the shipped model holds it.
    pub fn lam_eval_f32(&self) -> Vec<f32> {
        self.lam_eval.iter().map(|&v| v as f32).collect()
    }

    /// `l_ssp` rounded to float32, as the shipped model holds it.
    pub fn l_ssp_f32(&self) -> Array2<f32> {
        self.l_ssp.mapv(|v| v as f32)
    }

    /// `L_ssp` rounded to float32, as the shipped model holds it.
    pub fn big_l_ssp_f32(&self) -> Array2<f32> {
        self.big_l_ssp.mapv(|v| v as f32)
    }
}

impl Regrid {
    /// Builds the table mapping values on `x_src` (ascending, ≥ 2 points) to `x_target`, with
    /// `fill` outside `[x_src[0], x_src[last]]`. Indices and weights follow §3.4 in float32.
    pub fn new(x_src: &[f32], x_target: &[f32], fill: f32) -> Result<Self, SspError> {
        if x_src.len() < 2 {
            return Err(SspError::Regrid(format!(
                "source grid needs at least 2 points, has {}",
                x_src.len()
            )));
        }
        if x_src.iter().any(|v| !v.is_finite()) || x_src.windows(2).any(|w| w[1] <= w[0]) {
            return Err(SspError::Regrid(
                "source grid must be finite and strictly increasing".into(),
            ));
        }
        let (lo, hi) = (x_src[0], x_src[x_src.len() - 1]);
        let mut inds = Vec::with_capacity(x_target.len());
        let mut weights = Vec::with_capacity(x_target.len());
        let mut mask = Vec::with_capacity(x_target.len());
        for &x in x_target {
            let (i, w) = interp_bracket(x_src, x)
                .ok_or_else(|| SspError::Regrid("source grid too short".into()))?;
            inds.push(i);
            weights.push(w);
            mask.push(x >= lo && x <= hi);
        }
        Ok(Self {
            inds,
            weights,
            mask,
            fill,
            n_src: x_src.len(),
        })
    }

    /// Number of target points.
    pub fn len(&self) -> usize {
        self.inds.len()
    }

    /// Whether the target grid is empty.
    pub fn is_empty(&self) -> bool {
        self.inds.is_empty()
    }

    /// Interpolates one source row onto the target grid (`torch.lerp` form, then the fill value
    /// outside the source range). Works in `f32` and in `f64` (weights promoted).
    pub fn apply<T: Float>(&self, src_row: &[T], out: &mut [T]) -> Result<(), SspError> {
        if src_row.len() != self.n_src || out.len() != self.inds.len() {
            return Err(SspError::Regrid(format!(
                "expected a source row of {} and an output of {} values, got {} and {}",
                self.n_src,
                self.inds.len(),
                src_row.len(),
                out.len()
            )));
        }
        let fill = T::from(self.fill).unwrap_or_else(T::zero);
        for (((o, &i), &w), &inside) in out
            .iter_mut()
            .zip(&self.inds)
            .zip(&self.weights)
            .zip(&self.mask)
        {
            *o = if inside {
                let w = T::from(w).unwrap_or_else(T::zero);
                lerp(src_row[i - 1], src_row[i], w)
            } else {
                fill
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_specifications_parse() {
        assert_eq!(WavelengthGrid::parse("base").unwrap(), WavelengthGrid::Base);
        assert_eq!(
            "full".parse::<WavelengthGrid>().unwrap(),
            WavelengthGrid::Full
        );
        let dir = std::env::temp_dir().join(format!("galsed-grid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("grid.txt");
        std::fs::write(&file, "# µm\n0.5\n\n1.0 # V\n").unwrap();
        let spec = file.to_str().unwrap();
        assert_eq!(
            WavelengthGrid::parse(spec).unwrap(),
            WavelengthGrid::Custom(vec![0.5, 1.0])
        );
        std::fs::write(&file, "0.5\nten\n").unwrap();
        let e = WavelengthGrid::parse(spec).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("\"ten\""), "{e}");
        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(matches!(
            WavelengthGrid::parse(spec),
            Err(GridSpecError::Empty(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            WavelengthGrid::parse("no/such/grid"),
            Err(GridSpecError::Unknown(_))
        ));
    }
}
