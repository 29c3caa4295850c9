//! Writing a SAM catalogue block by block, so that any size fits in memory: HDF5 (2-D history
//! datasets and an `age_edges` dataset) or Parquet (fixed-size-list history columns and the
//! `galsed.age_edges` metadata key), as [`super::open`] reads them.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::WriterProperties;
use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{ArrayRef, FixedSizeListArray, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::{HISTORIES, SCALARS, SamChunk};
use crate::Format;

/// Writes `n_rows` galaxies with the star-formation histories binned on `age_edges` to `path`
/// (`.h5`/`.hdf5` or `.parquet`), from `chunks`: consecutive row ranges from row 0, each with
/// redshifts and `age_edges.len() − 1` bins.
pub fn write_catalogue(
    path: &Path,
    age_edges: &[f64],
    n_rows: u64,
    chunks: impl Iterator<Item = SamChunk>,
) -> Result<()> {
    match Format::from_path(path).ok() {
        Some(Format::Hdf5) => write_hdf5(path, age_edges, n_rows, chunks),
        Some(Format::Parquet) => write_parquet(path, age_edges, chunks),
        _ => bail!(
            "{}: the catalogue must be .h5/.hdf5 or .parquet",
            path.display()
        ),
    }
    .with_context(|| format!("writing {}", path.display()))
}

/// The chunk's redshifts, which a written catalogue must have.
fn redshifts(c: &SamChunk) -> Result<&[f64]> {
    c.redshift
        .as_deref()
        .ok_or_else(|| anyhow!("rows {}.. have no redshifts", c.start))
}

fn write_hdf5(
    path: &Path,
    edges: &[f64],
    n_rows: u64,
    chunks: impl Iterator<Item = SamChunk>,
) -> Result<()> {
    use ndarray::{ArrayView2, s};
    let h5 = |e: hdf5_metno::Error| anyhow!("HDF5: {e}");
    let n = n_rows as usize;
    let nb = edges.len() - 1;
    let file = hdf5_metno::File::create(path).map_err(h5)?;
    file.new_dataset_builder()
        .with_data(edges)
        .create("age_edges")
        .map_err(h5)?;
    let id = file
        .new_dataset::<i64>()
        .shape(n)
        .create("id")
        .map_err(h5)?;
    let z = file
        .new_dataset::<f64>()
        .shape(n)
        .create("redshift")
        .map_err(h5)?;
    let scalars: Vec<_> = SCALARS
        .iter()
        .map(|c| file.new_dataset::<f64>().shape(n).create(*c).map_err(h5))
        .collect::<Result<_>>()?;
    let histories: Vec<_> = HISTORIES
        .iter()
        .map(|c| {
            file.new_dataset::<f64>()
                .shape((n, nb))
                .create(*c)
                .map_err(h5)
        })
        .collect::<Result<_>>()?;
    for b in chunks {
        let (first, len) = (b.start, b.len() as u64);
        let rows = first as usize..(first + len) as usize;
        id.write_slice(&b.id, s![rows.clone()]).map_err(h5)?;
        z.write_slice(redshifts(&b)?, s![rows.clone()])
            .map_err(h5)?;
        for (d, v) in scalars.iter().zip(&b.scalars) {
            d.write_slice(v, s![rows.clone()]).map_err(h5)?;
        }
        for (d, v) in histories.iter().zip(&b.histories) {
            let view = ArrayView2::from_shape((len as usize, nb), v)?;
            d.write_slice(view, s![rows.clone(), ..]).map_err(h5)?;
        }
    }
    Ok(())
}

fn write_parquet(path: &Path, edges: &[f64], chunks: impl Iterator<Item = SamChunk>) -> Result<()> {
    let nb = (edges.len() - 1) as i32;
    let item = Arc::new(Field::new("item", DataType::Float64, false));
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("redshift", DataType::Float64, false),
    ];
    fields.extend(
        SCALARS
            .iter()
            .map(|c| Field::new(*c, DataType::Float64, false)),
    );
    fields.extend(
        HISTORIES
            .iter()
            .map(|c| Field::new(*c, DataType::FixedSizeList(item.clone(), nb), false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "galsed.age_edges".into(),
            serde_json::to_string(edges)?,
        )]))
        .build();
    let mut w = ArrowWriter::try_new(File::create(path)?, schema.clone(), Some(props))?;
    for b in chunks {
        let z = redshifts(&b)?.to_vec();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(b.id)),
            Arc::new(Float64Array::from(z)),
        ];
        arrays.extend(
            b.scalars
                .into_iter()
                .map(|v| Arc::new(Float64Array::from(v)) as ArrayRef),
        );
        for v in b.histories {
            let values = Arc::new(Float64Array::from(v));
            arrays.push(Arc::new(FixedSizeListArray::try_new(
                item.clone(),
                nb,
                values,
                None,
            )?));
        }
        w.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
    }
    w.close()?;
    Ok(())
}
