//! Reading galaxy tables (.npz or .csv) and checking them before they reach the model.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use galsed_core::params::GALAXY_PARAMS;
use galsed_emulator::{N_GP, N_SSP};
use ndarray::{Array2, Ix2, OwnedRepr};
use ndarray_npy::NpzReader;

use super::args::InputSpace;
use crate::shared::model::short;

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

/// Names of the CSV columns, in `gp`/SFH order.
pub fn csv_columns() -> Vec<String> {
    let mut cols: Vec<String> = GALAXY_PARAMS.iter().map(|p| p.name.to_owned()).collect();
    cols.extend((0..N_SSP).map(|k| format!("sfh_disk_{k}")));
    cols.extend((0..N_SSP).map(|k| format!("sfh_bulge_{k}")));
    cols
}

fn read_csv(path: &Path) -> Result<Galaxies> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_path(path)
        .context("cannot open the file")?;
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
    let (mut gp, mut sfh_disk, mut sfh_bulge, mut lines) = (vec![], vec![], vec![], vec![]);
    for record in reader.records() {
        let record = record.map_err(|e| anyhow!("{}", csv_error(&e)))?;
        let line = record.position().map_or(0, |p| p.line());
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
    }
    Ok(Galaxies {
        n: lines.len(),
        gp,
        sfh_disk,
        sfh_bulge,
        origin: RowOrigin::Csv { lines },
    })
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields, but the header has {expected_len} columns",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        _ => e.to_string(),
    }
}

/// Converts `gp` to unit space and checks every value. Out-of-range values are refused unless
/// `clip` (the model clips them later); NaN, ∞ and physical values without a unit-space image
/// (e.g. a negative radius) are always refused. Returns the unit-space `gp`.
pub fn to_unit_space(g: &Galaxies, space: InputSpace, clip: bool) -> Result<Vec<f64>> {
    let mut problems = Problems::default();
    let mut unit = Vec::with_capacity(g.gp.len());
    for (i, row) in g.gp.chunks(N_GP).enumerate() {
        for (j, (&x, p)) in row.iter().zip(GALAXY_PARAMS.iter()).enumerate() {
            if !x.is_finite() {
                problems.push(format!(
                    "{}: {} (gp column {j}) is {x}",
                    g.row_name(i),
                    p.name
                ));
                unit.push(0.0);
                continue;
            }
            let u = match space {
                InputSpace::Unit => x,
                InputSpace::Physical => match p.to_unit(x) {
                    Ok(u) => u,
                    Err(e) => {
                        problems.push(format!("{}: {e}", g.row_name(i)));
                        unit.push(0.0);
                        continue;
                    }
                },
            };
            if !clip && !(-1.0..=1.0).contains(&u) {
                problems.out_of_range = true;
                problems.push(match space {
                    InputSpace::Unit => format!(
                        "{}: {} (gp column {j}) = {x} is outside [-1, 1]",
                        g.row_name(i),
                        p.name
                    ),
                    InputSpace::Physical => {
                        let (lo, hi) = p.physical_range();
                        format!(
                            "{}: {} = {x} {} is outside the model's range {} … {}",
                            g.row_name(i),
                            p.name,
                            p.unit,
                            short(lo.min(hi)),
                            short(lo.max(hi))
                        )
                    }
                });
            }
            unit.push(u);
        }
    }
    for (name, sfh) in [("sfh_disk", &g.sfh_disk), ("sfh_bulge", &g.sfh_bulge)] {
        for (i, row) in sfh.chunks(N_SSP).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                if !w.is_finite() {
                    problems.push(format!("{}: {name}[{k}] is {w}", g.row_name(i)));
                } else if !clip && !(0.0..=1.0).contains(&w) {
                    problems.out_of_range = true;
                    problems.push(format!(
                        "{}: {name}[{k}] = {w} is outside [0, 1] (SFH weights are light fractions)",
                        g.row_name(i)
                    ));
                }
            }
        }
    }
    problems.into_result()?;
    Ok(unit)
}

/// Collects input problems and reports the first few.
#[derive(Default)]
struct Problems {
    messages: Vec<String>,
    out_of_range: bool,
}

impl Problems {
    const SHOWN: usize = 5;

    fn push(&mut self, m: String) {
        self.messages.push(m);
    }

    fn into_result(self) -> Result<()> {
        let n = self.messages.len();
        if n == 0 {
            return Ok(());
        }
        let mut text = format!(
            "invalid input ({n} value{}):",
            if n == 1 { "" } else { "s" }
        );
        for m in self.messages.iter().take(Self::SHOWN) {
            text.push_str("\n  ");
            text.push_str(m);
        }
        if n > Self::SHOWN {
            text.push_str(&format!("\n  … and {} more", n - Self::SHOWN));
        }
        if self.out_of_range {
            text.push_str(
                "\nrows are numbered from 0; pass --clip-inputs to clip out-of-range values into the \
                 model's domain as the published Starduster library does",
            );
        }
        bail!(text)
    }
}

/// Rows whose SFH weights do not sum to 1 (for components that carry light), as a warning.
pub fn sfh_sum_warning(g: &Galaxies, unit_gp: &[f64]) -> Option<String> {
    let mut bad = vec![];
    for i in 0..g.n {
        let b_to_t = 0.5 * (unit_gp[i * N_GP + 6] + 1.0);
        for (name, sfh, weight) in [
            ("sfh_disk", &g.sfh_disk, 1.0 - b_to_t),
            ("sfh_bulge", &g.sfh_bulge, b_to_t),
        ] {
            let s: f64 = sfh[i * N_SSP..(i + 1) * N_SSP].iter().sum();
            if weight > 0.0 && (s - 1.0).abs() > 1e-3 {
                bad.push(format!("{} {name} sums to {s:.4}", g.row_name(i)));
            }
        }
    }
    (!bad.is_empty()).then(|| {
        format!(
            "warning: {} SFH vector(s) do not sum to 1 (first: {}); the weights are light fractions \
             and are used as given, so the luminosity is not l_norm",
            bad.len(),
            bad[0]
        )
    })
}
