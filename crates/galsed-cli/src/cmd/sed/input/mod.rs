//! Reading galaxy tables (.npz or .csv).

mod csv_table;

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use galsed_emulator::{N_GP, N_SSP};
use ndarray::{Array2, Ix2, OwnedRepr};
use ndarray_npy::NpzReader;

use super::args::InputSpace;
use csv_table::read_csv;

/// A table of galaxies as read, row-major: `gp` (N × 7) in the space it was given in, SFHs N × 36.
#[derive(Debug, Clone, PartialEq)]
pub struct Galaxies {
    pub n: usize,
    pub gp: Vec<f64>,
    pub sfh_disk: Vec<f64>,
    pub sfh_bulge: Vec<f64>,
    /// Where row i came from, for messages (e.g. "line 5 of in.csv").
    pub origin: RowOrigin,
}

/// How to name a row in messages.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOrigin {
    /// Array rows: row i is row i.
    Array,
    /// CSV rows: row i is on the given 1-based file line.
    Csv { lines: Vec<u64> },
}

impl Galaxies {
    /// "row 3" or "row 3 (line 5)".
    pub fn row_name(&self, i: usize) -> String {
        match &self.origin {
            RowOrigin::Csv { lines } if i < lines.len() => format!("row {i} (line {})", lines[i]),
            _ => format!("row {i}"),
        }
    }
}

/// The input format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Npz,
    Csv,
}

impl InputFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        match galsed_io::Format::from_path(path).ok() {
            Some(galsed_io::Format::Npz) => Ok(Self::Npz),
            Some(galsed_io::Format::Csv) => Ok(Self::Csv),
            _ => bail!(
                "cannot tell the format of input {}: use a .npz or .csv file",
                path.display()
            ),
        }
    }

    /// Default parameter space: the reference's npz files hold unit space, CSV tables are
    /// meant to be written by hand in physical units.
    pub fn default_space(self) -> InputSpace {
        match self {
            Self::Npz => InputSpace::Unit,
            Self::Csv => InputSpace::Physical,
        }
    }
}

/// Reads a galaxy table.
pub fn read(path: &Path, format: InputFormat) -> Result<Galaxies> {
    let g = match format {
        InputFormat::Npz => read_npz(path),
        InputFormat::Csv => read_csv(path),
    }
    .with_context(|| format!("reading {}", path.display()))?;
    if g.n == 0 {
        bail!("{} holds no galaxies", path.display());
    }
    Ok(g)
}

fn read_npz(path: &Path) -> Result<Galaxies> {
    let file = File::open(path).context("cannot open the file")?;
    let mut npz = NpzReader::new(file).context("not a valid .npz archive")?;
    let names = npz.names().context("cannot list the arrays")?;
    let mut get = |key: &str, width: usize| -> Result<Array2<f64>> {
        if !names.iter().any(|n| n == key) {
            bail!(
                "array '{key}' is missing (found: {}); expected gp (N,{N_GP}), sfh_disk (N,{N_SSP}), sfh_bulge (N,{N_SSP})",
                names.join(", ")
            );
        }
        let a: Array2<f64> = match npz.by_name::<OwnedRepr<f64>, Ix2>(key) {
            Ok(a) => a,
            Err(_) => npz
                .by_name::<OwnedRepr<f32>, Ix2>(key)
                .map(|a| a.mapv(f64::from))
                .map_err(|e| {
                    anyhow!("array '{key}' must be a 2-D float64 or float32 array ({e})")
                })?,
        };
        if a.ncols() != width {
            bail!(
                "array '{key}' has shape ({}, {}): expected {width} columns",
                a.nrows(),
                a.ncols()
            );
        }
        Ok(a)
    };
    let gp = get("gp", N_GP)?;
    let sfh_disk = get("sfh_disk", N_SSP)?;
    let sfh_bulge = get("sfh_bulge", N_SSP)?;
    let n = gp.nrows();
    for (key, a) in [("sfh_disk", &sfh_disk), ("sfh_bulge", &sfh_bulge)] {
        if a.nrows() != n {
            bail!("array '{key}' has {} rows but gp has {n}", a.nrows());
        }
    }
    let flat = |a: Array2<f64>| a.iter().copied().collect::<Vec<f64>>();
    Ok(Galaxies {
        n,
        gp: flat(gp),
        sfh_disk: flat(sfh_disk),
        sfh_bulge: flat(sfh_bulge),
        origin: RowOrigin::Array,
    })
}
