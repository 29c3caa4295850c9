//! Importing a real survey at scale: the SDSS main galaxy sample selected from SDSS's specObj
//! catalogue, its spec-lite files read in parallel, in chunks that survive a kill.
//!
//! * [`select_main_sample`] applies the sample cuts to a [`SpecObjCatalogue`]: main-sample
//!   target bits ([`MAIN_SAMPLE_TARGET_BITS`]), `CLASS = GALAXY`, `ZWARNING = 0`, and the
//!   redshift range ([`SampleCuts`]); [`CutReport`] says how many rows each cut removed.
//! * [`join_catalogue`] pairs the selected rows with spec-lite files by plate, MJD and fiber,
//!   which SDSS puts in the file name (`spec-PLATE-MJD-FIBER.fits`), so only selected spectra
//!   are read; ids and redshifts then come from the catalogue.
//! * [`read_spectra_resumable`] reads the files chunk by chunk (each chunk in parallel) into the
//!   survey arrays, and writes each finished chunk atomically to a work directory. A rerun after
//!   a kill reads the finished chunks back instead of the files; the work directory is removed
//!   ([`remove_work_dir`]) once the survey is written. Memory beyond the output arrays is one
//!   chunk of raw spectra.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use galsed_io::sdss::{MAIN_SAMPLE_TARGET_BITS, SpecObjCatalogue, plate_mjd_fiber_of};
use ndarray::Array2;

use crate::pipeline::{Progress, Unit};
use crate::readers::{GridSpectrum, read_grid_spectra};
use crate::simulate::SimulateConfig;
use crate::survey::{self, N_PIX, Spectra};
use crate::{OptirError, file_err, input_err};

/// Largest |Δz| between a spectrum's own `Z` and the catalogue's before they count as
/// disagreeing: 10⁻⁴ (30 km/s), the size of SDSS galaxy redshift errors. Both come from the
/// same pipeline as float32, so a disagreement means a different reduction or a wrong file.
pub const Z_TOLERANCE: f64 = 1e-4;

/// Spectra per chunk of [`read_spectra_resumable`] by default (about 46 MB of pixels).
pub const DEFAULT_CHUNK_SIZE: usize = 1000;

// ---- sample cuts -----------------------------------------------------------------------------

/// The redshift range of the sample: `z_min ≤ Z ≤ z_max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleCuts {
    /// Lowest redshift kept.
    pub z_min: f64,
    /// Highest redshift kept.
    pub z_max: f64,
}

impl Default for SampleCuts {
    /// The synthetic survey's range ([`SimulateConfig`]: 0.01–0.3), which covers the SDSS main
    /// galaxy sample (median z ≈ 0.1) that Jespersen et al. (2025) use.
    fn default() -> Self {
        let sim = SimulateConfig::default();
        Self {
            z_min: sim.z_min,
            z_max: sim.z_max,
        }
    }
}

/// How many catalogue rows each cut removed, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CutReport {
    /// Rows in the catalogue.
    pub rows: usize,
    /// Removed for lacking every main-sample target bit.
    pub target: usize,
    /// Removed for a `CLASS` other than `GALAXY`.
    pub class: usize,
    /// Removed for a non-zero `ZWARNING`.
    pub zwarning: usize,
    /// Removed for a redshift outside the range (or null).
    pub redshift: usize,
    /// Rows left.
    pub selected: usize,
}

/// The cut table printed by `galsed optir import`: each cut, the rows it removed, the rows left.
#[derive(Debug, Clone, Copy)]
pub struct CutTable<'a> {
    /// The counts.
    pub report: &'a CutReport,
    /// The redshift range applied.
    pub cuts: &'a SampleCuts,
    /// The catalogue column the target bits came from.
    pub target_column: &'a str,
}

impl fmt::Display for CutTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        let rows = [
            (
                format!(
                    "{} & {MAIN_SAMPLE_TARGET_BITS:#x} (main sample)",
                    self.target_column
                ),
                r.target,
            ),
            ("CLASS = GALAXY".to_owned(), r.class),
            ("ZWARNING = 0".to_owned(), r.zwarning),
            (
                format!("{} <= Z <= {}", self.cuts.z_min, self.cuts.z_max),
                r.redshift,
            ),
        ];
        writeln!(f, "{:<40} {:>10} {:>10}", "cut", "removed", "left")?;
        writeln!(f, "{:<40} {:>10} {:>10}", "catalogue rows", "", r.rows)?;
        let mut left = r.rows;
        for (name, removed) in rows {
            left = left.saturating_sub(removed);
            writeln!(f, "{name:<40} {removed:>10} {left:>10}")?;
        }
        Ok(())
    }
}

/// Rows of `cat` in the SDSS main galaxy sample within `cuts`, in catalogue order, and what each
/// cut removed. The cuts apply in order: any of the [`MAIN_SAMPLE_TARGET_BITS`], `CLASS` equal
/// to `GALAXY` (case-insensitive, padding removed), `ZWARNING` = 0, `z_min ≤ Z ≤ z_max`.
/// Fails on a redshift range that is not `0 ≤ z_min < z_max` (finite).
pub fn select_main_sample(
    cat: &SpecObjCatalogue,
    cuts: &SampleCuts,
) -> Result<(Vec<usize>, CutReport), OptirError> {
    if !(cuts.z_min.is_finite() && cuts.z_max.is_finite() && 0.0 <= cuts.z_min)
        || cuts.z_min >= cuts.z_max
    {
        return Err(input_err(format!(
            "redshift range {}–{}: need finite 0 ≤ z_min < z_max",
            cuts.z_min, cuts.z_max
        )));
    }
    let mut report = CutReport {
        rows: cat.len(),
        ..CutReport::default()
    };
    let mut selected = vec![];
    for i in 0..cat.len() {
        let counter = if cat.target_bits[i] & MAIN_SAMPLE_TARGET_BITS == 0 {
            &mut report.target
        } else if !cat.class[i].trim().eq_ignore_ascii_case("GALAXY") {
            &mut report.class
        } else if cat.zwarning[i] != 0 {
            &mut report.zwarning
        } else if !(cuts.z_min..=cuts.z_max).contains(&cat.z[i]) {
            &mut report.redshift
        } else {
            selected.push(i);
            continue;
        };
        *counter += 1;
    }
    report.selected = selected.len();
    Ok((selected, report))
}

// ---- joining the catalogue and the files -----------------------------------------------------

/// One spectrum to import.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumSource {
    /// Its spec-lite file.
    pub path: PathBuf,
    /// Id and redshift from the catalogue (`None`: from the file itself).
    pub catalogue: Option<(i64, f64)>,
}

impl SpectrumSource {
    /// Sources reading ids and redshifts from the files themselves.
    pub fn from_files(paths: &[PathBuf]) -> Vec<Self> {
        paths
            .iter()
            .map(|p| Self {
                path: p.clone(),
                catalogue: None,
            })
            .collect()
    }
}

/// What [`join_catalogue`] matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JoinReport {
    /// Files whose spectrum is in the selected sample (these are read).
    pub matched: usize,
    /// Files whose spectrum the cuts removed or the catalogue lacks (not read).
    pub not_selected: usize,
    /// Selected catalogue rows without a file.
    pub without_file: usize,
}

/// The files among `paths` whose plate, MJD and fiber (from the name
/// `spec-PLATE-MJD-FIBER.fits`) are a `selected` row of `cat`, in the order of `paths`, with
/// that row's `SPECOBJID` and `Z`. Fails on a file name without plate, MJD and fiber, and on
/// two files or two selected rows with the same plate, MJD and fiber.
pub fn join_catalogue(
    paths: &[PathBuf],
    cat: &SpecObjCatalogue,
    selected: &[usize],
) -> Result<(Vec<SpectrumSource>, JoinReport), OptirError> {
    let mut rows: HashMap<(i64, i64, i64), usize> = HashMap::with_capacity(selected.len());
    for &i in selected {
        let key = (cat.plate[i], cat.mjd[i], cat.fiberid[i]);
        if let Some(j) = rows.insert(key, i) {
            return Err(input_err(format!(
                "the catalogue has plate {} MJD {} fiber {} twice (rows {} and {})",
                key.0,
                key.1,
                key.2,
                j + 1,
                i + 1
            )));
        }
    }
    let mut files: HashMap<(i64, i64, i64), &Path> = HashMap::with_capacity(paths.len());
    let mut sources = vec![];
    let mut report = JoinReport::default();
    for p in paths {
        let key = plate_mjd_fiber_of(p).ok_or_else(|| {
            file_err(
                p,
                "the name is not spec-PLATE-MJD-FIBER.fits: with a specObj catalogue, spectra \
                 are matched to it by their file names",
            )
        })?;
        if let Some(q) = files.insert(key, p) {
            return Err(file_err(
                p,
                format!("the same spectrum as {} (plate, MJD, fiber)", q.display()),
            ));
        }
        match rows.get(&key) {
            Some(&i) => {
                sources.push(SpectrumSource {
                    path: p.clone(),
                    catalogue: Some((cat.specobjid[i], cat.z[i])),
                });
                report.matched += 1;
            }
            None => report.not_selected += 1,
        }
    }
    report.without_file = rows.keys().filter(|k| !files.contains_key(k)).count();
    Ok((sources, report))
}

/// The spec-lite files named by `args`: files as given, and directories searched recursively
/// for `spec-PLATE-MJD-FIBER.fits` files (SDSS keeps them in one directory per plate), in name
/// order. Fails on a path that does not exist and on a directory without spec-lite files.
pub fn spec_lite_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, OptirError> {
    let mut out = vec![];
    for a in args {
        if a.is_dir() {
            let before = out.len();
            walk(a, &mut out)?;
            if out.len() == before {
                return Err(file_err(
                    a,
                    "the directory holds no spec-PLATE-MJD-FIBER.fits files",
                ));
            }
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), OptirError> {
    let read_err = |e: std::io::Error| file_err(dir, format!("cannot list the directory: {e}"));
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if plate_mjd_fiber_of(&p).is_some() {
            out.push(p);
        }
    }
    Ok(())
}

// ---- reading in resumable chunks ---------------------------------------------------------------

/// Spectra read by [`read_spectra_resumable`], in the order of the sources.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSpectra {
    /// The spectra on the survey grid.
    pub spectra: Spectra,
    /// Redshifts (the catalogue's where given).
    pub z: Vec<f64>,
    /// Ids (the catalogue's where given).
    pub ids: Vec<i64>,
    /// Ids of spectra whose own `Z` differs from the catalogue's by more than [`Z_TOLERANCE`].
    pub z_disagreements: Vec<i64>,
    /// Chunks in all.
    pub chunks: usize,
    /// Chunks read back from an earlier, interrupted run.
    pub resumed_chunks: usize,
}

/// The work directory of an import writing `output`: `.NAME.import` beside it.
pub fn work_dir_for(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.import"))
}

/// Removes a work directory of [`read_spectra_resumable`] (its chunks and manifest, then the
/// directory if nothing else is in it); a missing directory is fine.
pub fn remove_work_dir(dir: &Path) -> Result<(), OptirError> {
    if !dir.exists() {
        return Ok(());
    }
    clear_chunks(dir)?;
    std::fs::remove_file(dir.join(MANIFEST)).ok();
    std::fs::remove_dir(dir).ok();
    Ok(())
}

const MANIFEST: &str = "manifest.txt";
const CHUNK_MAGIC: &[u8; 8] = b"GSDCHNK1";

fn chunk_path(dir: &Path, k: usize) -> PathBuf {
    dir.join(format!("chunk-{k:06}.bin"))
}

fn clear_chunks(dir: &Path) -> Result<(), OptirError> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_err(dir, e))?;
    for e in entries {
        let p = e.map_err(|e| file_err(dir, e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("chunk-") && name.ends_with(".bin") {
            std::fs::remove_file(&p).map_err(|e| file_err(&p, e))?;
        }
    }
    Ok(())
}

/// 64-bit FNV-1a: a fingerprint that stays the same across builds (unlike `std`'s hashers).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What the chunks hold: the sources in order, their catalogue values and the chunking.
fn manifest(sources: &[SpectrumSource], chunk_size: usize) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for s in sources {
        h = fnv1a(h, s.path.as_os_str().as_encoded_bytes());
        h = fnv1a(h, &[0]);
        if let Some((id, z)) = s.catalogue {
            h = fnv1a(h, &id.to_le_bytes());
            h = fnv1a(h, &z.to_bits().to_le_bytes());
        }
    }
    format!(
        "galsed optir import chunks\nspectra {}\nchunk size {chunk_size}\npixels {N_PIX}\nsources {h:016x}\n",
        sources.len()
    )
}

/// One read spectrum: the catalogue's (or its own) id and redshift, its own `SPECOBJID` and
/// `Z`, and its pixels on the grid.
struct Row {
    id: i64,
    z: f64,
    own_id: i64,
    own_z: f64,
    grid: GridSpectrum,
}

const ROW_BYTES: usize = 32 + 12 * N_PIX;

fn encode_chunk(rows: &[Row]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + rows.len() * ROW_BYTES);
    b.extend_from_slice(CHUNK_MAGIC);
    b.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    for r in rows {
        b.extend_from_slice(&r.id.to_le_bytes());
        b.extend_from_slice(&r.z.to_le_bytes());
        b.extend_from_slice(&r.own_id.to_le_bytes());
        b.extend_from_slice(&r.own_z.to_le_bytes());
        let (flux, ivar, mask) = &r.grid;
        flux.iter()
            .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
        ivar.iter()
            .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
        mask.iter()
            .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
    }
    b
}

/// The rows of a chunk file written by [`encode_chunk`], `None` if it is not one of `n` rows.
fn decode_chunk(b: &[u8], n: usize) -> Option<Vec<Row>> {
    if b.len() != 16 + n * ROW_BYTES || &b[..8] != CHUNK_MAGIC {
        return None;
    }
    if u64::from_le_bytes(b[8..16].try_into().ok()?) != n as u64 {
        return None;
    }
    let word = |k: usize| -> Option<[u8; 8]> { b.get(k..k + 8)?.try_into().ok() };
    let quad = |k: usize| -> Option<[u8; 4]> { b.get(k..k + 4)?.try_into().ok() };
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let at = 16 + i * ROW_BYTES;
        let px = |k: usize| at + 32 + 4 * k;
        let mut grid: GridSpectrum = (vec![], vec![], vec![]);
        for k in 0..N_PIX {
            grid.0.push(f32::from_le_bytes(quad(px(k))?));
            grid.1.push(f32::from_le_bytes(quad(px(N_PIX + k))?));
            grid.2.push(u32::from_le_bytes(quad(px(2 * N_PIX + k))?));
        }
        rows.push(Row {
            id: i64::from_le_bytes(word(at)?),
            z: f64::from_le_bytes(word(at + 8)?),
            own_id: i64::from_le_bytes(word(at + 16)?),
            own_z: f64::from_le_bytes(word(at + 24)?),
            grid,
        });
    }
    Some(rows)
}

/// Reads the spectra of `sources` onto the survey grid in chunks of `chunk_size`, resuming
/// from the chunks an interrupted run left in `work_dir` (created if needed).
///
/// Each chunk's files are read in parallel; a finished chunk is written atomically to
/// `work_dir`, so a kill loses at most the chunk in progress. Chunks are reused only if the
/// work directory's manifest matches `sources` and `chunk_size` exactly; otherwise (or if a
/// chunk file is unreadable) they are read again from the files. Ids and redshifts come from the
/// catalogue where a source has them, else from the file; spectra whose own `Z` disagrees with
/// the catalogue's are listed. A bad file fails the import naming it (finished chunks stay for
/// the next run). The caller removes `work_dir` ([`remove_work_dir`]) once the survey is written.
pub fn read_spectra_resumable(
    sources: &[SpectrumSource],
    work_dir: &Path,
    chunk_size: usize,
    progress: &dyn Progress,
) -> Result<ImportedSpectra, OptirError> {
    if chunk_size == 0 {
        return Err(input_err("the chunk size must be at least 1"));
    }
    if sources.is_empty() {
        return Err(input_err("no spectra to import"));
    }
    std::fs::create_dir_all(work_dir)
        .map_err(|e| file_err(work_dir, format!("cannot create: {e}")))?;
    let manifest_path = work_dir.join(MANIFEST);
    let want = manifest(sources, chunk_size);
    match std::fs::read_to_string(&manifest_path) {
        Ok(have) if have == want => {}
        Ok(_) => {
            progress.warn(&format!(
                "{} holds chunks of a different import; starting over",
                work_dir.display()
            ));
            clear_chunks(work_dir)?;
        }
        Err(_) => clear_chunks(work_dir)?,
    }
    galsed_io::atomic_write_bytes(&manifest_path, want.as_bytes())
        .map_err(|e| file_err(&manifest_path, e))?;

    let n = sources.len();
    let n_chunks = n.div_ceil(chunk_size);
    let mut flux = Array2::<f32>::zeros((n, N_PIX));
    let mut ivar = Array2::<f32>::zeros((n, N_PIX));
    let mut and_mask = Array2::<u32>::zeros((n, N_PIX));
    let mut z = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut z_disagreements = vec![];
    let mut resumed_chunks = 0;
    let done: Vec<bool> = (0..n_chunks)
        .map(|k| chunk_path(work_dir, k).exists())
        .collect();
    progress.step(&format!(
        "reading {n} spectra in {n_chunks} chunks of {chunk_size} ({} done before)",
        done.iter().filter(|&&d| d).count()
    ));
    progress.start(Unit::Galaxies, n);
    for (k, part) in sources.chunks(chunk_size).enumerate() {
        let path = chunk_path(work_dir, k);
        let old = if done[k] {
            std::fs::read(&path)
                .ok()
                .and_then(|b| decode_chunk(&b, part.len()))
        } else {
            None
        };
        let rows = match old {
            Some(rows) => {
                resumed_chunks += 1;
                rows
            }
            None => {
                let rows = read_chunk(part)?;
                galsed_io::atomic_write_bytes(&path, &encode_chunk(&rows))
                    .map_err(|e| file_err(&path, e))?;
                rows
            }
        };
        for (j, r) in rows.into_iter().enumerate() {
            let i = k * chunk_size + j;
            let (f, w, m) = &r.grid;
            flux.row_mut(i).assign(&ndarray::ArrayView1::from(f));
            ivar.row_mut(i).assign(&ndarray::ArrayView1::from(w));
            and_mask.row_mut(i).assign(&ndarray::ArrayView1::from(m));
            let agrees = (r.own_z - r.z).abs() <= Z_TOLERANCE;
            if sources[i].catalogue.is_some() && !agrees {
                z_disagreements.push(r.id);
            }
            z.push(r.z);
            ids.push(r.id);
        }
        progress.advance((k * chunk_size + part.len()).min(n));
    }
    progress.finish();
    Ok(ImportedSpectra {
        spectra: Spectra {
            loglam: survey::sdss_loglam(),
            flux,
            ivar,
            and_mask,
        },
        z,
        ids,
        z_disagreements,
        chunks: n_chunks,
        resumed_chunks,
    })
}

/// Reads one chunk's files in parallel.
fn read_chunk(part: &[SpectrumSource]) -> Result<Vec<Row>, OptirError> {
    let paths: Vec<PathBuf> = part.iter().map(|s| s.path.clone()).collect();
    let read = read_grid_spectra(&paths)?;
    Ok(read
        .into_iter()
        .zip(part)
        .map(|((own_z, own_id, grid), s)| {
            let (id, z) = s.catalogue.unwrap_or((own_id, own_z));
            Row {
                id,
                z,
                own_id,
                own_z,
                grid,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_bitwise_and_reject_other_sizes() {
        let rows: Vec<Row> = (0..3)
            .map(|i| Row {
                id: -7 - i,
                z: 0.1 * i as f64,
                own_id: i,
                own_z: f64::NAN,
                grid: (
                    (0..N_PIX).map(|k| k as f32 * 0.5 - i as f32).collect(),
                    vec![f32::INFINITY; N_PIX],
                    (0..N_PIX).map(|k| (k as u32) << 20).collect(),
                ),
            })
            .collect();
        let b = encode_chunk(&rows);
        let back = decode_chunk(&b, 3).unwrap();
        for (a, r) in rows.iter().zip(&back) {
            assert_eq!((a.id, a.own_id, a.z), (r.id, r.own_id, r.z));
            assert!(r.own_z.is_nan());
            assert_eq!(a.grid, r.grid);
        }
        assert!(decode_chunk(&b, 2).is_none());
        assert!(decode_chunk(&b[..b.len() - 1], 3).is_none());
        assert!(decode_chunk(b"GSDCHNK1", 0).is_none());
    }

    #[test]
    fn the_manifest_follows_the_sources() {
        let a = SpectrumSource::from_files(&[PathBuf::from("spec-1-2-3.fits")]);
        let mut b = a.clone();
        b[0].catalogue = Some((5, 0.1));
        assert_eq!(manifest(&a, 10), manifest(&a.clone(), 10));
        assert_ne!(manifest(&a, 10), manifest(&a, 11));
        assert_ne!(manifest(&a, 10), manifest(&b, 10));
    }

    #[test]
    fn work_dir_is_hidden_beside_the_output() {
        assert_eq!(
            work_dir_for(Path::new("/data/survey.h5")),
            PathBuf::from("/data/.survey.h5.import")
        );
    }
}
