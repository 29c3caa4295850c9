//! `galsed sed` results as Parquet: spectra and curves as fixed-size list columns, grids and
//! filters in the key-value metadata.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};

use super::Results;

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

pub fn write_parquet(path: &Path, r: &Results) -> Result<()> {
    let mut fields = vec![Field::new("row", DataType::UInt64, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from_iter_values(0..r.n as u64))];
    if let Some(ids) = &r.ids {
        fields.push(Field::new("id", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(ids.clone())));
    }
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
    let batch = RecordBatch::try_new(schema, columns)?;
    galsed_io::parquet::write_batch(path, &batch)
}
