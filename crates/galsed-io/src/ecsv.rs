//! ECSV tables (feature `csv`): astropy's Enhanced CSV, a CSV body under a `# %ECSV 1.0` YAML
//! header that gives each column's `datatype`.
//!
//! The header is read by a small parser of the parts that matter: the `datatype:` list (flow
//! entries `- {name: a, datatype: int64, ...}` as astropy writes them, or block entries) and
//! `delimiter:`; each column's `unit` is kept, `meta`, `schema` and descriptions are skipped. Column types: `int*`,
//! `uint*` → integers (floats with NaN when a cell is empty, i.e. masked; `uint64` always
//! floats), `float*` → floats (empty → NaN), `bool` → integers 0/1, `string` → text. Columns
//! with a `subtype` (multidimensional or variable-length arrays) and other datatypes are an
//! error naming the column.
//!
//! [`write()`] writes comma-delimited ECSV 1.0 with each column's type and unit.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::table::{Column, ColumnData, Table, parse_f64};

/// One column of the header: name, datatype, whether it has a subtype.
#[derive(Debug)]
struct Spec {
    name: String,
    datatype: String,
    subtype: bool,
    unit: Option<String>,
}

/// A YAML scalar without its quotes ('a' or "a"; '' inside single quotes is ').
fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        s[1..s.len() - 1].replace("''", "'")
    } else if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].replace("\\\"", "\"")
    } else {
        s.to_owned()
    }
}

/// Splits a flow mapping's inside at top-level commas (not inside quotes or brackets).
fn split_flow(s: &str) -> Vec<&str> {
    let (mut out, mut start, mut depth, mut quote) = (vec![], 0, 0i32, None::<char>);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `key: value` → (key, value).
fn key_value(s: &str) -> Option<(String, String)> {
    let (k, v) = s.split_once(':')?;
    Some((unquote(k), unquote(v)))
}

/// The column specs and the delimiter from the header lines (without their `# `).
fn parse_header(lines: &[String]) -> Result<(Vec<Spec>, u8)> {
    let mut specs = vec![];
    let mut delimiter = b' ';
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let top = !line.starts_with(' ') && !line.starts_with('-');
        if top && let Some((k, v)) = key_value(line) {
            match k.as_str() {
                "delimiter" => {
                    delimiter = match v.as_str() {
                        "," => b',',
                        " " | "" => b' ',
                        other => bail!("ECSV delimiter {other:?}: expected ',' or ' '"),
                    };
                }
                "datatype" => {
                    i += 1;
                    // Entries until the next top-level key.
                    let mut entry: Vec<(String, String)> = vec![];
                    let mut flush = |entry: &mut Vec<(String, String)>| -> Result<()> {
                        if entry.is_empty() {
                            return Ok(());
                        }
                        let get = |key: &str| {
                            entry.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
                        };
                        let name = get("name")
                            .ok_or_else(|| anyhow!("ECSV header: a datatype entry has no name"))?;
                        let datatype = get("datatype").ok_or_else(|| {
                            anyhow!("ECSV header: column {name:?} has no datatype")
                        })?;
                        specs.push(Spec {
                            name,
                            datatype,
                            subtype: get("subtype").is_some(),
                            unit: get("unit").filter(|u| !u.is_empty()),
                        });
                        entry.clear();
                        Ok(())
                    };
                    while i < lines.len() {
                        let l = &lines[i];
                        if !l.starts_with(' ') && !l.starts_with('-') {
                            break;
                        }
                        let t = l.trim_start();
                        if let Some(rest) = t.strip_prefix('-') {
                            flush(&mut entry)?;
                            let rest = rest.trim();
                            if let Some(inner) =
                                rest.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
                            {
                                entry.extend(split_flow(inner).into_iter().filter_map(key_value));
                            } else if let Some(kv) = key_value(rest) {
                                entry.push(kv);
                            }
                        } else if l.starts_with("  ")
                            && !t.starts_with('{')
                            && let Some(kv) = key_value(t)
                        {
                            entry.push(kv);
                        }
                        i += 1;
                    }
                    flush(&mut entry)?;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
    if specs.is_empty() {
        bail!("ECSV header: no datatype list");
    }
    Ok((specs, delimiter))
}

/// Cells of a column of `datatype` → column data.
fn convert(spec: &Spec, cells: Vec<String>) -> Result<ColumnData> {
    let name = &spec.name;
    if spec.subtype {
        bail!("column {name:?}: array columns (ECSV subtype) are not supported");
    }
    let bad = |row: usize, cell: &str| {
        anyhow!(
            "column {name:?} ({}): row {}: {cell:?} is not a value of that type",
            spec.datatype,
            row + 1
        )
    };
    let dt = spec.datatype.as_str();
    Ok(match dt {
        "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64" => {
            if dt != "uint64" && cells.iter().all(|c| !c.is_empty()) {
                let mut v = Vec::with_capacity(cells.len());
                for (row, c) in cells.iter().enumerate() {
                    v.push(c.parse::<i64>().map_err(|_| bad(row, c))?);
                }
                ColumnData::I64(v)
            } else {
                let mut v = Vec::with_capacity(cells.len());
                for (row, c) in cells.iter().enumerate() {
                    v.push(if c.is_empty() {
                        f64::NAN
                    } else {
                        c.parse::<u64>()
                            .map(|u| u as f64)
                            .or_else(|_| c.parse::<i64>().map(|i| i as f64))
                            .map_err(|_| bad(row, c))?
                    });
                }
                ColumnData::F64(v)
            }
        }
        "float16" | "float32" | "float64" | "float128" => {
            let mut v = Vec::with_capacity(cells.len());
            for (row, c) in cells.iter().enumerate() {
                v.push(parse_f64(c).ok_or_else(|| bad(row, c))?);
            }
            ColumnData::F64(v)
        }
        "bool" => {
            let mut v = Vec::with_capacity(cells.len());
            for (row, c) in cells.iter().enumerate() {
                v.push(match c.as_str() {
                    "True" | "true" | "1" => 1,
                    "False" | "false" | "0" => 0,
                    _ => return Err(bad(row, c)),
                });
            }
            ColumnData::I64(v)
        }
        "string" => ColumnData::Str(cells),
        other => bail!("column {name:?}: ECSV datatype {other:?} is not supported"),
    })
}

/// Reads an ECSV table.
pub fn read(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).context("cannot open the file")?;
    let text = std::str::from_utf8(&bytes).map_err(|e| anyhow!("invalid UTF-8: {e}"))?;
    let mut lines = text.lines();
    let first = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches('\u{feff}');
    if !first.starts_with("# %ECSV") {
        bail!("not an ECSV file: the first line is not \"# %ECSV <version>\"");
    }
    let mut header = vec![];
    let mut body_start = first.len() + 1;
    for l in lines {
        let Some(h) = l.strip_prefix('#') else { break };
        body_start += l.len() + 1;
        let h = h.strip_prefix(' ').unwrap_or(h);
        if h.trim() != "---" {
            header.push(h.trim_end().to_owned());
        }
    }
    let (specs, delimiter) = parse_header(&header)?;
    let body = text.get(body_start.min(text.len())..).unwrap_or_default();
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .from_reader(body.as_bytes());
    let names: Vec<String> = rdr
        .headers()
        .map_err(|e| anyhow!("the column-name row: {e}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    let expected: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    if names != expected {
        bail!(
            "the column-name row ({}) does not match the header's datatype list ({})",
            names.join(", "),
            expected.join(", ")
        );
    }
    let mut cells: Vec<Vec<String>> = vec![vec![]; specs.len()];
    for (row, record) in rdr.records().enumerate() {
        let record = record.map_err(|e| anyhow!("data row {}: {e}", row + 1))?;
        if record.len() != specs.len() {
            bail!(
                "data row {} has {} fields but there are {} columns",
                row + 1,
                record.len(),
                specs.len()
            );
        }
        for (col, cell) in cells.iter_mut().zip(record.iter()) {
            col.push(cell.to_owned());
        }
    }
    let mut columns = vec![];
    for (spec, c) in specs.iter().zip(cells) {
        columns.push(Column {
            name: spec.name.clone(),
            data: convert(spec, c)?,
            unit: spec.unit.clone(),
        });
    }
    Ok(Table {
        columns,
        source: None,
    })
}

/// A YAML single-quoted scalar.
fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Writes a table as astropy ECSV 1.0 (comma-delimited) to `path`: the YAML header names each
/// column's type and, when known, its unit, so that
/// `astropy.table.Table.read(path, format="ascii.ecsv")` gives `Quantity`-ready columns. Not
/// atomic: [`crate::table::write_table`] is.
pub fn write(path: &Path, table: &Table) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by astropy 7 (`Table.write(..., format="ascii.ecsv")`), with a masked float, a
    /// masked integer, quoted strings, a bool and an int16; the same table as astropy's CSV below.
    const ASTROPY_ECSV: &str = r#"# %ECSV 1.0
# ---
# datatype:
# - {name: id, datatype: string}
# - {name: redshift, datatype: float64}
# - {name: sdss_r0, unit: mag, datatype: float64}
# - {name: sdss_r0_flag, datatype: int64}
# - {name: ok, datatype: bool}
# - {name: n, datatype: int16}
# meta: !!omap
# - {comment: 'tiny, test'}
# schema: astropy-2.0
id redshift sdss_r0 sdss_r0_flag ok n
"a b" 0.02 15.0 0 True 1
"c,""d""" 0.1 "" 1 False 2
e nan 17.0 "" True 3
"#;
    const ASTROPY_CSV: &str = r#"id,redshift,sdss_r0,sdss_r0_flag,ok,n
a b,0.02,15.0,0,True,1
"c,""d""",0.1,,1,False,2
e,nan,17.0,,True,3
"#;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn astropy_ecsv_reads_as_its_csv() {
        let dir = tempfile::tempdir().unwrap();
        let e = crate::table::read_table(&write(dir.path(), "t.ecsv", ASTROPY_ECSV)).unwrap();
        let c = crate::table::read_table(&write(dir.path(), "t.csv", ASTROPY_CSV)).unwrap();
        assert_eq!(e.names(), c.names());
        assert_eq!(e.str_column("id").unwrap(), c.str_column("id").unwrap());
        assert_eq!(e.str_column("id").unwrap()[1], "c,\"d\"");
        for name in ["redshift", "sdss_r0", "sdss_r0_flag", "n"] {
            let (a, b) = (e.f64_column(name).unwrap(), c.f64_column(name).unwrap());
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b.iter()) {
                assert!(x == y || (x.is_nan() && y.is_nan()), "{name}: {x} {y}");
            }
        }
        // The typed columns: int16 stays integer, bool is 0/1.
        assert_eq!(e.get("n").unwrap().data, ColumnData::I64(vec![1, 2, 3]));
        assert_eq!(e.get("ok").unwrap().data, ColumnData::I64(vec![1, 0, 1]));
    }

    #[test]
    fn block_style_and_comma_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# %ECSV 1.0\n# ---\n# delimiter: ','\n# datatype:\n# -\n#   name: 'a b'\n#   datatype: float32\n# - name: c\n#   datatype: string\n#   description: \"x, y\"\na b,c\n1.5,x\n";
        let t = read(&write(dir.path(), "b.ecsv", text)).unwrap();
        assert_eq!(t.names(), ["a b", "c"]);
        assert_eq!(t.f64_column("a b").unwrap()[0], 1.5);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("id,x\n1,2\n", "not an ECSV"),
            ("# %ECSV 1.0\n# ---\na\n1\n", "no datatype list"),
            (
                "# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: float64}\nb\n1\n",
                "does not match",
            ),
            (
                "# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: int64}\na\nx\n",
                "\"a\"",
            ),
            (
                "# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: string, subtype: 'int64[2]'}\na\n\"[1,2]\"\n",
                "array",
            ),
            (
                "# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: complex128}\na\n1\n",
                "complex128",
            ),
            (
                "# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: float64}\n# - {name: b, datatype: float64}\na b\n1\n",
                "row 1",
            ),
        ];
        for (text, want) in cases {
            let e = format!(
                "{:#}",
                read(&write(dir.path(), "x.ecsv", text)).unwrap_err()
            );
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
