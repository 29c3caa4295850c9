//! CSV tables (feature `csv`): a header row, then one row per galaxy.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::table::{Column, ColumnData, Table, parse_f64};

/// A CSV cell as an integer.
fn parse_i64(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// "007", "-01": an integer with a superfluous leading zero (an identifier, not a number).
fn zero_padded(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

fn infer(cells: Vec<String>) -> ColumnData {
    if cells.iter().any(|c| zero_padded(c)) {
        ColumnData::Str(cells)
    } else if cells.iter().all(|c| parse_i64(c).is_some()) {
        ColumnData::I64(cells.iter().filter_map(|c| parse_i64(c)).collect())
    } else if let Some(v) = cells
        .iter()
        .map(|c| parse_f64(c))
        .collect::<Option<Vec<_>>>()
    {
        ColumnData::F64(v)
    } else {
        ColumnData::Str(cells)
    }
}

fn csv_error(e: ::csv::Error) -> anyhow::Error {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let at = pos.as_ref().map_or_else(String::new, |p| {
                format!("row {} (line {})", p.record(), p.line())
            });
            anyhow!("{at} has {len} fields but the header has {expected_len}")
        }
        ::csv::ErrorKind::Utf8 { pos, .. } => {
            let at = pos.as_ref().map_or_else(String::new, |p| {
                format!(" in row {} (line {})", p.record(), p.line())
            });
            anyhow!("invalid UTF-8{at}")
        }
        _ => anyhow!("{e}"),
    }
}

/// Reads a CSV table (see [`crate::table`] for the type inference).
pub fn read(path: &Path) -> Result<Table> {
    let file = File::open(path).context("cannot open the file")?;
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let header: Vec<String> = rdr
        .headers()
        .map_err(csv_error)?
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let h = h.trim_start_matches('\u{feff}');
            if h.is_empty() {
                format!("col{}", k + 1)
            } else {
                h.to_owned()
            }
        })
        .collect();
    if header.is_empty() {
        bail!("the file is empty (no header row)");
    }
    let mut cells: Vec<Vec<String>> = vec![vec![]; header.len()];
    for record in rdr.records() {
        let record = record.map_err(csv_error)?;
        for (col, cell) in cells.iter_mut().zip(record.iter()) {
            col.push(cell.to_owned());
        }
    }
    let columns = header
        .into_iter()
        .zip(cells)
        .map(|(name, c)| Column {
            name,
            data: infer(c),
            unit: None,
        })
        .collect();
    Ok(Table {
        columns,
        source: None,
    })
}

/// Writes a table as CSV to `path` (not atomically: [`crate::table::write_table`] is).
pub fn write(path: &Path, table: &Table) -> Result<()> {
    let file = File::create(path).context("cannot create the file")?;
    let mut w = ::csv::Writer::from_writer(BufWriter::new(file));
    w.write_record(table.columns.iter().map(|c| c.name.as_str()))?;
    let mut row = Vec::with_capacity(table.n_cols());
    for i in 0..table.n_rows() {
        row.clear();
        row.extend(table.columns.iter().map(|c| c.data.cell_text(i)));
        w.write_record(&row)?;
    }
    w.into_inner()
        .map_err(|e| anyhow!("{}", e.error()))?
        .into_inner()
        .map_err(|e| anyhow!("{}", e.error()))?
        .sync_all()?;
    Ok(())
}
