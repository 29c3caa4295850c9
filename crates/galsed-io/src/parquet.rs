//! Parquet tables (feature `parquet`).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::basic::Compression;
use ::parquet::file::properties::WriterProperties;
use anyhow::{Context, Result, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::table::{Column, ColumnData, Table};

/// Values gathered over record batches.
enum Acc {
    F(Vec<f64>),
    I(Vec<Option<i64>>),
    S(Vec<String>),
}

fn acc_for(name: &str, t: &DataType) -> Result<Acc> {
    use DataType as D;
    Ok(match t {
        D::Float16 | D::Float32 | D::Float64 | D::UInt64 => Acc::F(vec![]),
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
            Acc::I(vec![])
        }
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Acc::S(vec![]),
        D::List(_)
        | D::LargeList(_)
        | D::FixedSizeList(..)
        | D::ListView(_)
        | D::LargeListView(_) => {
            bail!(
                "column '{name}' is a list (vector) column ({t}); only scalar columns are supported"
            )
        }
        _ => bail!(
            "column '{name}' has the unsupported type {t}; use float, integer or UTF-8 string \
             columns"
        ),
    })
}

fn push_floats<I: Iterator<Item = Option<f64>>>(out: &mut Vec<f64>, it: I) {
    out.extend(it.map(|v| v.unwrap_or(f64::NAN)));
}

fn accumulate(acc: &mut Acc, a: &ArrayRef) {
    use DataType as D;
    match acc {
        Acc::F(out) => match a.data_type() {
            D::Float16 => push_floats(
                out,
                a.as_primitive::<Float16Type>()
                    .iter()
                    .map(|v| v.map(f64::from)),
            ),
            D::Float32 => push_floats(
                out,
                a.as_primitive::<Float32Type>()
                    .iter()
                    .map(|v| v.map(f64::from)),
            ),
            D::Float64 => push_floats(out, a.as_primitive::<Float64Type>().iter()),
            _ => push_floats(
                out,
                a.as_primitive::<UInt64Type>()
                    .iter()
                    .map(|v| v.map(|x| x as f64)),
            ),
        },
        Acc::I(out) => match a.data_type() {
            D::Int8 => out.extend(
                a.as_primitive::<Int8Type>()
                    .iter()
                    .map(|v| v.map(i64::from)),
            ),
            D::Int16 => out.extend(
                a.as_primitive::<Int16Type>()
                    .iter()
                    .map(|v| v.map(i64::from)),
            ),
            D::Int32 => out.extend(
                a.as_primitive::<Int32Type>()
                    .iter()
                    .map(|v| v.map(i64::from)),
            ),
            D::UInt8 => out.extend(
                a.as_primitive::<UInt8Type>()
                    .iter()
                    .map(|v| v.map(i64::from)),
            ),
            D::UInt16 => out.extend(
                a.as_primitive::<UInt16Type>()
                    .iter()
                    .map(|v| v.map(i64::from)),
            ),
            D::UInt32 => out.extend(
                a.as_primitive::<UInt32Type>()
                    .iter()
                    .map(|v| v.map(i64::from)),
            ),
            _ => out.extend(a.as_primitive::<Int64Type>().iter()),
        },
        Acc::S(out) => {
            let text = |v: Option<&str>| v.unwrap_or("").to_owned();
            match a.data_type() {
                D::Utf8 => out.extend(a.as_string::<i32>().iter().map(text)),
                D::LargeUtf8 => out.extend(a.as_string::<i64>().iter().map(text)),
                _ => out.extend(a.as_string_view().iter().map(text)),
            }
        }
    }
}

/// Reads a Parquet table (see [`crate::table`] for the types).
pub fn read(path: &Path) -> Result<Table> {
    let file = File::open(path).context("cannot open the file")?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).context("not a readable Parquet file")?;
    let schema = builder.schema().clone();
    let mut accs = schema
        .fields()
        .iter()
        .map(|f| acc_for(f.name(), f.data_type()))
        .collect::<Result<Vec<_>>>()?;
    let reader = builder.build().context("not a readable Parquet file")?;
    for batch in reader {
        let batch = batch.context("corrupt Parquet data")?;
        for (acc, a) in accs.iter_mut().zip(batch.columns()) {
            accumulate(acc, a);
        }
    }
    let columns = schema
        .fields()
        .iter()
        .zip(accs)
        .map(|(f, acc)| Column {
            name: f.name().clone(),
            unit: f.metadata().get("unit").cloned(),
            data: match acc {
                Acc::F(v) => ColumnData::F64(v),
                Acc::S(v) => ColumnData::Str(v),
                Acc::I(v) => match v.iter().copied().collect::<Option<Vec<i64>>>() {
                    Some(ints) => ColumnData::I64(ints),
                    None => ColumnData::F64(
                        v.iter().map(|x| x.map_or(f64::NAN, |x| x as f64)).collect(),
                    ),
                },
            },
        })
        .collect();
    Ok(Table {
        columns,
        source: None,
    })
}

/// Writes a table as Parquet (Snappy) to `path` (not atomically: [`crate::table::write_table`] is).
pub fn write(path: &Path, table: &Table) -> Result<()> {
    let mut fields = vec![];
    let mut arrays: Vec<ArrayRef> = vec![];
    for c in &table.columns {
        let (t, a): (DataType, ArrayRef) = match &c.data {
            ColumnData::F64(v) => (DataType::Float64, Arc::new(Float64Array::from(v.clone()))),
            ColumnData::I64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
            ColumnData::Str(v) => (DataType::Utf8, Arc::new(StringArray::from(v.clone()))),
        };
        let field = Field::new(&c.name, t, false);
        fields.push(match &c.unit {
            Some(u) if !u.is_empty() => field.with_metadata(
                [("unit".to_string(), u.clone())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
            _ => field,
        });
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays)?
    };
    write_batch(path, &batch)
}

/// Writes one Arrow record batch (with its schema and metadata) as Parquet (Snappy) to `path`,
/// not atomically; galsed's Parquet files are all written here.
pub fn write_batch(path: &Path, batch: &RecordBatch) -> Result<()> {
    let file = File::create(path).context("cannot create the file")?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(())
}
