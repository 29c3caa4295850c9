//! HDF5 tables (feature `hdf5`): a file, or a group in it, of equally long 1-D datasets, one
//! per column.
//!
//! Columns are read in creation order when the group tracks it (files written here do), else
//! in name order. Integer datasets become [`ColumnData::I64`] (unsigned 64-bit ones F64),
//! floating-point ones F64, and variable-length strings (UTF-8 or ASCII) text. Any other
//! member (a sub-group, a multi-dimensional, compound, boolean or fixed-length string
//! dataset) is an error naming it. Tables are written as 1-D datasets of f64, i64 and
//! variable-length UTF-8 strings in the root group.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use hdf5_metno::types::{IntSize, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno::{Group, IndexType, IterationOrder};

use crate::table::{Column, ColumnData, Table};

fn h5(e: hdf5_metno::Error) -> anyhow::Error {
    anyhow!("HDF5: {e}")
}

/// Reads the datasets of the root group, or of `group`, as a table.
pub fn read(path: &Path, group: Option<&str>) -> Result<Table> {
    let file =
        hdf5_metno::File::open(path).map_err(|e| anyhow!("not a readable HDF5 file: {e}"))?;
    let owned;
    let g: &Group = match group {
        Some(name) => {
            owned = file
                .group(name)
                .map_err(|e| anyhow!("there is no group '{name}': {e}"))?;
            &owned
        }
        None => &file,
    };
    let names = match g.member_names_by(IndexType::CreationOrder, IterationOrder::Increasing) {
        Ok(names) => names,
        Err(_) => g.member_names().map_err(h5)?,
    };
    let mut columns = vec![];
    for name in names {
        let data = read_column(g, &name).with_context(|| format!("dataset '{name}'"))?;
        columns.push(Column {
            name,
            data,
            unit: None,
        });
    }
    Ok(Table {
        columns,
        source: None,
    })
}

fn read_column(g: &Group, name: &str) -> Result<ColumnData> {
    let ds = g
        .dataset(name)
        .map_err(|_| anyhow!("is not a dataset (a group?); a table holds only 1-D datasets"))?;
    let shape = ds.shape();
    if shape.len() != 1 {
        bail!("has shape {shape:?}; only 1-D datasets can be columns");
    }
    let td = ds.dtype().and_then(|t| t.to_descriptor()).map_err(h5)?;
    Ok(match td {
        TypeDescriptor::Integer(_)
        | TypeDescriptor::Unsigned(IntSize::U1 | IntSize::U2 | IntSize::U4) => {
            ColumnData::I64(ds.read_raw::<i64>().map_err(h5)?)
        }
        TypeDescriptor::Unsigned(IntSize::U8) | TypeDescriptor::Float(_) => {
            ColumnData::F64(ds.read_raw::<f64>().map_err(h5)?)
        }
        TypeDescriptor::VarLenUnicode => ColumnData::Str(
            ds.read_raw::<VarLenUnicode>()
                .map_err(h5)?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        TypeDescriptor::VarLenAscii => ColumnData::Str(
            ds.read_raw::<VarLenAscii>()
                .map_err(h5)?
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        other => bail!(
            "has the unsupported type {other:?}; use integer, floating-point or \
             variable-length string datasets"
        ),
    })
}

/// Writes a table as 1-D datasets of the root group of a new file at `path` (an existing file
/// there is replaced; not atomically: [`crate::table::write_table`] is).
pub fn write(path: &Path, table: &Table) -> Result<()> {
    use hdf5_metno::plist::group_create::LinkCreationOrder;
    let file = hdf5_metno::File::with_options()
        .with_fcpl(|p| p.link_creation_order(LinkCreationOrder::Indexed))
        .create(path)
        .map_err(h5)?;
    for c in &table.columns {
        let written = match &c.data {
            ColumnData::F64(v) => file.new_dataset_builder().with_data(v).create(&*c.name),
            ColumnData::I64(v) => file.new_dataset_builder().with_data(v).create(&*c.name),
            ColumnData::Str(v) => {
                let cells: Vec<VarLenUnicode> = v
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.parse().map_err(|_| {
                            anyhow!("column '{}' row {} holds a NUL character", c.name, i + 1)
                        })
                    })
                    .collect::<Result<_>>()?;
                file.new_dataset_builder()
                    .with_data(&cells)
                    .create(&*c.name)
            }
        };
        written.map_err(|e| anyhow!("cannot write column '{}': {e}", c.name))?;
    }
    file.close().map_err(h5)
}
