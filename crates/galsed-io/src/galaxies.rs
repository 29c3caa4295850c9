//! Tables of galaxies for the emulator, as `galsed sed` reads them: `.npz` archives with the
//! reference's arrays (`gp` N×7, `sfh_disk` and `sfh_bulge` N×36) or CSV tables with one named
//! column per parameter and SFH weight (`#` starts a comment line).
//!
//! The values are returned as read, in the space the file holds them in; checking and converting
//! them to the networks' unit space is `galsed_emulator::inputs::unit_space_gp`.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use galsed_core::params::GALAXY_PARAMS;
use galsed_core::sam::N_SSP;
use ndarray::{Array2, Ix2, OwnedRepr};
use ndarray_npy::NpzReader;

use crate::table::Format;

/// Galaxy parameters per row.
const N_GP: usize = GALAXY_PARAMS.len();

/// A table of galaxies as read, row-major: `gp` (N × 7) in the space it was given in, SFHs N × 36.
#[derive(Debug, Clone, PartialEq)]
pub struct GalaxyTable {
    /// Number of galaxies.
    pub n: usize,
    /// Galaxy parameters, N × 7, in the file's space (unit or physical).
    pub gp: Vec<f64>,
    /// Disk SFH light fractions, N × 36.
    pub sfh_disk: Vec<f64>,
    /// Bulge SFH light fractions, N × 36.
    pub sfh_bulge: Vec<f64>,
    /// Where row i came from, for messages (e.g. "line 5 of in.csv").
    pub origin: RowOrigin,
    /// The CSV's `id` column, when it has one (written back beside the results).
    pub ids: Option<Vec<String>>,
}

/// How to name a row in messages.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOrigin {
    /// Array rows: row i is row i.
    Array,
    /// CSV rows: row i is on the given 1-based file line.
    Csv {
        /// File line of each row.
        lines: Vec<u64>,
    },
}

impl GalaxyTable {
    /// "row 3" or "row 3 (line 5)".
    pub fn row_name(&self, i: usize) -> String {
        match &self.origin {
            RowOrigin::Csv { lines } if i < lines.len() => format!("row {i} (line {})", lines[i]),
            _ => format!("row {i}"),
        }
    }
}

/// The formats of galaxy tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GalaxyFormat {
    /// numpy `.npz`: arrays `gp`, `sfh_disk`, `sfh_bulge` (the reference's layout, unit space).
    Npz,
    /// CSV with a header row naming the columns (meant to be written by hand, physical units).
    Csv,
}

impl GalaxyFormat {
    /// The format from the file extension (`.npz` or `.csv`).
    pub fn from_path(path: &Path) -> Result<Self> {
        match Format::from_path(path).ok() {
            Some(Format::Npz) => Ok(Self::Npz),
            Some(Format::Csv) => Ok(Self::Csv),
            _ => bail!(
                "cannot tell the format of input {}: use a .npz or .csv file",
                path.display()
            ),
        }
    }
}

/// Names of the CSV columns, in `gp`/SFH order: the parameter names, `sfh_disk_0` …
/// `sfh_disk_35`, `sfh_bulge_0` … `sfh_bulge_35`.
pub fn csv_columns() -> Vec<String> {
    let mut cols: Vec<String> = GALAXY_PARAMS.iter().map(|p| p.name.to_owned()).collect();
    cols.extend((0..N_SSP).map(|k| format!("sfh_disk_{k}")));
    cols.extend((0..N_SSP).map(|k| format!("sfh_bulge_{k}")));
    cols
}

/// Reads a galaxy table of at least one row; errors name the file, the array or the line.
pub fn read_galaxy_table(path: &Path, format: GalaxyFormat) -> Result<GalaxyTable> {
    let g = match format {
        GalaxyFormat::Npz => read_npz(path),
        GalaxyFormat::Csv => read_csv(path),
    }
    .with_context(|| format!("reading {}", path.display()))?;
    if g.n == 0 {
        bail!("{} holds no galaxies", path.display());
    }
    Ok(g)
}

fn read_npz(path: &Path) -> Result<GalaxyTable> {
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
    Ok(GalaxyTable {
        n,
        gp: flat(gp),
        sfh_disk: flat(sfh_disk),
        sfh_bulge: flat(sfh_bulge),
        origin: RowOrigin::Array,
        ids: None,
    })
}

/// The file without its comment lines (those starting with `#`), and the file line of each line
/// kept: the csv crate skips comments without counting them, so its line numbers would drift.
fn without_comments(bytes: &[u8]) -> (Vec<u8>, Vec<u64>) {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut lines = vec![];
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if !line.starts_with(b"#") {
            kept.extend_from_slice(line);
            lines.push(i as u64 + 1);
        }
    }
    (kept, lines)
}

fn read_csv(path: &Path) -> Result<GalaxyTable> {
    let bytes = std::fs::read(path).context("cannot open the file")?;
    let (text, file_lines) = without_comments(&bytes);
    let file_line = |p: Option<&::csv::Position>| {
        p.and_then(|p| file_lines.get(usize::try_from(p.line()).ok()?.checked_sub(1)?))
            .copied()
            .unwrap_or(0)
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(text.as_slice());
    let header = reader
        .headers()
        .context("cannot read the header row")?
        .clone();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if index.insert(name, i).is_some() {
            bail!("column '{name}' appears twice in the header");
        }
    }
    let wanted = csv_columns();
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !index.contains_key(c.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(8)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if missing.len() > 8 {
            format!(" and {} more", missing.len() - 8)
        } else {
            String::new()
        };
        bail!(
            "missing column(s) {shown}{more}; a galaxy table needs theta, den_dust, r_dust_to_rd, \
             r_disk, r_bulge, l_norm, b_to_t, sfh_disk_0..35 and sfh_bulge_0..35"
        );
    }
    let cols: Vec<usize> = wanted.iter().map(|c| index[c.as_str()]).collect();
    let id_col = index.get("id").copied();
    let mut ids = vec![];
    let (mut gp, mut sfh_disk, mut sfh_bulge, mut lines) = (vec![], vec![], vec![], vec![]);
    for record in reader.records() {
        let record = record.map_err(|e| anyhow!("{}", csv_error(&e, file_line)))?;
        let line = file_line(record.position());
        let mut values = Vec::with_capacity(cols.len());
        for (&c, name) in cols.iter().zip(&wanted) {
            let field = record.get(c).unwrap_or("");
            let v: f64 = field.parse().map_err(|_| {
                anyhow!("line {line}, column '{name}': cannot read {field:?} as a number")
            })?;
            values.push(v);
        }
        gp.extend_from_slice(&values[..N_GP]);
        sfh_disk.extend_from_slice(&values[N_GP..N_GP + N_SSP]);
        sfh_bulge.extend_from_slice(&values[N_GP + N_SSP..]);
        lines.push(line);
        if let Some(c) = id_col {
            ids.push(record.get(c).unwrap_or("").to_owned());
        }
    }
    Ok(GalaxyTable {
        n: lines.len(),
        gp,
        sfh_disk,
        sfh_bulge,
        origin: RowOrigin::Csv { lines },
        ids: id_col.map(|_| ids),
    })
}

fn csv_error(e: &::csv::Error, file_line: impl Fn(Option<&::csv::Position>) -> u64) -> String {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields, but the header has {expected_len} columns",
            file_line(pos.as_ref())
        ),
        _ => e.to_string(),
    }
}
