//! Results of catalogue runs: one Parquet part per finished chunk (written atomically, so a killed
//! run leaves only whole parts), merged at the end into one Parquet or HDF5 file.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::basic::Compression;
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::WriterProperties;
use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};

/// Scalar output columns of every row, before the bands.
pub const SCALAR_COLUMNS: [&str; 4] = ["redshift", "distmod", "l_norm", "b_to_t"];

/// The results of one chunk of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkResult {
    /// Index of the first row.
    pub start: u64,
    /// Galaxy identifiers.
    pub id: Vec<i64>,
    /// "ok", "partial: …" (some bands outside the model at this redshift) or "invalid: …".
    pub status: Vec<String>,
    /// `redshift, distmod, l_norm, b_to_t`, one vector each.
    pub scalars: [Vec<f64>; 4],
    /// Photometry, row-major (rows × bands): AB magnitudes or Jy.
    pub bands: Vec<f64>,
    /// Spectra, row-major (rows × n_λ), when asked for.
    pub spectra: Option<Vec<f32>>,
}

impl ChunkResult {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// True if the chunk holds no row.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
}

/// The columns of the results: id, status, [`SCALAR_COLUMNS`], one per band, and optionally
/// the spectra.
#[derive(Debug, Clone)]
pub struct OutputColumns {
    /// Band (filter) names, one column each.
    pub bands: Vec<String>,
    /// Number of wavelengths of the spectra, if written.
    pub n_lam: Option<usize>,
    /// Written into the final file: `galsed.*` keys (filters, units, frame, grid …).
    pub metadata: Vec<(String, String)>,
}

impl OutputColumns {
    /// The astropy-parsable unit of the band columns, from the `galsed.photometry_units`
    /// metadata ("mag(AB)" for AB magnitudes, "Jy" for fluxes), if known.
    fn band_unit(&self) -> Option<&'static str> {
        let units = self
            .metadata
            .iter()
            .find(|(k, _)| k == "galsed.photometry_units")?;
        if units.1.starts_with("AB mag") {
            Some("mag(AB)")
        } else if units.1 == "Jy" {
            Some("Jy")
        } else {
            None
        }
    }

    /// The Arrow schema: the `galsed.*` metadata as schema metadata (which pyarrow shows as
    /// `schema.metadata`), and each column's unit as field metadata under the key `unit`.
    fn schema(&self) -> Arc<Schema> {
        let with_unit = |f: Field, unit: Option<&str>| match unit {
            Some(u) => f.with_metadata(HashMap::from([("unit".to_string(), u.to_string())])),
            None => f,
        };
        let mut fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("status", DataType::Utf8, false),
        ];
        fields.extend(SCALAR_COLUMNS.iter().map(|n| {
            let unit = match *n {
                "redshift" | "b_to_t" => Some(""),
                "distmod" => Some("mag"),
                _ => None,
            };
            with_unit(Field::new(*n, DataType::Float64, false), unit)
        }));
        let band_unit = self.band_unit();
        fields.extend(
            self.bands
                .iter()
                .map(|n| with_unit(Field::new(n, DataType::Float64, false), band_unit)),
        );
        if let Some(n) = self.n_lam {
            let item = Arc::new(Field::new("item", DataType::Float32, false));
            fields.push(Field::new(
                "spectrum",
                DataType::FixedSizeList(item, n as i32),
                false,
            ));
        }
        let metadata: HashMap<String, String> = self.metadata.iter().cloned().collect();
        Arc::new(Schema::new_with_metadata(fields, metadata))
    }

    fn batch(&self, r: &ChunkResult) -> Result<RecordBatch> {
        let nb = self.bands.len();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(r.id.clone())),
            Arc::new(StringArray::from(r.status.clone())),
        ];
        arrays.extend(
            r.scalars
                .iter()
                .map(|v| Arc::new(Float64Array::from(v.clone())) as ArrayRef),
        );
        for b in 0..nb {
            let col: Vec<f64> = (0..r.len()).map(|i| r.bands[i * nb + b]).collect();
            arrays.push(Arc::new(Float64Array::from(col)));
        }
        if let Some(n) = self.n_lam {
            let spectra = r
                .spectra
                .as_ref()
                .ok_or_else(|| anyhow!("chunk without spectra"))?;
            let item = Arc::new(Field::new("item", DataType::Float32, false));
            let values = Arc::new(Float32Array::from(spectra.clone()));
            arrays.push(Arc::new(FixedSizeListArray::try_new(
                item, n as i32, values, None,
            )?));
        }
        Ok(RecordBatch::try_new(self.schema(), arrays)?)
    }

    fn props(&self, with_metadata: bool) -> WriterProperties {
        let kv = with_metadata.then(|| {
            self.metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect()
        });
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata(kv)
            .build()
    }
}

/// The part file of the rows `start..end` in `dir`.
pub fn part_path(dir: &Path, start: u64, end: u64) -> PathBuf {
    dir.join(format!("rows-{start:012}-{end:012}.parquet"))
}

/// Writes a chunk's part: to a temporary name, then renamed, so a part exists only when whole.
pub fn write_part(dir: &Path, layout: &OutputColumns, r: &ChunkResult) -> Result<()> {
    let path = part_path(dir, r.start, r.start + r.len() as u64);
    crate::atomic_write(&path, |tmp| -> Result<()> {
        let file = File::create(tmp)?;
        let mut w = ArrowWriter::try_new(file, layout.schema(), Some(layout.props(false)))?;
        w.write(&layout.batch(r)?)?;
        w.close()?;
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Reads a part back.
fn read_part(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(65536)
        .build()?;
    Ok(reader.collect::<Result<_, _>>()?)
}

/// Output formats of `galsed catalog run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Apache Parquet.
    Parquet,
    /// HDF5.
    Hdf5,
}

impl OutputFormat {
    /// The format of an output file name (`.parquet`, `.h5`, …), or an error.
    pub fn from_path(path: &Path) -> Result<Self> {
        match crate::Format::from_path(path).ok() {
            Some(crate::Format::Parquet) => Ok(Self::Parquet),
            Some(crate::Format::Hdf5) => Ok(Self::Hdf5),
            _ => bail!(
                "{}: the output must be .parquet or .h5/.hdf5",
                path.display()
            ),
        }
    }
}

/// How many rows of a merged output have each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Rows with status "ok".
    pub ok: u64,
    /// Rows with status "partial: …".
    pub partial: u64,
    /// Rows with status "invalid: …".
    pub invalid: u64,
}

impl StatusCounts {
    fn add(&mut self, status: &[&str]) {
        for s in status {
            match *s {
                "ok" => self.ok += 1,
                s if s.starts_with("partial") => self.partial += 1,
                _ => self.invalid += 1,
            }
        }
    }
}

/// Merges the parts of `ranges` (in order) into `output`, written to a temporary name first;
/// returns the number of rows of each status.
pub fn merge(
    dir: &Path,
    ranges: &[(u64, u64)],
    layout: &OutputColumns,
    output: &Path,
) -> Result<StatusCounts> {
    let format = OutputFormat::from_path(output)?;
    let parts = ranges.iter().map(|&(a, b)| part_path(dir, a, b));
    let mut counts = StatusCounts::default();
    crate::atomic_write(output, |tmp| match format {
        OutputFormat::Parquet => merge_parquet(parts, layout, tmp, &mut counts),
        OutputFormat::Hdf5 => {
            let n: u64 = ranges.iter().map(|(a, b)| b - a).sum();
            merge_hdf5(parts, layout, n as usize, tmp, &mut counts)
        }
    })
    .with_context(|| format!("writing {}", output.display()))?;
    Ok(counts)
}

/// The status column of a part's batch.
fn statuses<'a>(batch: &'a RecordBatch, part: &Path) -> Result<Vec<&'a str>> {
    let col = batch
        .column_by_name("status")
        .ok_or_else(|| anyhow!("{}: no column status", part.display()))?;
    Ok(col
        .as_string::<i32>()
        .iter()
        .map(|s| s.unwrap_or(""))
        .collect())
}

fn merge_parquet(
    parts: impl Iterator<Item = PathBuf>,
    layout: &OutputColumns,
    tmp: &Path,
    counts: &mut StatusCounts,
) -> Result<()> {
    let file = File::create(tmp)?;
    let mut w = ArrowWriter::try_new(file, layout.schema(), Some(layout.props(true)))?;
    for part in parts {
        for batch in read_part(&part).with_context(|| format!("reading {}", part.display()))? {
            counts.add(&statuses(&batch, &part)?);
            w.write(&batch)?;
        }
        // One row group per part: the writer would otherwise hold up to a million rows in memory.
        w.flush()?;
    }
    w.close()?;
    Ok(())
}

fn merge_hdf5(
    parts: impl Iterator<Item = PathBuf>,
    layout: &OutputColumns,
    n: usize,
    tmp: &Path,
    counts: &mut StatusCounts,
) -> Result<()> {
    use hdf5_metno::types::VarLenUnicode;
    use ndarray::s;
    let h5 = |e: hdf5_metno::Error| anyhow!("HDF5: {e}");
    let file = hdf5_metno::File::create(tmp).map_err(h5)?;
    let nb = layout.bands.len();
    let id = file
        .new_dataset::<i64>()
        .shape(n)
        .create("id")
        .map_err(h5)?;
    let status = file
        .new_dataset::<VarLenUnicode>()
        .shape(n)
        .create("status")
        .map_err(h5)?;
    let scalars: Vec<_> = SCALAR_COLUMNS
        .iter()
        .map(|name| file.new_dataset::<f64>().shape(n).create(*name).map_err(h5))
        .collect::<Result<_>>()?;
    let phot = file
        .new_dataset::<f64>()
        .shape((n, nb))
        .create("photometry")
        .map_err(h5)?;
    let names: Vec<VarLenUnicode> = layout
        .bands
        .iter()
        .map(|b| b.parse().map_err(|e| anyhow!("band name {b:?}: {e:?}")))
        .collect::<Result<_>>()?;
    file.new_dataset_builder()
        .with_data(&names)
        .create("filters")
        .map_err(h5)?;
    let spectrum = match layout.n_lam {
        Some(n_lam) => Some(
            file.new_dataset::<f32>()
                .shape((n, n_lam))
                .create("spectrum")
                .map_err(h5)?,
        ),
        None => None,
    };
    for (k, v) in &layout.metadata {
        let key = k.trim_start_matches("galsed.");
        let value: VarLenUnicode = v.parse().map_err(|e| anyhow!("metadata {k}: {e:?}"))?;
        file.new_attr::<VarLenUnicode>()
            .create(key)
            .map_err(h5)?
            .write_scalar(&value)
            .map_err(h5)?;
    }
    let mut row = 0usize;
    for part in parts {
        for batch in read_part(&part).with_context(|| format!("reading {}", part.display()))? {
            let m = batch.num_rows();
            let rows = row..row + m;
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| anyhow!("{}: no column {name}", part.display()))
            };
            let ids: Vec<i64> = col("id")?.as_primitive::<Int64Type>().values().to_vec();
            id.write_slice(&ids, s![rows.clone()]).map_err(h5)?;
            let text = statuses(&batch, &part)?;
            counts.add(&text);
            let st: Vec<VarLenUnicode> = text
                .iter()
                .map(|s| s.parse().map_err(|e| anyhow!("status: {e:?}")))
                .collect::<Result<_>>()?;
            status.write_slice(&st, s![rows.clone()]).map_err(h5)?;
            for (d, name) in scalars.iter().zip(SCALAR_COLUMNS) {
                let v: Vec<f64> = col(name)?.as_primitive::<Float64Type>().values().to_vec();
                d.write_slice(&v, s![rows.clone()]).map_err(h5)?;
            }
            let mut block = ndarray::Array2::<f64>::zeros((m, nb));
            for (b, name) in layout.bands.iter().enumerate() {
                let v = col(name)?.as_primitive::<Float64Type>().values().to_vec();
                block.column_mut(b).assign(&ndarray::Array1::from(v));
            }
            phot.write_slice(&block, s![rows.clone(), ..]).map_err(h5)?;
            if let (Some(d), Some(n_lam)) = (&spectrum, layout.n_lam) {
                let list = col("spectrum")?
                    .as_fixed_size_list()
                    .values()
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec();
                let block = ndarray::Array2::from_shape_vec((m, n_lam), list)?;
                d.write_slice(&block, s![rows.clone(), ..]).map_err(h5)?;
            }
            row += m;
        }
    }
    if row != n {
        bail!("the parts hold {row} rows, expected {n}");
    }
    Ok(())
}

#[cfg(test)]
mod metadata_tests {
    use super::*;

    /// pyarrow's `read_table(f).schema.metadata` is the Arrow schema's metadata (stored in the
    /// `ARROW:schema` footer key), and `schema.field(name).metadata` a field's: both must hold
    /// what the run wrote.
    #[test]
    fn merged_parquet_has_arrow_schema_and_field_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OutputColumns {
            bands: vec!["sdss_r0".into()],
            n_lam: None,
            metadata: vec![
                ("galsed.version".into(), "x".into()),
                ("galsed.photometry_units".into(), "Jy".into()),
            ],
        };
        let r = ChunkResult {
            start: 0,
            id: vec![7, 8],
            status: vec!["ok".into(), "ok".into()],
            scalars: [vec![0.1; 2], vec![38.0; 2], vec![1.0; 2], vec![0.5; 2]],
            bands: vec![1e-3, 2e-3],
            spectra: None,
        };
        write_part(dir.path(), &layout, &r).unwrap();
        let out = dir.path().join("out.parquet");
        merge(dir.path(), &[(0, 2)], &layout, &out).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
        let schema = builder.schema();
        assert_eq!(
            schema.metadata().get("galsed.version").map(String::as_str),
            Some("x")
        );
        let unit = |n: &str| {
            schema
                .field_with_name(n)
                .unwrap()
                .metadata()
                .get("unit")
                .cloned()
        };
        assert_eq!(unit("sdss_r0").as_deref(), Some("Jy"));
        assert_eq!(unit("distmod").as_deref(), Some("mag"));
        // The footer's key-value metadata keeps the keys too.
        let kv = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap();
        assert!(kv.iter().any(|k| k.key == "galsed.version"));
    }
}
