//! SKIRT 9 interop: parameter files for radiative-transfer runs and readers of their SED outputs.
//!
//! Starduster's networks were trained on SKIRT 9 simulations of a three-component galaxy
//! (Qiu & Kang 2022, §2): exponential stellar and dust disks (scale height / scale length 0.1),
//! a Sérsic n = 4 bulge and the Draine & Li dust mix. This module closes the loop for users who
//! want to train on their own simulations:
//!
//! * [`sampling`] draws the seven galaxy parameters from the priors of the paper's Table 1 (or
//!   reads them from a table) together with the disk and bulge star-formation histories;
//! * [`prepare()`] writes, per sample, the SKIRT parameter files of three runs ([`Run`]) and the
//!   stellar input spectra of the disk and bulge, plus an index table of the samples ([`index`]);
//! * [`run`] executes the runs of an index with SKIRT, resumably (locally or as a Slurm job
//!   array);
//! * [`read_sed_output`] reads the `*_sed.dat` files of SKIRT's SED instrument, identifying the
//!   columns by their header text;
//! * [`collect()`] turns the outputs into a training set ([`crate::data::TrainingSet`]):
//!   attenuation curves of the disk and bulge on the networks' 297-point grid, and the normalised
//!   dust-emission spectrum (495 points) and absorbed fraction of the emission runs.
//!
//! Every malformed input is reported with the file and, where there is one, the line.

pub mod collect;
pub mod index;
pub mod prepare;
pub mod run;
pub mod sampling;
pub mod sed_output;
pub mod ski;
pub mod stellar;

use std::fmt;
use std::path::PathBuf;

pub use collect::{CollectOptions, Collected, collect};
pub use prepare::{PrepareOptions, PrepareSummary, prepare};
pub use sed_output::{FluxStyle, SedOutput, parse_sed_output, read_sed_output};

/// Name of the SED instrument in the written parameter files. SKIRT names the output of run
/// `<prefix>.ski` `<prefix>_obs_sed.dat`.
pub const INSTRUMENT_NAME: &str = "obs";

/// The SKIRT simulations written for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Run {
    /// Dust emission (SKIRT `DustEmission` mode) with disk and bulge shining together: gives the
    /// dust spectrum and the absorbed fraction.
    Emission,
    /// Extinction only, stellar disk alone: the disk's attenuation curve.
    Disk,
    /// Extinction only, bulge alone (the dust disk unchanged): the bulge's attenuation curve.
    Bulge,
}

impl Run {
    /// All runs, in the order of the index columns.
    pub const ALL: [Run; 3] = [Run::Emission, Run::Disk, Run::Bulge];

    /// Short name used in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Run::Emission => "emission",
            Run::Disk => "disk",
            Run::Bulge => "bulge",
        }
    }

    /// Parses a run name (`emission`, `disk`, `bulge`).
    pub fn parse(name: &str) -> Result<Run, SkirtError> {
        Run::ALL
            .into_iter()
            .find(|r| r.name() == name.trim())
            .ok_or_else(|| {
                SkirtError::Invalid(format!(
                    "unknown SKIRT run '{name}' (expected emission, disk or bulge)"
                ))
            })
    }

    /// Parses a comma-separated list of runs, without duplicates, in [`Run::ALL`] order.
    pub fn parse_list(list: &str) -> Result<Vec<Run>, SkirtError> {
        let mut runs = Vec::new();
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            let run = Run::parse(part)?;
            if !runs.contains(&run) {
                runs.push(run);
            }
        }
        if runs.is_empty() {
            return Err(SkirtError::Invalid("no SKIRT run selected".into()));
        }
        runs.sort();
        Ok(runs)
    }

    /// File name of the parameter file of sample `id`.
    pub fn ski_file(self, id: &str) -> String {
        format!("{id}_{}.ski", self.name())
    }

    /// File name SKIRT gives the SED of parameter file `ski_file` (output prefix = file stem).
    pub fn sed_output_file(ski_file: &str) -> String {
        let stem = ski_file.strip_suffix(".ski").unwrap_or(ski_file);
        format!("{stem}_{INSTRUMENT_NAME}_sed.dat")
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the SKIRT interop. Messages name the file and, for content errors, the line.
#[derive(Debug, thiserror::Error)]
pub enum SkirtError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted ("read", "write", "create directory").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's content is malformed.
    #[error("{}, line {line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A SKIRT output expected from the index is missing.
    #[error(
        "missing SKIRT output {} (sample {id}, {run} run): run SKIRT on {ski} first, or skip \
         incomplete samples (--skip-missing)",
        path.display()
    )]
    MissingOutput {
        /// The expected output file.
        path: PathBuf,
        /// Sample identifier.
        id: String,
        /// Which run.
        run: Run,
        /// The parameter file of that run.
        ski: String,
    },
    /// An option or a combination of inputs is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl SkirtError {
    /// A content error at `line` of `path`.
    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
    ) -> SkirtError {
        SkirtError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// An I/O error.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SkirtError {
        let path = path.into();
        move |source| SkirtError::Io {
            action,
            path,
            source,
        }
    }
}
