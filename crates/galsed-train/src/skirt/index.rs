//! The index of a prepared set of SKIRT runs (`index.csv`): one row per sample.
//!
//! Columns, in order:
//!
//! | column | content |
//! |---|---|
//! | `id` | sample identifier (prefix of its files) |
//! | `theta` … `b_to_t` | the seven physical parameters (deg, M_sun/kpc², –, kpc, kpc, L_sun, –) |
//! | `u_theta` … `u_b_to_t` | the same in the networks' unit space (`gp`) |
//! | `source_fraction_disk`, `source_fraction_bulge` | share of each component's bolometric luminosity emitted inside SKIRT's source range |
//! | `skirt_seed` | seed of SKIRT's random generator |
//! | `sed_disk`, `sed_bulge` | stellar input spectra (empty when no run uses them) |
//! | `ski_emission`, `ski_disk`, `ski_bulge` | parameter files (empty for runs not prepared) |
//! | `sfh_disk_0` … , `sfh_bulge_0` … | light fractions over the SSPs |
//!
//! Numbers are written as the shortest decimals that read back to the same `f64`. The physical
//! columns and the SFHs follow `galsed sed`'s CSV input, so the index can be fed to it directly.

use std::path::Path;

use galsed_core::params::GALAXY_PARAMS;

use super::sampling::{Sample, csv_error, line_at};
use super::{Run, SkirtError};

/// File name of the index inside the prepared directory.
pub const INDEX_FILE: &str = "index.csv";

/// One row of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    /// The sample (id, parameters, SFHs).
    pub sample: Sample,
    /// Share of the disk's bolometric luminosity inside the source range.
    pub source_fraction_disk: f64,
    /// Share of the bulge's bolometric luminosity inside the source range.
    pub source_fraction_bulge: f64,
    /// Seed of SKIRT's random generator in the sample's parameter files.
    pub skirt_seed: u64,
    /// Stellar spectrum file of the disk, if written.
    pub sed_disk: Option<String>,
    /// Stellar spectrum file of the bulge, if written.
    pub sed_bulge: Option<String>,
    /// Parameter files, in the order of [`Run::ALL`].
    pub ski: [Option<String>; 3],
}

impl IndexRow {
    /// The parameter file of `run`, if prepared.
    pub fn ski_file(&self, run: Run) -> Option<&str> {
        self.ski[run_slot(run)].as_deref()
    }

    /// Share of the galaxy's bolometric luminosity `l_norm` that SKIRT's sources emit:
    /// (1 − b_to_t)·f_disk + b_to_t·f_bulge.
    pub fn source_fraction(&self) -> f64 {
        let b = self.sample.physical[6];
        (1.0 - b) * self.source_fraction_disk + b * self.source_fraction_bulge
    }
}

/// Position of `run` in [`Run::ALL`].
pub(crate) fn run_slot(run: Run) -> usize {
    match run {
        Run::Emission => 0,
        Run::Disk => 1,
        Run::Bulge => 2,
    }
}

fn header(n_ssp: usize) -> Vec<String> {
    let mut h = vec!["id".to_string()];
    h.extend(GALAXY_PARAMS.iter().map(|p| p.name.to_string()));
    h.extend(GALAXY_PARAMS.iter().map(|p| format!("u_{}", p.name)));
    h.extend(
        [
            "source_fraction_disk",
            "source_fraction_bulge",
            "skirt_seed",
            "sed_disk",
            "sed_bulge",
        ]
        .map(String::from),
    );
    h.extend(Run::ALL.iter().map(|r| format!("ski_{}", r.name())));
    h.extend((0..n_ssp).map(|k| format!("sfh_disk_{k}")));
    h.extend((0..n_ssp).map(|k| format!("sfh_bulge_{k}")));
    h
}

/// Writes the index (all rows must have SFHs of the same length).
pub fn write_index(path: &Path, rows: &[IndexRow]) -> Result<(), SkirtError> {
    let n_ssp = rows.first().map_or(0, |r| r.sample.sfh_disk.len());
    let mut writer = csv::Writer::from_path(path).map_err(|e| csv_error(path, &[], e))?;
    writer
        .write_record(header(n_ssp))
        .map_err(|e| csv_error(path, &[], e))?;
    for row in rows {
        let s = &row.sample;
        if s.sfh_disk.len() != n_ssp || s.sfh_bulge.len() != n_ssp {
            return Err(SkirtError::Invalid(format!(
                "sample {}: SFHs of {} and {} weights, the index has {n_ssp}",
                s.id,
                s.sfh_disk.len(),
                s.sfh_bulge.len()
            )));
        }
        let mut record = vec![s.id.clone()];
        record.extend(s.physical.iter().map(f64::to_string));
        record.extend(s.unit.iter().map(f64::to_string));
        record.push(row.source_fraction_disk.to_string());
        record.push(row.source_fraction_bulge.to_string());
        record.push(row.skirt_seed.to_string());
        record.push(row.sed_disk.clone().unwrap_or_default());
        record.push(row.sed_bulge.clone().unwrap_or_default());
        record.extend(row.ski.iter().map(|f| f.clone().unwrap_or_default()));
        record.extend(s.sfh_disk.iter().map(f64::to_string));
        record.extend(s.sfh_bulge.iter().map(f64::to_string));
        writer
            .write_record(&record)
            .map_err(|e| csv_error(path, &[], e))?;
    }
    writer.flush().map_err(SkirtError::io("write", path))
}

/// Reads an index written by [`write_index`], checking every value.
pub fn read_index(path: &Path) -> Result<Vec<IndexRow>, SkirtError> {
    let text = std::fs::read(path).map_err(SkirtError::io("read", path))?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| csv_error(path, &text, e))?
        .clone();
    let n_ssp = (0..)
        .take_while(|k| headers.iter().any(|h| h == format!("sfh_disk_{k}")))
        .count();
    let expected = header(n_ssp);
    if let Some((i, want)) = expected
        .iter()
        .enumerate()
        .find(|(i, want)| headers.get(*i) != Some(want.as_str()))
    {
        return Err(SkirtError::parse(
            path,
            1,
            format!(
                "column {} should be '{want}', found '{}' (not an index written by `galsed skirt \
                 prepare`?)",
                i + 1,
                headers.get(i).unwrap_or("")
            ),
        ));
    }
    let pos = |name: &str| {
        expected
            .iter()
            .position(|h| h == name)
            .unwrap_or(usize::MAX)
    };
    let (phys0, unit0) = (
        pos(GALAXY_PARAMS[0].name),
        pos(&format!("u_{}", GALAXY_PARAMS[0].name)),
    );
    let (disk0, bulge0) = (pos("sfh_disk_0"), pos("sfh_bulge_0"));
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &text, e))?;
        let line = record.position().map_or(0, |p| line_at(&text, p.byte()));
        let field = |i: usize| record.get(i).unwrap_or("");
        let number = |i: usize| -> Result<f64, SkirtError> {
            field(i)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    SkirtError::parse(
                        path,
                        line,
                        format!("{} = '{}' is not a finite number", expected[i], field(i)),
                    )
                })
        };
        let numbers = |start: usize, n: usize| {
            (start..start + n)
                .map(number)
                .collect::<Result<Vec<f64>, _>>()
        };
        let file = |name: &str| Some(field(pos(name)).to_string()).filter(|f| !f.is_empty());
        let seven = |start: usize| -> Result<[f64; 7], SkirtError> {
            let v = numbers(start, 7)?;
            Ok(std::array::from_fn(|i| v[i]))
        };
        let seed_col = pos("skirt_seed");
        let skirt_seed = field(seed_col).parse::<u64>().map_err(|_| {
            SkirtError::parse(
                path,
                line,
                format!(
                    "skirt_seed = '{}' is not an unsigned integer",
                    field(seed_col)
                ),
            )
        })?;
        let (sfh_disk, sfh_bulge) = (numbers(disk0, n_ssp)?, numbers(bulge0, n_ssp)?);
        // Sample::new validates the id, the parameters and the weights; the stored unit values
        // and SFHs are kept bit for bit.
        let checked = Sample::new(
            field(0).to_string(),
            seven(phys0)?,
            sfh_disk.clone(),
            sfh_bulge.clone(),
        )
        .map_err(|e| SkirtError::parse(path, line, e))?;
        rows.push(IndexRow {
            sample: Sample {
                unit: seven(unit0)?,
                sfh_disk,
                sfh_bulge,
                ..checked
            },
            source_fraction_disk: number(pos("source_fraction_disk"))?,
            source_fraction_bulge: number(pos("source_fraction_bulge"))?,
            skirt_seed,
            sed_disk: file("sed_disk"),
            sed_bulge: file("sed_bulge"),
            ski: Run::ALL.map(|r| file(&format!("ski_{}", r.name()))),
        });
    }
    if rows.is_empty() {
        return Err(SkirtError::parse(path, 1, "the index has no samples"));
    }
    Ok(rows)
}
