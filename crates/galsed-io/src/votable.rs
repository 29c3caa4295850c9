//! VOTable tables (feature `votable`): IVOA VOTable 1.1–1.4 in the TABLEDATA serialisation,
//! as IRSA, VizieR and TOPCAT deliver by default.
//!
//! The first `TABLE` of the document is read (later ones are ignored); its `FIELD`s give the
//! column names (`name`, else `ID`), types (`datatype`, `arraysize`) and units (`unit`, kept as
//! [`Column::unit`]). A cell is null when it is empty or equals the field's
//! `<VALUES null="...">`. Column types:
//!
//! * `double`, `float` → floats (null → NaN; `NaN`, `+Inf`, `-Inf` accepted);
//! * `short`, `int`, `long`, `unsignedByte` → integers (decimal or `0x` hexadecimal), or floats
//!   with NaN when a cell is null;
//! * `boolean` → integers 0/1 (`T`, `F`, `true`, `false`, `1`, `0`; `?` is null → floats with
//!   NaN);
//! * `char`, `unicodeChar` (any `arraysize`) → text, trimmed (null → empty).
//!
//! Numeric arrays (an `arraysize` other than 1), `bit` and the complex types are an error naming
//! the column, as are the BINARY, BINARY2 and FITS serialisations. A document whose
//! `<INFO name="QUERY_STATUS" value="ERROR">` reports a failed query is an error carrying the
//! service's message.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::table::{Column, ColumnData, Table, parse_f64};

/// One `FIELD`: the column's name, type and null value.
#[derive(Debug)]
struct Field {
    name: String,
    datatype: String,
    arraysize: Option<String>,
    unit: Option<String>,
    null: Option<String>,
}

/// The value of attribute `key` of `e`, unescaped; malformed attributes are an error.
fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(|err| anyhow!("a malformed attribute: {err}"))?;
        if a.key.local_name().as_ref() == key {
            let v = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| anyhow!("attribute {key}: {err}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

impl Field {
    fn from_element(e: &BytesStart<'_>, k: usize) -> Result<Self> {
        let name = attr(e, "name")?
            .filter(|n| !n.is_empty())
            .or(attr(e, "ID")?.filter(|n| !n.is_empty()))
            .unwrap_or_else(|| format!("col{k}"));
        let datatype =
            attr(e, "datatype")?.ok_or_else(|| anyhow!("FIELD {name:?} has no datatype"))?;
        Ok(Self {
            datatype,
            arraysize: attr(e, "arraysize")?,
            unit: attr(e, "unit")?.filter(|u| !u.trim().is_empty()),
            null: None,
            name,
        })
    }

    fn is_null(&self, cell: &str) -> bool {
        // `?` is the boolean null of TABLEDATA.
        cell.is_empty()
            || (self.datatype == "boolean" && cell == "?")
            || self.null.as_deref().is_some_and(|n| n.trim() == cell)
    }
}

/// A TABLEDATA integer: decimal or `0x` hexadecimal.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// The cells of a column (trimmed) → column data.
fn convert(f: &Field, cells: Vec<String>) -> Result<ColumnData> {
    let name = &f.name;
    let dt = f.datatype.as_str();
    let bad = |row: usize, cell: &str| {
        anyhow!(
            "column {name:?} ({dt}): row {}: {cell:?} is not a value of that type",
            row + 1
        )
    };
    let text = matches!(dt, "char" | "unicodeChar");
    if !text && f.arraysize.as_deref().is_some_and(|a| a.trim() != "1") {
        bail!(
            "column {name:?}: array columns ({dt} with arraysize {:?}) are not supported",
            f.arraysize.as_deref().unwrap_or_default()
        );
    }
    // Integers and booleans: I64 unless a cell is null, then F64 with NaN.
    let integers = |parse: &dyn Fn(&str) -> Option<i64>| -> Result<ColumnData> {
        let mut v = Vec::with_capacity(cells.len());
        for (row, c) in cells.iter().enumerate() {
            v.push(if f.is_null(c) {
                None
            } else {
                Some(parse(c).ok_or_else(|| bad(row, c))?)
            });
        }
        Ok(if v.iter().all(Option::is_some) {
            ColumnData::I64(v.into_iter().flatten().collect())
        } else {
            ColumnData::F64(v.iter().map(|x| x.map_or(f64::NAN, |i| i as f64)).collect())
        })
    };
    Ok(match dt {
        "double" | "float" => {
            let mut v = Vec::with_capacity(cells.len());
            for (row, c) in cells.iter().enumerate() {
                v.push(if f.is_null(c) {
                    f64::NAN
                } else {
                    parse_f64(c).ok_or_else(|| bad(row, c))?
                });
            }
            ColumnData::F64(v)
        }
        "short" | "int" | "long" | "unsignedByte" => integers(&parse_int)?,
        "boolean" => integers(&|c: &str| match c {
            "T" | "t" | "1" => Some(1),
            "F" | "f" | "0" => Some(0),
            _ if c.eq_ignore_ascii_case("true") => Some(1),
            _ if c.eq_ignore_ascii_case("false") => Some(0),
            _ => None,
        })?,
        "char" | "unicodeChar" => ColumnData::Str(
            cells
                .into_iter()
                .map(|c| if f.is_null(&c) { String::new() } else { c })
                .collect(),
        ),
        "bit" | "floatComplex" | "doubleComplex" => {
            bail!("column {name:?}: VOTable datatype {dt:?} is not supported")
        }
        other => bail!("column {name:?}: unknown VOTable datatype {other:?}"),
    })
}

/// Reads the first table of a VOTable file.
pub fn read(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).context("cannot open the file")?;
    let text = std::str::from_utf8(&bytes).map_err(|e| anyhow!("invalid UTF-8: {e}"))?;
    parse(text.trim_start_matches('\u{feff}'))
}

/// Where the reader is in the document.
#[derive(Debug, PartialEq)]
enum At {
    /// Before the first TABLE.
    Before,
    /// Inside the first TABLE, which opened at this stack depth.
    Table(usize),
}

fn parse(text: &str) -> Result<Table> {
    let mut reader = Reader::from_str(text);
    // `<TD/>` then reads as an empty `<TD></TD>`.
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<String> = vec![];
    let mut at = At::Before;
    let mut fields: Vec<Field> = vec![];
    let mut columns: Option<Vec<Vec<String>>> = None;
    let mut row: Vec<String> = vec![];
    // The text being collected: of a TD, or of an INFO reporting a query error.
    let mut text_of: Option<String> = None;
    let mut query_error: Option<String> = None;
    let mut root_seen = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            anyhow!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                let parent = stack.last().map(String::as_str);
                if parent.is_none() && name != "VOTABLE" {
                    bail!("not a VOTable: the root element is <{name}>, not <VOTABLE>");
                }
                root_seen = true;
                if parent == Some("TD") {
                    bail!(
                        "data row {}: a <TD> holds an element <{name}>",
                        row_number(columns.as_deref())
                    );
                }
                let in_table = matches!(at, At::Table(_));
                match (name.as_str(), parent) {
                    ("TABLE", _) if at == At::Before => at = At::Table(stack.len()),
                    ("FIELD", Some("TABLE")) if in_table => {
                        fields.push(Field::from_element(&e, fields.len() + 1)?)
                    }
                    ("VALUES", Some("FIELD")) if in_table => {
                        if let Some(f) = fields.last_mut() {
                            f.null = attr(&e, "null")?;
                        }
                    }
                    ("TABLEDATA", Some("DATA")) if in_table => {
                        if fields.is_empty() {
                            bail!("the TABLE has data but no FIELD");
                        }
                        columns = Some(vec![vec![]; fields.len()]);
                    }
                    ("BINARY" | "BINARY2" | "FITS", Some("DATA")) if in_table => bail!(
                        "the table is in the VOTable {name} serialisation, which galsed does not \
                         read: only TABLEDATA is (ask the service for TABLEDATA, or convert, \
                         e.g. with `stilts tcopy ofmt=votable-tabledata`)"
                    ),
                    ("TR", Some("TABLEDATA")) if in_table => row.clear(),
                    ("TD", Some("TR")) if in_table && columns.is_some() => {
                        if let Some(enc) = attr(&e, "encoding")? {
                            bail!(
                                "data row {}: TD encoding {enc:?} is not supported",
                                row_number(columns.as_deref())
                            );
                        }
                        text_of = Some(String::new());
                    }
                    ("INFO", _)
                        if attr(&e, "name")?.as_deref() == Some("QUERY_STATUS")
                            && attr(&e, "value")?.as_deref() == Some("ERROR") =>
                    {
                        text_of = Some(String::new());
                    }
                    _ => {}
                }
                stack.push(name);
            }
            Event::End(_) => {
                let Some(name) = stack.pop() else {
                    bail!("an end tag without its start tag");
                };
                match name.as_str() {
                    "TD" if columns.is_some() => {
                        if let Some(t) = text_of.take() {
                            row.push(t.trim().to_owned());
                        }
                    }
                    "TR" => {
                        let Some(cols) = columns.as_mut() else {
                            continue;
                        };
                        if row.len() != cols.len() {
                            bail!(
                                "data row {} has {} cells but the table has {} FIELDs",
                                cols[0].len() + 1,
                                row.len(),
                                cols.len()
                            );
                        }
                        for (col, cell) in cols.iter_mut().zip(row.drain(..)) {
                            col.push(cell);
                        }
                    }
                    "INFO" if text_of.is_some() => {
                        query_error = text_of.take().map(|t| t.trim().to_owned());
                    }
                    "TABLE" if at == At::Table(stack.len()) => break,
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some(s) = text_of.as_mut() {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(s) = text_of.as_mut() {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(s) = text_of.as_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => s.push(c),
                        Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                            Some(v) => s.push_str(v),
                            None => bail!("unknown XML entity &{};", &*r),
                        },
                        Err(e) => bail!("bad character reference &{};: {e}", &*r),
                    }
                }
            }
            Event::Eof => {
                if let Some(open) = stack.last() {
                    bail!("the file ends inside <{open}> (truncated?)");
                }
                if !root_seen {
                    bail!("not a VOTable: the file holds no XML element");
                }
                if let Some(msg) = query_error {
                    bail!("the service reported a failed query (QUERY_STATUS ERROR): {msg}");
                }
                bail!("the VOTable holds no TABLE");
            }
            _ => {}
        }
    }
    let cells = columns.unwrap_or_else(|| vec![vec![]; fields.len()]);
    let mut out = Vec::with_capacity(fields.len());
    for (f, c) in fields.iter().zip(cells) {
        out.push(Column {
            name: f.name.clone(),
            data: convert(f, c)?,
            unit: f.unit.clone(),
        });
    }
    Ok(Table {
        columns: out,
        source: None,
    })
}

/// The 1-based number of the data row being read.
fn row_number(columns: Option<&[Vec<String>]>) -> usize {
    columns.and_then(|c| c.first()).map_or(0, Vec::len) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AllWISE cone search as IRSA's TAP service returns it (trimmed to three rows): a
    /// namespaced VOTABLE, a QUERY_STATUS INFO, descriptions, a `long` with a null value, a
    /// `double` whose null is an empty cell, fixed and variable `char` arrays, and a boolean.
    const IRSA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns="http://www.ivoa.net/xml/VOTable/v1.3"
  xsi:schemaLocation="http://www.ivoa.net/xml/VOTable/v1.3 http://www.ivoa.net/xml/VOTable/v1.3">
 <RESOURCE type="results">
  <INFO name="QUERY_STATUS" value="OK"/>
  <INFO name="SERVICE_PROTOCOL" value="1.1">IVOA TAP</INFO>
  <TABLE>
   <FIELD name="designation" datatype="char" arraysize="*" ucd="meta.id;meta.main">
    <DESCRIPTION>WISE source designation</DESCRIPTION>
   </FIELD>
   <FIELD name="ra" datatype="double" unit="deg" ucd="pos.eq.ra;meta.main"/>
   <FIELD name="w1mpro" datatype="double" unit="mag" ucd="phot.mag;em.IR.3-4um"/>
   <FIELD name="w1sigmpro" datatype="double" unit="mag">
    <DESCRIPTION>W1 profile-fit photometric measurement uncertainty</DESCRIPTION>
   </FIELD>
   <FIELD name="w4flux" datatype="float" unit="mJy" arraysize="1">
    <VALUES null="-999.0"/>
   </FIELD>
   <FIELD name="nb" datatype="int"/>
   <FIELD name="cntr" datatype="long">
    <VALUES null="-9223372036854775808"/>
   </FIELD>
   <FIELD name="ph_qual" datatype="char" arraysize="4"/>
   <FIELD name="ext" datatype="boolean"/>
   <DATA>
    <TABLEDATA>
     <TR>
      <TD>J103950.84+164453.5</TD><TD>159.9618469</TD><TD>11.187</TD><TD>0.023</TD>
      <TD>1.25</TD><TD>1</TD><TD>1591116801351051524</TD><TD>AAAU</TD><TD>T</TD>
     </TR>
     <TR>
      <TD>J103951.10+164458.2</TD><TD>159.9629491</TD><TD>16.851</TD><TD/>
      <TD>-999.0</TD><TD>0x2</TD><TD>-9223372036854775808</TD><TD>AB&amp;U</TD><TD>?</TD>
     </TR>
     <TR>
      <TD>J103949.02+164439.0</TD><TD>159.9542648</TD><TD>NaN</TD><TD>+Inf</TD>
      <TD></TD><TD>-3</TD><TD>1591116801351051526</TD><TD><![CDATA[A<BU]]></TD><TD>false</TD>
     </TR>
    </TABLEDATA>
   </DATA>
  </TABLE>
 </RESOURCE>
</VOTABLE>
"#;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn irsa_tabledata_with_units_and_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let t = crate::table::read_table(&write(dir.path(), "wise.vot", IRSA)).unwrap();
        assert_eq!(
            t.names(),
            [
                "designation",
                "ra",
                "w1mpro",
                "w1sigmpro",
                "w4flux",
                "nb",
                "cntr",
                "ph_qual",
                "ext"
            ]
        );
        assert_eq!(t.n_rows(), 3);
        assert_eq!(
            t.str_column("designation").unwrap()[2],
            "J103949.02+164439.0"
        );
        let unit = |c: &str| t.column(c).unwrap().unit.clone();
        assert_eq!(unit("ra").as_deref(), Some("deg"));
        assert_eq!(unit("w4flux").as_deref(), Some("mJy"));
        assert_eq!(unit("designation"), None);
        assert_eq!(
            &t.f64_column("ra").unwrap()[..2],
            &[159.9618469, 159.9629491]
        );
        let w1 = t.f64_column("w1mpro").unwrap();
        assert!(w1[0] == 11.187 && w1[2].is_nan());
        let s = t.f64_column("w1sigmpro").unwrap();
        assert!(s[0] == 0.023 && s[1].is_nan() && s[2] == f64::INFINITY);
        // The declared null and an empty cell are both NaN.
        let w4 = t.f64_column("w4flux").unwrap();
        assert!(w4[0] == 1.25 && w4[1].is_nan() && w4[2].is_nan());
        assert_eq!(
            t.column("nb").unwrap().data,
            ColumnData::I64(vec![1, 2, -3])
        );
        // A null integer makes the column floats with NaN.
        let ColumnData::F64(cntr) = &t.column("cntr").unwrap().data else {
            panic!("cntr is not F64")
        };
        assert!(cntr[0] == 1591116801351051524.0 && cntr[1].is_nan());
        assert_eq!(t.str_column("ph_qual").unwrap(), ["AAAU", "AB&U", "A<BU"]);
        let ColumnData::F64(ext) = &t.column("ext").unwrap().data else {
            panic!("ext is not F64")
        };
        assert!(ext[0] == 1.0 && ext[1].is_nan() && ext[2] == 0.0);
    }

    #[test]
    fn first_table_and_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let two = "<VOTABLE><RESOURCE><TABLE><FIELD ID=\"a\" datatype=\"short\"/><FIELD \
                   datatype=\"unicodeChar\" arraysize=\"8*\"/><DATA><TABLEDATA><TR><TD>7</TD>\
                   <TD> x y </TD></TR></TABLEDATA></DATA></TABLE><TABLE><FIELD name=\"b\" \
                   datatype=\"double\"/></TABLE></RESOURCE></VOTABLE>";
        for name in ["t.xml", "t.VOTABLE", "t.vot"] {
            let t = crate::table::read_table(&write(dir.path(), name, two)).unwrap();
            assert_eq!(t.names(), ["a", "col2"]);
            assert_eq!(t.column("a").unwrap().data, ColumnData::I64(vec![7]));
            assert_eq!(t.str_column("col2").unwrap(), ["x y"]);
        }
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let table = |fields: &str, rows: &str| {
            format!(
                "<VOTABLE><RESOURCE><TABLE>{fields}<DATA><TABLEDATA>{rows}</TABLEDATA></DATA>\
                 </TABLE></RESOURCE></VOTABLE>"
            )
        };
        let x = r#"<FIELD name="x" datatype="double"/>"#;
        let cases = [
            ("id,x\n1,2\n".to_owned(), "no XML element"),
            ("".to_owned(), "no XML element"),
            ("<html><body/></html>".to_owned(), "root element is <html>"),
            (
                IRSA[..IRSA.find("</TABLEDATA>").unwrap()].to_owned(),
                "ends inside <TABLEDATA>",
            ),
            (IRSA.replace("</TR>", "</TD>"), "not well-formed XML"),
            (
                table(x, "<TR><TD>1.5</TD><TD>2</TD></TR>"),
                "row 1 has 2 cells",
            ),
            (
                table(x, "<TR><TD>1</TD></TR><TR><TD>abc</TD></TR>"),
                "row 2: \"abc\"",
            ),
            (
                table(
                    r#"<FIELD name="n" datatype="int"/>"#,
                    "<TR><TD>1.5</TD></TR>",
                ),
                "column \"n\" (int)",
            ),
            (
                table(r#"<FIELD name="v" datatype="double" arraysize="3"/>"#, ""),
                "array columns",
            ),
            (
                table(r#"<FIELD name="c" datatype="doubleComplex"/>"#, ""),
                "doubleComplex",
            ),
            (
                table(r#"<FIELD name="q"/>"#, ""),
                "FIELD \"q\" has no datatype",
            ),
            (table(x, "<TR><TD>&foo;</TD></TR>"), "foo"),
            (
                table(x, "<TR><TD><B>1</B></TD></TR>"),
                "holds an element <B>",
            ),
            (
                format!(
                    "<VOTABLE><RESOURCE><TABLE>{x}<DATA><BINARY2><STREAM encoding=\"base64\">\
                     AAAA</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"
                ),
                "BINARY2 serialisation",
            ),
            (
                "<VOTABLE><RESOURCE type=\"results\"><INFO name=\"QUERY_STATUS\" \
                 value=\"ERROR\">Table &apos;allwise&apos; not found</INFO></RESOURCE></VOTABLE>"
                    .to_owned(),
                "QUERY_STATUS ERROR): Table 'allwise' not found",
            ),
            ("<VOTABLE/>".to_owned(), "holds no TABLE"),
        ];
        for (text, want) in cases {
            let e = format!(
                "{:#}",
                crate::table::read_table(&write(dir.path(), "x.vot", &text)).unwrap_err()
            );
            assert!(e.contains(want), "{want}: {e}");
        }
        // A table without rows, and one that is not UTF-8.
        let e = crate::table::read_table(&write(dir.path(), "e.vot", &table(x, ""))).unwrap_err();
        assert!(format!("{e:#}").contains("holds no rows"), "{e:#}");
        let p = dir.path().join("latin1.vot");
        std::fs::write(&p, b"<VOTABLE>\xe9</VOTABLE>").unwrap();
        let e = crate::table::read_table(&p).unwrap_err();
        assert!(format!("{e:#}").contains("invalid UTF-8"), "{e:#}");
    }
}
