//! Galaxy tables as CSV (physical units by default; `#` starts a comment line).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use galsed_core::params::GALAXY_PARAMS;
use galsed_emulator::{N_GP, N_SSP};

use super::{Galaxies, RowOrigin};

/// Names of the CSV columns, in `gp`/SFH order.
pub fn csv_columns() -> Vec<String> {
    let mut cols: Vec<String> = GALAXY_PARAMS.iter().map(|p| p.name.to_owned()).collect();
    cols.extend((0..N_SSP).map(|k| format!("sfh_disk_{k}")));
    cols.extend((0..N_SSP).map(|k| format!("sfh_bulge_{k}")));
    cols
}

pub fn read_csv(path: &Path) -> Result<Galaxies> {
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
