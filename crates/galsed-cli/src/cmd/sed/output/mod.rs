//! Writing `galsed sed` results as .npz, .csv (+ long-format spectrum file) or .parquet.

mod delimited;
mod parquet_file;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use galsed_io::npz::Npz;
use ndarray::{Array0, ArrayView1, ArrayView2};

use delimited::write_csv;
use parquet_file::write_parquet;

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
    /// The input's `id` column, if it has one.
    pub ids: Option<Vec<String>>,
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
