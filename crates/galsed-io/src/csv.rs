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

/// A YAML single-quoted scalar.
fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Writes a table as astropy ECSV 1.0 (comma-delimited) to `path`: the YAML header names each
/// column's type and, when known, its unit, so that
/// `astropy.table.Table.read(path, format="ascii.ecsv")` gives `Quantity`-ready columns. Not
/// atomic: [`crate::table::write_table`] is.
pub fn write_ecsv(path: &Path, table: &Table) -> Result<()> {
    use std::io::Write;
    let file = File::create(path).context("cannot create the file")?;
    let mut out = BufWriter::new(file);
    writeln!(out, "# %ECSV 1.0\n# ---\n# datatype:")?;
    for c in &table.columns {
        let datatype = match c.data {
            ColumnData::F64(_) => "float64",
            ColumnData::I64(_) => "int64",
            ColumnData::Str(_) => "string",
        };
        let unit = match c.unit.as_deref() {
            Some(u) if !u.is_empty() => format!(", unit: {}", yaml_quote(u)),
            _ => String::new(),
        };
        writeln!(
            out,
            "# - {{name: {}{unit}, datatype: {datatype}}}",
            yaml_quote(&c.name)
        )?;
    }
    writeln!(out, "# delimiter: ','\n# schema: astropy-2.0")?;
    let mut w = ::csv::Writer::from_writer(out);
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

/// The `key: value` pairs of a YAML flow mapping `{a: 1, b: 'x, y'}` (quotes removed).
fn flow_mapping(s: &str) -> Vec<(String, String)> {
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    let mut items = vec![];
    let (mut cur, mut quote) = (String::new(), None::<char>);
    let mut chars = inner.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some('\''), '\'') if chars.peek() == Some(&'\'') => {
                cur.push('\'');
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (None, ',') => items.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    items.push(cur);
    items
        .iter()
        .filter_map(|item| {
            let (k, v) = item.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Reads an astropy ECSV table: the header's column types and units, then the delimited data
/// (see [`crate::table`] for the type inference of columns not declared `string`).
pub fn read_ecsv(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).context("cannot read the file as UTF-8 text")?;
    if !text.starts_with("# %ECSV") {
        bail!("not an ECSV file: the first line must be '# %ECSV 1.0'");
    }
    let mut declared: Vec<Vec<(String, String)>> = vec![];
    let mut delimiter = b' ';
    let mut data = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('#') {
            let h = h.trim();
            if let Some(m) = h
                .strip_prefix("- ")
                .filter(|m| m.trim_start().starts_with('{'))
            {
                declared.push(flow_mapping(m));
            } else if let Some(d) = h.strip_prefix("delimiter:") {
                let d = d.trim().trim_matches(|c| c == '\'' || c == '"');
                delimiter = match d {
                    "," => b',',
                    " " | "" => b' ',
                    other => bail!("unsupported ECSV delimiter {other:?} (use ',' or ' ')"),
                };
            }
        } else {
            data.push_str(line);
            data.push('\n');
        }
    }
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(data.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_owned)
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
    let get = |name: &str, key: &str| -> Option<String> {
        declared
            .iter()
            .find(|d| d.iter().any(|(k, v)| k == "name" && v == name))?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let columns = header
        .into_iter()
        .zip(cells)
        .map(|(name, c)| Column {
            data: match get(&name, "datatype").as_deref() {
                Some("string") => ColumnData::Str(c),
                Some(t) if t.starts_with("float") => {
                    match c.iter().map(|v| parse_f64(v)).collect::<Option<Vec<_>>>() {
                        Some(v) => ColumnData::F64(v),
                        None => ColumnData::Str(c),
                    }
                }
                _ => infer(c),
            },
            unit: get(&name, "unit").filter(|u| !u.is_empty()),
            name,
        })
        .collect();
    Ok(Table {
        columns,
        source: None,
    })
}
