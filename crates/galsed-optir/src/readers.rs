//! Readers of real data: SDSS spec-lite FITS spectra and AllWISE-style catalogues.
//!
//! * [`read_spec_lite`] reads one DR8+ `spec-PLATE-MJD-FIBER.fits` file (HDU `COADD`: `flux`,
//!   `loglam`, `ivar`, `and_mask`; HDU `SPECOBJ`: `Z`, `ZWARNING`, `SPECOBJID`);
//!   [`resample_to_survey_grid`] places its pixels on [`survey::sdss_loglam`]; [`read_spectra`]
//!   does both for many files (in parallel) and stacks them into [`Spectra`].
//! * [`read_wise_catalogue`] reads `w1mpro…w4mpro`, `w1sigmpro…w4sigmpro` and an id column from a
//!   CSV or FITS table ([`read_wise_csv`] does the CSV part on any [`Read`]).
//! * [`assemble_survey`] joins the two by id into a [`Survey`].
//!
//! Column and HDU names are matched case-insensitively. Every failure is an
//! [`OptirError::File`] naming the file and the HDU, column, row or pixel at fault; malformed
//! input never panics (the CSV and spec-lite readers are fuzzed, see `fuzz/README.md`).
//!
//! **Ids.** Galaxies are identified by an `i64`. SDSS `SPECOBJID`s are unsigned 64-bit numbers
//! (stored as integers or as strings) that can exceed `i64::MAX`; every id reader here parses
//! decimal ids in the `u64` range and stores them bit-for-bit as `i64` (two's complement), so that
//! the spectra and the WISE catalogue agree whatever the source. Spec-lite files without
//! `SPECOBJID` get [`plate_mjd_fiber_id`].
//!
//! FITS goes through CFITSIO's C API (`fitsio::sys`), as `galsed-cli`'s table reader does: the
//! high-level `fitsio` API can panic on unusual but valid files.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use crate::survey::{
    self, LOGLAM_START, LOGLAM_STEP, N_PIX, NODATA, Spectra, Survey, UNDETECTED_SIGMA,
    WISE_DEPTH_5SIGMA,
};
use crate::{OptirError, file_err};

/// Largest distance of an SDSS pixel from the survey grid, in log10 λ (1 % of a pixel); float32
/// `loglam` values are within 2.4e−7 of the grid.
pub const GRID_TOLERANCE: f64 = 1e-6;

/// WISE magnitude columns, in band order.
pub const WISE_MAG_COLUMNS: [&str; 4] = ["w1mpro", "w2mpro", "w3mpro", "w4mpro"];
/// WISE magnitude-error columns, in band order; a null, empty, NaN or non-positive value marks an
/// upper limit (non-detection).
pub const WISE_SIGMA_COLUMNS: [&str; 4] = ["w1sigmpro", "w2sigmpro", "w3sigmpro", "w4sigmpro"];

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

/// WISE photometry per catalogue row.
#[derive(Debug, Clone, PartialEq)]
pub struct WiseCatalogue {
    /// Row ids (unique).
    pub ids: Vec<i64>,
    /// W1–W4 Vega magnitudes, (n, 4): the measurement, or for a non-detection the catalogue's
    /// upper limit; a band without any magnitude gets the single-exposure 5σ depth
    /// ([`WISE_DEPTH_5SIGMA`]) as its limit.
    pub mags: Array2<f64>,
    /// W1–W4 errors, (n, 4); [`UNDETECTED_SIGMA`] for non-detections.
    pub errs: Array2<f64>,
}

impl WiseCatalogue {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True if the catalogue has no row.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What [`assemble_survey`] does with spectra that have no WISE row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingWise {
    /// Fail, saying how many spectra lack a row (the default).
    #[default]
    Error,
    /// Leave those spectra out of the survey.
    Drop,
}

// ---- SDSS spec-lite --------------------------------------------------------------------------

/// Reads an SDSS spec-lite file (see [`SpecLite`]).
///
/// `COADD` (or, in files without `EXTNAME`s, HDU 1) must hold `flux`, `loglam`, `ivar` and
/// `and_mask` of equal lengths (scalar columns, one pixel per row, or one row of vector columns);
/// `SPECOBJ` (or HDU 2) must hold `Z`, and should hold `ZWARNING` and `SPECOBJID` (else `PLATE`,
/// `MJD`, `FIBERID`). Fails on non-finite `loglam`, a non-finite or negative redshift, missing
/// HDUs or columns, and files that are not FITS or are truncated.
pub fn read_spec_lite(path: &Path) -> Result<SpecLite, OptirError> {
    let f = fits::Fits::open_path(path).map_err(|m| file_err(path, m))?;
    spec_lite_from(&f, path).map_err(|m| file_err(path, f.truncation_hint(m)))
}

/// [`read_spec_lite`] of a file's bytes in memory; `path` only names it in messages.
pub fn spec_lite_from_bytes(bytes: &[u8], path: &Path) -> Result<SpecLite, OptirError> {
    let f = fits::Fits::open_bytes(bytes).map_err(|m| file_err(path, m))?;
    spec_lite_from(&f, path).map_err(|m| file_err(path, f.truncation_hint(m)))
}

fn spec_lite_from(f: &fits::Fits, path: &Path) -> Result<SpecLite, String> {
    // COADD: the pixels.
    let coadd = f.goto_table("COADD", 1)?;
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

    // SPECOBJ: redshift and id.
    let specobj = f.goto_table("SPECOBJ", 2)?;
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

/// Flux, inverse variance and `and_mask` of one spectrum on the survey grid, [`N_PIX`] each.
pub type GridSpectrum = (Vec<f32>, Vec<f32>, Vec<u32>);

/// Flux, inverse variance and `and_mask` of a spectrum on the survey grid
/// ([`survey::sdss_loglam`], [`N_PIX`] pixels).
///
/// SDSS pixels lie on the same 10⁻⁴ log10 λ grid, so each is placed at the rounded
/// (loglam − [`LOGLAM_START`]) / [`LOGLAM_STEP`]; a pixel farther than [`GRID_TOLERANCE`] from the
/// grid, or `loglam` not strictly increasing, is an error. Pixels outside the survey range are
/// dropped; survey pixels without data get flux 0, ivar 0 and [`NODATA`]. Non-finite fluxes and
/// non-finite or negative inverse variances become flux 0 / ivar 0 (their mask bits are kept).
pub fn resample_to_survey_grid(spec: &SpecLite) -> Result<GridSpectrum, OptirError> {
    let err = |m: String| file_err(&spec.path, m);
    let n = spec.loglam.len();
    if spec.flux.len() != n || spec.ivar.len() != n || spec.and_mask.len() != n {
        return Err(err(format!(
            "flux ({}), ivar ({}), and_mask ({}) and loglam ({n}) have different lengths",
            spec.flux.len(),
            spec.ivar.len(),
            spec.and_mask.len()
        )));
    }
    let mut flux = vec![0f32; N_PIX];
    let mut ivar = vec![0f32; N_PIX];
    let mut mask = vec![NODATA; N_PIX];
    let mut previous: Option<(usize, f64)> = None;
    for i in 0..n {
        let l = spec.loglam[i];
        if !l.is_finite() {
            return Err(err(format!("loglam is not finite at pixel {i} ({l})")));
        }
        if let Some((j, lp)) = previous
            && l <= lp
        {
            return Err(err(format!(
                "loglam is not strictly increasing: pixel {i} ({l}) after pixel {j} ({lp})"
            )));
        }
        previous = Some((i, l));
        let offset = (l - LOGLAM_START) / LOGLAM_STEP;
        let k = offset.round();
        if ((offset - k) * LOGLAM_STEP).abs() > GRID_TOLERANCE {
            return Err(err(format!(
                "pixel {i} (loglam {l}) is {:.4} pixels off the SDSS grid ({LOGLAM_START} + k·{LOGLAM_STEP}); \
                 only spectra on the SDSS log-λ grid can be placed without interpolation",
                offset - k
            )));
        }
        if k < 0.0 || k >= N_PIX as f64 {
            continue;
        }
        let k = k as usize;
        let (mut f, mut w) = (spec.flux[i], spec.ivar[i]);
        if !f.is_finite() {
            f = 0.0;
            w = 0.0;
        }
        if !w.is_finite() || w < 0.0 {
            w = 0.0;
        }
        flux[k] = f;
        ivar[k] = w;
        mask[k] = spec.and_mask[i];
    }
    Ok((flux, ivar, mask))
}

/// Reads many spec-lite files (in parallel), places them on the survey grid and stacks them:
/// spectra in the order of `paths`, their redshifts and ids. Fails on the first bad file in
/// `paths` order, saying how many failed.
pub fn read_spectra(paths: &[PathBuf]) -> Result<(Spectra, Vec<f64>, Vec<i64>), OptirError> {
    let results: Vec<Result<(SpecLite, GridSpectrum), OptirError>> = paths
        .par_iter()
        .map(|p| {
            let s = read_spec_lite(p)?;
            let g = resample_to_survey_grid(&s)?;
            Ok((s, g))
        })
        .collect();
    let n_failed = results.iter().filter(|r| r.is_err()).count();
    let n = paths.len();
    let mut flux = Array2::<f32>::zeros((n, N_PIX));
    let mut ivar = Array2::<f32>::zeros((n, N_PIX));
    let mut and_mask = Array2::<u32>::zeros((n, N_PIX));
    let mut z = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for (i, r) in results.into_iter().enumerate() {
        let (s, (f, w, m)) = match r {
            Ok(v) => v,
            Err(OptirError::File { path, message }) if n_failed > 1 => {
                return Err(OptirError::File {
                    path,
                    message: format!(
                        "{message} ({n_failed} of {n} files failed; this is the first)"
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        flux.row_mut(i).assign(&ndarray::ArrayView1::from(&f));
        ivar.row_mut(i).assign(&ndarray::ArrayView1::from(&w));
        and_mask.row_mut(i).assign(&ndarray::ArrayView1::from(&m));
        z.push(s.z);
        ids.push(s.id);
    }
    Ok((
        Spectra {
            loglam: survey::sdss_loglam(),
            flux,
            ivar,
            and_mask,
        },
        z,
        ids,
    ))
}

// ---- WISE catalogues -------------------------------------------------------------------------

/// Reads a WISE catalogue from a CSV or FITS file (by extension: `.fits`, `.fit`, `.fts`, also
/// gzipped, else by the FITS signature at the start of the file; everything else is CSV).
///
/// FITS: the first table HDU holding all the columns. See [`read_wise_catalogue_hdu`] for a named
/// HDU and [`read_wise_csv`] for the CSV rules. Ids must be unique.
pub fn read_wise_catalogue(path: &Path, id_column: &str) -> Result<WiseCatalogue, OptirError> {
    read_wise_catalogue_hdu(path, id_column, None)
}

/// [`read_wise_catalogue`] from the FITS HDU named `hdu` (its `EXTNAME`, or its 0-based number);
/// `hdu` must be `None` for CSV files.
pub fn read_wise_catalogue_hdu(
    path: &Path,
    id_column: &str,
    hdu: Option<&str>,
) -> Result<WiseCatalogue, OptirError> {
    if is_fits(path) {
        let f = fits::Fits::open_path(path).map_err(|m| file_err(path, m))?;
        let cols =
            wise_fits(&f, id_column, hdu).map_err(|m| file_err(path, f.truncation_hint(m)))?;
        return wise_from_columns(cols).map_err(|m| file_err(path, m));
    }
    if let Some(h) = hdu {
        return Err(file_err(
            path,
            format!("an HDU ('{h}') was given but the file is not FITS"),
        ));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| file_err(path, format!("cannot open the file: {e}")))?;
    read_wise_csv(std::io::BufReader::new(file), id_column).map_err(|e| match e {
        OptirError::Input(m) => file_err(path, m),
        e => e,
    })
}

fn is_fits(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if [".fits", ".fit", ".fts"].iter().any(|e| name.ends_with(e)) {
        return true;
    }
    let mut head = [0u8; 9];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"SIMPLE  ="
}

/// The columns of a WISE catalogue as read, before the detection rules.
struct WiseColumns {
    /// Where each row came from, for messages ("row 3 (line 5)").
    row_label: Box<dyn Fn(usize) -> String>,
    ids: Vec<i64>,
    mags: [Vec<f64>; 4],
    sigmas: [Vec<f64>; 4],
}

/// Reads an AllWISE-style CSV catalogue: a header row naming (case-insensitively) `id_column`,
/// `w1mpro…w4mpro` and `w1sigmpro…w4sigmpro` (other columns are ignored), then one row per
/// object. Lines starting with `#` are comments. Ids are decimal integers (see the module
/// documentation); magnitude cells are numbers or null (empty, `null`, `nan`, `none`, `na`,
/// `n/a`, `--`). A null, non-finite or non-positive sigma marks a non-detection whose magnitude is
/// an upper limit. Errors ([`OptirError::Input`]) name the row, line and column.
pub fn read_wise_csv<R: Read>(reader: R, id_column: &str) -> Result<WiseCatalogue, OptirError> {
    let cols = wise_csv(reader, id_column).map_err(OptirError::Input)?;
    wise_from_columns(cols).map_err(OptirError::Input)
}

fn cell_is_null(s: &str) -> bool {
    s.is_empty()
        || ["null", "nan", "none", "na", "n/a", "--"]
            .iter()
            .any(|n| s.eq_ignore_ascii_case(n))
}

fn parse_id(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<u64>().ok().map(|u| u as i64))
}

fn wise_csv<R: Read>(reader: R, id_column: &str) -> Result<WiseColumns, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(reader);
    let position =
        |p: Option<&csv::Position>| p.map_or_else(String::new, |p| format!(" (line {})", p.line()));
    let header: Vec<String> = match rdr.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|b| {
                String::from_utf8_lossy(b)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_owned()
            })
            .collect(),
        Err(e) => return Err(format!("cannot read the CSV header: {}", csv_message(&e))),
    };
    if header.iter().all(|h| h.is_empty()) {
        return Err("the CSV file is empty (no header row)".into());
    }
    let find = |name: &str| -> Result<Option<usize>, String> {
        let hits: Vec<usize> = (0..header.len())
            .filter(|&k| header[k].eq_ignore_ascii_case(name))
            .collect();
        match hits.as_slice() {
            [] => Ok(None),
            [k] => Ok(Some(*k)),
            _ => Err(format!(
                "the CSV header names column '{name}' {} times",
                hits.len()
            )),
        }
    };
    let mut wanted = vec![id_column.to_owned()];
    wanted.extend(WISE_MAG_COLUMNS.iter().map(|s| s.to_string()));
    wanted.extend(WISE_SIGMA_COLUMNS.iter().map(|s| s.to_string()));
    let mut index = vec![];
    let mut missing = vec![];
    for name in &wanted {
        match find(name)? {
            Some(k) => index.push(k),
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "the CSV file lacks column(s) {} (it has: {})",
            quoted(&missing),
            short_list(&header)
        ));
    }
    let mut ids = vec![];
    let mut mags: [Vec<f64>; 4] = Default::default();
    let mut sigmas: [Vec<f64>; 4] = Default::default();
    let mut lines: Vec<u64> = vec![];
    let mut record = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(format!("row {}: {}", ids.len() + 1, csv_message(&e)));
            }
        }
        let row = ids.len() + 1;
        let at = position(record.position());
        let line = record.position().map_or(0, |p| p.line());
        let cell = |k: usize| -> Result<String, String> {
            let col = index[k];
            let bytes = record.get(col).unwrap_or_default();
            std::str::from_utf8(bytes)
                .map(|s| s.trim().to_owned())
                .map_err(|_| format!("row {row}{at}, column '{}': invalid UTF-8", header[col]))
        };
        let text = cell(0)?;
        let text = text.as_str();
        let id = parse_id(text).ok_or_else(|| {
            format!(
                "row {row}{at}, column '{}': '{}' is not an integer id",
                header[index[0]],
                clip(text)
            )
        })?;
        ids.push(id);
        for k in 1..9 {
            let text = cell(k)?;
            let text = text.as_str();
            let v = if cell_is_null(text) {
                f64::NAN
            } else {
                text.parse::<f64>().map_err(|_| {
                    format!(
                        "row {row}{at}, column '{}': '{}' is not a number",
                        header[index[k]],
                        clip(text)
                    )
                })?
            };
            if k <= 4 {
                mags[k - 1].push(v)
            } else {
                sigmas[k - 5].push(v)
            }
        }
        lines.push(line);
    }
    Ok(WiseColumns {
        row_label: Box::new(move |i| match lines.get(i) {
            Some(&l) if l > 0 => format!("row {} (line {l})", i + 1),
            _ => format!("row {}", i + 1),
        }),
        ids,
        mags,
        sigmas,
    })
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let at = pos
                .as_ref()
                .map_or_else(String::new, |p| format!("line {}: ", p.line()));
            format!("{at}{len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Io(e) => format!("cannot read: {e}"),
        _ => e.to_string(),
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn short_list(names: &[String]) -> String {
    const MAX: usize = 24;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| clip(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(", … ({} columns)", names.len()));
    }
    s
}

fn wise_fits(f: &fits::Fits, id_column: &str, hdu: Option<&str>) -> Result<WiseColumns, String> {
    let mut wanted = vec![id_column.to_owned()];
    wanted.extend(WISE_MAG_COLUMNS.iter().map(|s| s.to_string()));
    wanted.extend(WISE_SIGMA_COLUMNS.iter().map(|s| s.to_string()));
    let desc = match hdu {
        Some(h) => {
            let desc = f.goto_spec(h)?;
            let missing: Vec<String> = wanted
                .iter()
                .filter(|w| f.find_column(w).is_none())
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{desc} lacks column(s) {} (it has: {})",
                    quoted(&missing),
                    f.column_list()
                ));
            }
            desc
        }
        None => {
            let mut found = None;
            let mut why = vec![];
            for k in 1..f.n_hdus() {
                let desc = f.goto_index(k)?;
                if !f.is_table() {
                    continue;
                }
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|w| f.find_column(w).is_none())
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    found = Some(desc);
                    break;
                }
                why.push(format!("{desc} lacks {}", quoted(&missing)));
            }
            match found {
                Some(d) => d,
                None if why.is_empty() => {
                    return Err(format!(
                        "the file holds no table HDU; it has: {}",
                        f.hdu_list()
                    ));
                }
                None => {
                    return Err(format!(
                        "no table HDU has the WISE columns: {}",
                        why.join("; ")
                    ));
                }
            }
        }
    };
    let n = f.nrows();
    let cid = f.require_column(id_column, &desc)?;
    let ids = f.read_ids(cid, id_column, &desc, n)?;
    let mut mags: [Vec<f64>; 4] = Default::default();
    let mut sigmas: [Vec<f64>; 4] = Default::default();
    for b in 0..4 {
        for (name, out) in [
            (WISE_MAG_COLUMNS[b], &mut mags[b]),
            (WISE_SIGMA_COLUMNS[b], &mut sigmas[b]),
        ] {
            let c = f.require_column(name, &desc)?;
            *out = f.read_f64_scalar(c, name, &desc, n)?;
        }
    }
    Ok(WiseColumns {
        row_label: Box::new(move |i| format!("{desc} row {}", i + 1)),
        ids,
        mags,
        sigmas,
    })
}

fn wise_from_columns(c: WiseColumns) -> Result<WiseCatalogue, String> {
    let n = c.ids.len();
    let mut first: HashMap<i64, usize> = HashMap::with_capacity(n);
    let mut dups = vec![];
    for (i, &id) in c.ids.iter().enumerate() {
        if let Some(&j) = first.get(&id) {
            dups.push(format!(
                "id {id} in {} and {}",
                (c.row_label)(j),
                (c.row_label)(i)
            ));
        } else {
            first.insert(id, i);
        }
    }
    if !dups.is_empty() {
        let more = if dups.len() > 3 {
            format!(" and {} more", dups.len() - 3)
        } else {
            String::new()
        };
        dups.truncate(3);
        return Err(format!("duplicated ids: {}{more}", dups.join(", ")));
    }
    let mut mags = Array2::<f64>::zeros((n, 4));
    let mut errs = Array2::<f64>::zeros((n, 4));
    for i in 0..n {
        for b in 0..4 {
            let m = c.mags[b].get(i).copied().unwrap_or(f64::NAN);
            let s = c.sigmas[b].get(i).copied().unwrap_or(f64::NAN);
            let detected = m.is_finite() && s.is_finite() && s > 0.0 && s < UNDETECTED_SIGMA;
            mags[[i, b]] = if m.is_finite() {
                m
            } else {
                WISE_DEPTH_5SIGMA[b]
            };
            errs[[i, b]] = if detected { s } else { UNDETECTED_SIGMA };
        }
    }
    Ok(WiseCatalogue {
        ids: c.ids,
        mags,
        errs,
    })
}

// ---- the survey ------------------------------------------------------------------------------

/// Joins spectra (rows in the order of `ids`, with redshifts `z`) with a WISE catalogue by id.
///
/// `ugriz` is optional: AB magnitudes and errors, (n, 5), in the order of the spectra; without it
/// both are NaN (nothing in the WISE predictor needs them; the ugriz baseline does). Spectra
/// without a WISE row are an error listing how many (and the first ids), or with
/// [`MissingWise::Drop`] are left out (also from `ugriz`); an empty result is an error.
/// `truth` is `None`. Spectrum ids must be unique.
pub fn assemble_survey(
    spectra: Spectra,
    z: Vec<f64>,
    ids: Vec<i64>,
    wise: &WiseCatalogue,
    ugriz: Option<(Array2<f64>, Array2<f64>)>,
    missing: MissingWise,
) -> Result<Survey, OptirError> {
    let n = ids.len();
    let n_pix = spectra.loglam.len();
    if z.len() != n
        || spectra.flux.dim() != (n, n_pix)
        || spectra.ivar.dim() != (n, n_pix)
        || spectra.and_mask.dim() != (n, n_pix)
    {
        return Err(OptirError::Input(format!(
            "{n} ids, {} redshifts and spectra of flux {:?}, ivar {:?}, and_mask {:?} on {n_pix} pixels do not match",
            z.len(),
            spectra.flux.dim(),
            spectra.ivar.dim(),
            spectra.and_mask.dim()
        )));
    }
    if wise.mags.dim() != (wise.ids.len(), 4) || wise.errs.dim() != (wise.ids.len(), 4) {
        return Err(OptirError::Input(format!(
            "the WISE catalogue has {} ids but magnitudes {:?} and errors {:?}",
            wise.ids.len(),
            wise.mags.dim(),
            wise.errs.dim()
        )));
    }
    if let Some((m, e)) = &ugriz
        && (m.dim() != (n, 5) || e.dim() != (n, 5))
    {
        return Err(OptirError::Input(format!(
            "ugriz magnitudes {:?} and errors {:?} should both be ({n}, 5)",
            m.dim(),
            e.dim()
        )));
    }
    let mut seen: HashMap<i64, usize> = HashMap::with_capacity(n);
    for (i, &id) in ids.iter().enumerate() {
        if let Some(j) = seen.insert(id, i) {
            return Err(OptirError::Input(format!(
                "spectrum id {id} appears twice (spectra {j} and {i})"
            )));
        }
    }
    let row: HashMap<i64, usize> = wise
        .ids
        .iter()
        .enumerate()
        .map(|(r, &id)| (id, r))
        .collect();
    if row.len() != wise.ids.len() {
        return Err(OptirError::Input(
            "the WISE catalogue has duplicated ids".into(),
        ));
    }
    let lacking: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !row.contains_key(id))
        .collect();
    if !lacking.is_empty() && missing == MissingWise::Error {
        let shown: Vec<String> = lacking.iter().take(5).map(|i| i.to_string()).collect();
        let more = if lacking.len() > 5 { ", …" } else { "" };
        return Err(OptirError::Input(format!(
            "{} of {n} spectra have no WISE row (ids {}{more}); use MissingWise::Drop to leave them out",
            lacking.len(),
            shown.join(", ")
        )));
    }
    let keep: Vec<usize> = (0..n).filter(|&i| row.contains_key(&ids[i])).collect();
    if keep.is_empty() {
        return Err(OptirError::Input(format!(
            "none of the {n} spectra has a WISE row"
        )));
    }
    let wrows: Vec<usize> = keep
        .iter()
        .filter_map(|&i| row.get(&ids[i]).copied())
        .collect();
    let m = keep.len();
    let (ugriz, ugriz_err) = match ugriz {
        Some((mag, err)) => (mag.select(Axis(0), &keep), err.select(Axis(0), &keep)),
        None => (
            Array2::from_elem((m, 5), f64::NAN),
            Array2::from_elem((m, 5), f64::NAN),
        ),
    };
    Ok(Survey {
        id: keep.iter().map(|&i| ids[i]).collect(),
        redshift: keep.iter().map(|&i| z[i]).collect(),
        spectra: Spectra {
            flux: spectra.flux.select(Axis(0), &keep),
            ivar: spectra.ivar.select(Axis(0), &keep),
            and_mask: spectra.and_mask.select(Axis(0), &keep),
            loglam: spectra.loglam,
        },
        ugriz,
        ugriz_err,
        wise: wise.mags.select(Axis(0), &wrows),
        wise_err: wise.errs.select(Axis(0), &wrows),
        truth: None,
    })
}

// ---- FITS through CFITSIO --------------------------------------------------------------------

mod fits {
    use std::ffi::{CString, c_char, c_int, c_void};
    use std::path::Path;
    use std::ptr;
    use std::sync::{Mutex, MutexGuard};

    use fitsio::sys;

    /// Serialises CFITSIO calls if the library was built without thread support.
    static LOCK: Mutex<()> = Mutex::new(());

    /// The buffer of an in-memory file and the two cells whose addresses CFITSIO keeps.
    struct Mem {
        _data: Vec<u8>,
        ptr: *mut c_void,
        size: usize,
    }

    /// An open file, closed on drop.
    pub struct Fits {
        ptr: *mut sys::fitsfile,
        /// Bytes in the file as stored (0 if unknown, e.g. gzipped).
        len: u64,
        _mem: Option<Box<Mem>>,
        _guard: Option<MutexGuard<'static, ()>>,
    }

    impl Drop for Fits {
        fn drop(&mut self) {
            if !self.ptr.is_null() {
                let mut status = 0;
                // SAFETY: the pointer came from a successful open and is closed only once; the
                // memory buffer (if any) is dropped after this.
                unsafe { sys::ffclos(self.ptr, &mut status) };
            }
        }
    }

    fn guard() -> Option<MutexGuard<'static, ()>> {
        // SAFETY: a pure query.
        if unsafe { sys::fits_is_reentrant() } != 0 {
            None
        } else {
            Some(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
        }
    }

    fn cstr(buf: &[c_char]) -> String {
        let bytes: Vec<u8> = buf
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Text of a CFITSIO status and the messages CFITSIO stacked with it.
    fn status_text(status: c_int) -> String {
        let mut buf = [0 as c_char; sys::FLEN_STATUS as usize + 1];
        // SAFETY: buffer of FLEN_STATUS + 1.
        unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
        let mut text = cstr(&buf);
        let mut details: Vec<String> = vec![];
        for _ in 0..64 {
            let mut m = [0 as c_char; sys::FLEN_ERRMSG as usize + 1];
            // SAFETY: buffer of FLEN_ERRMSG + 1.
            if unsafe { sys::ffgmsg(m.as_mut_ptr()) } == 0 {
                break;
            }
            let m = cstr(&m).trim().to_owned();
            if !m.is_empty() && !details.contains(&m) {
                details.push(m);
            }
        }
        details.truncate(3);
        if !details.is_empty() {
            text.push_str(&format!(": {}", details.join("; ").replace(":; ", ": ")));
        }
        format!("{text} (CFITSIO status {status})")
    }

    fn clear_messages() {
        // SAFETY: clears CFITSIO's message stack.
        unsafe { sys::ffcmsg() };
    }

    fn is_numeric(tc: u32) -> bool {
        matches!(
            tc,
            sys::TBYTE
                | sys::TSBYTE
                | sys::TSHORT
                | sys::TUSHORT
                | sys::TINT
                | sys::TUINT
                | sys::TLONG
                | sys::TULONG
                | sys::TLONGLONG
                | sys::TULONGLONG
                | sys::TFLOAT
                | sys::TDOUBLE
        )
    }

    fn type_name(tc: c_int) -> &'static str {
        if tc < 0 {
            return "variable-length array";
        }
        match tc as u32 {
            sys::TSTRING => "string",
            sys::TLOGICAL => "logical",
            sys::TBIT => "bit",
            sys::TCOMPLEX | sys::TDBLCOMPLEX => "complex",
            sys::TFLOAT | sys::TDOUBLE => "floating-point",
            t if is_numeric(t) => "integer",
            _ => "unknown",
        }
    }

    impl Fits {
        pub fn open_path(path: &Path) -> Result<Self, String> {
            let meta = std::fs::metadata(path).map_err(|e| format!("cannot open the file: {e}"))?;
            if meta.is_dir() {
                return Err("is a directory, not a FITS file".into());
            }
            if meta.len() == 0 {
                return Err("the file is empty, not a FITS file".into());
            }
            let s = path.to_str().ok_or("the file name is not valid UTF-8")?;
            let c = CString::new(s).map_err(|_| "the file name contains a NUL byte".to_string())?;
            let gz = s.to_ascii_lowercase().ends_with(".gz");
            let guard = guard();
            clear_messages();
            let mut f = Fits {
                ptr: ptr::null_mut(),
                len: if gz { 0 } else { meta.len() },
                _mem: None,
                _guard: guard,
            };
            let mut status = 0;
            // SAFETY: out-pointer and NUL-terminated name; the disk-file variant does not parse
            // CFITSIO's extended file-name syntax.
            unsafe { sys::ffdkopn(&mut f.ptr, c.as_ptr(), sys::READONLY as c_int, &mut status) };
            if status != 0 {
                f.ptr = ptr::null_mut();
                return Err(f.truncation_hint(format!(
                    "not a readable FITS file: {}",
                    status_text(status)
                )));
            }
            Ok(f)
        }

        pub fn open_bytes(bytes: &[u8]) -> Result<Self, String> {
            if bytes.is_empty() {
                return Err("the file is empty, not a FITS file".into());
            }
            let guard = guard();
            clear_messages();
            // CFITSIO's memory driver reads whole 2880-byte blocks and would read past the end
            // of a buffer that is not a whole number of blocks (found by fuzzing): pad with
            // zeros; `len` keeps the true size, against which the table sizes are checked.
            let mut data = Vec::with_capacity(bytes.len().div_ceil(2880) * 2880);
            data.extend_from_slice(bytes);
            data.resize(bytes.len().div_ceil(2880) * 2880, 0);
            let mut mem = Box::new(Mem {
                ptr: data.as_mut_ptr().cast(),
                size: data.len(),
                _data: vec![],
            });
            mem._data = data;
            let mut f = Fits {
                ptr: ptr::null_mut(),
                len: bytes.len() as u64,
                _mem: None,
                _guard: guard,
            };
            let name = c"memory.fits";
            let mut status = 0;
            let (pp, ps): (*mut *mut c_void, *mut usize) = (&mut mem.ptr, &mut mem.size);
            // SAFETY: read-only memory file over a buffer that lives (boxed, not moved) in `f`
            // until after ffclos; CFITSIO keeps the two cell addresses, which stay valid.
            unsafe {
                sys::ffomem(
                    &mut f.ptr,
                    name.as_ptr(),
                    sys::READONLY as c_int,
                    pp,
                    ps,
                    0,
                    None,
                    &mut status,
                )
            };
            f._mem = Some(mem);
            if status != 0 {
                f.ptr = ptr::null_mut();
                return Err(f.truncation_hint(format!(
                    "not a readable FITS file: {}",
                    status_text(status)
                )));
            }
            Ok(f)
        }

        /// Adds a hint to a message if the file is not a whole number of FITS blocks.
        pub fn truncation_hint(&self, message: String) -> String {
            if self.len > 0 && !self.len.is_multiple_of(2880) {
                format!(
                    "{message} ({} bytes is not a whole number of 2880-byte FITS blocks: is the file truncated?)",
                    self.len
                )
            } else {
                message
            }
        }

        fn key_str(&self, key: &str) -> Option<String> {
            let key = CString::new(key).ok()?;
            let mut value = [0 as c_char; sys::FLEN_VALUE as usize + 1];
            let mut status = 0;
            // SAFETY: valid file, NUL-terminated key, value buffer of FLEN_VALUE + 1.
            unsafe {
                sys::ffgkys(
                    self.ptr,
                    key.as_ptr(),
                    value.as_mut_ptr(),
                    ptr::null_mut(),
                    &mut status,
                )
            };
            if status != 0 {
                clear_messages();
                return None;
            }
            Some(cstr(&value).trim().to_owned())
        }

        fn key_i64(&self, key: &str) -> Option<i64> {
            let key = CString::new(key).ok()?;
            let mut v: i64 = 0;
            let mut status = 0;
            // SAFETY: valid file, NUL-terminated key.
            unsafe { sys::ffgkyjj(self.ptr, key.as_ptr(), &mut v, ptr::null_mut(), &mut status) };
            if status != 0 {
                clear_messages();
                return None;
            }
            Some(v)
        }

        pub fn n_hdus(&self) -> c_int {
            let (mut n, mut status) = (0, 0);
            // SAFETY: valid file.
            unsafe { sys::ffthdu(self.ptr, &mut n, &mut status) };
            if status != 0 {
                clear_messages();
            }
            n
        }

        fn hdu_type(&self) -> Option<u32> {
            let (mut t, mut status) = (0, 0);
            // SAFETY: valid file.
            unsafe { sys::ffghdt(self.ptr, &mut t, &mut status) };
            (status == 0).then_some(t as u32)
        }

        pub fn is_table(&self) -> bool {
            matches!(self.hdu_type(), Some(sys::BINARY_TBL | sys::ASCII_TBL))
        }

        /// "HDU 1 'COADD'" for the current HDU.
        fn describe(&self) -> String {
            let mut num = 0;
            // SAFETY: valid file.
            unsafe { sys::ffghdn(self.ptr, &mut num) };
            let name = self
                .key_str("EXTNAME")
                .map(|n| format!(" '{n}'"))
                .unwrap_or_default();
            format!("HDU {}{name}", num - 1)
        }

        /// "0 (image), 1 'COADD' (binary table)": the HDUs as far as they can be read.
        pub fn hdu_list(&self) -> String {
            let mut out = vec![];
            for i in 1..=self.n_hdus().min(1000) {
                let (mut t, mut status) = (0, 0);
                // SAFETY: valid file, 1-based HDU number within the count.
                unsafe { sys::ffmahd(self.ptr, i, &mut t, &mut status) };
                if status != 0 {
                    break;
                }
                let name = self
                    .key_str("EXTNAME")
                    .map(|n| format!(" '{n}'"))
                    .unwrap_or_default();
                let kind = match t as u32 {
                    sys::IMAGE_HDU => "image",
                    sys::ASCII_TBL => "ASCII table",
                    sys::BINARY_TBL => "binary table",
                    _ => "unknown",
                };
                out.push(format!("{}{name} ({kind})", i - 1));
            }
            clear_messages();
            if out.is_empty() {
                "no readable HDU".into()
            } else {
                out.join(", ")
            }
        }

        /// Moves to the 0-based HDU `k`; returns its description.
        pub fn goto_index(&self, k: c_int) -> Result<String, String> {
            let (mut t, mut status) = (0, 0);
            if k >= 0 {
                // SAFETY: valid file; CFITSIO checks the number.
                unsafe { sys::ffmahd(self.ptr, k + 1, &mut t, &mut status) };
            }
            if k < 0 || status != 0 {
                let text = status_text(status);
                return Err(format!(
                    "cannot read HDU {k}: {text}; the file has: {}",
                    self.hdu_list()
                ));
            }
            self.check_table_size()?;
            Ok(self.describe())
        }

        /// Moves to the table HDU named `spec` (EXTNAME, case-insensitive) or numbered `spec`.
        pub fn goto_spec(&self, spec: &str) -> Result<String, String> {
            let desc = match spec.trim().parse::<c_int>() {
                Ok(k) => self.goto_index(k)?,
                Err(_) => {
                    if !self.goto_name(spec) {
                        return Err(format!(
                            "there is no HDU named '{spec}'; the file has: {}",
                            self.hdu_list()
                        ));
                    }
                    self.check_table_size()?;
                    self.describe()
                }
            };
            if !self.is_table() {
                return Err(format!(
                    "{desc} is not a table; the file has: {}",
                    self.hdu_list()
                ));
            }
            Ok(desc)
        }

        fn goto_name(&self, name: &str) -> bool {
            let Ok(c) = CString::new(name) else {
                return false;
            };
            let mut status = 0;
            // SAFETY: valid file; CFITSIO does not modify the name.
            unsafe {
                sys::ffmnhd(
                    self.ptr,
                    sys::ANY_HDU,
                    c.as_ptr().cast_mut(),
                    0,
                    &mut status,
                )
            };
            if status != 0 {
                clear_messages();
            }
            status == 0
        }

        /// Moves to the table named `name`, or, if no HDU is named so, to the unnamed table HDU
        /// number `fallback`.
        pub fn goto_table(&self, name: &str, fallback: c_int) -> Result<String, String> {
            let found = self.goto_name(name) || {
                let (mut t, mut status) = (0, 0);
                // SAFETY: valid file; CFITSIO checks the number.
                unsafe { sys::ffmahd(self.ptr, fallback + 1, &mut t, &mut status) };
                if status != 0 {
                    clear_messages();
                }
                status == 0
                    && self.key_str("EXTNAME").is_none_or(|n| n.is_empty())
                    && self.is_table()
            };
            if !found {
                return Err(format!(
                    "there is no HDU named '{name}'; the file has: {}",
                    self.hdu_list()
                ));
            }
            let desc = self.describe();
            if !self.is_table() {
                return Err(format!(
                    "{desc} is not a table; the file has: {}",
                    self.hdu_list()
                ));
            }
            self.check_table_size()?;
            Ok(desc)
        }

        /// Fails if the current HDU's data extends beyond the end of the file.
        fn check_table_size(&self) -> Result<(), String> {
            if self.len == 0 || !self.is_table() {
                return Ok(());
            }
            let (mut head, mut start, mut end, mut status) = (0i64, 0i64, 0i64, 0);
            // SAFETY: valid file.
            unsafe { sys::ffghadll(self.ptr, &mut head, &mut start, &mut end, &mut status) };
            if status != 0 {
                return Err(format!(
                    "{}: cannot locate the data: {}",
                    self.describe(),
                    status_text(status)
                ));
            }
            let naxis1 = self.key_i64("NAXIS1").unwrap_or(0).max(0);
            let naxis2 = self.key_i64("NAXIS2").unwrap_or(0).max(0);
            let pcount = self.key_i64("PCOUNT").unwrap_or(0).max(0);
            let need = naxis1
                .checked_mul(naxis2)
                .and_then(|b| b.checked_add(pcount))
                .and_then(|b| b.checked_add(start));
            match need {
                Some(need) if need as u64 <= self.len => Ok(()),
                _ => Err(format!(
                    "{} declares {naxis2} rows of {naxis1} bytes beyond the {} bytes of the file: the file is truncated",
                    self.describe(),
                    self.len
                )),
            }
        }

        pub fn nrows(&self) -> usize {
            let (mut n, mut status) = (0i64, 0);
            // SAFETY: valid file on a table HDU.
            unsafe { sys::ffgnrwll(self.ptr, &mut n, &mut status) };
            if status != 0 {
                clear_messages();
                return 0;
            }
            usize::try_from(n).unwrap_or(0)
        }

        fn column_names(&self) -> Vec<String> {
            let (mut n, mut status) = (0, 0);
            // SAFETY: valid file on a table HDU.
            unsafe { sys::ffgncl(self.ptr, &mut n, &mut status) };
            if status != 0 {
                clear_messages();
                return vec![];
            }
            (1..=n.clamp(0, 999))
                .map(|c| self.key_str(&format!("TTYPE{c}")).unwrap_or_default())
                .collect()
        }

        pub fn column_list(&self) -> String {
            super::short_list(&self.column_names())
        }

        /// 1-based number of the column named `name` (case-insensitive).
        pub fn find_column(&self, name: &str) -> Option<c_int> {
            let names = self.column_names();
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name.trim()))
                .map(|k| k as c_int + 1)
        }

        pub fn require_column(&self, name: &str, desc: &str) -> Result<c_int, String> {
            self.find_column(name).ok_or_else(|| {
                format!(
                    "{desc} has no column '{name}' (columns: {})",
                    self.column_list()
                )
            })
        }

        /// Type code and values per row of a column.
        fn column_type(
            &self,
            col: c_int,
            name: &str,
            desc: &str,
        ) -> Result<(c_int, usize, usize), String> {
            let (mut tc, mut repeat, mut width, mut status) = (0, 0i64, 0i64, 0);
            // SAFETY: valid file, column number from find_column.
            unsafe { sys::ffeqtyll(self.ptr, col, &mut tc, &mut repeat, &mut width, &mut status) };
            if status != 0 {
                return Err(format!(
                    "{desc}: cannot read the format of column '{name}': {}",
                    status_text(status)
                ));
            }
            Ok((
                tc,
                usize::try_from(repeat).unwrap_or(0),
                usize::try_from(width).unwrap_or(0),
            ))
        }

        fn numeric_column(
            &self,
            col: c_int,
            name: &str,
            desc: &str,
        ) -> Result<(u32, usize), String> {
            let (tc, repeat, _) = self.column_type(col, name, desc)?;
            if tc < 0 || !is_numeric(tc as u32) {
                return Err(format!(
                    "{desc}: column '{name}' has the {} type, not a number",
                    type_name(tc)
                ));
            }
            Ok((tc as u32, repeat))
        }

        /// Number of values of a column in the whole table (rows × values per row), bounded by
        /// the size of the table data (checked on moving to the HDU).
        fn n_values(&self, repeat: usize, desc: &str, name: &str) -> Result<usize, String> {
            let n = self
                .nrows()
                .checked_mul(repeat)
                .ok_or_else(|| format!("{desc}: column '{name}' is too large"))?;
            if self.len > 0 && n as u64 > self.len {
                return Err(format!(
                    "{desc}: column '{name}' declares {n} values in a file of {} bytes",
                    self.len
                ));
            }
            Ok(n)
        }

        fn read_f64(
            &self,
            col: c_int,
            first_row: i64,
            n: usize,
            name: &str,
            desc: &str,
        ) -> Result<Vec<f64>, String> {
            let mut v = vec![0f64; n];
            if n == 0 {
                return Ok(v);
            }
            let (mut anynul, mut status) = (0, 0);
            // SAFETY: the buffer holds n values, which CFITSIO reads from `first_row` on.
            unsafe {
                sys::ffgcvd(
                    self.ptr,
                    col,
                    first_row,
                    1,
                    n as i64,
                    f64::NAN,
                    v.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
            if status != 0 {
                return Err(format!(
                    "{desc}: cannot read column '{name}': {}",
                    status_text(status)
                ));
            }
            Ok(v)
        }

        /// Every value of a numeric column (vector columns row after row), nulls as NaN.
        pub fn read_f64_all(&self, col: c_int, name: &str, desc: &str) -> Result<Vec<f64>, String> {
            let (_, repeat) = self.numeric_column(col, name, desc)?;
            let n = self.n_values(repeat, desc, name)?;
            self.read_f64(col, 1, n, name, desc)
        }

        /// A scalar numeric column, nulls as NaN.
        pub fn read_f64_scalar(
            &self,
            col: c_int,
            name: &str,
            desc: &str,
            n: usize,
        ) -> Result<Vec<f64>, String> {
            let (_, repeat) = self.numeric_column(col, name, desc)?;
            if repeat != 1 {
                return Err(format!(
                    "{desc}: column '{name}' holds {repeat} values per row, not one"
                ));
            }
            self.read_f64(col, 1, n.min(self.n_values(1, desc, name)?), name, desc)
        }

        /// The first value of a numeric column.
        pub fn read_first_f64(&self, col: c_int, name: &str, desc: &str) -> Result<f64, String> {
            let (_, repeat) = self.numeric_column(col, name, desc)?;
            if repeat == 0 {
                return Err(format!("{desc}: column '{name}' holds no values"));
            }
            Ok(self
                .read_f64(col, 1, 1, name, desc)?
                .first()
                .copied()
                .unwrap_or(f64::NAN))
        }

        /// Every value of an integer column; a null is an error.
        pub fn read_i64_all(&self, col: c_int, name: &str, desc: &str) -> Result<Vec<i64>, String> {
            let (tc, repeat) = self.numeric_column(col, name, desc)?;
            if matches!(tc, sys::TFLOAT | sys::TDOUBLE) {
                return Err(format!(
                    "{desc}: column '{name}' is floating-point, not integer"
                ));
            }
            let n = self.n_values(repeat, desc, name)?;
            self.read_i64(col, n, name, desc)
        }

        fn read_i64(
            &self,
            col: c_int,
            n: usize,
            name: &str,
            desc: &str,
        ) -> Result<Vec<i64>, String> {
            let mut v = vec![0i64; n];
            if n == 0 {
                return Ok(v);
            }
            const NULL: i64 = i64::MIN;
            let (mut anynul, mut status) = (0, 0);
            // SAFETY: the buffer holds n values.
            unsafe {
                sys::ffgcvjj(
                    self.ptr,
                    col,
                    1,
                    1,
                    n as i64,
                    NULL,
                    v.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
            if status != 0 {
                return Err(format!(
                    "{desc}: cannot read column '{name}': {}",
                    status_text(status)
                ));
            }
            if anynul != 0
                && let Some(i) = v.iter().position(|&x| x == NULL)
            {
                return Err(format!(
                    "{desc}: column '{name}' is null at value {}",
                    i + 1
                ));
            }
            Ok(v)
        }

        /// The first `n` ids of a scalar id column: integers, unsigned 64-bit integers (kept as
        /// their bit pattern), integral floats below 2⁵³, or decimal strings.
        pub fn read_ids(
            &self,
            col: c_int,
            name: &str,
            desc: &str,
            n: usize,
        ) -> Result<Vec<i64>, String> {
            let (tc, repeat, width) = self.column_type(col, name, desc)?;
            let n = n.min(self.nrows());
            if tc >= 0 && tc as u32 == sys::TSTRING {
                if width > 0 && repeat > width {
                    return Err(format!(
                        "{desc}: column '{name}' holds several strings per row"
                    ));
                }
                let width = width.max(repeat);
                self.n_values(width.max(1), desc, name)?;
                let strings = self.read_strings(col, n, width, name, desc)?;
                return strings
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        super::parse_id(s).ok_or_else(|| {
                            format!(
                                "{desc}: column '{name}' row {}: '{}' is not an integer id",
                                i + 1,
                                super::clip(s)
                            )
                        })
                    })
                    .collect();
            }
            let (tc, repeat) = self.numeric_column(col, name, desc)?;
            if repeat != 1 {
                return Err(format!(
                    "{desc}: id column '{name}' holds {repeat} values per row, not one"
                ));
            }
            self.n_values(1, desc, name)?;
            match tc {
                sys::TFLOAT | sys::TDOUBLE => {
                    let v = self.read_f64(col, 1, n, name, desc)?;
                    v.iter()
                        .enumerate()
                        .map(|(i, &x)| {
                            if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
                                Ok(x as i64)
                            } else {
                                Err(format!(
                                    "{desc}: id column '{name}' row {} is {x}, not an integer below 2^53 \
                                     (store ids as integers or strings)",
                                    i + 1
                                ))
                            }
                        })
                        .collect()
                }
                sys::TULONGLONG => {
                    let mut v = vec![0u64; n];
                    if n > 0 {
                        let (mut anynul, mut status) = (0, 0);
                        // SAFETY: the buffer holds n values.
                        unsafe {
                            sys::ffgcvujj(
                                self.ptr,
                                col,
                                1,
                                1,
                                n as i64,
                                0,
                                v.as_mut_ptr(),
                                &mut anynul,
                                &mut status,
                            )
                        };
                        if status != 0 {
                            return Err(format!(
                                "{desc}: cannot read column '{name}': {}",
                                status_text(status)
                            ));
                        }
                    }
                    Ok(v.into_iter().map(|u| u as i64).collect())
                }
                _ => self.read_i64(col, n, name, desc),
            }
        }

        fn read_strings(
            &self,
            col: c_int,
            n: usize,
            width: usize,
            name: &str,
            desc: &str,
        ) -> Result<Vec<String>, String> {
            if n == 0 || width == 0 {
                return Ok(vec![String::new(); n]);
            }
            const CHUNK: usize = 4096;
            let mut out = Vec::with_capacity(n);
            let mut bufs: Vec<Vec<c_char>> = vec![vec![0; width + 1]; CHUNK.min(n)];
            let mut start = 0;
            while start < n {
                let m = CHUNK.min(n - start);
                let mut ptrs: Vec<*mut c_char> =
                    bufs[..m].iter_mut().map(|b| b.as_mut_ptr()).collect();
                let mut nul = [0 as c_char; 1];
                let (mut anynul, mut status) = (0, 0);
                // SAFETY: m pointers to buffers of width + 1 bytes, as CFITSIO requires.
                unsafe {
                    sys::ffgcvs(
                        self.ptr,
                        col,
                        start as i64 + 1,
                        1,
                        m as i64,
                        nul.as_mut_ptr(),
                        ptrs.as_mut_ptr(),
                        &mut anynul,
                        &mut status,
                    )
                };
                if status != 0 {
                    return Err(format!(
                        "{desc}: cannot read column '{name}': {}",
                        status_text(status)
                    ));
                }
                out.extend(bufs[..m].iter().map(|b| cstr(b).trim().to_owned()));
                start += m;
            }
            Ok(out)
        }
    }
}
