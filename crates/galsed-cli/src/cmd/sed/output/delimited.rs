//! `galsed sed` results as CSV: one row per galaxy, spectra in a second, long-format file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Results;

/// Shortest round-trip text; exponent form for very large or small magnitudes.
fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

fn num32(v: f32) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// `<stem>_spectrum.csv` next to `path`.
pub fn spectrum_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "galsed".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}_spectrum.csv"))
}

pub fn write_csv(path: &Path, r: &Results) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    let phot_cols = r.phot_columns();
    if !phot_cols.is_empty() || !r.scalars.is_empty() {
        let mut w = csv::Writer::from_path(path).context("cannot create the file")?;
        let mut header = vec!["row".to_owned()];
        if r.ids.is_some() {
            header.push("id".to_owned());
        }
        header.extend(phot_cols.iter().map(|c| c.0.clone()));
        header.extend(r.scalars.iter().map(|s| s.key.clone()));
        w.write_record(&header)?;
        let n_f = r.n_f();
        for i in 0..r.n {
            let mut rec = vec![i.to_string()];
            if let Some(ids) = &r.ids {
                rec.push(ids[i].clone());
            }
            rec.extend(phot_cols.iter().map(|(_, s, j)| num(s.data[i * n_f + j])));
            rec.extend(r.scalars.iter().map(|s| num(s.data[i])));
            w.write_record(&rec)?;
        }
        w.flush()?;
        written.push(path.to_path_buf());
    }
    if !r.spectra.is_empty() || r.att_curve.is_some() {
        let long = spectrum_path(path);
        write_long_csv(&long, r).with_context(|| format!("writing {}", long.display()))?;
        written.push(long);
    }
    Ok(written)
}

/// One line per (galaxy, wavelength).
fn write_long_csv(path: &Path, r: &Results) -> Result<()> {
    let file = File::create(path).context("cannot create the file")?;
    let mut w = BufWriter::new(file);
    let n_lam = r.lam_um.len();
    let n_att = r.att_lam_um.len();
    let rows = if r.spectra.is_empty() { n_att } else { n_lam };
    let mut header = vec!["row", "lam_um", "lam_obs_um"];
    header.extend(r.spectra.iter().map(|s| s.key.as_str()));
    if r.att_curve.is_some() {
        header.push("att_curve");
    }
    writeln!(w, "{}", header.join(","))?;
    let mut line = String::new();
    for i in 0..r.n {
        for l in 0..rows {
            line.clear();
            line.push_str(&format!("{i},{},{}", r.lam_um[l], r.lam_obs_um[l]));
            for s in &r.spectra {
                line.push(',');
                line.push_str(&num32(s.data[i * n_lam + l]));
            }
            if let Some(att) = &r.att_curve {
                line.push(',');
                if l < n_att {
                    line.push_str(&num32(att[i * n_att + l]));
                }
            }
            writeln!(w, "{line}")?;
        }
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::OutputFormat;
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for v in [
            0.0,
            1.5,
            -2.25e-30,
            3.0e20,
            12.345678901234567,
            f64::INFINITY,
        ] {
            let s = num(v);
            assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
        }
        for v in [0f32, 1.0e-30, 6.5e9, 0.1] {
            assert_eq!(num32(v).parse::<f32>().unwrap(), v);
        }
        assert_eq!(num(1e-30), "1e-30");
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(
            OutputFormat::from_path(Path::new("a/b.NPZ")).unwrap(),
            OutputFormat::Npz
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("b.parquet")).unwrap(),
            OutputFormat::Parquet
        );
        assert!(OutputFormat::from_path(Path::new("b.txt")).is_err());
        assert_eq!(
            spectrum_path(Path::new("d/out.csv")),
            PathBuf::from("d/out_spectrum.csv")
        );
    }
}
