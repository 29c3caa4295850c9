//! AllWISE-style catalogues (features `csv` and `fits`): an id column and the W1–W4 profile-fit
//! magnitudes and their errors, per object, from a CSV or FITS table.
//!
//! The photometry is returned as read (nulls as NaN); what a null or non-positive error means
//! (in AllWISE: no detection, and the magnitude is a 95 % confidence upper limit) is left to
//! the caller, as is what to do with the optional quality columns `cc_flags` and `ext_flg`
//! ([`cc_flag_artefacts`]). Column and HDU names are matched
//! case-insensitively; ids are decimal integers in the `i64` or `u64` range (the latter kept
//! as their bit pattern, like SDSS `SPECOBJID`s) and must be unique. Malformed input never
//! panics (the CSV reader is fuzzed, see `fuzz/README.md`).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::fits::{Fits, clip, parse_id, short_list};
use crate::{DataError, Format};

/// WISE magnitude columns, in band order.
pub const WISE_MAG_COLUMNS: [&str; 4] = ["w1mpro", "w2mpro", "w3mpro", "w4mpro"];
/// WISE magnitude-error columns, in band order; a null, empty, NaN or non-positive value marks an
/// upper limit (non-detection).
pub const WISE_SIGMA_COLUMNS: [&str; 4] = ["w1sigmpro", "w2sigmpro", "w3sigmpro", "w4sigmpro"];

/// The AllWISE contamination and confusion flags column (optional): four characters, one per
/// band W1–W4.
pub const WISE_CC_FLAGS_COLUMN: &str = "cc_flags";
/// The AllWISE extended-source flag column (optional): 0 for a point source, 1–5 for sources
/// extended in the profile fit or associated with a 2MASS extended source.
pub const WISE_EXT_FLG_COLUMN: &str = "ext_flg";

/// W1–W4 photometry per catalogue row, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct WisePhotometry {
    /// Row ids (unique).
    pub ids: Vec<i64>,
    /// `w1mpro…w4mpro` per band, NaN for nulls.
    pub mags: [Vec<f64>; 4],
    /// `w1sigmpro…w4sigmpro` per band, NaN for nulls.
    pub sigmas: [Vec<f64>; 4],
    /// `cc_flags` per row, checked by [`cc_flag_artefacts`] (an empty string for a null cell);
    /// `None` if the catalogue has no such column.
    pub cc_flags: Option<Vec<String>>,
    /// `ext_flg` per row (`None` for a null cell); `None` if the catalogue has no such column.
    pub ext_flg: Option<Vec<Option<i64>>>,
}

/// Which bands a `cc_flags` value marks as spurious or contaminated by an artefact.
///
/// AllWISE `cc_flags` hold one character per band W1–W4: `0` for a clean band, and `D`
/// (diffraction spike), `P` (persistence), `H` (scattered-light halo) or `O` (optical ghost)
/// when the source may be that artefact or contaminated by it. Upper case means the flux is
/// believed spurious or biased; lower case (`d`, `p`, `h`, `o`) that it may be contaminated but
/// is probably real. Only upper-case flags mark a band here. An empty value (a null cell) marks
/// none; anything but four of `0DPHOdpho` is an error.
pub fn cc_flag_artefacts(flags: &str) -> Result<[bool; 4], String> {
    let mut out = [false; 4];
    if flags.is_empty() {
        return Ok(out);
    }
    let bytes = flags.as_bytes();
    if bytes.len() != 4 || !bytes.iter().all(|b| b"0DPHOdpho".contains(b)) {
        return Err(format!(
            "'{}' is not an AllWISE cc_flags value (four of 0, D, P, H, O, d, p, h, o)",
            clip(flags)
        ));
    }
    for (band, b) in bytes.iter().enumerate() {
        out[band] = b.is_ascii_uppercase();
    }
    Ok(out)
}

/// An `ext_flg` value: a non-negative integer, or null.
fn ext_flg_value(v: f64) -> Result<Option<i64>, String> {
    if v.is_nan() {
        return Ok(None);
    }
    if v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
        Ok(Some(v as i64))
    } else {
        Err(format!("{v} is not an ext_flg value (an integer 0–255)"))
    }
}

/// Reads a WISE catalogue from a CSV or FITS file (FITS by extension: `.fits`, `.fit`, `.fts`,
/// also gzipped, else by the FITS signature at the start of the file; everything else is CSV).
///
/// FITS: the HDU named `hdu` (its `EXTNAME`, or its 0-based number), else the first table HDU
/// holding all the columns; `hdu` must be `None` for CSV files. See [`read_wise_csv`] for the
/// CSV rules. Every error is a [`DataError::File`].
pub fn read_wise(
    path: &Path,
    id_column: &str,
    hdu: Option<&str>,
) -> Result<WisePhotometry, DataError> {
    if is_fits(path) {
        let f = Fits::open_path(path).map_err(|m| DataError::file(path, m))?;
        let cols = wise_fits(&f, id_column, hdu)
            .map_err(|m| DataError::file(path, f.truncation_hint(m)))?;
        return unique(cols).map_err(|m| DataError::file(path, m));
    }
    if let Some(h) = hdu {
        return Err(DataError::file(
            path,
            format!("an HDU ('{h}') was given but the file is not FITS"),
        ));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| DataError::file(path, format!("cannot open the file: {e}")))?;
    read_wise_csv(std::io::BufReader::new(file), id_column).map_err(|e| match e {
        DataError::Input(m) => DataError::file(path, m),
        e => e,
    })
}

fn is_fits(path: &Path) -> bool {
    if Format::from_path(path).is_ok_and(Format::is_fits) {
        return true;
    }
    let mut head = [0u8; 9];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"SIMPLE  ="
}

/// The columns of a WISE catalogue as read, before the detection rules.
struct WiseColumns {
    /// Where each row came from, for messages ("row 3 (line 5)").
    row_label: Box<dyn Fn(usize) -> String>,
    ids: Vec<i64>,
    mags: [Vec<f64>; 4],
    sigmas: [Vec<f64>; 4],
    cc_flags: Option<Vec<String>>,
    ext_flg: Option<Vec<Option<i64>>>,
}

/// Reads an AllWISE-style CSV catalogue: a header row naming (case-insensitively) `id_column`,
/// `w1mpro…w4mpro` and `w1sigmpro…w4sigmpro`, optionally [`WISE_CC_FLAGS_COLUMN`] and
/// [`WISE_EXT_FLG_COLUMN`] (other columns are ignored), then one row per object, as IRSA's
/// catalogue services deliver a cross-match. Lines starting with `#` are comments. Ids are
/// decimal integers (see the module documentation); magnitude and `ext_flg` cells are numbers
/// or null (empty, `null`, `nan`, `none`, `na`, `n/a`, `--`). A null, non-finite or
/// non-positive sigma marks a non-detection whose magnitude is an upper limit. Errors
/// ([`DataError::Input`]) name the row, line and column.
pub fn read_wise_csv<R: Read>(reader: R, id_column: &str) -> Result<WisePhotometry, DataError> {
    let cols = wise_csv(reader, id_column).map_err(DataError::Input)?;
    unique(cols).map_err(DataError::Input)
}

fn cell_is_null(s: &str) -> bool {
    s.is_empty()
        || ["null", "nan", "none", "na", "n/a", "--"]
            .iter()
            .any(|n| s.eq_ignore_ascii_case(n))
}

fn wise_csv<R: Read>(reader: R, id_column: &str) -> Result<WiseColumns, String> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .comment(Some(b'#'))
        .trim(::csv::Trim::All)
        .from_reader(reader);
    let position = |p: Option<&::csv::Position>| {
        p.map_or_else(String::new, |p| format!(" (line {})", p.line()))
    };
    let header: Vec<String> = match rdr.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|b| {
                String::from_utf8_lossy(b)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_owned()
            })
            .collect(),
        Err(e) => return Err(format!("cannot read the CSV header: {}", csv_message(&e))),
    };
    if header.iter().all(|h| h.is_empty()) {
        return Err("the CSV file is empty (no header row)".into());
    }
    let find = |name: &str| -> Result<Option<usize>, String> {
        let hits: Vec<usize> = (0..header.len())
            .filter(|&k| header[k].eq_ignore_ascii_case(name))
            .collect();
        match hits.as_slice() {
            [] => Ok(None),
            [k] => Ok(Some(*k)),
            _ => Err(format!(
                "the CSV header names column '{name}' {} times",
                hits.len()
            )),
        }
    };
    let mut wanted = vec![id_column.to_owned()];
    wanted.extend(WISE_MAG_COLUMNS.iter().map(|s| s.to_string()));
    wanted.extend(WISE_SIGMA_COLUMNS.iter().map(|s| s.to_string()));
    let mut index = vec![];
    let mut missing = vec![];
    for name in &wanted {
        match find(name)? {
            Some(k) => index.push(k),
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "the CSV file lacks column(s) {} (it has: {})",
            quoted(&missing),
            short_list(&header)
        ));
    }
    let cc_col = find(WISE_CC_FLAGS_COLUMN)?;
    let ext_col = find(WISE_EXT_FLG_COLUMN)?;
    let mut cc_flags = cc_col.map(|_| vec![]);
    let mut ext_flg = ext_col.map(|_| vec![]);
    let mut ids = vec![];
    let mut mags: [Vec<f64>; 4] = Default::default();
    let mut sigmas: [Vec<f64>; 4] = Default::default();
    let mut lines: Vec<u64> = vec![];
    let mut record = ::csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(format!("row {}: {}", ids.len() + 1, csv_message(&e)));
            }
        }
        let row = ids.len() + 1;
        let at = position(record.position());
        let line = record.position().map_or(0, |p| p.line());
        let cell_at = |col: usize| -> Result<String, String> {
            let bytes = record.get(col).unwrap_or_default();
            std::str::from_utf8(bytes)
                .map(|s| s.trim().to_owned())
                .map_err(|_| format!("row {row}{at}, column '{}': invalid UTF-8", header[col]))
        };
        let cell = |k: usize| cell_at(index[k]);
        let text = cell(0)?;
        let text = text.as_str();
        let id = parse_id(text).ok_or_else(|| {
            format!(
                "row {row}{at}, column '{}': '{}' is not an integer id",
                header[index[0]],
                clip(text)
            )
        })?;
        ids.push(id);
        for k in 1..9 {
            let text = cell(k)?;
            let text = text.as_str();
            let v = if cell_is_null(text) {
                f64::NAN
            } else {
                text.parse::<f64>().map_err(|_| {
                    format!(
                        "row {row}{at}, column '{}': '{}' is not a number",
                        header[index[k]],
                        clip(text)
                    )
                })?
            };
            if k <= 4 {
                mags[k - 1].push(v)
            } else {
                sigmas[k - 5].push(v)
            }
        }
        if let (Some(col), Some(out)) = (cc_col, cc_flags.as_mut()) {
            let text = cell_at(col)?;
            let text = if cell_is_null(&text) { "" } else { &text };
            cc_artefacts_at(text, &header[col], &format!("row {row}{at}"))?;
            out.push(text.to_owned());
        }
        if let (Some(col), Some(out)) = (ext_col, ext_flg.as_mut()) {
            let text = cell_at(col)?;
            let v = if cell_is_null(&text) {
                f64::NAN
            } else {
                text.parse::<f64>().unwrap_or(f64::INFINITY)
            };
            let v = ext_flg_value(v).map_err(|_| {
                format!(
                    "row {row}{at}, column '{}': '{}' is not an ext_flg value (an integer 0–255)",
                    header[col],
                    clip(&text)
                )
            })?;
            out.push(v);
        }
        lines.push(line);
    }
    Ok(WiseColumns {
        row_label: Box::new(move |i| match lines.get(i) {
            Some(&l) if l > 0 => format!("row {} (line {l})", i + 1),
            _ => format!("row {}", i + 1),
        }),
        ids,
        mags,
        sigmas,
        cc_flags,
        ext_flg,
    })
}

/// [`cc_flag_artefacts`] with the row and column in its error.
fn cc_artefacts_at(flags: &str, column: &str, row: &str) -> Result<[bool; 4], String> {
    cc_flag_artefacts(flags).map_err(|m| format!("{row}, column '{column}': {m}"))
}

fn csv_message(e: &::csv::Error) -> String {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let at = pos
                .as_ref()
                .map_or_else(String::new, |p| format!("line {}: ", p.line()));
            format!("{at}{len} fields but the header has {expected_len}")
        }
        ::csv::ErrorKind::Io(e) => format!("cannot read: {e}"),
        _ => e.to_string(),
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn wise_fits(f: &Fits, id_column: &str, hdu: Option<&str>) -> Result<WiseColumns, String> {
    let mut wanted = vec![id_column.to_owned()];
    wanted.extend(WISE_MAG_COLUMNS.iter().map(|s| s.to_string()));
    wanted.extend(WISE_SIGMA_COLUMNS.iter().map(|s| s.to_string()));
    let desc = match hdu {
        Some(h) => {
            let desc = f.goto_spec(h)?;
            let missing: Vec<String> = wanted
                .iter()
                .filter(|w| f.find_column(w).is_none())
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{desc} lacks column(s) {} (it has: {})",
                    quoted(&missing),
                    f.column_list()
                ));
            }
            desc
        }
        None => {
            let mut found = None;
            let mut why = vec![];
            for k in 1..f.n_hdus() {
                let desc = f.goto_index(k)?;
                if !f.is_table() {
                    continue;
                }
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|w| f.find_column(w).is_none())
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    found = Some(desc);
                    break;
                }
                why.push(format!("{desc} lacks {}", quoted(&missing)));
            }
            match found {
                Some(d) => d,
                None if why.is_empty() => {
                    return Err(format!(
                        "the file holds no table HDU; it has: {}",
                        f.hdu_list()
                    ));
                }
                None => {
                    return Err(format!(
                        "no table HDU has the WISE columns: {}",
                        why.join("; ")
                    ));
                }
            }
        }
    };
    let n = f.nrows();
    let cid = f.require_column(id_column, &desc)?;
    let ids = f.read_ids(cid, id_column, &desc, n)?;
    let mut mags: [Vec<f64>; 4] = Default::default();
    let mut sigmas: [Vec<f64>; 4] = Default::default();
    for b in 0..4 {
        for (name, out) in [
            (WISE_MAG_COLUMNS[b], &mut mags[b]),
            (WISE_SIGMA_COLUMNS[b], &mut sigmas[b]),
        ] {
            let c = f.require_column(name, &desc)?;
            *out = f.read_f64_scalar(c, name, &desc, n)?;
        }
    }
    let cc_flags = match f.find_column(WISE_CC_FLAGS_COLUMN) {
        Some(c) => {
            let flags = f.read_str_scalar(c, WISE_CC_FLAGS_COLUMN, &desc, n)?;
            for (i, flags) in flags.iter().enumerate() {
                let row = format!("{desc} row {}", i + 1);
                cc_artefacts_at(flags.trim(), WISE_CC_FLAGS_COLUMN, &row)?;
            }
            Some(flags.into_iter().map(|s| s.trim().to_owned()).collect())
        }
        None => None,
    };
    let ext_flg = match f.find_column(WISE_EXT_FLG_COLUMN) {
        Some(c) => {
            let values = f.read_f64_scalar(c, WISE_EXT_FLG_COLUMN, &desc, n)?;
            let checked = values.iter().enumerate().map(|(i, &v)| {
                ext_flg_value(v).map_err(|m| format!("{desc} row {}, column 'ext_flg': {m}", i + 1))
            });
            Some(checked.collect::<Result<Vec<_>, String>>()?)
        }
        None => None,
    };
    Ok(WiseColumns {
        row_label: Box::new(move |i| format!("{desc} row {}", i + 1)),
        ids,
        mags,
        sigmas,
        cc_flags,
        ext_flg,
    })
}

/// Rejects duplicated ids (naming their rows) and drops the row labels.
fn unique(c: WiseColumns) -> Result<WisePhotometry, String> {
    let n = c.ids.len();
    let mut first: HashMap<i64, usize> = HashMap::with_capacity(n);
    let mut dups = vec![];
    for (i, &id) in c.ids.iter().enumerate() {
        if let Some(&j) = first.get(&id) {
            dups.push(format!(
                "id {id} in {} and {}",
                (c.row_label)(j),
                (c.row_label)(i)
            ));
        } else {
            first.insert(id, i);
        }
    }
    if !dups.is_empty() {
        let more = if dups.len() > 3 {
            format!(" and {} more", dups.len() - 3)
        } else {
            String::new()
        };
        dups.truncate(3);
        return Err(format!("duplicated ids: {}{more}", dups.join(", ")));
    }
    Ok(WisePhotometry {
        ids: c.ids,
        mags: c.mags,
        sigmas: c.sigmas,
        cc_flags: c.cc_flags,
        ext_flg: c.ext_flg,
    })
}
