//! Readers of SAM-style catalogues, one row range at a time, so that memory stays bounded
//! whatever the catalogue size.
//!
//! Every format holds the same columns (see `galsed catalog run --help`): per galaxy `theta`
//! \[deg\], `m_dust` \[M_sun\], `r_dust`, `r_disk`, `r_bulge` \[kpc\], optionally `id` and `redshift`,
//! and the star-formation histories `mass_disk`, `metal_disk`, `mass_bulge`, `metal_bulge`
//! \[M_sun\] with one value per SAM age bin: 2-D datasets (N × n_bins) in HDF5, fixed-size-list
//! columns in Parquet, vector columns (TFORM `nD`) in FITS, or in Parquet and FITS flat columns
//! `mass_disk_0 … mass_disk_<n−1>`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use ::parquet::arrow::ProjectionMask;
use ::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use galsed_core::sam::AgeBins;

/// The four star-formation-history columns, in [`SamChunk::histories`] order.
pub const HISTORIES: [&str; 4] = ["mass_disk", "metal_disk", "mass_bulge", "metal_bulge"];
/// The per-galaxy scalar columns, in [`SamChunk::scalars`] order.
pub const SCALARS: [&str; 5] = ["theta", "m_dust", "r_dust", "r_disk", "r_bulge"];

/// Rows `start..start + len` of a catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct SamChunk {
    /// Index of the first row.
    pub start: u64,
    /// Galaxy identifiers (the row numbers when the catalogue has no `id` column).
    pub id: Vec<i64>,
    /// Redshifts, when the catalogue has them.
    pub redshift: Option<Vec<f64>>,
    /// `theta, m_dust, r_dust, r_disk, r_bulge`, one vector each.
    pub scalars: [Vec<f64>; 5],
    /// `mass_disk, metal_disk, mass_bulge, metal_bulge`, row-major (len × n_bins) each.
    pub histories: [Vec<f64>; 4],
    /// Age bins per history row.
    pub n_bins: usize,
}

impl SamChunk {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// True if the chunk holds no row.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
}

/// A catalogue that can be read by row ranges from any thread.
pub trait Source: Send + Sync {
    /// Number of galaxies.
    fn n_rows(&self) -> u64;
    /// Age bins of the star-formation histories.
    fn n_bins(&self) -> usize;
    /// The age bins stored with the catalogue, if any.
    fn age_bins(&self) -> Option<AgeBins>;
    /// True if the catalogue has a `redshift` column.
    fn has_redshift(&self) -> bool;
    /// Natural row ranges of the file (Parquet row groups); reads should not cross them.
    fn boundaries(&self) -> Vec<u64> {
        vec![0, self.n_rows()]
    }
    /// Rows `start..end`.
    fn read(&self, start: u64, end: u64) -> Result<SamChunk>;
}

/// Opens a catalogue by extension (see [`Format::from_path`](crate::Format::from_path)):
/// HDF5, Parquet or (plain) FITS.
pub fn open(path: &Path) -> Result<Box<dyn Source>> {
    use crate::Format;
    let source: Box<dyn Source> = match Format::from_path(path).ok() {
        Some(Format::Hdf5) => Box::new(Hdf5Source::open(path)?),
        Some(Format::Parquet) => Box::new(ParquetSource::open(path)?),
        Some(Format::Fits) => Box::new(FitsSource::open(path)?),
        _ => bail!(
            "{}: unknown catalogue format (use .h5/.hdf5 for HDF5, .parquet or .fits)",
            path.display()
        ),
    };
    if source.n_rows() == 0 {
        bail!("{} holds no galaxies", path.display());
    }
    if source.n_bins() == 0 {
        bail!(
            "{}: the star-formation histories have no age bins",
            path.display()
        );
    }
    Ok(source)
}

fn age_bins_from(
    edges: Option<Vec<f64>>,
    ages: Option<Vec<f64>>,
    n_bins: usize,
) -> Result<Option<AgeBins>> {
    match (edges, ages) {
        (Some(_), Some(_)) => bail!("the catalogue stores both age_edges and ages: keep one"),
        (Some(e), None) if e.len() != n_bins + 1 => {
            bail!(
                "age_edges has {} values for {n_bins} age bins (expected {})",
                e.len(),
                n_bins + 1
            )
        }
        (None, Some(a)) if a.len() != n_bins => {
            bail!("ages has {} values for {n_bins} age columns", a.len())
        }
        (Some(e), None) => Ok(Some(AgeBins::Step(e))),
        (None, Some(a)) => Ok(Some(AgeBins::Instant(a))),
        (None, None) => Ok(None),
    }
}

// ---- HDF5 -----------------------------------------------------------------------------------------

/// HDF5: one dataset per column at the file's root; `age_edges` or `ages` datasets optional.
pub struct Hdf5Source {
    path: PathBuf,
    n: u64,
    n_bins: usize,
    has_id: bool,
    has_redshift: bool,
    age_bins: Option<AgeBins>,
}

impl Hdf5Source {
    /// Opens a catalogue and checks its columns.
    pub fn open(path: &Path) -> Result<Self> {
        let ctx = || format!("reading {}", path.display());
        let file = hdf5_metno::File::open(path)
            .map_err(|e| anyhow!("not a readable HDF5 file: {e}"))
            .with_context(ctx)?;
        let shape = |name: &str| -> Result<Option<Vec<usize>>> {
            match file.dataset(name) {
                Ok(d) => Ok(Some(d.shape())),
                Err(_) if !file.link_exists(name) => Ok(None),
                Err(e) => Err(anyhow!("dataset '{name}': {e}")),
            }
        };
        let theta = shape("theta")?
            .ok_or_else(|| anyhow!("no dataset 'theta'"))
            .with_context(ctx)?;
        if theta.len() != 1 {
            bail!(
                "{}: 'theta' must be 1-D, it has shape {theta:?}",
                path.display()
            );
        }
        let n = theta[0];
        for name in SCALARS.iter().chain(["id", "redshift"].iter()) {
            if let Some(s) = shape(name).with_context(ctx)?
                && s != [n]
            {
                bail!(
                    "{}: dataset '{name}' has shape {s:?}, expected [{n}]",
                    path.display()
                );
            }
            if SCALARS.contains(name) && shape(name)?.is_none() {
                bail!("{}: no dataset '{name}'", path.display());
            }
        }
        let mut n_bins = None;
        for name in HISTORIES {
            let s = shape(name)
                .with_context(ctx)?
                .ok_or_else(|| anyhow!("{}: no dataset '{name}'", path.display()))?;
            if s.len() != 2 || s[0] != n {
                bail!(
                    "{}: dataset '{name}' has shape {s:?}, expected [{n}, n_bins]",
                    path.display()
                );
            }
            if *n_bins.get_or_insert(s[1]) != s[1] {
                bail!(
                    "{}: the history datasets have different numbers of age bins",
                    path.display()
                );
            }
        }
        let read_opt = |name: &str| -> Result<Option<Vec<f64>>> {
            if !file.link_exists(name) {
                return Ok(None);
            }
            let d = file
                .dataset(name)
                .map_err(|e| anyhow!("dataset '{name}': {e}"))?;
            Ok(Some(
                d.read_raw::<f64>()
                    .map_err(|e| anyhow!("dataset '{name}': {e}"))?,
            ))
        };
        let n_bins = n_bins.unwrap_or(0);
        let age_bins =
            age_bins_from(read_opt("age_edges")?, read_opt("ages")?, n_bins).with_context(ctx)?;
        Ok(Self {
            path: path.to_path_buf(),
            n: n as u64,
            n_bins,
            has_id: file.link_exists("id"),
            has_redshift: file.link_exists("redshift"),
            age_bins,
        })
    }
}

impl Source for Hdf5Source {
    fn n_rows(&self) -> u64 {
        self.n
    }
    fn n_bins(&self) -> usize {
        self.n_bins
    }
    fn age_bins(&self) -> Option<AgeBins> {
        self.age_bins.clone()
    }
    fn has_redshift(&self) -> bool {
        self.has_redshift
    }

    fn read(&self, start: u64, end: u64) -> Result<SamChunk> {
        use ndarray::s;
        let ctx = || format!("reading rows {start}..{end} of {}", self.path.display());
        let file = hdf5_metno::File::open(&self.path)
            .map_err(|e| anyhow!("{e}"))
            .with_context(ctx)?;
        let (a, b) = (start as usize, end as usize);
        let col = |name: &str| -> Result<Vec<f64>> {
            let d = file
                .dataset(name)
                .map_err(|e| anyhow!("dataset '{name}': {e}"))?;
            let v = d
                .read_slice_1d::<f64, _>(s![a..b])
                .map_err(|e| anyhow!("dataset '{name}': {e}"))?;
            Ok(v.into_raw_vec_and_offset().0)
        };
        let hist = |name: &str| -> Result<Vec<f64>> {
            let d = file
                .dataset(name)
                .map_err(|e| anyhow!("dataset '{name}': {e}"))?;
            let v = d
                .read_slice_2d::<f64, _>(s![a..b, ..])
                .map_err(|e| anyhow!("dataset '{name}': {e}"))?;
            Ok(v.as_standard_layout().iter().copied().collect())
        };
        let id = if self.has_id {
            let d = file
                .dataset("id")
                .map_err(|e| anyhow!("dataset 'id': {e}"))
                .with_context(ctx)?;
            d.read_slice_1d::<i64, _>(s![a..b])
                .map_err(|e| anyhow!("dataset 'id' (integers expected): {e}"))
                .with_context(ctx)?
                .to_vec()
        } else {
            (start as i64..end as i64).collect()
        };
        let redshift = if self.has_redshift {
            Some(col("redshift").with_context(ctx)?)
        } else {
            None
        };
        let scalars = [
            col("theta"),
            col("m_dust"),
            col("r_dust"),
            col("r_disk"),
            col("r_bulge"),
        ];
        let histories = [
            hist(HISTORIES[0]),
            hist(HISTORIES[1]),
            hist(HISTORIES[2]),
            hist(HISTORIES[3]),
        ];
        let scalars = collect5(scalars).with_context(ctx)?;
        let histories = collect4(histories).with_context(ctx)?;
        Ok(SamChunk {
            start,
            id,
            redshift,
            scalars,
            histories,
            n_bins: self.n_bins,
        })
    }
}

fn collect5(v: [Result<Vec<f64>>; 5]) -> Result<[Vec<f64>; 5]> {
    let [a, b, c, d, e] = v;
    Ok([a?, b?, c?, d?, e?])
}

fn collect4(v: [Result<Vec<f64>>; 4]) -> Result<[Vec<f64>; 4]> {
    let [a, b, c, d] = v;
    Ok([a?, b?, c?, d?])
}

// ---- Parquet --------------------------------------------------------------------------------------

/// How a history is stored in a Parquet file.
#[derive(Debug, Clone)]
enum HistoryColumns {
    /// One list column (fixed-size or variable; its index, its fixed width or 0) holding n_bins
    /// values per row.
    List(usize, usize),
    /// Flat columns `<name>_0 … <name>_<n−1>`.
    Flat(Vec<usize>),
}

/// Parquet: the age bins may be stored in the key-value metadata as `galsed.age_edges` or
/// `galsed.ages` (JSON arrays).
pub struct ParquetSource {
    path: PathBuf,
    n: u64,
    n_bins: usize,
    row_group_starts: Vec<u64>,
    id: Option<usize>,
    redshift: Option<usize>,
    scalars: [usize; 5],
    histories: [HistoryColumns; 4],
    age_bins: Option<AgeBins>,
}

impl ParquetSource {
    /// Opens a catalogue and checks its columns.
    pub fn open(path: &Path) -> Result<Self> {
        let ctx = || format!("reading {}", path.display());
        let file = File::open(path)
            .context("cannot open the file")
            .with_context(ctx)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .context("not a readable Parquet file")
            .with_context(ctx)?;
        let schema = builder.schema().clone();
        let index: HashMap<&str, usize> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().as_str(), i))
            .collect();
        let find = |name: &str| index.get(name).copied();
        let required = |name: &str| {
            find(name).ok_or_else(|| anyhow!("{}: no column '{name}'", path.display()))
        };
        let scalars = [
            required("theta")?,
            required("m_dust")?,
            required("r_dust")?,
            required("r_disk")?,
            required("r_bulge")?,
        ];
        let mut n_bins = None;
        let mut histories = vec![];
        for name in HISTORIES {
            let h = if let Some(i) = find(name) {
                let width = match schema.field(i).data_type() {
                    DataType::FixedSizeList(_, w) => *w as usize,
                    DataType::List(_) | DataType::LargeList(_) => 0,
                    t => bail!(
                        "{}: column '{name}' is {t}, expected a list of floats",
                        path.display()
                    ),
                };
                HistoryColumns::List(i, width)
            } else {
                let flat: Vec<usize> = (0..).map_while(|k| find(&format!("{name}_{k}"))).collect();
                if flat.is_empty() {
                    bail!(
                        "{}: no column '{name}' (list) or '{name}_0', '{name}_1', … (flat)",
                        path.display()
                    );
                }
                HistoryColumns::Flat(flat)
            };
            let width = match &h {
                HistoryColumns::List(_, w) => *w,
                HistoryColumns::Flat(c) => c.len(),
            };
            if width > 0 && *n_bins.get_or_insert(width) != width {
                bail!(
                    "{}: the history columns have different numbers of age bins",
                    path.display()
                );
            }
            histories.push(h);
        }
        let metadata = builder.metadata().clone();
        let kv: HashMap<String, String> = metadata
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .filter_map(|e| Some((e.key.clone(), e.value.clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        let json = |key: &str| -> Result<Option<Vec<f64>>> {
            kv.get(key)
                .map(|v| {
                    serde_json::from_str(v)
                        .with_context(|| format!("metadata '{key}' is not a JSON array of numbers"))
                })
                .transpose()
        };
        let mut row_group_starts = vec![0u64];
        for rg in metadata.row_groups() {
            let last = *row_group_starts.last().expect("starts with 0");
            row_group_starts.push(last + rg.num_rows() as u64);
        }
        let n = *row_group_starts.last().expect("starts with 0");
        let mut source = Self {
            path: path.to_path_buf(),
            n,
            n_bins: n_bins.unwrap_or(0),
            row_group_starts,
            id: find("id"),
            redshift: find("redshift"),
            scalars,
            histories: histories
                .try_into()
                .map_err(|_| anyhow!("four histories"))?,
            age_bins: None,
        };
        if source.n_bins == 0 && n > 0 {
            // Only variable-length lists: take the width from the first row.
            let first = source.read(0, 1)?;
            source.n_bins = first.n_bins;
        }
        source.age_bins = age_bins_from(
            json("galsed.age_edges")?,
            json("galsed.ages")?,
            source.n_bins,
        )
        .with_context(ctx)?;
        Ok(source)
    }
}

/// Values of a numeric column as f64 (nulls as NaN).
fn floats(a: &ArrayRef, name: &str) -> Result<Vec<f64>> {
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    Ok(match a.data_type() {
        DataType::Float64 => a.as_primitive::<Float64Type>().iter().map(nan).collect(),
        DataType::Float32 => a
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| nan(v.map(f64::from)))
            .collect(),
        DataType::Int64 => a
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| nan(v.map(|v| v as f64)))
            .collect(),
        DataType::Int32 => a
            .as_primitive::<Int32Type>()
            .iter()
            .map(|v| nan(v.map(f64::from)))
            .collect(),
        t => bail!("column '{name}' is {t}, expected numbers"),
    })
}

/// Values of a list column, row-major, checking that every row has `n_bins` values.
fn list_floats(a: &ArrayRef, name: &str, n_bins: &mut usize) -> Result<Vec<f64>> {
    let rows: Vec<Option<ArrayRef>> = match a.data_type() {
        DataType::FixedSizeList(..) => a.as_fixed_size_list().iter().collect(),
        DataType::List(_) => a.as_list::<i32>().iter().collect(),
        DataType::LargeList(_) => a.as_list::<i64>().iter().collect(),
        t => bail!("column '{name}' is {t}, expected a list of floats"),
    };
    let mut out = vec![];
    for (r, row) in rows.into_iter().enumerate() {
        let values = match row {
            Some(v) => floats(&v, name)?,
            None => vec![],
        };
        if *n_bins == 0 {
            *n_bins = values.len();
        }
        if values.len() != *n_bins {
            bail!(
                "column '{name}', row {r} of the chunk: {} values, expected {}",
                values.len(),
                *n_bins
            );
        }
        out.extend(values);
    }
    Ok(out)
}

impl Source for ParquetSource {
    fn n_rows(&self) -> u64 {
        self.n
    }
    fn n_bins(&self) -> usize {
        self.n_bins
    }
    fn age_bins(&self) -> Option<AgeBins> {
        self.age_bins.clone()
    }
    fn has_redshift(&self) -> bool {
        self.redshift.is_some()
    }
    fn boundaries(&self) -> Vec<u64> {
        self.row_group_starts.clone()
    }

    fn read(&self, start: u64, end: u64) -> Result<SamChunk> {
        let ctx = || format!("reading rows {start}..{end} of {}", self.path.display());
        // The row groups that hold the range, and the rows to skip in the first of them.
        let first = self.row_group_starts.partition_point(|&s| s <= start) - 1;
        let last = self.row_group_starts.partition_point(|&s| s < end) - 1;
        let skip = (start - self.row_group_starts[first]) as usize;
        let take = (end - start) as usize;
        let file = File::open(&self.path)
            .context("cannot open the file")
            .with_context(ctx)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .context("not a readable Parquet file")
            .with_context(ctx)?;
        let mut columns: Vec<usize> = self.scalars.to_vec();
        columns.extend(self.id);
        columns.extend(self.redshift);
        for h in &self.histories {
            match h {
                HistoryColumns::List(i, _) => columns.push(*i),
                HistoryColumns::Flat(c) => columns.extend(c),
            }
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
        let selection =
            RowSelection::from(vec![RowSelector::skip(skip), RowSelector::select(take)]);
        let reader = builder
            .with_row_groups((first..=last).collect())
            .with_projection(mask)
            .with_row_selection(selection)
            .with_batch_size(take.max(1))
            .build()
            .context("not a readable Parquet file")
            .with_context(ctx)?;
        let batches: Vec<RecordBatch> = reader
            .collect::<Result<_, _>>()
            .context("corrupt Parquet data")
            .with_context(ctx)?;
        let column = |name: &str| -> Result<ArrayRef> {
            let arrays: Vec<ArrayRef> = batches
                .iter()
                .map(|b| {
                    b.column_by_name(name)
                        .cloned()
                        .ok_or_else(|| anyhow!("column '{name}' missing"))
                })
                .collect::<Result<_>>()?;
            let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            Ok(arrow_select::concat::concat(&refs)?)
        };
        let get = |name: &str| -> Result<Vec<f64>> { floats(&column(name)?, name) };
        let id: Vec<i64> = if self.id.is_some() {
            let a = column("id").with_context(ctx)?;
            match a.data_type() {
                DataType::Int64 => a
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(-1))
                    .collect(),
                DataType::Int32 => a
                    .as_primitive::<Int32Type>()
                    .iter()
                    .map(|v| v.map_or(-1, i64::from))
                    .collect(),
                t => bail!(
                    "{}: column 'id' is {t}, expected integers",
                    self.path.display()
                ),
            }
        } else {
            (start as i64..end as i64).collect()
        };
        let redshift = if self.redshift.is_some() {
            Some(get("redshift").with_context(ctx)?)
        } else {
            None
        };
        let scalars = collect5(SCALARS.map(get)).with_context(ctx)?;
        let mut n_bins = self.n_bins;
        let mut histories = vec![];
        for (name, h) in HISTORIES.iter().zip(&self.histories) {
            let values = match h {
                HistoryColumns::List(..) => {
                    list_floats(&column(name)?, name, &mut n_bins).with_context(ctx)?
                }
                HistoryColumns::Flat(_) => {
                    let cols: Vec<Vec<f64>> = (0..n_bins)
                        .map(|k| get(&format!("{name}_{k}")))
                        .collect::<Result<_>>()
                        .with_context(ctx)?;
                    (0..take)
                        .flat_map(|r| cols.iter().map(move |c| c[r]))
                        .collect()
                }
            };
            histories.push(values);
        }
        if id.len() != take {
            bail!(
                "{}: read {} rows for the range {start}..{end}",
                self.path.display(),
                id.len()
            );
        }
        Ok(SamChunk {
            start,
            id,
            redshift,
            scalars,
            histories: histories
                .try_into()
                .map_err(|_| anyhow!("four histories"))?,
            n_bins,
        })
    }
}

// ---- FITS -----------------------------------------------------------------------------------------

/// FITS: the first binary table; histories as vector columns or flat columns. FITS catalogues
/// carry no age bins: give them on the command line.
pub struct FitsSource {
    path: PathBuf,
    n: u64,
    n_bins: usize,
    /// (column index, values per row) of id, redshift, the scalars, then each history's columns.
    id: Option<usize>,
    redshift: Option<usize>,
    scalars: [usize; 5],
    histories: [Vec<(usize, usize)>; 4],
}

impl FitsSource {
    /// Opens a catalogue and checks its columns.
    pub fn open(path: &Path) -> Result<Self> {
        let (n, cols) = crate::fits::describe(path, None)
            .with_context(|| format!("reading {}", path.display()))?;
        let find = |name: &str| cols.iter().position(|(c, _)| c.eq_ignore_ascii_case(name));
        let scalar = |name: &str| -> Result<usize> {
            let i = find(name).ok_or_else(|| anyhow!("{}: no column '{name}'", path.display()))?;
            if cols[i].1 != 1 {
                bail!(
                    "{}: column '{name}' must hold one number per row",
                    path.display()
                );
            }
            Ok(i)
        };
        let scalars = [
            scalar("theta")?,
            scalar("m_dust")?,
            scalar("r_dust")?,
            scalar("r_disk")?,
            scalar("r_bulge")?,
        ];
        let id = find("id").map(|_| scalar("id")).transpose()?;
        let redshift = find("redshift").map(|_| scalar("redshift")).transpose()?;
        let mut n_bins = None;
        let mut histories = vec![];
        for name in HISTORIES {
            let h: Vec<(usize, usize)> = match find(name) {
                Some(i) if cols[i].1 > 0 => vec![(i, cols[i].1)],
                Some(_) => bail!("{}: column '{name}' must hold numbers", path.display()),
                None => (0..)
                    .map_while(|k| find(&format!("{name}_{k}")).map(|i| (i, 1)))
                    .collect(),
            };
            let width: usize = h.iter().map(|(_, r)| r).sum();
            if width == 0 {
                bail!(
                    "{}: no column '{name}' (vector) or '{name}_0', '{name}_1', … (flat)",
                    path.display()
                );
            }
            if *n_bins.get_or_insert(width) != width {
                bail!(
                    "{}: the history columns have different numbers of age bins",
                    path.display()
                );
            }
            histories.push(h);
        }
        Ok(Self {
            path: path.to_path_buf(),
            n,
            n_bins: n_bins.unwrap_or(0),
            id,
            redshift,
            scalars,
            histories: histories
                .try_into()
                .map_err(|_| anyhow!("four histories"))?,
        })
    }
}

impl Source for FitsSource {
    fn n_rows(&self) -> u64 {
        self.n
    }
    fn n_bins(&self) -> usize {
        self.n_bins
    }
    fn age_bins(&self) -> Option<AgeBins> {
        None
    }
    fn has_redshift(&self) -> bool {
        self.redshift.is_some()
    }

    fn read(&self, start: u64, end: u64) -> Result<SamChunk> {
        let ctx = || format!("reading rows {start}..{end} of {}", self.path.display());
        let mut wanted: Vec<(usize, usize)> = self.scalars.iter().map(|&i| (i, 1)).collect();
        wanted.extend(self.id.map(|i| (i, 1)));
        wanted.extend(self.redshift.map(|i| (i, 1)));
        for h in &self.histories {
            wanted.extend(h);
        }
        let mut values = crate::fits::read_rows(&self.path, None, &wanted, start, end)
            .with_context(ctx)?
            .into_iter();
        let mut next = || values.next().expect("one vector per requested column");
        let scalars = [next(), next(), next(), next(), next()];
        let id = match self.id {
            Some(_) => next()
                .into_iter()
                .map(|v| {
                    if v.fract() == 0.0 && v.abs() < 9.0e15 {
                        Ok(v as i64)
                    } else {
                        Err(anyhow!("column 'id' holds {v}, not an integer"))
                    }
                })
                .collect::<Result<Vec<i64>>>()
                .with_context(ctx)?,
            None => (start as i64..end as i64).collect(),
        };
        let redshift = self.redshift.map(|_| next());
        let rows = (end - start) as usize;
        let mut histories: [Vec<f64>; 4] = Default::default();
        for (h, cols) in histories.iter_mut().zip(&self.histories) {
            let parts: Vec<Vec<f64>> = cols.iter().map(|_| next()).collect();
            if let [single] = parts.as_slice() {
                h.clone_from(single);
            } else {
                *h = (0..rows)
                    .flat_map(|r| parts.iter().map(move |p| p[r]))
                    .collect();
            }
        }
        Ok(SamChunk {
            start,
            id,
            redshift,
            scalars,
            histories,
            n_bins: self.n_bins,
        })
    }
}
