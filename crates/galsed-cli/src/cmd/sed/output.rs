//! Writing `galsed sed` results as .npz, .csv (+ long-format spectrum file) or .parquet.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, RecordBatch, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use ndarray::{Array0, ArrayView1, ArrayView2};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use galsed_io::npz::Npz;

/// Output format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Npz,
    Csv,
    Parquet,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        match galsed_io::Format::from_path(path).ok() {
            Some(galsed_io::Format::Npz) => Ok(Self::Npz),
            Some(galsed_io::Format::Csv) => Ok(Self::Csv),
            Some(galsed_io::Format::Parquet) => Ok(Self::Parquet),
            _ => bail!(
                "cannot tell the output format of {}: use a .npz, .csv or .parquet file name",
                path.display()
            ),
        }
    }
}

/// A named column of values, row-major when it has several values per galaxy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series<T> {
    pub key: String,
    pub data: Vec<T>,
}

impl<T> Series<T> {
    pub fn new(key: String) -> Self {
        Self { key, data: vec![] }
    }
}

/// Everything `galsed sed` computed.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub n: usize,
    /// Rest-frame grid [µm].
    pub lam_um: Vec<f64>,
    /// Observed grid [µm] as used by the detector (float32).
    pub lam_obs_um: Vec<f32>,
    pub redshift: f64,
    pub distmod: f64,
    pub spectrum_units: &'static str,
    /// `spectrum[_<comp>]`, each N × n_λ.
    pub spectra: Vec<Series<f32>>,
    /// (name, pivot wavelength [µm]).
    pub filters: Vec<(String, f64)>,
    pub photometry_units: &'static str,
    /// `photometry[_<comp>]`, each N × n_filters.
    pub photometry: Vec<Series<f64>>,
    /// One value per galaxy: frac_abs, L_IR, log_p_in_disk, log_p_in_bulge, att_V.
    pub scalars: Vec<Series<f64>>,
    /// Grid of the attenuation curves [µm] (rest frame, < 1 µm).
    pub att_lam_um: Vec<f32>,
    /// N × n_att attenuation curves [mag].
    pub att_curve: Option<Vec<f32>>,
}

impl Results {
    fn n_f(&self) -> usize {
        self.filters.len()
    }

    /// Photometry column names: `<filter>` for combine, `<filter>_<comp>` otherwise.
    fn phot_columns(&self) -> Vec<(String, &Series<f64>, usize)> {
        let mut cols = vec![];
        for s in &self.photometry {
            let suffix = s.key.strip_prefix("photometry").unwrap_or("");
            for (j, (name, _)) in self.filters.iter().enumerate() {
                cols.push((format!("{name}{suffix}"), s, j));
            }
        }
        cols
    }
}

/// Writes the results; returns the files written.
pub fn write(path: &Path, format: OutputFormat, r: &Results) -> Result<Vec<PathBuf>> {
    let written = match format {
        OutputFormat::Npz => write_npz(path, r).map(|()| vec![path.to_path_buf()]),
        OutputFormat::Csv => write_csv(path, r),
        OutputFormat::Parquet => write_parquet(path, r).map(|()| vec![path.to_path_buf()]),
    };
    written.with_context(|| format!("writing {}", path.display()))
}

fn view2<T>(data: &[T], n: usize, width: usize) -> Result<ArrayView2<'_, T>> {
    ArrayView2::from_shape((n, width), data).context("internal error: output of unexpected size")
}

fn write_npz(path: &Path, r: &Results) -> Result<()> {
    let mut z = Npz::create(path)?;
    z.add("redshift", &Array0::from_elem((), r.redshift))?;
    z.add("distmod", &Array0::from_elem((), r.distmod))?;
    if !r.spectra.is_empty() {
        z.add("lam_um", &ArrayView1::from(&r.lam_um))?;
        z.add("lam_obs_um", &ArrayView1::from(&r.lam_obs_um))?;
        z.add_strings("spectrum_units", &[r.spectrum_units], true)?;
        for s in &r.spectra {
            z.add(&s.key, &view2(&s.data, r.n, r.lam_um.len())?)?;
        }
    }
    if !r.photometry.is_empty() {
        let names: Vec<&str> = r.filters.iter().map(|f| f.0.as_str()).collect();
        let pivots: Vec<f64> = r.filters.iter().map(|f| f.1).collect();
        z.add_strings("filters", &names, false)?;
        z.add("filter_pivot_um", &ArrayView1::from(&pivots))?;
        z.add_strings("photometry_units", &[r.photometry_units], true)?;
        for s in &r.photometry {
            z.add(&s.key, &view2(&s.data, r.n, r.n_f())?)?;
        }
    }
    for s in &r.scalars {
        z.add(&s.key, &ArrayView1::from(&s.data))?;
    }
    if let Some(att) = &r.att_curve {
        z.add("att_curve_lam_um", &ArrayView1::from(&r.att_lam_um))?;
        z.add("att_curve", &view2(att, r.n, r.att_lam_um.len())?)?;
    }
    z.finish()
}

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

fn write_csv(path: &Path, r: &Results) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    let phot_cols = r.phot_columns();
    if !phot_cols.is_empty() || !r.scalars.is_empty() {
        let mut w = csv::Writer::from_path(path).context("cannot create the file")?;
        let mut header = vec!["row".to_owned()];
        header.extend(phot_cols.iter().map(|c| c.0.clone()));
        header.extend(r.scalars.iter().map(|s| s.key.clone()));
        w.write_record(&header)?;
        let n_f = r.n_f();
        for i in 0..r.n {
            let mut rec = vec![i.to_string()];
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

fn json_list<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(","))
}

fn list_column(data: &[f32], width: usize) -> Result<ArrayRef> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let values = Arc::new(Float32Array::from(data.to_vec()));
    let width = i32::try_from(width).context("spectrum too long for a parquet list column")?;
    Ok(Arc::new(FixedSizeListArray::try_new(
        item, width, values, None,
    )?))
}

fn write_parquet(path: &Path, r: &Results) -> Result<()> {
    let mut fields = vec![Field::new("row", DataType::UInt64, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from_iter_values(0..r.n as u64))];
    let n_f = r.n_f();
    for (name, s, j) in r.phot_columns() {
        fields.push(Field::new(name, DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from_iter_values(
            (0..r.n).map(|i| s.data[i * n_f + j]),
        )));
    }
    for s in &r.scalars {
        fields.push(Field::new(&s.key, DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from(s.data.clone())));
    }
    let mut lists: Vec<(&str, &[f32], usize)> = r
        .spectra
        .iter()
        .map(|s| (s.key.as_str(), s.data.as_slice(), r.lam_um.len()))
        .collect();
    if let Some(att) = &r.att_curve {
        lists.push(("att_curve", att, r.att_lam_um.len()));
    }
    for (key, data, width) in lists {
        let col = list_column(data, width)?;
        fields.push(Field::new(key, col.data_type().clone(), false));
        columns.push(col);
    }
    let mut meta = std::collections::HashMap::new();
    meta.insert("galsed.redshift".to_owned(), r.redshift.to_string());
    meta.insert("galsed.distmod".to_owned(), r.distmod.to_string());
    if !r.spectra.is_empty() {
        meta.insert("galsed.lam_um".to_owned(), json_list(&r.lam_um));
        meta.insert("galsed.lam_obs_um".to_owned(), json_list(&r.lam_obs_um));
        meta.insert(
            "galsed.spectrum_units".to_owned(),
            r.spectrum_units.to_owned(),
        );
    }
    if !r.filters.is_empty() {
        let names: Vec<String> = r.filters.iter().map(|f| format!("{:?}", f.0)).collect();
        meta.insert(
            "galsed.filters".to_owned(),
            format!("[{}]", names.join(",")),
        );
        let pivots: Vec<f64> = r.filters.iter().map(|f| f.1).collect();
        meta.insert("galsed.filter_pivot_um".to_owned(), json_list(&pivots));
        meta.insert(
            "galsed.photometry_units".to_owned(),
            r.photometry_units.to_owned(),
        );
    }
    if r.att_curve.is_some() {
        meta.insert(
            "galsed.att_curve_lam_um".to_owned(),
            json_list(&r.att_lam_um),
        );
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, meta));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let file = File::create(path).context("cannot create the file")?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
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
