//! Training sets: the npz layout shared by `galsed skirt collect`, the teacher and `galsed train`,
//! and their preparation as in Qiu & Kang (2022, §2.2): Savitzky–Golay smoothing of noisy curves,
//! exclusion of samples with k(100 µm) above a threshold (optically thick in the far infrared),
//! seeded train/validation split.
//!
//! # Layout (one `.npz`, members `<key>.npy`, float32 or float64 unless noted; N samples)
//!
//! | key | shape | content |
//! |---|---|---|
//! | `lam` | (n_λ) | the model grid \[µm\] (`lam_main`, 495 points); curves use its first 297 points |
//! | `params` | (N, 7) | galaxy parameters in unit space u ∈ [−1, 1] (theta … b_to_t, spec §3.1) |
//! | `curve_disk`, `curve_bulge` | (N, 297) | attenuation A(λ) \[mag\] of the disk / bulge stars, on `lam[:297]` |
//! | `sfh_disk`, `sfh_bulge` | (N, 36) | light fractions of the 36 SSPs (k = 6·i_met + i_age) of the emission runs |
//! | `frac_abs` | (N) | fraction of the intrinsic stellar luminosity absorbed by dust, in [0, 1] |
//! | `dust_emission` | (N, n_λ) | dust emission λL_λ/L_dust on `lam`, normalised to ∫ y d ln λ = 1 |
//! | `valid_disk`, `valid_bulge`, `valid_emission` | (N) | bool / integer / float 0 or 1: the sample's disk curve, bulge curve, emission run is usable |
//!
//! `lam` and `params` are required; the curves, the emission pair (`frac_abs` with
//! `dust_emission`, which also need both SFHs) and the labels are optional: each network is
//! trained from the members it needs, and other members are ignored. Labels default to 1. A row
//! whose label is 0 may hold NaN in the members that label covers (`curve_disk`; `curve_bulge`;
//! `frac_abs` and `dust_emission`). Preparation may clear labels (k(100 µm) rule).
//!
//! Who learns from which rows: `curve_disk` from the rows with `valid_disk`, `curve_bulge` from
//! `valid_bulge`, `dust_emission` from the rows with all three labels, the selectors from every
//! row (label 1 = inside the valid region of the disk / bulge).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use galsed_core::ssp::N_LAM_ATTENUATION;
use galsed_emulator::{N_GP, N_SSP};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use ndarray_npy::{NpzReader, NpzWriter};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::savgol::SavGol;

/// Member names of the layout.
pub mod keys {
    /// The model grid \[µm\].
    pub const LAM: &str = "lam";
    /// Unit-space galaxy parameters (N, 7).
    pub const PARAMS: &str = "params";
    /// Disk attenuation curves (N, 297) \[mag\].
    pub const CURVE_DISK: &str = "curve_disk";
    /// Bulge attenuation curves (N, 297) \[mag\].
    pub const CURVE_BULGE: &str = "curve_bulge";
    /// Disk light fractions (N, 36).
    pub const SFH_DISK: &str = "sfh_disk";
    /// Bulge light fractions (N, 36).
    pub const SFH_BULGE: &str = "sfh_bulge";
    /// Absorbed fraction (N).
    pub const FRAC_ABS: &str = "frac_abs";
    /// Normalised dust emission (N, n_λ).
    pub const DUST_EMISSION: &str = "dust_emission";
    /// Disk-curve labels (N).
    pub const VALID_DISK: &str = "valid_disk";
    /// Bulge-curve labels (N).
    pub const VALID_BULGE: &str = "valid_bulge";
    /// Emission-run labels (N).
    pub const VALID_EMISSION: &str = "valid_emission";
}

/// Wavelength \[µm\] at which the exclusion rule reads the attenuation curves.
pub const K_EXCLUSION_LAM_UM: f64 = 100.0;

/// Errors reading, checking or preparing a training set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file that cannot be read or written, or whose content is malformed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A set whose members are inconsistent or out of range.
    #[error("training set: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> DataError {
    DataError::Invalid(message.into())
}

/// The two stellar components, each with its own attenuation curve, selector and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The stellar disk.
    Disk,
    /// The stellar bulge.
    Bulge,
}

impl Part {
    /// Disk, then bulge.
    pub const BOTH: [Part; 2] = [Part::Disk, Part::Bulge];

    /// "disk" or "bulge".
    pub fn name(self) -> &'static str {
        match self {
            Part::Disk => "disk",
            Part::Bulge => "bulge",
        }
    }
}

/// A training or validation set: the members of the layout (see the module documentation),
/// optional ones as `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSet {
    /// The model grid \[µm\] (n_λ).
    pub lam: Vec<f64>,
    /// Galaxy parameters in unit space, (N, 7).
    pub params: Array2<f64>,
    /// Attenuation curves A(λ) \[mag\] of the disk stars on the first 297 points of `lam`, (N, 297).
    pub curve_disk: Option<Array2<f64>>,
    /// Attenuation curves A(λ) \[mag\] of the bulge stars, (N, 297).
    pub curve_bulge: Option<Array2<f64>>,
    /// Light fractions of the 36 SSPs in the disk, (N, 36).
    pub sfh_disk: Option<Array2<f64>>,
    /// Light fractions of the 36 SSPs in the bulge, (N, 36).
    pub sfh_bulge: Option<Array2<f64>>,
    /// Fraction of the intrinsic stellar luminosity absorbed by dust, in [0, 1], (N).
    pub frac_abs: Option<Vec<f64>>,
    /// Dust emission λL_λ/L_dust on `lam`, normalised to ∫ y d ln λ = 1, (N, n_λ).
    pub dust_emission: Option<Array2<f64>>,
    /// Whether each sample's disk curve is usable (N).
    pub valid_disk: Option<Vec<bool>>,
    /// Whether each sample's bulge curve is usable (N).
    pub valid_bulge: Option<Vec<bool>>,
    /// Whether each sample's emission run is usable (N).
    pub valid_emission: Option<Vec<bool>>,
}

/// How a raw set is prepared for training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preparation {
    /// Savitzky–Golay filter applied to every attenuation curve.
    pub smooth_curves: Option<SavGol>,
    /// Savitzky–Golay filter applied to every dust-emission spectrum (then clipped at 0).
    pub smooth_emission: Option<SavGol>,
    /// Samples whose curve at 100 µm (the grid point nearest to it) exceeds this value \[mag\] are
    /// labelled outside the valid region of that component: optically thick in the far infrared,
    /// where the emission model's energy balance without self-absorption fails. The published
    /// selectors agree: every sample they accept has k(100 µm) < 0.01 (see docs/training.md).
    pub max_k100: Option<f64>,
}

impl Default for Preparation {
    /// The paper's exclusion rule, no smoothing (smoothing suits noisy radiative-transfer curves).
    fn default() -> Self {
        Self {
            smooth_curves: None,
            smooth_emission: None,
            max_k100: Some(0.01),
        }
    }
}

/// A preparation option that cannot be read ([`Preparation::parse`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepSpecError {
    /// A smoothing specification that is not `window,order` or not a valid filter.
    #[error("{0}")]
    Smoothing(&'static str, String),
    /// A `max_k100` that is neither a finite number nor `none`.
    #[error("'{0}' is not a number or 'none'")]
    MaxK100(String),
}

impl PrepSpecError {
    /// The option at fault, as the command line spells it: `smooth-curves`, `smooth-emission`
    /// or `max-k100`.
    pub fn option(&self) -> &'static str {
        match self {
            PrepSpecError::Smoothing(option, _) => option,
            PrepSpecError::MaxK100(_) => "max-k100",
        }
    }
}

impl Preparation {
    /// The preparation given as text: Savitzky–Golay filters as `window,order` (e.g. `15,3`)
    /// for the curves and the emission spectra, and `max_k100` as a number \[mag\] or `none`.
    ///
    /// ```
    /// use galsed_train::data::Preparation;
    /// let p = Preparation::parse(Some("15,3"), None, "none").unwrap();
    /// assert_eq!(p.smooth_curves.map(|s| s.window), Some(15));
    /// assert_eq!(p.max_k100, None);
    /// assert_eq!(Preparation::parse(None, None, "0.01").unwrap(), Preparation::default());
    /// assert!(Preparation::parse(Some("15"), None, "none").is_err());
    /// ```
    pub fn parse(
        smooth_curves: Option<&str>,
        smooth_emission: Option<&str>,
        max_k100: &str,
    ) -> Result<Self, PrepSpecError> {
        let max_k100 = match max_k100.trim() {
            "none" => None,
            v => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| PrepSpecError::MaxK100(v.to_owned()))?,
            ),
        };
        Ok(Self {
            smooth_curves: savgol(smooth_curves, "smooth-curves")?,
            smooth_emission: savgol(smooth_emission, "smooth-emission")?,
            max_k100,
        })
    }
}

/// A Savitzky–Golay filter given as `window,order`.
fn savgol(spec: Option<&str>, option: &'static str) -> Result<Option<SavGol>, PrepSpecError> {
    let Some(s) = spec else { return Ok(None) };
    let usage =
        || PrepSpecError::Smoothing(option, format!("'{s}' is not window,order (e.g. 15,3)"));
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let parse = |p: &str| p.parse::<usize>().map_err(|_| usage());
    match parts[..] {
        [w, o] => Ok(Some(
            SavGol::new(parse(w)?, parse(o)?).map_err(|e| PrepSpecError::Smoothing(option, e))?,
        )),
        _ => Err(usage()),
    }
}

/// What preparation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepReport {
    /// Samples in the set.
    pub n: usize,
    /// Samples labelled invalid before preparation (disk, bulge).
    pub invalid_before: [usize; 2],
    /// Further samples excluded by the k(100 µm) rule (disk, bulge).
    pub excluded_k100: [usize; 2],
    /// Samples valid for both components and the emission run after preparation.
    pub valid_all: usize,
}

fn file_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a member as float64, whatever its float or integer type.
fn read_any(r: &mut NpzReader<File>, name: &str) -> Option<ArrayD<f64>> {
    if let Ok(a) = r.by_name::<ndarray::OwnedRepr<f64>, _>(name) {
        return Some(a);
    }
    if let Ok(a) = r.by_name::<ndarray::OwnedRepr<f32>, _>(name) {
        return Some(a.mapv(f64::from));
    }
    if let Ok(a) = r.by_name::<ndarray::OwnedRepr<i64>, _>(name) {
        return Some(a.mapv(|v| v as f64));
    }
    if let Ok(a) = r.by_name::<ndarray::OwnedRepr<i32>, _>(name) {
        return Some(a.mapv(f64::from));
    }
    if let Ok(a) = r.by_name::<ndarray::OwnedRepr<u8>, _>(name) {
        return Some(a.mapv(f64::from));
    }
    if let Ok(a) = r.by_name::<ndarray::OwnedRepr<bool>, _>(name) {
        return Some(a.mapv(|b| if b { 1.0 } else { 0.0 }));
    }
    None
}

impl TrainingSet {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.params.nrows()
    }

    /// Whether the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The attenuation curves of a component, if present.
    pub fn curve(&self, part: Part) -> Option<&Array2<f64>> {
        match part {
            Part::Disk => self.curve_disk.as_ref(),
            Part::Bulge => self.curve_bulge.as_ref(),
        }
    }

    /// Labels of a component (all valid when the set has none).
    pub fn valid(&self, part: Part) -> Vec<bool> {
        let labels = match part {
            Part::Disk => &self.valid_disk,
            Part::Bulge => &self.valid_bulge,
        };
        labels.clone().unwrap_or_else(|| vec![true; self.len()])
    }

    /// Rows whose curve of `part` is valid.
    pub fn curve_rows(&self, part: Part) -> Vec<usize> {
        let v = self.valid(part);
        (0..self.len()).filter(|&i| v[i]).collect()
    }

    /// Labels of the emission runs (all valid when the set has none).
    pub fn valid_emission(&self) -> Vec<bool> {
        self.valid_emission
            .clone()
            .unwrap_or_else(|| vec![true; self.len()])
    }

    /// Rows valid for both components and the emission run.
    pub fn valid_rows(&self) -> Vec<usize> {
        let (d, b, e) = (
            self.valid(Part::Disk),
            self.valid(Part::Bulge),
            self.valid_emission(),
        );
        (0..self.len()).filter(|&i| d[i] && b[i] && e[i]).collect()
    }

    /// Whether the set holds the members for training the emission networks.
    pub fn has_emission(&self) -> bool {
        self.dust_emission.is_some()
    }

    /// Reads and checks a set.
    pub fn read_npz(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| file_err(path, format!("cannot open: {e}")))?;
        let mut r =
            NpzReader::new(file).map_err(|e| file_err(path, format!("not an npz archive: {e}")))?;
        let names: Vec<String> = r
            .names()
            .map_err(|e| file_err(path, format!("cannot list the members: {e}")))?
            .into_iter()
            .map(|n| n.trim_end_matches(".npy").to_string())
            .collect();
        let mut get = |key: &str| -> Result<Option<ArrayD<f64>>, DataError> {
            if !names.iter().any(|n| n == key) {
                return Ok(None);
            }
            let name = format!("{key}.npy");
            read_any(&mut r, &name)
                .or_else(|| read_any(&mut r, key))
                .map(Some)
                .ok_or_else(|| file_err(path, format!("member '{key}' is not a numeric array")))
        };
        let two = |key: &str, a: Option<ArrayD<f64>>| -> Result<Option<Array2<f64>>, DataError> {
            a.map(|a| {
                let shape = a.shape().to_vec();
                a.into_dimensionality::<Ix2>().map_err(|_| {
                    file_err(path, format!("'{key}' must be 2-D, has shape {shape:?}"))
                })
            })
            .transpose()
        };
        let one = |key: &str, a: Option<ArrayD<f64>>| -> Result<Option<Vec<f64>>, DataError> {
            a.map(|a| {
                let shape = a.shape().to_vec();
                a.into_dimensionality::<Ix1>()
                    .map(|a| a.to_vec())
                    .map_err(|_| {
                        file_err(path, format!("'{key}' must be 1-D, has shape {shape:?}"))
                    })
            })
            .transpose()
        };
        let labels = |key: &str, a: Option<Vec<f64>>| -> Result<Option<Vec<bool>>, DataError> {
            a.map(|v| {
                v.iter()
                    .enumerate()
                    .map(|(i, &x)| match x {
                        0.0 => Ok(false),
                        1.0 => Ok(true),
                        _ => Err(file_err(
                            path,
                            format!("{key}[{i}] = {x}: labels must be 0 or 1"),
                        )),
                    })
                    .collect()
            })
            .transpose()
        };
        let lam = one(keys::LAM, get(keys::LAM)?)?
            .ok_or_else(|| file_err(path, format!("no member '{}' (the model grid)", keys::LAM)))?;
        let params = two(keys::PARAMS, get(keys::PARAMS)?)?
            .ok_or_else(|| file_err(path, format!("no member '{}'", keys::PARAMS)))?;
        let set = Self {
            lam,
            params,
            curve_disk: two(keys::CURVE_DISK, get(keys::CURVE_DISK)?)?,
            curve_bulge: two(keys::CURVE_BULGE, get(keys::CURVE_BULGE)?)?,
            sfh_disk: two(keys::SFH_DISK, get(keys::SFH_DISK)?)?,
            sfh_bulge: two(keys::SFH_BULGE, get(keys::SFH_BULGE)?)?,
            frac_abs: one(keys::FRAC_ABS, get(keys::FRAC_ABS)?)?,
            dust_emission: two(keys::DUST_EMISSION, get(keys::DUST_EMISSION)?)?,
            valid_disk: labels(
                keys::VALID_DISK,
                one(keys::VALID_DISK, get(keys::VALID_DISK)?)?,
            )?,
            valid_bulge: labels(
                keys::VALID_BULGE,
                one(keys::VALID_BULGE, get(keys::VALID_BULGE)?)?,
            )?,
            valid_emission: labels(
                keys::VALID_EMISSION,
                one(keys::VALID_EMISSION, get(keys::VALID_EMISSION)?)?,
            )?,
        };
        set.check().map_err(|e| file_err(path, e.to_string()))?;
        Ok(set)
    }

    /// Writes the set (curves and spectra as float32, the rest as float64; labels as uint8).
    pub fn write_npz(&self, path: &Path) -> Result<(), DataError> {
        self.check()?;
        let file = File::create(path).map_err(|e| file_err(path, format!("cannot create: {e}")))?;
        let mut w = NpzWriter::new_compressed(BufWriter::new(file));
        let err = |e: ndarray_npy::WriteNpzError| file_err(path, format!("cannot write: {e}"));
        w.add_array(keys::LAM, &Array1::from(self.lam.clone()))
            .map_err(err)?;
        w.add_array(keys::PARAMS, &self.params).map_err(err)?;
        let f32s = |a: &Array2<f64>| a.mapv(|v| v as f32);
        for (key, a) in [
            (keys::CURVE_DISK, &self.curve_disk),
            (keys::CURVE_BULGE, &self.curve_bulge),
            (keys::DUST_EMISSION, &self.dust_emission),
        ] {
            if let Some(a) = a {
                w.add_array(key, &f32s(a)).map_err(err)?;
            }
        }
        for (key, a) in [
            (keys::SFH_DISK, &self.sfh_disk),
            (keys::SFH_BULGE, &self.sfh_bulge),
        ] {
            if let Some(a) = a {
                w.add_array(key, a).map_err(err)?;
            }
        }
        if let Some(f) = &self.frac_abs {
            w.add_array(keys::FRAC_ABS, &Array1::from(f.clone()))
                .map_err(err)?;
        }
        for (key, v) in [
            (keys::VALID_DISK, &self.valid_disk),
            (keys::VALID_BULGE, &self.valid_bulge),
            (keys::VALID_EMISSION, &self.valid_emission),
        ] {
            if let Some(v) = v {
                let a: Array1<u8> = v.iter().map(|&b| u8::from(b)).collect();
                w.add_array(key, &a).map_err(err)?;
            }
        }
        w.finish().map_err(err)?;
        Ok(())
    }

    /// `lam` is the model grid `lam_main` (same length, each point within 1e−6 relative).
    pub fn on_grid(&self, lam_main: &[f64]) -> bool {
        self.lam.len() == lam_main.len()
            && self
                .lam
                .iter()
                .zip(lam_main)
                .all(|(a, b)| ((a - b) / b).abs() <= 1e-6)
    }

    /// Checks shapes and values; errors name the member, row and column. Rows labelled invalid
    /// may hold NaN in the members their label covers.
    pub fn check(&self) -> Result<(), DataError> {
        let n = self.len();
        if n == 0 {
            return Err(invalid("no samples"));
        }
        let lam = &self.lam;
        if lam.len() < N_LAM_ATTENUATION {
            return Err(invalid(format!(
                "'lam' has {} points, expected the model grid (≥ {N_LAM_ATTENUATION})",
                lam.len()
            )));
        }
        if lam.iter().any(|l| !(l.is_finite() && *l > 0.0)) || lam.windows(2).any(|w| w[1] <= w[0])
        {
            return Err(invalid("'lam' must be positive and strictly increasing"));
        }
        for (key, v) in [
            (keys::VALID_DISK, &self.valid_disk),
            (keys::VALID_BULGE, &self.valid_bulge),
            (keys::VALID_EMISSION, &self.valid_emission),
        ] {
            if let Some(v) = v
                && v.len() != n
            {
                return Err(invalid(format!(
                    "'{key}' has {} values, expected {n}",
                    v.len()
                )));
            }
        }
        let shape = |key: &str, a: &Array2<f64>, cols: usize| -> Result<(), DataError> {
            if a.dim() != (n, cols) {
                return Err(invalid(format!(
                    "'{key}' has shape {:?}, expected ({n}, {cols})",
                    a.shape()
                )));
            }
            Ok(())
        };
        // Values in [lo, hi]; rows with `skip[i]` may hold NaN instead.
        let range = |key: &str, a: &Array2<f64>, lo: f64, hi: f64, skip: Option<&[bool]>| {
            for ((i, j), &v) in a.indexed_iter() {
                if v.is_nan() && skip.is_some_and(|s| s[i]) {
                    continue;
                }
                if !(v.is_finite() && (lo..=hi).contains(&v)) {
                    return Err(invalid(format!(
                        "{key}[{i}, {j}] = {v} is outside [{lo}, {hi}]"
                    )));
                }
            }
            Ok(())
        };
        let not = |v: Vec<bool>| v.iter().map(|b| !b).collect::<Vec<bool>>();
        shape(keys::PARAMS, &self.params, N_GP)?;
        range(keys::PARAMS, &self.params, -1.0, 1.0, None)?;
        for part in Part::BOTH {
            if let Some(c) = self.curve(part) {
                let key = format!("curve_{}", part.name());
                shape(&key, c, N_LAM_ATTENUATION)?;
                range(&key, c, f64::MIN, f64::MAX, Some(&not(self.valid(part))))?;
            }
        }
        for (key, s) in [
            (keys::SFH_DISK, &self.sfh_disk),
            (keys::SFH_BULGE, &self.sfh_bulge),
        ] {
            if let Some(s) = s {
                shape(key, s, N_SSP)?;
                range(key, s, 0.0, 1.0, None)?;
            }
        }
        let emission = [self.frac_abs.is_some(), self.dust_emission.is_some()];
        if emission[0] != emission[1] {
            return Err(invalid("frac_abs and dust_emission must come together"));
        }
        if emission[0] && (self.sfh_disk.is_none() || self.sfh_bulge.is_none()) {
            return Err(invalid(
                "frac_abs and dust_emission need sfh_disk and sfh_bulge",
            ));
        }
        let skip = not(self.valid_emission());
        if let Some(f) = &self.frac_abs {
            if f.len() != n {
                return Err(invalid(format!(
                    "'{}' has {} values, expected {n}",
                    keys::FRAC_ABS,
                    f.len()
                )));
            }
            let f2 =
                Array2::from_shape_vec((n, 1), f.clone()).map_err(|e| invalid(e.to_string()))?;
            range(keys::FRAC_ABS, &f2, 0.0, 1.0, Some(&skip))?;
        }
        if let Some(y) = &self.dust_emission {
            shape(keys::DUST_EMISSION, y, lam.len())?;
            range(keys::DUST_EMISSION, y, 0.0, f64::MAX, Some(&skip))?;
            let zero = y
                .rows()
                .into_iter()
                .enumerate()
                .position(|(i, r)| !skip[i] && r.iter().all(|&v| v == 0.0));
            if let Some(i) = zero {
                return Err(invalid(format!(
                    "{}[{i}] is zero everywhere",
                    keys::DUST_EMISSION
                )));
            }
        }
        Ok(())
    }

    /// The samples `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Self {
        let take2 = |a: &Array2<f64>| a.select(ndarray::Axis(0), rows);
        let take1 = |v: &Vec<f64>| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let takeb = |v: &Vec<bool>| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
        Self {
            lam: self.lam.clone(),
            params: take2(&self.params),
            curve_disk: self.curve_disk.as_ref().map(take2),
            curve_bulge: self.curve_bulge.as_ref().map(take2),
            sfh_disk: self.sfh_disk.as_ref().map(take2),
            sfh_bulge: self.sfh_bulge.as_ref().map(take2),
            frac_abs: self.frac_abs.as_ref().map(take1),
            dust_emission: self.dust_emission.as_ref().map(take2),
            valid_disk: self.valid_disk.as_ref().map(takeb),
            valid_bulge: self.valid_bulge.as_ref().map(takeb),
            valid_emission: self.valid_emission.as_ref().map(takeb),
        }
    }

    /// Splits the samples at random (seeded) into a training and a validation set holding
    /// round(fraction·N) samples; both must be non-empty.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> Result<(Self, Self), DataError> {
        let n = self.len();
        if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
            return Err(invalid(format!(
                "the validation fraction must lie in (0, 1), got {valid_fraction}"
            )));
        }
        let n_valid = (valid_fraction * n as f64).round() as usize;
        if n_valid == 0 || n_valid >= n {
            return Err(invalid(format!(
                "{n} samples cannot be split with a validation fraction of {valid_fraction}"
            )));
        }
        let mut rows: Vec<usize> = (0..n).collect();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let (valid, train) = rows.split_at(n_valid);
        let (mut train, mut valid) = (train.to_vec(), valid.to_vec());
        // Sorted rows keep the files' order, which makes the split easy to inspect.
        train.sort_unstable();
        valid.sort_unstable();
        Ok((self.select(&train), self.select(&valid)))
    }

    /// Index of the curve point nearest to 100 µm (in ln λ).
    pub fn k100_index(&self) -> usize {
        let target = K_EXCLUSION_LAM_UM.ln();
        (0..N_LAM_ATTENUATION)
            .min_by(|&a, &b| {
                (self.lam[a].ln() - target)
                    .abs()
                    .total_cmp(&(self.lam[b].ln() - target).abs())
            })
            .unwrap_or(N_LAM_ATTENUATION - 1)
    }

    /// Prepares the set in place: smooths, renormalises the dust emission to ∫ y d ln λ = 1 and
    /// labels the samples excluded by the k(100 µm) rule as invalid.
    pub fn prepare(&mut self, prep: &Preparation) -> Result<PrepReport, DataError> {
        self.check()?;
        let n = self.len();
        let invalid_before = Part::BOTH.map(|p| self.valid(p).iter().filter(|&&v| !v).count());
        if let Some(sg) = prep.smooth_curves {
            let w = sg.weights();
            for c in [&mut self.curve_disk, &mut self.curve_bulge]
                .into_iter()
                .flatten()
            {
                // Rows of invalid samples may be NaN; smoothing leaves them so.
                for mut row in c.rows_mut() {
                    let mut v = row.to_vec();
                    w.apply(&mut v).map_err(invalid)?;
                    row.assign(&Array1::from(v));
                }
            }
        }
        let emission_ok = self.valid_emission();
        if let Some(y) = &mut self.dust_emission {
            let w = prep.smooth_emission.map(|sg| sg.weights());
            let ln_lam: Vec<f64> = self.lam.iter().map(|l| l.ln()).collect();
            for (i, mut row) in y.rows_mut().into_iter().enumerate() {
                if !emission_ok[i] {
                    continue;
                }
                let mut v = row.to_vec();
                if let Some(w) = &w {
                    w.apply(&mut v).map_err(invalid)?;
                    v.iter_mut().for_each(|x| *x = x.max(0.0));
                }
                let integral: f64 = ln_lam
                    .windows(2)
                    .zip(v.windows(2))
                    .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
                    .sum();
                if !(integral.is_finite() && integral > 0.0) {
                    return Err(invalid(format!(
                        "{}[{i}] integrates to {integral} over ln λ; cannot normalise it",
                        keys::DUST_EMISSION
                    )));
                }
                v.iter_mut().for_each(|x| *x /= integral);
                row.assign(&Array1::from(v));
            }
        }
        let mut excluded_k100 = [0, 0];
        if let Some(max) = prep.max_k100 {
            let k = self.k100_index();
            for (p, part) in Part::BOTH.into_iter().enumerate() {
                let Some(c) = self.curve(part) else { continue };
                let mut labels = self.valid(part);
                for (i, l) in labels.iter_mut().enumerate() {
                    if *l && c[[i, k]] > max {
                        *l = false;
                        excluded_k100[p] += 1;
                    }
                }
                match part {
                    Part::Disk => self.valid_disk = Some(labels),
                    Part::Bulge => self.valid_bulge = Some(labels),
                }
            }
        }
        Ok(PrepReport {
            n,
            invalid_before,
            excluded_k100,
            valid_all: self.valid_rows().len(),
        })
    }
}
