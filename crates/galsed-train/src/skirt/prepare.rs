//! Writing the inputs of the SKIRT runs of a set of samples.
//!
//! Per sample `<id>` the directory receives
//!
//! * `<id>_emission.ski` — dust emission, disk and bulge together (their luminosities
//!   l_norm·(1 − b_to_t) and l_norm·b_to_t; a component with zero luminosity is left out);
//! * `<id>_disk.ski`, `<id>_bulge.ski` — extinction only, one component alone (the attenuation
//!   curve does not depend on the luminosity, which is set to l_norm);
//! * `<id>_sed_disk.dat`, `<id>_sed_bulge.dat` — the stellar spectra of the two components;
//!
//! and the directory gets an [`index`](super::index) of all samples, written last. The file names
//! inside the parameter files are relative: run SKIRT from the directory (`cd DIR && skirt
//! *.ski`) or pass it as input path (`skirt -i DIR -o OUT DIR/*.ski`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use galsed_core::ssp::SspLibrary;

use super::index::{INDEX_FILE, IndexRow, run_slot, write_index};
use super::sampling::Sample;
use super::ski::{Geometry, SkiConfig, Source, Sources, ski_document};
use super::stellar::{component_sed, write_sed_file};
use super::{Run, SkirtError};

/// Options of [`prepare`].
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareOptions {
    /// Runs to write per sample.
    pub runs: Vec<Run>,
    /// Settings of the simulations.
    pub ski: SkiConfig,
    /// Replace an existing index in the output directory.
    pub overwrite: bool,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            runs: Run::ALL.to_vec(),
            ski: SkiConfig::default(),
            overwrite: false,
        }
    }
}

/// What [`prepare`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareSummary {
    /// Number of samples.
    pub samples: usize,
    /// Number of parameter files.
    pub ski_files: usize,
    /// Number of stellar spectra.
    pub sed_files: usize,
    /// The index table.
    pub index: PathBuf,
}

/// A stellar source of a run, left out when it does not shine.
fn source(sed_file: Option<&str>, luminosity_lsun: f64) -> Option<Source<'_>> {
    sed_file
        .filter(|_| luminosity_lsun > 0.0)
        .map(|sed_file| Source {
            sed_file,
            luminosity_lsun,
        })
}

/// Writes the parameter files, stellar spectra and index of `samples` into `out_dir` (created if
/// needed). `progress` is called with the number of samples done so far.
///
/// Refuses to write into a directory that already holds an index unless
/// [`PrepareOptions::overwrite`] is set.
pub fn prepare(
    samples: &[Sample],
    lib: &SspLibrary,
    out_dir: &Path,
    opts: &PrepareOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<PrepareSummary, SkirtError> {
    opts.ski.validate()?;
    if opts.runs.is_empty() {
        return Err(SkirtError::Invalid("no SKIRT run selected".into()));
    }
    if samples.is_empty() {
        return Err(SkirtError::Invalid("no samples to prepare".into()));
    }
    let mut ids = HashSet::new();
    if let Some(dup) = samples.iter().find(|s| !ids.insert(s.id.as_str())) {
        return Err(SkirtError::Invalid(format!(
            "sample id '{}' appears twice",
            dup.id
        )));
    }
    let index_path = out_dir.join(INDEX_FILE);
    if index_path.exists() && !opts.overwrite {
        return Err(SkirtError::Invalid(format!(
            "{} already exists; choose another directory or allow overwriting it (--overwrite)",
            index_path.display()
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(SkirtError::io("create directory", out_dir))?;

    let has = |run| opts.runs.contains(&run);
    let mut rows = Vec::with_capacity(samples.len());
    let (mut ski_files, mut sed_files) = (0, 0);
    for (row, sample) in samples.iter().enumerate() {
        let id = &sample.id;
        let l_norm = sample.physical[5];
        let b_to_t = sample.physical[6];
        let l_disk = l_norm * (1.0 - b_to_t);
        let l_bulge = l_norm * b_to_t;
        let disk = component_sed(lib, &sample.sfh_disk, opts.ski.source_range_um)?;
        let bulge = component_sed(lib, &sample.sfh_bulge, opts.ski.source_range_um)?;
        let need_disk = has(Run::Disk) || (has(Run::Emission) && l_disk > 0.0);
        let need_bulge = has(Run::Bulge) || (has(Run::Emission) && l_bulge > 0.0);

        let sed_name = |component: &str| format!("{id}_sed_{component}.dat");
        let sed_disk = need_disk.then(|| sed_name("disk"));
        let sed_bulge = need_bulge.then(|| sed_name("bulge"));
        for (file, sed, component) in [(&sed_disk, &disk, "disk"), (&sed_bulge, &bulge, "bulge")] {
            if let Some(file) = file {
                let description = format!("stellar spectrum of the {component} of sample {id}");
                write_sed_file(&out_dir.join(file), sed, &description)?;
                sed_files += 1;
            }
        }

        let geometry = Geometry::new(&sample.physical, &opts.ski);
        let mut ski = [None, None, None];
        for &run in &opts.runs {
            let (sources, what) = match run {
                Run::Emission => (
                    Sources {
                        disk: source(sed_disk.as_deref(), l_disk * disk.source_fraction),
                        bulge: source(sed_bulge.as_deref(), l_bulge * bulge.source_fraction),
                    },
                    "dust emission of disk and bulge",
                ),
                Run::Disk => (
                    Sources {
                        disk: source(sed_disk.as_deref(), l_norm * disk.source_fraction),
                        bulge: None,
                    },
                    "extinction only, stellar disk alone",
                ),
                Run::Bulge => (
                    Sources {
                        disk: None,
                        bulge: source(sed_bulge.as_deref(), l_norm * bulge.source_fraction),
                    },
                    "extinction only, bulge alone",
                ),
            };
            let comment = format!(
                "SKIRT 9 parameter file written by galsed skirt prepare: sample {id}, {run} run \
                 ({what})"
            );
            let text = ski_document(run, &geometry, sources, row as u64, &comment, &opts.ski)
                .map_err(|e| SkirtError::Invalid(format!("sample {id}: {e}")))?;
            let name = run.ski_file(id);
            let path = out_dir.join(&name);
            std::fs::write(&path, text).map_err(SkirtError::io("write", &path))?;
            ski[run_slot(run)] = Some(name);
            ski_files += 1;
        }
        rows.push(IndexRow {
            sample: sample.clone(),
            source_fraction_disk: disk.source_fraction,
            source_fraction_bulge: bulge.source_fraction,
            skirt_seed: row as u64,
            sed_disk,
            sed_bulge,
            ski,
        });
        progress(row + 1);
    }
    // Written last and renamed into place: an index means a complete set of inputs.
    let partial = out_dir.join(format!("{INDEX_FILE}.partial"));
    write_index(&partial, &rows)?;
    std::fs::rename(&partial, &index_path).map_err(SkirtError::io("write", &index_path))?;
    Ok(PrepareSummary {
        samples: rows.len(),
        ski_files,
        sed_files,
        index: index_path,
    })
}
