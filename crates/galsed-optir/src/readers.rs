//! Readers of real data: SDSS spec-lite FITS spectra and AllWISE-style catalogues.
//!
//! * [`read_spec_lite`] reads one DR8+ `spec-PLATE-MJD-FIBER.fits` file (HDU `COADD`: `flux`,
//!   `loglam`, `ivar`, `and_mask`; HDU `SPECOBJ` or `SPALL`: `Z`, `ZWARNING`, `SPECOBJID`);
//!   [`resample_to_survey_grid`] places its pixels on [`survey::sdss_loglam`]; [`read_spectra`]
//!   does both for many files (in parallel) and stacks them into [`Spectra`].
//! * [`read_wise_catalogue`] reads `w1mpro…w4mpro`, `w1sigmpro…w4sigmpro`, an id column and,
//!   when present, `cc_flags` and `ext_flg` from a CSV or FITS table ([`read_wise_csv`] does the
//!   CSV part on any [`Read`]).
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
//! The files are read by [`galsed_io::sdss`] and [`galsed_io::wise`] (both SDSS-I/II `SPECOBJ`
//! and BOSS/eBOSS `SPALL` spec-lite files); this module places them on the survey grid and
//! applies the WISE detection rules.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use galsed_io::DataError;
use galsed_io::wise::WisePhotometry;
use ndarray::{Array2, Axis};
use rayon::prelude::*;

pub use galsed_io::sdss::{SpecLite, plate_mjd_fiber_id};
pub use galsed_io::wise::{WISE_MAG_COLUMNS, WISE_SIGMA_COLUMNS, cc_flag_artefacts};

use crate::survey::{
    self, LOGLAM_START, LOGLAM_STEP, N_PIX, NODATA, Spectra, Survey, UNDETECTED_SIGMA,
    WISE_DEPTH_5SIGMA,
};
use crate::{OptirError, file_err};

/// The reader's error as this crate's.
fn data_err(e: DataError) -> OptirError {
    match e {
        DataError::File { path, message } => OptirError::File { path, message },
        DataError::Input(m) => OptirError::Input(m),
    }
}

/// Largest distance of an SDSS pixel from the survey grid, in log10 λ (1 % of a pixel); float32
/// `loglam` values are within 2.4e−7 of the grid.
pub const GRID_TOLERANCE: f64 = 1e-6;

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
    /// AllWISE `ext_flg` per row (0: point source, > 0: extended; `None` for a null cell), if
    /// the catalogue has the column. Recorded, not used: the profile-fit magnitudes of
    /// extended galaxies underestimate their flux.
    pub ext_flg: Option<Vec<Option<i64>>>,
    /// Bands dropped for an upper-case `cc_flags` artefact ([`CcArtefacts::Drop`]), per band.
    pub artefact_bands: [usize; 4],
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

/// What the WISE readers do with a band whose AllWISE `cc_flags` character is an upper-case
/// artefact flag (`D`, `P`, `H`, `O`: flux believed spurious or biased, see
/// [`cc_flag_artefacts`]); lower-case flags never drop a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcArtefacts {
    /// Treat the band as missing: a non-detection with the 5σ depth as its limit (the default).
    #[default]
    Drop,
    /// Keep the catalogue's magnitude and error.
    Keep,
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

/// Reads an SDSS spec-lite file (see [`galsed_io::sdss::read_spec_lite`]).
pub fn read_spec_lite(path: &Path) -> Result<SpecLite, OptirError> {
    galsed_io::sdss::read_spec_lite(path).map_err(data_err)
}

/// [`read_spec_lite`] of a file's bytes in memory; `path` only names it in messages.
pub fn spec_lite_from_bytes(bytes: &[u8], path: &Path) -> Result<SpecLite, OptirError> {
    galsed_io::sdss::spec_lite_from_bytes(bytes, path).map_err(data_err)
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
    let read = read_grid_spectra(paths)?;
    let n = paths.len();
    let mut flux = Array2::<f32>::zeros((n, N_PIX));
    let mut ivar = Array2::<f32>::zeros((n, N_PIX));
    let mut and_mask = Array2::<u32>::zeros((n, N_PIX));
    let mut z = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for (i, (zi, id, (f, w, m))) in read.into_iter().enumerate() {
        flux.row_mut(i).assign(&ndarray::ArrayView1::from(&f));
        ivar.row_mut(i).assign(&ndarray::ArrayView1::from(&w));
        and_mask.row_mut(i).assign(&ndarray::ArrayView1::from(&m));
        z.push(zi);
        ids.push(id);
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

/// Reads spec-lite files in parallel: per file, in the order of `paths`, its redshift, id and
/// pixels on the survey grid (the raw pixels are dropped as soon as they are placed). Fails on
/// the first bad file in `paths` order, saying how many failed.
pub(crate) fn read_grid_spectra(
    paths: &[PathBuf],
) -> Result<Vec<(f64, i64, GridSpectrum)>, OptirError> {
    let results: Vec<Result<(f64, i64, GridSpectrum), OptirError>> = paths
        .par_iter()
        .map(|p| {
            let s = read_spec_lite(p)?;
            let g = resample_to_survey_grid(&s)?;
            Ok((s.z, s.id, g))
        })
        .collect();
    let n_failed = results.iter().filter(|r| r.is_err()).count();
    let n = paths.len();
    results
        .into_iter()
        .map(|r| match r {
            Err(OptirError::File { path, message }) if n_failed > 1 => Err(OptirError::File {
                path,
                message: format!("{message} ({n_failed} of {n} files failed; this is the first)"),
            }),
            r => r,
        })
        .collect()
}

// ---- WISE catalogues -------------------------------------------------------------------------

/// Reads a WISE catalogue from a CSV or FITS file (see [`galsed_io::wise::read_wise`]: FITS by
/// extension or signature, the first table HDU holding all the columns) and applies the
/// detection rules (see [`WiseCatalogue`]). Ids must be unique.
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
    read_wise_catalogue_with(path, id_column, hdu, CcArtefacts::default())
}

/// [`read_wise_catalogue_hdu`] with a choice of what to do with `cc_flags` artefacts.
pub fn read_wise_catalogue_with(
    path: &Path,
    id_column: &str,
    hdu: Option<&str>,
    artefacts: CcArtefacts,
) -> Result<WiseCatalogue, OptirError> {
    let p = galsed_io::wise::read_wise(path, id_column, hdu).map_err(data_err)?;
    Ok(wise_from_photometry(p, artefacts))
}

/// Reads an AllWISE-style CSV catalogue (see [`galsed_io::wise::read_wise_csv`]) and applies
/// the detection rules: a null, non-finite or non-positive sigma marks a non-detection whose
/// magnitude is an upper limit (in AllWISE, the 95 % confidence limit); bands with an
/// upper-case `cc_flags` artefact are dropped ([`CcArtefacts::Drop`]). Errors
/// ([`OptirError::Input`]) name the row, line and column.
pub fn read_wise_csv<R: Read>(reader: R, id_column: &str) -> Result<WiseCatalogue, OptirError> {
    let p = galsed_io::wise::read_wise_csv(reader, id_column).map_err(data_err)?;
    Ok(wise_from_photometry(p, CcArtefacts::default()))
}

fn wise_from_photometry(c: WisePhotometry, artefacts: CcArtefacts) -> WiseCatalogue {
    let n = c.ids.len();
    let mut mags = Array2::<f64>::zeros((n, 4));
    let mut errs = Array2::<f64>::zeros((n, 4));
    let mut artefact_bands = [0; 4];
    for i in 0..n {
        // The reader has checked every value; an unreadable one would drop nothing.
        let dropped = match (artefacts, &c.cc_flags) {
            (CcArtefacts::Drop, Some(flags)) => flags
                .get(i)
                .and_then(|f| cc_flag_artefacts(f).ok())
                .unwrap_or_default(),
            _ => [false; 4],
        };
        for b in 0..4 {
            let (m, s) = if dropped[b] {
                artefact_bands[b] += 1;
                (f64::NAN, f64::NAN)
            } else {
                (
                    c.mags[b].get(i).copied().unwrap_or(f64::NAN),
                    c.sigmas[b].get(i).copied().unwrap_or(f64::NAN),
                )
            };
            let detected = m.is_finite() && s.is_finite() && s > 0.0 && s < UNDETECTED_SIGMA;
            mags[[i, b]] = if m.is_finite() {
                m
            } else {
                WISE_DEPTH_5SIGMA[b]
            };
            errs[[i, b]] = if detected { s } else { UNDETECTED_SIGMA };
        }
    }
    WiseCatalogue {
        ids: c.ids,
        mags,
        errs,
        ext_flg: c.ext_flg,
        artefact_bands,
    }
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
