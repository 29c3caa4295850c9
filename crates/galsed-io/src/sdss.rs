//! SDSS spec-lite files (feature `fits`): one coadded spectrum per
//! `spec-PLATE-MJD-FIBER.fits` file, as stored (pixels in file order, not on any grid).
//!
//! Both layouts are read: SDSS-I/II (DR8+ reprocessing: HDU 1 `COADD`, HDU 2 `SPECOBJ`) and
//! BOSS/eBOSS (HDU 1 `COADD`, HDU 2 `SPALL`), whose second HDUs hold the same needed columns
//! (`Z`, `ZWARNING`, `SPECOBJID` or `PLATE`/`MJD`/`FIBERID`). Files without `EXTNAME`s are read
//! by HDU number.
//!
//! **Ids.** SDSS `SPECOBJID`s are unsigned 64-bit numbers (stored as integers or as strings)
//! that can exceed `i64::MAX`; they are parsed in the `u64` range and stored bit-for-bit as
//! `i64` (two's complement). Spectra without `SPECOBJID` get [`plate_mjd_fiber_id`].
//!
//! **Catalogue.** [`read_specobj_catalogue`] reads SDSS's own spectroscopic catalogue
//! (`specObj-dr16.fits`-style: one binary-table row per spectrum in HDU 1) — the ids,
//! redshifts, classifications, plate/MJD/fiber and the legacy target bits that select the main
//! galaxy sample ([`MAIN_SAMPLE_TARGET_BITS`]).
//!
//! Malformed input never panics (the readers are fuzzed, see `fuzz/README.md`).

use std::path::{Path, PathBuf};

use crate::DataError;
use crate::fits::Fits;

/// One SDSS spec-lite file as stored: pixels in file order, not yet on the survey grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecLite {
    /// The file read (for messages).
    pub path: PathBuf,
    /// log10(λ/Å) per pixel.
    pub loglam: Vec<f64>,
    /// F_λ [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹].
    pub flux: Vec<f32>,
    /// Inverse variance of `flux`.
    pub ivar: Vec<f32>,
    /// SDSS `and_mask` bits (the int32 column's bit pattern).
    pub and_mask: Vec<u32>,
    /// Redshift (`Z`), finite and ≥ 0.
    pub z: f64,
    /// `ZWARNING` bits, 0 if the column is absent.
    pub zwarning: i64,
    /// `SPECOBJID` (see the module documentation), else [`plate_mjd_fiber_id`].
    pub id: i64,
}

/// Id of a spectrum without `SPECOBJID`: `plate·10⁹ + mjd·10⁴ + fiberid`.
pub fn plate_mjd_fiber_id(plate: i64, mjd: i64, fiberid: i64) -> i64 {
    plate
        .wrapping_mul(1_000_000_000)
        .wrapping_add(mjd.wrapping_mul(10_000))
        .wrapping_add(fiberid)
}

/// Reads an SDSS spec-lite file (see [`SpecLite`]).
///
/// `COADD` (or, in files without `EXTNAME`s, HDU 1) must hold `flux`, `loglam`, `ivar` and
/// `and_mask` of equal lengths (scalar columns, one pixel per row, or one row of vector columns);
/// `SPECOBJ` or `SPALL` (or HDU 2) must hold `Z`, and should hold `ZWARNING` and `SPECOBJID`
/// (else `PLATE`, `MJD`, `FIBERID`). Fails on non-finite `loglam`, a non-finite or negative
/// redshift, missing HDUs or columns, and files that are not FITS or are truncated; every
/// error is a [`DataError::File`] naming the file and the HDU, column or pixel at fault.
pub fn read_spec_lite(path: &Path) -> Result<SpecLite, DataError> {
    let f = Fits::open_path(path).map_err(|m| DataError::file(path, m))?;
    spec_lite_from(&f, path).map_err(|m| DataError::file(path, f.truncation_hint(m)))
}

/// [`read_spec_lite`] of a file's bytes in memory; `path` only names it in messages.
pub fn spec_lite_from_bytes(bytes: &[u8], path: &Path) -> Result<SpecLite, DataError> {
    let f = Fits::open_bytes(bytes).map_err(|m| DataError::file(path, m))?;
    spec_lite_from(&f, path).map_err(|m| DataError::file(path, f.truncation_hint(m)))
}

fn spec_lite_from(f: &Fits, path: &Path) -> Result<SpecLite, String> {
    // COADD: the pixels.
    let coadd = f.goto_table(&["COADD"], 1)?;
    let mut cols = vec![];
    for name in ["loglam", "flux", "ivar"] {
        let c = f.require_column(name, &coadd)?;
        cols.push(f.read_f64_all(c, name, &coadd)?);
    }
    let c = f.require_column("and_mask", &coadd)?;
    let mask = f.read_i64_all(c, "and_mask", &coadd)?;
    let (Some(ivar), Some(flux), Some(loglam)) = (cols.pop(), cols.pop(), cols.pop()) else {
        return Err("internal: columns not read".into());
    };
    let n = loglam.len();
    if flux.len() != n || ivar.len() != n || mask.len() != n {
        return Err(format!(
            "{coadd}: columns of different lengths: loglam {n}, flux {}, ivar {}, and_mask {}",
            flux.len(),
            ivar.len(),
            mask.len()
        ));
    }
    if n == 0 {
        return Err(format!("{coadd} holds no pixels"));
    }
    if let Some(i) = loglam.iter().position(|l| !l.is_finite()) {
        return Err(format!(
            "{coadd}: column 'loglam' is not finite at pixel {i} ({})",
            loglam[i]
        ));
    }
    let mut and_mask = Vec::with_capacity(n);
    for (i, &m) in mask.iter().enumerate() {
        // int32 bit patterns (bit 31 makes them negative); accept unsigned 32-bit values too.
        let m = if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&m) {
            m as u32
        } else {
            return Err(format!(
                "{coadd}: column 'and_mask' at pixel {i} ({m}) is not a 32-bit mask"
            ));
        };
        and_mask.push(m);
    }

    // SPECOBJ (SDSS-I/II) or SPALL (BOSS/eBOSS): redshift and id.
    let specobj = f.goto_table(&["SPECOBJ", "SPALL"], 2)?;
    if f.nrows() == 0 {
        return Err(format!("{specobj} has no rows"));
    }
    let c = f.require_column("Z", &specobj)?;
    let z = f.read_first_f64(c, "Z", &specobj)?;
    if !z.is_finite() || z < 0.0 {
        return Err(format!(
            "{specobj}: the redshift Z = {z} is not a finite number ≥ 0"
        ));
    }
    let zwarning = match f.find_column("ZWARNING") {
        Some(c) => {
            let w = f.read_first_f64(c, "ZWARNING", &specobj)?;
            if !w.is_finite() {
                return Err(format!("{specobj}: ZWARNING is null"));
            }
            w as i64
        }
        None => 0,
    };
    let id = match f.find_column("SPECOBJID") {
        Some(c) => f
            .read_ids(c, "SPECOBJID", &specobj, 1)?
            .first()
            .copied()
            .ok_or("no SPECOBJID")?,
        None => {
            let mut v = [0i64; 3];
            for (k, name) in ["PLATE", "MJD", "FIBERID"].into_iter().enumerate() {
                let c = f.find_column(name).ok_or_else(|| {
                    format!(
                        "{specobj} has neither 'SPECOBJID' nor '{name}' to identify the spectrum (columns: {})",
                        f.column_list()
                    )
                })?;
                v[k] = f
                    .read_ids(c, name, &specobj, 1)?
                    .first()
                    .copied()
                    .ok_or("no id")?;
            }
            plate_mjd_fiber_id(v[0], v[1], v[2])
        }
    };
    Ok(SpecLite {
        path: path.to_path_buf(),
        loglam,
        flux: flux.iter().map(|&v| v as f32).collect(),
        ivar: ivar.iter().map(|&v| v as f32).collect(),
        and_mask,
        z,
        zwarning,
        id,
    })
}

// ---- the specObj catalogue ---------------------------------------------------------------------

/// Legacy target bit `GALAXY_RED` (luminous red galaxies), `0x20`.
///
/// Bit values of the SDSS `TARGET` flags (`PRIMTARGET`, and `LEGACY_TARGET1` from DR8 on), from
/// the SDSS bitmask documentation (sdss.org/dr16/algorithms/bitmasks/#TARGET) and Strauss et
/// al. (2002), AJ 124, 1810, for the main galaxy sample.
pub const TARGET_GALAXY_RED: i64 = 0x20;
/// Legacy target bit `GALAXY` (main galaxy sample, r_Petro < 17.77), `0x40`.
pub const TARGET_GALAXY: i64 = 0x40;
/// Legacy target bit `GALAXY_BIG` (main sample, low surface brightness), `0x80`.
pub const TARGET_GALAXY_BIG: i64 = 0x80;
/// Legacy target bit `GALAXY_BRIGHT_CORE` (main sample, bright fibre magnitude), `0x100`.
pub const TARGET_GALAXY_BRIGHT_CORE: i64 = 0x100;
/// A spectrum is in the main galaxy sample if any of these bits is set: `GALAXY |
/// GALAXY_BIG | GALAXY_BRIGHT_CORE` = `0x1c0` (`GALAXY_RED` alone is the LRG sample).
pub const MAIN_SAMPLE_TARGET_BITS: i64 =
    TARGET_GALAXY | TARGET_GALAXY_BIG | TARGET_GALAXY_BRIGHT_CORE;

/// The target-bit columns, in order of preference: DR8+ `LEGACY_TARGET1`, then the older
/// `PRIMTARGET` (same bits).
pub const TARGET_COLUMNS: [&str; 2] = ["LEGACY_TARGET1", "PRIMTARGET"];

/// The columns of an SDSS specObj catalogue needed to select and identify spectra, one entry
/// per row, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecObjCatalogue {
    /// `SPECOBJID` (stored bit-for-bit as `i64`, see the module documentation).
    pub specobjid: Vec<i64>,
    /// `Z`; NaN where null.
    pub z: Vec<f64>,
    /// `ZWARNING` bits.
    pub zwarning: Vec<i64>,
    /// `CLASS` with the padding blanks removed (`GALAXY`, `QSO`, `STAR`).
    pub class: Vec<String>,
    /// `PLATE`.
    pub plate: Vec<i64>,
    /// `MJD`.
    pub mjd: Vec<i64>,
    /// `FIBERID`.
    pub fiberid: Vec<i64>,
    /// Target bits from [`Self::target_column`].
    pub target_bits: Vec<i64>,
    /// Which of [`TARGET_COLUMNS`] the target bits came from.
    pub target_column: String,
}

impl SpecObjCatalogue {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.specobjid.len()
    }

    /// True if the catalogue has no row.
    pub fn is_empty(&self) -> bool {
        self.specobjid.is_empty()
    }
}

/// Reads an SDSS specObj catalogue (see [`SpecObjCatalogue`]) from the binary table in HDU 1.
///
/// Columns (names in any case): `SPECOBJID` (integer, unsigned 64-bit, or a decimal string
/// such as the `20A` column of SDSS files), `Z` (number), `ZWARNING`, `PLATE`, `MJD`,
/// `FIBERID` (integers), `CLASS` (string) and one of [`TARGET_COLUMNS`] (integer); other
/// columns are ignored. Every error is a [`DataError::File`] naming the file and the column
/// or row at fault: missing columns, wrong types, null integers, unparsable ids, truncated
/// files.
pub fn read_specobj_catalogue(path: &Path) -> Result<SpecObjCatalogue, DataError> {
    let f = Fits::open_path(path).map_err(|m| DataError::file(path, m))?;
    specobj_from(&f).map_err(|m| DataError::file(path, f.truncation_hint(m)))
}

/// [`read_specobj_catalogue`] of a file's bytes in memory; `path` only names it in messages.
pub fn specobj_catalogue_from_bytes(
    bytes: &[u8],
    path: &Path,
) -> Result<SpecObjCatalogue, DataError> {
    let f = Fits::open_bytes(bytes).map_err(|m| DataError::file(path, m))?;
    specobj_from(&f).map_err(|m| DataError::file(path, f.truncation_hint(m)))
}

fn specobj_from(f: &Fits) -> Result<SpecObjCatalogue, String> {
    let desc = f.goto_index(1)?;
    if !f.is_table() {
        return Err(format!(
            "{desc} is not a table; the file has: {}",
            f.hdu_list()
        ));
    }
    let n = f.nrows();
    // Every column is read whole: it must hold one value per row.
    let one_per_row = |name: &str, len: usize| -> Result<(), String> {
        if len == n {
            Ok(())
        } else {
            Err(format!(
                "{desc}: column '{name}' holds {len} values for {n} rows, not one per row"
            ))
        }
    };
    let int = |name: &str| -> Result<Vec<i64>, String> {
        let c = f.require_column(name, &desc)?;
        let v = f.read_i64_all(c, name, &desc)?;
        one_per_row(name, v.len())?;
        Ok(v)
    };
    let c = f.require_column("SPECOBJID", &desc)?;
    let specobjid = f.read_ids(c, "SPECOBJID", &desc, n)?;
    one_per_row("SPECOBJID", specobjid.len())?;
    let c = f.require_column("Z", &desc)?;
    let z = f.read_f64_all(c, "Z", &desc)?;
    one_per_row("Z", z.len())?;
    let c = f.require_column("CLASS", &desc)?;
    let class = f.read_str_scalar(c, "CLASS", &desc, n)?;
    one_per_row("CLASS", class.len())?;
    let target_column = TARGET_COLUMNS
        .iter()
        .find(|name| f.find_column(name).is_some())
        .ok_or_else(|| {
            format!(
                "{desc} has neither 'LEGACY_TARGET1' nor 'PRIMTARGET' (the target bits that \
                 select the main galaxy sample); columns: {}",
                f.column_list()
            )
        })?;
    Ok(SpecObjCatalogue {
        specobjid,
        z,
        zwarning: int("ZWARNING")?,
        class: class.into_iter().map(|c| c.trim().to_owned()).collect(),
        plate: int("PLATE")?,
        mjd: int("MJD")?,
        fiberid: int("FIBERID")?,
        target_bits: int(target_column)?,
        target_column: (*target_column).to_owned(),
    })
}

/// Plate, MJD and fiber of a spec-lite file named `spec-PLATE-MJD-FIBER.fits` (also `.fit`,
/// `.fts`, optionally gzipped; the numbers may be zero-padded), else `None`.
pub fn plate_mjd_fiber_of(path: &Path) -> Option<(i64, i64, i64)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = [".fits", ".fit", ".fts"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))?;
    let mut parts = stem.strip_prefix("spec-")?.split('-');
    let mut number = || -> Option<i64> {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let key = (number()?, number()?, number()?);
    parts.next().is_none().then_some(key)
}
