//! Catalogue tables: one row per galaxy, named columns of numbers or text.
//!
//! Used for the inputs of `galsed fit` (observed galaxies: id, fluxes or magnitudes and their
//! errors, redshift, distance) and for its results.
//!
//! Formats, chosen by the file name (case-insensitive):
//!
//! | extension | read | write |
//! | --- | --- | --- |
//! | `.csv` | header row; numbers, empty cells and `nan` → numeric column, else text | yes |
//! | `.fits`, `.fit`, `.fts` | first table HDU, or the one named by a `[NAME]` / `[N]` suffix | yes (binary table `TABLE`) |
//! | `.fits.gz`, `.fit.gz`, `.fts.gz` | as FITS (decompressed by CFITSIO) | no |
//! | `.parquet` | float, integer and UTF-8 columns | yes |
//!
//! CSV: a column whose every cell is an integer (no superfluous leading zero, no empty cell)
//! becomes [`ColumnData::I64`]; otherwise a column whose every cell is a number, `nan`, `inf`
//! or empty becomes [`ColumnData::F64`] (empty → NaN); any other cell makes it
//! [`ColumnData::Str`]. An empty header cell (as written by pandas for an unnamed index) is
//! named `col<k>` (1-based).
//!
//! FITS: `cat.fits[PHOT]` selects the HDU whose `EXTNAME` (or `HDUNAME`) is `PHOT`
//! (case-insensitive, as CFITSIO does) and `cat.fits[2]` the HDU of that 0-based number
//! (0 is the primary HDU), as in CFITSIO and astropy; the suffix is honoured only when no file
//! of that exact name exists. [`read_fits`] takes the HDU as a separate argument. Without
//! one, the first table HDU (binary, else ASCII) is read. Integer and floating-point scalar
//! columns become numeric (integers with null values, and unsigned 64-bit ones, become
//! floats with NaN); string columns become text; vector, variable-length, logical, bit and
//! complex columns are an error naming the column.
//!
//! Parquet: Float16/32/64 → F64; Int8–64 and UInt8–32 → I64 (F64 with NaN when the column
//! has nulls); UInt64 → F64; Utf8, LargeUtf8, Utf8View → text (null → empty string). Any other
//! type is an error naming the column.
//!
//! Writing replaces the file atomically: the table is written to a temporary file in the same
//! directory which is then renamed over the target.
//!
//! Row numbers in messages are 1-based data rows (the CSV header is not a row).

// Until `galsed fit` uses every item.

use std::borrow::Cow;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Floating-point numbers; NaN marks a missing value.
    F64(Vec<f64>),
    /// Integers (identifiers, flags, counts).
    I64(Vec<i64>),
    /// Text.
    Str(Vec<String>),
}

impl ColumnData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Self::F64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::Str(v) => v.len(),
        }
    }

    /// `"float64"`, `"int64"` or `"string"`, for messages.
    #[cfg(test)]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::F64(_) => "float64",
            Self::I64(_) => "int64",
            Self::Str(_) => "string",
        }
    }

    /// The value of `row` as text (numbers as written to CSV).
    pub fn cell_text(&self, row: usize) -> String {
        match self {
            Self::F64(v) => fmt_f64(v[row]),
            Self::I64(v) => v[row].to_string(),
            Self::Str(v) => v[row].clone(),
        }
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name, matched exactly (case-sensitive).
    pub name: String,
    /// Its values.
    pub data: ColumnData,
}

impl Column {
    /// A floating-point column.
    pub fn f64(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            data: ColumnData::F64(values),
        }
    }

    /// An integer column.
    pub fn i64(name: impl Into<String>, values: Vec<i64>) -> Self {
        Self {
            name: name.into(),
            data: ColumnData::I64(values),
        }
    }

    /// A text column.
    pub fn str(name: impl Into<String>, values: Vec<String>) -> Self {
        Self {
            name: name.into(),
            data: ColumnData::Str(values),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// The values as f64: borrowed for `F64`, converted for `I64`, parsed for `Str` with the CSV
    /// rules (empty or `nan` → NaN); a text cell that is not a number is an error naming the
    /// column, the row and the cell.
    pub fn as_f64(&self) -> Result<Cow<'_, [f64]>> {
        match &self.data {
            ColumnData::F64(v) => Ok(Cow::Borrowed(v)),
            ColumnData::I64(v) => Ok(Cow::Owned(v.iter().map(|&x| x as f64).collect())),
            ColumnData::Str(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    parse_f64(s).ok_or_else(|| {
                        anyhow!(
                            "column '{}' must be numeric but row {} holds {:?}",
                            self.name,
                            i + 1,
                            s
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Cow::Owned),
        }
    }

    /// The values as text (identifiers may be numbers or strings).
    pub fn to_strings(&self) -> Vec<String> {
        match &self.data {
            ColumnData::Str(v) => v.clone(),
            d => (0..d.len()).map(|i| d.cell_text(i)).collect(),
        }
    }
}

/// A table of equally long, uniquely named columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The columns, in file order.
    pub columns: Vec<Column>,
    /// The file it was read from (named in error messages); `None` for tables built in memory.
    pub source: Option<PathBuf>,
}

impl Table {
    /// A table of these columns; errors if their lengths differ or two share a name.
    pub fn new(columns: Vec<Column>) -> Result<Self> {
        let t = Self {
            columns,
            source: None,
        };
        t.validate()?;
        Ok(t)
    }

    /// Number of rows (0 without columns).
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// Column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// The column of exactly this name, if any.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column of exactly this name (case-sensitive); the error lists the available columns.
    pub fn column(&self, name: &str) -> Result<&Column> {
        if let Some(c) = self.get(name) {
            return Ok(c);
        }
        let hint = self
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| format!(" (names are case-sensitive: did you mean '{}'?)", c.name))
            .unwrap_or_default();
        bail!(
            "no column '{name}'{}{hint}; available columns: {}",
            self.in_source(),
            list_names(&self.names())
        )
    }

    /// The column `name` as f64 values (see [`Column::as_f64`]).
    pub fn f64_column(&self, name: &str) -> Result<Cow<'_, [f64]>> {
        self.column(name)?
            .as_f64()
            .with_context(|| format!("reading column '{name}'{}", self.in_source()))
    }

    /// The column `name` as text (for identifiers).
    pub fn str_column(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.column(name)?.to_strings())
    }

    /// Appends a column, checking its length and that its name is new.
    #[cfg(test)]
    pub fn push(&mut self, column: Column) -> Result<()> {
        if !self.columns.is_empty() && column.len() != self.n_rows() {
            bail!(
                "column '{}' has {} rows but the table has {}",
                column.name,
                column.len(),
                self.n_rows()
            );
        }
        if self.get(&column.name).is_some() {
            bail!("the table already has a column '{}'", column.name);
        }
        self.columns.push(column);
        Ok(())
    }

    /// Checks that the columns have equal lengths and distinct names.
    pub fn validate(&self) -> Result<()> {
        let n = self.n_rows();
        for (i, c) in self.columns.iter().enumerate() {
            if c.len() != n {
                bail!(
                    "column '{}' has {} rows but column '{}' has {n}",
                    c.name,
                    c.len(),
                    self.columns[0].name
                );
            }
            if self.columns[..i].iter().any(|o| o.name == c.name) {
                bail!("two columns are named '{}'", c.name);
            }
        }
        Ok(())
    }

    fn in_source(&self) -> String {
        self.source
            .as_ref()
            .map(|p| format!(" in {}", p.display()))
            .unwrap_or_default()
    }
}

/// "a, b, c" — at most 60 names.
fn list_names(names: &[&str]) -> String {
    const MAX: usize = 60;
    if names.is_empty() {
        return "(none)".into();
    }
    let mut s = names[..names.len().min(MAX)].join(", ");
    if names.len() > MAX {
        s.push_str(&format!(", … ({} more)", names.len() - MAX));
    }
    s
}

/// Table file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// FITS table (`.fits`, `.fit`, `.fts`).
    Fits,
    /// Gzip-compressed FITS (read only).
    FitsGz,
    /// Apache Parquet.
    Parquet,
}

impl TableFormat {
    /// The format from the file name, or an error listing the supported extensions.
    pub fn from_path(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
        if ends(&[".csv"]) {
            Ok(Self::Csv)
        } else if ends(&[".fits", ".fit", ".fts"]) {
            Ok(Self::Fits)
        } else if ends(&[".fits.gz", ".fit.gz", ".fts.gz"]) {
            Ok(Self::FitsGz)
        } else if ends(&[".parquet"]) {
            Ok(Self::Parquet)
        } else {
            bail!(
                "cannot tell the table format of {}: use a .csv, .fits (.fit, .fts, .fits.gz) or \
                 .parquet file name",
                path.display()
            )
        }
    }
}

/// Splits `cat.fits[HDU]` into the file and the HDU, unless a file of that exact name exists.
fn split_hdu_suffix(path: &Path) -> (PathBuf, Option<String>) {
    let s = path.to_string_lossy();
    if s.ends_with(']')
        && !path.exists()
        && let Some(open) = s.rfind('[')
    {
        let hdu = &s[open + 1..s.len() - 1];
        if !hdu.is_empty() {
            return (PathBuf::from(&s[..open]), Some(hdu.to_owned()));
        }
    }
    (path.to_path_buf(), None)
}

/// Reads a table; the format comes from the extension (see the module documentation), and a
/// `[NAME]` or `[N]` suffix selects the HDU of a FITS file.
pub fn read_table(path: &Path) -> Result<Table> {
    let (file, hdu) = split_hdu_suffix(path);
    let format = TableFormat::from_path(&file)?;
    if hdu.is_some() && !matches!(format, TableFormat::Fits | TableFormat::FitsGz) {
        bail!(
            "{}: a [HDU] suffix is only meaningful for FITS files",
            path.display()
        );
    }
    match format {
        TableFormat::Fits | TableFormat::FitsGz => read_fits(&file, hdu.as_deref()),
        TableFormat::Csv | TableFormat::Parquet => {
            let t = match format {
                TableFormat::Csv => read_csv(&file),
                _ => read_parquet(&file),
            };
            finish_read(&file, t)
        }
    }
}

/// Reads a FITS table: the HDU named `hdu` (its `EXTNAME`/`HDUNAME`, or its 0-based number),
/// or the first table HDU when `None`.
pub fn read_fits(path: &Path, hdu: Option<&str>) -> Result<Table> {
    finish_read(path, fits::read(path, hdu))
}

/// Adds the file name to errors, rejects empty tables and records the source.
fn finish_read(path: &Path, table: Result<Table>) -> Result<Table> {
    let mut t = table.with_context(|| format!("reading {}", path.display()))?;
    if t.n_cols() == 0 {
        bail!("{} holds no columns", path.display());
    }
    if t.n_rows() == 0 {
        bail!(
            "{} holds no rows (columns: {})",
            path.display(),
            list_names(&t.names())
        );
    }
    t.validate()
        .with_context(|| format!("reading {}", path.display()))?;
    t.source = Some(path.to_path_buf());
    Ok(t)
}

/// Writes a table as `.csv`, `.parquet` or `.fits` (by extension), replacing the file atomically.
pub fn write_table(path: &Path, table: &Table) -> Result<()> {
    let format = TableFormat::from_path(path)?;
    table
        .validate()
        .with_context(|| format!("writing {}", path.display()))?;
    let written = match format {
        TableFormat::Csv => atomic_write(path, |tmp| write_csv(tmp, table)),
        TableFormat::Parquet => atomic_write(path, |tmp| write_parquet(tmp, table)),
        TableFormat::Fits => atomic_write(path, |tmp| fits::write(tmp, table)),
        TableFormat::FitsGz => Err(anyhow!(
            "writing compressed FITS is not supported: use a .fits file name"
        )),
    };
    written.with_context(|| format!("writing {}", path.display()))
}

/// Runs `write` on a fresh temporary path next to `path`, then renames it to `path`.
fn atomic_write(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.");
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        // Like File::create: 0666 less the umask, not tempfile's private 0600.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?
        .into_temp_path();
    write(&tmp)?;
    tmp.persist(path).map_err(|e| {
        anyhow!(
            "cannot rename {} to the target: {}",
            e.path.display(),
            e.error
        )
    })
}

// ---- CSV ------------------------------------------------------------------------------------------

/// A CSV cell as a number: empty → NaN, else Rust's float syntax (`nan`, `inf` included).
fn parse_f64(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok()
}

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

fn csv_error(e: csv::Error) -> anyhow::Error {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let at = pos.as_ref().map_or_else(String::new, |p| {
                format!("row {} (line {})", p.record(), p.line())
            });
            anyhow!("{at} has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let at = pos.as_ref().map_or_else(String::new, |p| {
                format!(" in row {} (line {})", p.record(), p.line())
            });
            anyhow!("invalid UTF-8{at}")
        }
        _ => anyhow!("{e}"),
    }
}

fn read_csv(path: &Path) -> Result<Table> {
    let file = File::open(path).context("cannot open the file")?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
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
        })
        .collect();
    Ok(Table {
        columns,
        source: None,
    })
}

/// Shortest round-trip text; exponent form for very large or small magnitudes.
fn fmt_f64(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

fn write_csv(path: &Path, table: &Table) -> Result<()> {
    let file = File::create(path).context("cannot create the file")?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
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

// ---- Parquet --------------------------------------------------------------------------------------

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

fn read_parquet(path: &Path) -> Result<Table> {
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

fn write_parquet(path: &Path, table: &Table) -> Result<()> {
    let mut fields = vec![];
    let mut arrays: Vec<ArrayRef> = vec![];
    for c in &table.columns {
        let (t, a): (DataType, ArrayRef) = match &c.data {
            ColumnData::F64(v) => (DataType::Float64, Arc::new(Float64Array::from(v.clone()))),
            ColumnData::I64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
            ColumnData::Str(v) => (DataType::Utf8, Arc::new(StringArray::from(v.clone()))),
        };
        fields.push(Field::new(&c.name, t, false));
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays)?
    };
    let file = File::create(path).context("cannot create the file")?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

/// `EXTNAME` of the binary-table HDU that [`write_table`] writes to FITS files.
pub const FITS_EXTNAME: &str = "TABLE";

// ---- FITS -----------------------------------------------------------------------------------------

/// FITS through CFITSIO's C API (`fitsio::sys`): the high-level `fitsio` API panics on some
/// valid files (ASCII-table and variable-length column formats), which a reader of arbitrary
/// catalogues must not do.
pub mod fits {
    use std::ffi::{CString, c_char, c_int};
    use std::path::Path;
    use std::ptr;
    use std::sync::Mutex;

    use anyhow::{Context, Result, anyhow, bail};
    use fitsio::sys;

    use super::{Column, ColumnData, FITS_EXTNAME, Table};

    /// CFITSIO keeps a process-wide error-message stack: one caller at a time.
    pub(super) static LOCK: Mutex<()> = Mutex::new(());

    /// An open file, closed on drop.
    struct Fits(*mut sys::fitsfile);

    impl Drop for Fits {
        fn drop(&mut self) {
            if !self.0.is_null() {
                let mut status = 0;
                // SAFETY: the pointer came from a successful open and is closed only once.
                unsafe { sys::ffclos(self.0, &mut status) };
            }
        }
    }

    /// Text of a CFITSIO status and the messages CFITSIO stacked with it.
    fn status_text(status: c_int) -> String {
        let mut buf = [0 as c_char; sys::FLEN_STATUS as usize + 1];
        // SAFETY: buffers of the documented sizes (FLEN_STATUS, FLEN_ERRMSG).
        unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
        let mut text = cstr(&buf);
        let mut details: Vec<String> = vec![];
        loop {
            let mut m = [0 as c_char; sys::FLEN_ERRMSG as usize + 1];
            // SAFETY: as above.
            if unsafe { sys::ffgmsg(m.as_mut_ptr()) } == 0 {
                break;
            }
            let m = cstr(&m).trim().to_owned();
            if !m.is_empty() && !details.contains(&m) {
                details.push(m);
            }
        }
        details.truncate(4);
        if !details.is_empty() {
            // CFITSIO splits "… of file:" and the file name over two messages.
            let joined = details.join("; ").replace(":; ", ": ");
            text.push_str(&format!(": {joined}"));
        }
        format!("{text} (CFITSIO status {status})")
    }

    fn check(status: c_int, what: impl FnOnce() -> String) -> Result<()> {
        if status == 0 {
            Ok(())
        } else {
            Err(anyhow!("{}: {}", what(), status_text(status)))
        }
    }

    fn cstr(buf: &[c_char]) -> String {
        // SAFETY: CFITSIO NUL-terminates; the buffer is one longer than it writes.
        let bytes: Vec<u8> = buf
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn c_path(path: &Path) -> Result<CString> {
        let s = path
            .to_str()
            .ok_or_else(|| anyhow!("the file name is not valid UTF-8"))?;
        CString::new(s).map_err(|_| anyhow!("the file name contains a NUL byte"))
    }

    /// A string keyword of the current HDU, `None` if absent.
    fn key_str(f: &Fits, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        let mut value = [0 as c_char; sys::FLEN_VALUE as usize + 1];
        let mut status = 0;
        // SAFETY: valid file, NUL-terminated key, value buffer of FLEN_VALUE.
        unsafe {
            sys::ffgkys(
                f.0,
                key.as_ptr(),
                value.as_mut_ptr(),
                ptr::null_mut(),
                &mut status,
            )
        };
        if status != 0 {
            // SAFETY: clears the message stack of the failed look-up.
            unsafe { sys::ffcmsg() };
            return None;
        }
        Some(cstr(&value).trim_end().to_owned())
    }

    fn hdu_type(t: c_int) -> &'static str {
        match t as u32 {
            sys::IMAGE_HDU => "image",
            sys::ASCII_TBL => "ASCII table",
            sys::BINARY_TBL => "binary table",
            _ => "unknown",
        }
    }

    /// "0 (image), 1 'PHOT' (binary table)" — the HDUs as far as they can be read.
    fn hdu_list(f: &Fits) -> String {
        let mut n = 0;
        let mut status = 0;
        // SAFETY: valid file.
        unsafe { sys::ffthdu(f.0, &mut n, &mut status) };
        let mut out = vec![];
        for i in 1..=n {
            let mut t = 0;
            // SAFETY: valid file, 1-based HDU number within the count.
            unsafe { sys::ffmahd(f.0, i, &mut t, &mut status) };
            if status != 0 {
                break;
            }
            let name = key_str(f, "EXTNAME")
                .or_else(|| key_str(f, "HDUNAME"))
                .map(|n| format!(" '{n}'"))
                .unwrap_or_default();
            out.push(format!("{}{name} ({})", i - 1, hdu_type(t)));
        }
        // SAFETY: clears messages of a failed move (truncated file).
        unsafe { sys::ffcmsg() };
        out.join(", ")
    }

    /// Moves to the requested HDU or the first table; returns its description for messages.
    fn select_hdu(f: &Fits, hdu: Option<&str>) -> Result<String> {
        let mut t = 0;
        let mut status = 0;
        match hdu {
            Some(spec) if spec.trim().parse::<c_int>().is_ok() => {
                let k: c_int = spec.trim().parse().unwrap_or(0);
                if k >= 0 {
                    // SAFETY: valid file; CFITSIO checks the number.
                    unsafe { sys::ffmahd(f.0, k + 1, &mut t, &mut status) };
                }
                if k < 0 || status != 0 {
                    // SAFETY: clears the messages of the failed move.
                    unsafe { sys::ffcmsg() };
                    bail!("there is no HDU number {k}; the file has: {}", hdu_list(f));
                }
            }
            Some(spec) => {
                let name = CString::new(spec).map_err(|_| anyhow!("bad HDU name {spec:?}"))?;
                // SAFETY: valid file; CFITSIO does not modify the name.
                unsafe { sys::ffmnhd(f.0, sys::ANY_HDU, name.as_ptr().cast_mut(), 0, &mut status) };
                if status != 0 {
                    // SAFETY: clears the messages of the failed move.
                    unsafe { sys::ffcmsg() };
                    bail!(
                        "there is no HDU named '{spec}'; the file has: {}",
                        hdu_list(f)
                    );
                }
                // SAFETY: valid file.
                unsafe { sys::ffghdt(f.0, &mut t, &mut status) };
                check(status, || format!("cannot read HDU '{spec}'"))?;
            }
            None => {
                let mut n = 0;
                // SAFETY: valid file.
                unsafe { sys::ffthdu(f.0, &mut n, &mut status) };
                check(status, || "cannot count the HDUs".into())?;
                let mut found = false;
                for i in 1..=n {
                    // SAFETY: valid file, HDU number within the count.
                    unsafe { sys::ffmahd(f.0, i, &mut t, &mut status) };
                    check(status, || format!("cannot read HDU {}", i - 1))?;
                    if t as u32 == sys::BINARY_TBL || t as u32 == sys::ASCII_TBL {
                        found = true;
                        break;
                    }
                }
                if !found {
                    bail!("the file holds no table HDU; it has: {}", hdu_list(f));
                }
            }
        }
        let mut num = 0;
        // SAFETY: valid file.
        unsafe { sys::ffghdn(f.0, &mut num) };
        let name = key_str(f, "EXTNAME")
            .map(|n| format!(" '{n}'"))
            .unwrap_or_default();
        let desc = format!("HDU {}{name}", num - 1);
        if t as u32 == sys::IMAGE_HDU {
            bail!(
                "{desc} is an image, not a table; the file has: {}",
                hdu_list(f)
            );
        }
        Ok(desc)
    }

    pub fn read(path: &Path, hdu: Option<&str>) -> Result<Table> {
        let meta = std::fs::metadata(path).context("cannot open the file")?;
        let plain = !path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
        read_file(path, hdu).map_err(|e| {
            if plain && meta.len() % 2880 != 0 {
                e.context(format!(
                    "{} bytes is not a whole number of 2880-byte FITS blocks: is the file \
                     truncated?",
                    meta.len()
                ))
            } else {
                e
            }
        })
    }

    /// Opens `path` on its table HDU `hdu` (or the first table) and runs `f` on it, holding the
    /// CFITSIO lock.
    fn with_table<T>(
        path: &Path,
        hdu: Option<&str>,
        f: impl FnOnce(&Fits) -> Result<T>,
    ) -> Result<T> {
        let c = c_path(path)?;
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: starts from an empty message stack.
        unsafe { sys::ffcmsg() };
        let mut file = Fits(ptr::null_mut());
        let mut status = 0;
        // SAFETY: out-pointer and NUL-terminated name (disk-file variant, as `read_file`).
        unsafe { sys::ffdkopn(&mut file.0, c.as_ptr(), sys::READONLY as c_int, &mut status) };
        if status != 0 {
            file.0 = ptr::null_mut();
            bail!("not a readable FITS file: {}", status_text(status));
        }
        let desc = select_hdu(&file, hdu)?;
        f(&file).with_context(|| desc)
    }

    /// A table's number of rows and, per column, its name and number of values per row.
    pub fn describe(path: &Path, hdu: Option<&str>) -> Result<(u64, Vec<(String, usize)>)> {
        with_table(path, hdu, |f| {
            let mut status = 0;
            let (mut nrows, mut ncols): (i64, c_int) = (0, 0);
            // SAFETY: valid file positioned on a table HDU.
            unsafe {
                sys::ffgnrwll(f.0, &mut nrows, &mut status);
                sys::ffgncl(f.0, &mut ncols, &mut status);
            }
            check(status, || "cannot read the table size".into())?;
            let mut cols = vec![];
            for col in 1..=ncols {
                let name = key_str(f, &format!("TTYPE{col}")).unwrap_or_default();
                let (mut tc, mut repeat, mut width) = (0, 0i64, 0i64);
                // SAFETY: valid file, column number within 1..=ncols.
                unsafe { sys::ffeqtyll(f.0, col, &mut tc, &mut repeat, &mut width, &mut status) };
                check(status, || {
                    format!("cannot read the format of column '{name}'")
                })?;
                let numeric = tc > 0
                    && !matches!(
                        tc as u32,
                        sys::TSTRING | sys::TLOGICAL | sys::TBIT | sys::TCOMPLEX | sys::TDBLCOMPLEX
                    );
                cols.push((
                    name,
                    if numeric {
                        usize::try_from(repeat).unwrap_or(0)
                    } else {
                        0
                    },
                ));
            }
            Ok((u64::try_from(nrows).unwrap_or(0), cols))
        })
    }

    /// Rows `start..end` of numeric columns (by 0-based index), as f64, row-major for vector
    /// columns of `repeat` values; NaN for nulls.
    pub fn read_rows(
        path: &Path,
        hdu: Option<&str>,
        columns: &[(usize, usize)],
        start: u64,
        end: u64,
    ) -> Result<Vec<Vec<f64>>> {
        with_table(path, hdu, |f| {
            columns
                .iter()
                .map(|&(col, repeat)| {
                    let n = (end - start) as usize * repeat;
                    let mut values = vec![0f64; n];
                    let (mut anynul, mut status) = (0, 0);
                    if n > 0 {
                        // SAFETY: the buffer holds (end − start)·repeat elements of the column,
                        // which CFITSIO reads row after row from `start` (1-based rows).
                        unsafe {
                            sys::ffgcvd(
                                f.0,
                                col as c_int + 1,
                                start as i64 + 1,
                                1,
                                n as i64,
                                f64::NAN,
                                values.as_mut_ptr(),
                                &mut anynul,
                                &mut status,
                            )
                        };
                    }
                    check(status, || {
                        format!("cannot read rows {start}..{end} of column {}", col + 1)
                    })?;
                    Ok(values)
                })
                .collect()
        })
    }

    fn read_file(path: &Path, hdu: Option<&str>) -> Result<Table> {
        let c = c_path(path)?;
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: starts from an empty message stack.
        unsafe { sys::ffcmsg() };
        let mut f = Fits(ptr::null_mut());
        let mut status = 0;
        // SAFETY: out-pointer and NUL-terminated name; the disk-file variant does not parse
        // CFITSIO's extended file-name syntax (brackets, '+', …) but still reads .gz files.
        unsafe { sys::ffdkopn(&mut f.0, c.as_ptr(), sys::READONLY as c_int, &mut status) };
        if status != 0 {
            f.0 = ptr::null_mut();
            bail!("not a readable FITS file: {}", status_text(status));
        }
        let desc = select_hdu(&f, hdu)?;
        read_hdu(&f).with_context(|| desc)
    }

    fn read_hdu(f: &Fits) -> Result<Table> {
        let mut status = 0;
        let mut nrows: i64 = 0;
        let mut ncols: c_int = 0;
        // SAFETY: valid file positioned on a table HDU.
        unsafe {
            sys::ffgnrwll(f.0, &mut nrows, &mut status);
            sys::ffgncl(f.0, &mut ncols, &mut status);
        }
        let mut t = 0;
        // SAFETY: valid file.
        unsafe { sys::ffghdt(f.0, &mut t, &mut status) };
        check(status, || "cannot read the table size".into())?;
        let ascii = t as u32 == sys::ASCII_TBL;
        let n = usize::try_from(nrows).unwrap_or(0);
        let mut columns = vec![];
        for col in 1..=ncols {
            let name = key_str(f, &format!("TTYPE{col}"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("col{col}"));
            let data = read_column(f, col, n, &name, ascii)?;
            columns.push(Column { name, data });
        }
        Ok(Table {
            columns,
            source: None,
        })
    }

    fn read_column(f: &Fits, col: c_int, n: usize, name: &str, ascii: bool) -> Result<ColumnData> {
        let mut status = 0;
        let (mut tc, mut repeat, mut width) = (0, 0i64, 0i64);
        // SAFETY: valid file, column number within 1..=ncols.
        unsafe { sys::ffeqtyll(f.0, col, &mut tc, &mut repeat, &mut width, &mut status) };
        check(status, || {
            format!("cannot read the format of column '{name}'")
        })?;
        let tform = key_str(f, &format!("TFORM{col}")).unwrap_or_default();
        if tc < 0 {
            bail!(
                "column '{name}' (TFORM {tform}) is a variable-length array column; only scalar \
                 columns are supported"
            );
        }
        let tc = tc as u32;
        if tc == sys::TSTRING {
            if width > 0 && repeat > width {
                bail!(
                    "column '{name}' (TFORM {tform}) holds {} strings per row (a vector column); \
                     only scalar columns are supported",
                    repeat / width
                );
            }
            return read_strings(
                f,
                col,
                n,
                usize::try_from(width.max(repeat)).unwrap_or(0),
                name,
            )
            .map(ColumnData::Str);
        }
        let kind = match tc {
            sys::TLOGICAL => Some("logical"),
            sys::TBIT => Some("bit"),
            sys::TCOMPLEX | sys::TDBLCOMPLEX => Some("complex"),
            sys::TBYTE
            | sys::TSBYTE
            | sys::TSHORT
            | sys::TUSHORT
            | sys::TINT
            | sys::TUINT
            | sys::TLONG
            | sys::TULONG
            | sys::TLONGLONG
            | sys::TULONGLONG
            | sys::TFLOAT
            | sys::TDOUBLE => None,
            _ => Some("unknown"),
        };
        if let Some(kind) = kind {
            bail!(
                "column '{name}' (TFORM {tform}) has the unsupported {kind} type; use integer, \
                 floating-point or string columns"
            );
        }
        if repeat != 1 {
            bail!(
                "column '{name}' (TFORM {tform}) holds {repeat} values per row (a vector \
                 column); only scalar columns are supported"
            );
        }
        let integer = matches!(
            tc,
            sys::TBYTE
                | sys::TSBYTE
                | sys::TSHORT
                | sys::TUSHORT
                | sys::TINT
                | sys::TUINT
                | sys::TLONG
                | sys::TULONG
                | sys::TLONGLONG
        );
        // Null checking turns integer TNULL values and ASCII-table blanks into NaN, but it
        // would also turn ±inf of binary float columns into NaN: there, NaN is the null anyway.
        let nulval = if integer || ascii || tc == sys::TULONGLONG {
            f64::NAN
        } else {
            0.0
        };
        let mut values = vec![0f64; n];
        let mut anynul = 0;
        if n > 0 {
            // SAFETY: the buffer holds n = nrows elements of a scalar column.
            unsafe {
                sys::ffgcvd(
                    f.0,
                    col,
                    1,
                    1,
                    n as i64,
                    nulval,
                    values.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
            check(status, || format!("cannot read column '{name}'"))?;
        }
        if !integer || anynul != 0 || n == 0 {
            return Ok(ColumnData::F64(values));
        }
        let mut ints = vec![0i64; n];
        // SAFETY: as above, as 64-bit integers (exact beyond 2^53); no nulls were found.
        unsafe {
            sys::ffgcvjj(
                f.0,
                col,
                1,
                1,
                n as i64,
                0,
                ints.as_mut_ptr(),
                &mut anynul,
                &mut status,
            )
        };
        check(status, || format!("cannot read column '{name}'"))?;
        Ok(ColumnData::I64(ints))
    }

    fn read_strings(
        f: &Fits,
        col: c_int,
        n: usize,
        width: usize,
        name: &str,
    ) -> Result<Vec<String>> {
        if n == 0 || width == 0 {
            return Ok(vec![String::new(); n]);
        }
        // In chunks, which keeps the buffers small for long columns of wide strings.
        const CHUNK: usize = 4096;
        let mut out = Vec::with_capacity(n);
        let mut bufs: Vec<Vec<c_char>> = vec![vec![0; width + 1]; CHUNK.min(n)];
        let mut start = 0;
        while start < n {
            let m = CHUNK.min(n - start);
            let mut ptrs: Vec<*mut c_char> = bufs[..m].iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut nul = [0 as c_char; 1];
            let (mut anynul, mut status) = (0, 0);
            // SAFETY: m pointers to buffers of width + 1 bytes, as CFITSIO requires.
            unsafe {
                sys::ffgcvs(
                    f.0,
                    col,
                    start as i64 + 1,
                    1,
                    m as i64,
                    nul.as_mut_ptr(),
                    ptrs.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
            check(status, || {
                format!(
                    "cannot read column '{name}' at rows {}–{}",
                    start + 1,
                    start + m
                )
            })?;
            out.extend(bufs[..m].iter().map(|b| cstr(b).trim_end().to_owned()));
            start += m;
        }
        Ok(out)
    }

    pub fn write(path: &Path, table: &Table) -> Result<()> {
        let n = table.n_rows();
        let mut ttype = vec![];
        let mut tform = vec![];
        for c in &table.columns {
            if c.name.is_empty() || c.name.len() > 68 || !c.name.is_ascii() {
                bail!(
                    "column name '{}' cannot be written to FITS (1 to 68 ASCII characters)",
                    c.name
                );
            }
            ttype.push(CString::new(c.name.as_str()).map_err(|_| anyhow!("bad column name"))?);
            let form = match &c.data {
                ColumnData::F64(_) => "1D".to_owned(),
                ColumnData::I64(_) => "1K".to_owned(),
                ColumnData::Str(v) => {
                    format!("{}A", v.iter().map(String::len).max().unwrap_or(0).max(1))
                }
            };
            tform.push(CString::new(form).map_err(|_| anyhow!("bad format"))?);
        }
        let c = c_path(path)?;
        let extname = CString::new(FITS_EXTNAME).map_err(|_| anyhow!("bad name"))?;
        // The temporary file exists already; CFITSIO creates files itself.
        std::fs::remove_file(path).ok();
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: starts from an empty message stack.
        unsafe { sys::ffcmsg() };
        let mut f = Fits(ptr::null_mut());
        let mut status = 0;
        // SAFETY: out-pointer and NUL-terminated name, no extended-syntax parsing.
        unsafe { sys::ffdkinit(&mut f.0, c.as_ptr(), &mut status) };
        if status != 0 {
            f.0 = ptr::null_mut();
            bail!("cannot create the file: {}", status_text(status));
        }
        let mut ttype_p: Vec<*mut c_char> = ttype.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let mut tform_p: Vec<*mut c_char> = tform.iter().map(|s| s.as_ptr().cast_mut()).collect();
        // SAFETY: ncols pointers to NUL-terminated strings that CFITSIO only reads; no units.
        unsafe {
            sys::ffcrtb(
                f.0,
                sys::BINARY_TBL as c_int,
                n as i64,
                ttype_p.len() as c_int,
                ttype_p.as_mut_ptr(),
                tform_p.as_mut_ptr(),
                ptr::null_mut(),
                extname.as_ptr(),
                &mut status,
            )
        };
        check(status, || "cannot create the table".into())?;
        for (k, c) in table.columns.iter().enumerate() {
            let col = k as c_int + 1;
            if n == 0 {
                break;
            }
            // SAFETY: each array holds n elements; CFITSIO reads them only.
            match &c.data {
                ColumnData::F64(v) => unsafe {
                    sys::ffpcld(f.0, col, 1, 1, n as i64, v.as_ptr().cast_mut(), &mut status);
                },
                ColumnData::I64(v) => unsafe {
                    sys::ffpcljj(f.0, col, 1, 1, n as i64, v.as_ptr().cast_mut(), &mut status);
                },
                ColumnData::Str(v) => {
                    let cells = v
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            CString::new(s.as_str()).map_err(|_| {
                                anyhow!("column '{}' row {} holds a NUL character", c.name, i + 1)
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let mut p: Vec<*mut c_char> =
                        cells.iter().map(|s| s.as_ptr().cast_mut()).collect();
                    // SAFETY: n NUL-terminated strings.
                    unsafe { sys::ffpcls(f.0, col, 1, 1, n as i64, p.as_mut_ptr(), &mut status) };
                }
            }
            check(status, || format!("cannot write column '{}'", c.name))?;
        }
        let ptr = std::mem::replace(&mut f.0, ptr::null_mut());
        // SAFETY: closes the file opened above exactly once (the guard no longer owns it).
        unsafe { sys::ffclos(ptr, &mut status) };
        check(status, || "cannot finish the file".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table::new(vec![
            Column::str(
                "id",
                vec!["NGC 1, \"a\"".into(), "J1234+56".into(), "x".into()],
            ),
            Column::i64("objid", vec![1_237_648_720_693_755_918, -3, 0]),
            Column::f64("flux_g", vec![1.5, f64::NAN, 1e-300]),
            Column::f64("z", vec![0.0, f64::INFINITY, -2.25e20]),
        ])
        .unwrap()
    }

    /// Equality with NaN == NaN.
    fn assert_same(a: &Table, b: &Table) {
        assert_eq!(a.names(), b.names());
        for (x, y) in a.columns.iter().zip(&b.columns) {
            match (&x.data, &y.data) {
                (ColumnData::F64(u), ColumnData::F64(v)) => {
                    assert_eq!(u.len(), v.len(), "{}", x.name);
                    for (p, q) in u.iter().zip(v) {
                        assert!(
                            p == q || (p.is_nan() && q.is_nan()),
                            "{}: {p} vs {q}",
                            x.name
                        );
                    }
                }
                _ => assert_eq!(x, y),
            }
        }
    }

    fn msg(e: anyhow::Error) -> String {
        format!("{e:#}")
    }

    #[test]
    fn round_trips_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let t = sample();
        for ext in ["csv", "fits", "parquet"] {
            let p = dir.path().join(format!("cat.{ext}"));
            write_table(&p, &t).unwrap();
            // Overwriting goes through a temporary file that does not stay behind.
            write_table(&p, &t).unwrap();
            let back = read_table(&p).unwrap();
            assert_same(&t, &back);
            assert_eq!(back.source.as_deref(), Some(p.as_path()));
            assert_eq!(back.n_rows(), 3);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left.len(), 3, "{left:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("cat.csv"))
                .unwrap()
                .permissions()
                .mode();
            assert_ne!(mode & 0o044, 0, "not readable by others: {mode:o}");
        }
    }

    #[test]
    fn fits_hdu_selection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cat.fits");
        write_table(&p, &sample()).unwrap();
        let by_name = read_table(&dir.path().join("cat.fits[TABLE]")).unwrap();
        let by_number = read_fits(&p, Some("1")).unwrap();
        assert_same(&by_name, &sample());
        assert_same(&by_number, &sample());

        let e = msg(read_table(&dir.path().join("cat.fits[PHOT]")).unwrap_err());
        assert!(
            e.contains("cat.fits") && e.contains("no HDU named 'PHOT'"),
            "{e}"
        );
        assert!(e.contains("1 'TABLE' (binary table)"), "{e}");
        let e = msg(read_fits(&p, Some("7")).unwrap_err());
        assert!(e.contains("no HDU number 7"), "{e}");
        let e = msg(read_fits(&p, Some("0")).unwrap_err());
        assert!(e.contains("HDU 0 is an image"), "{e}");
        let e = msg(read_table(&dir.path().join("cat.csv[1]")).unwrap_err());
        assert!(e.contains("only meaningful for FITS"), "{e}");
    }

    /// A FITS file made with the high-level `fitsio` API: several types, nulls, a second table.
    #[test]
    fn fits_column_types() {
        use fitsio::FitsFile;
        use fitsio::tables::{ColumnDataType, ColumnDescription};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("types.fits");
        {
            let _g = fits_test_lock();
            let mut f = FitsFile::create(&p).open().unwrap();
            let cols = [
                ColumnDescription::new("ID")
                    .with_type(ColumnDataType::Int)
                    .create()
                    .unwrap(),
                ColumnDescription::new("MAG")
                    .with_type(ColumnDataType::Float)
                    .create()
                    .unwrap(),
                ColumnDescription::new("NAME")
                    .with_type(ColumnDataType::String)
                    .that_repeats(8)
                    .create()
                    .unwrap(),
            ];
            let hdu = f.create_table("OBS", &cols).unwrap();
            hdu.write_col(&mut f, "ID", &[10i32, -20]).unwrap();
            hdu.write_col(&mut f, "MAG", &[21.5f32, f32::NAN]).unwrap();
            hdu.write_col(&mut f, "NAME", &["a".to_string(), "bb c".to_string()])
                .unwrap();
            let cols = [
                ColumnDescription::new("OK")
                    .with_type(ColumnDataType::Double)
                    .create()
                    .unwrap(),
                ColumnDescription::new("FLUX_APER")
                    .with_type(ColumnDataType::Double)
                    .that_repeats(3)
                    .create()
                    .unwrap(),
            ];
            f.create_table("VEC", &cols).unwrap();
        }
        let t = read_table(&p).unwrap();
        assert_eq!(t.names(), ["ID", "MAG", "NAME"]);
        assert_eq!(t.column("ID").unwrap().data, ColumnData::I64(vec![10, -20]));
        let mag = t.f64_column("MAG").unwrap();
        assert_eq!(mag[0], 21.5);
        assert!(mag[1].is_nan());
        assert_eq!(t.str_column("NAME").unwrap(), ["a", "bb c"]);
        assert_eq!(t.str_column("ID").unwrap(), ["10", "-20"]);
        let e = msg(read_fits(&p, Some("VEC")).unwrap_err());
        assert!(
            e.contains("types.fits")
                && e.contains("HDU 2 'VEC'")
                && e.contains("column 'FLUX_APER'")
                && e.contains("vector"),
            "{e}"
        );
    }

    /// An ASCII table and an integer column with TNULL, made with CFITSIO's C API.
    #[test]
    fn fits_ascii_table_and_integer_nulls() {
        use fitsio::sys;
        use std::ffi::{CString, c_char, c_int};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ascii.fits");
        let cs = |s: &str| CString::new(s).unwrap();
        {
            let _g = fits_test_lock();
            let mut f = std::ptr::null_mut();
            let mut status = 0;
            let name = cs(p.to_str().unwrap());
            let names = [cs("N"), cs("X"), cs("S")];
            let forms = [cs("I6"), cs("F8.3"), cs("A5")];
            let mut np: Vec<*mut c_char> = names.iter().map(|c| c.as_ptr().cast_mut()).collect();
            let mut fp: Vec<*mut c_char> = forms.iter().map(|c| c.as_ptr().cast_mut()).collect();
            let mut n = [7i64, -1];
            let mut x = [1.25f64, 2.5];
            let strs = [cs("ab"), cs("cde")];
            let mut sp: Vec<*mut c_char> = strs.iter().map(|c| c.as_ptr().cast_mut()).collect();
            let (ext, bin, tnull) = (cs("ASC"), cs("BIN"), cs("TNULL1"));
            let mut k = [5i64, 99];
            let (kname, kform) = (cs("K"), cs("1J"));
            let mut kp = [kname.as_ptr().cast_mut()];
            let mut kf = [kform.as_ptr().cast_mut()];
            // SAFETY: valid pointers for the documented sizes; the file is closed at the end.
            unsafe {
                sys::ffdkinit(&mut f, name.as_ptr(), &mut status);
                sys::ffcrtb(
                    f,
                    sys::ASCII_TBL as c_int,
                    2,
                    3,
                    np.as_mut_ptr(),
                    fp.as_mut_ptr(),
                    std::ptr::null_mut(),
                    ext.as_ptr(),
                    &mut status,
                );
                sys::ffpcljj(f, 1, 1, 1, 2, n.as_mut_ptr(), &mut status);
                sys::ffpcld(f, 2, 1, 1, 2, x.as_mut_ptr(), &mut status);
                sys::ffpcls(f, 3, 1, 1, 2, sp.as_mut_ptr(), &mut status);
                sys::ffcrtb(
                    f,
                    sys::BINARY_TBL as c_int,
                    2,
                    1,
                    kp.as_mut_ptr(),
                    kf.as_mut_ptr(),
                    std::ptr::null_mut(),
                    bin.as_ptr(),
                    &mut status,
                );
                sys::ffpkyj(f, tnull.as_ptr(), 99, std::ptr::null(), &mut status);
                sys::ffpcljj(f, 1, 1, 1, 2, k.as_mut_ptr(), &mut status);
                sys::ffclos(f, &mut status);
            }
            assert_eq!(status, 0);
        }
        let t = read_table(&p).unwrap();
        assert_eq!(t.names(), ["N", "X", "S"]);
        assert_eq!(t.column("N").unwrap().data, ColumnData::I64(vec![7, -1]));
        assert_eq!(&t.f64_column("X").unwrap()[..], &[1.25, 2.5]);
        assert_eq!(t.str_column("S").unwrap(), ["ab", "cde"]);
        let b = read_fits(&p, Some("BIN")).unwrap();
        let k = b.f64_column("K").unwrap();
        assert!(k[0] == 5.0 && k[1].is_nan(), "{k:?}");
    }

    /// The test builds FITS files with `fitsio` itself: under the module's lock.
    fn fits_test_lock() -> std::sync::MutexGuard<'static, ()> {
        fits::LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A gzip member with stored (uncompressed) deflate blocks.
    fn gzip_stored(data: &[u8]) -> Vec<u8> {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
        for (i, c) in chunks.iter().enumerate() {
            out.push(u8::from(i + 1 == chunks.len()));
            let len = c.len() as u16;
            out.extend(len.to_le_bytes());
            out.extend((!len).to_le_bytes());
            out.extend(*c);
        }
        out.extend((!crc).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn reads_gzipped_fits_but_does_not_write_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cat.fits");
        write_table(&p, &sample()).unwrap();
        let gz = dir.path().join("cat.fits.gz");
        std::fs::write(&gz, gzip_stored(&std::fs::read(&p).unwrap())).unwrap();
        assert_same(&read_table(&gz).unwrap(), &sample());
        assert_same(
            &read_table(&dir.path().join("cat.fits.gz[TABLE]")).unwrap(),
            &sample(),
        );
        let e = msg(write_table(&gz, &sample()).unwrap_err());
        assert!(e.contains("compressed FITS is not supported"), "{e}");
    }

    #[test]
    fn malformed_fits_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cat.fits");
        write_table(&p, &sample()).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        // Cut inside the table's data, inside its header, and inside the primary header.
        for keep in [bytes.len() - 2880 + 10, 2880 + 100, 1000, 0] {
            let cut = dir.path().join(format!("cut{keep}.fits"));
            std::fs::write(&cut, &bytes[..keep]).unwrap();
            let e = msg(read_table(&cut).unwrap_err());
            assert!(e.contains(&format!("cut{keep}.fits")), "{e}");
        }
        let junk = dir.path().join("junk.fits");
        std::fs::write(&junk, b"id,flux\n1,2\n").unwrap();
        let e = msg(read_table(&junk).unwrap_err());
        assert!(
            e.contains("junk.fits") && e.contains("not a readable FITS file"),
            "{e}"
        );
        let e = msg(read_table(&dir.path().join("missing.fits")).unwrap_err());
        assert!(
            e.contains("missing.fits") && e.contains("cannot open"),
            "{e}"
        );
    }

    #[test]
    fn csv_type_inference_and_nan() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(
            &p,
            "\u{feff}id , flux_r,err,code,name,\n\
             007, 1.5 ,nan,1,a,x\n\
             12,,NaN,2,3,\n\
             13,2e-3,inf,-4,\"c, d\",\n",
        )
        .unwrap();
        let t = read_table(&p).unwrap();
        assert_eq!(t.names(), ["id", "flux_r", "err", "code", "name", "col6"]);
        assert_eq!(
            t.column("id").unwrap().data,
            ColumnData::Str(vec!["007".into(), "12".into(), "13".into()])
        );
        let f = t.f64_column("flux_r").unwrap();
        assert_eq!((f[0], f[2]), (1.5, 2e-3));
        assert!(f[1].is_nan());
        let err = t.f64_column("err").unwrap();
        assert!(err[0].is_nan() && err[1].is_nan() && err[2] == f64::INFINITY);
        assert_eq!(
            t.column("code").unwrap().data,
            ColumnData::I64(vec![1, 2, -4])
        );
        assert_eq!(t.str_column("name").unwrap(), ["a", "3", "c, d"]);
        assert_eq!(t.column("col6").unwrap().data.type_name(), "string");
        // A text column read as numbers names the file, column, row and cell.
        assert_eq!(&t.f64_column("id").unwrap()[..], &[7.0, 12.0, 13.0]);
        let e = msg(t.f64_column("name").unwrap_err());
        assert!(
            e.contains("in.csv") && e.contains("'name'") && e.contains("row 1 holds \"a\""),
            "{e}"
        );
    }

    #[test]
    fn missing_columns_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(&p, "ID,Flux_r\n1,2\n").unwrap();
        let t = read_table(&p).unwrap();
        let e = msg(t.column("flux_r").unwrap_err());
        assert!(e.contains("no column 'flux_r' in"), "{e}");
        assert!(e.contains("in.csv"), "{e}");
        assert!(e.contains("did you mean 'Flux_r'"), "{e}");
        assert!(e.contains("available columns: ID, Flux_r"), "{e}");
    }

    #[test]
    fn malformed_csv_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let e = msg(read_table(&write("ragged.csv", "a,b\n1,2\n3\n")).unwrap_err());
        assert!(
            e.contains("ragged.csv")
                && e.contains("row 2 (line 3) has 1 fields but the header has 2"),
            "{e}"
        );
        let e = msg(read_table(&write("header.csv", "a,b\n")).unwrap_err());
        assert!(
            e.contains("header.csv holds no rows (columns: a, b)"),
            "{e}"
        );
        let e = msg(read_table(&write("empty.csv", "")).unwrap_err());
        assert!(e.contains("empty.csv"), "{e}");
        let e = msg(read_table(&write("dup.csv", "a,a\n1,2\n")).unwrap_err());
        assert!(
            e.contains("dup.csv") && e.contains("two columns are named 'a'"),
            "{e}"
        );
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, b"a,b\n1,\xff\n").unwrap();
        let e = msg(read_table(&p).unwrap_err());
        assert!(e.contains("bad.csv") && e.contains("UTF-8"), "{e}");
        let e = msg(read_table(&dir.path().join("none.csv")).unwrap_err());
        assert!(e.contains("none.csv") && e.contains("cannot open"), "{e}");
        let e = msg(read_table(&dir.path().join("cat.txt")).unwrap_err());
        assert!(e.contains("cannot tell the table format of"), "{e}");
    }

    #[test]
    fn parquet_types_and_nulls() {
        use arrow_array::{Float32Array, Int32Array, LargeStringArray};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("f32", DataType::Float32, true),
            Field::new("i32", DataType::Int32, true),
            Field::new("i32null", DataType::Int32, true),
            Field::new("s", DataType::LargeUtf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float32Array::from(vec![Some(0.5), None])),
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(LargeStringArray::from(vec![Some("x"), None])),
            ],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(File::create(&p).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let t = read_table(&p).unwrap();
        let f = t.f64_column("f32").unwrap();
        assert!(f[0] == 0.5 && f[1].is_nan());
        assert_eq!(t.column("i32").unwrap().data, ColumnData::I64(vec![1, 2]));
        let n = t.f64_column("i32null").unwrap();
        assert!(n[0] == 1.0 && n[1].is_nan());
        assert_eq!(t.str_column("s").unwrap(), ["x", ""]);

        let bad = dir.path().join("bool.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new(
            "flag",
            DataType::Boolean,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow_array::BooleanArray::from(vec![true]))],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(File::create(&bad).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let e = msg(read_table(&bad).unwrap_err());
        assert!(
            e.contains("bool.parquet") && e.contains("column 'flag'"),
            "{e}"
        );

        let junk = dir.path().join("junk.parquet");
        std::fs::write(&junk, b"not parquet").unwrap();
        let e = msg(read_table(&junk).unwrap_err());
        assert!(
            e.contains("junk.parquet") && e.contains("not a readable Parquet"),
            "{e}"
        );
    }

    #[test]
    fn in_memory_tables_are_checked() {
        let e = Table::new(vec![Column::f64("a", vec![1.0]), Column::f64("b", vec![])]);
        assert!(msg(e.unwrap_err()).contains("'b' has 0 rows"));
        let mut t = Table::default();
        t.push(Column::f64("a", vec![1.0, 2.0])).unwrap();
        assert!(t.push(Column::f64("a", vec![1.0, 2.0])).is_err());
        assert!(t.push(Column::i64("b", vec![1])).is_err());
        let dir = tempfile::tempdir().unwrap();
        let e = msg(write_table(&dir.path().join("no/such/dir/x.csv"), &t).unwrap_err());
        assert!(e.contains("x.csv"), "{e}");
        let bad = Table::new(vec![Column::f64("é", vec![1.0])]).unwrap();
        let e = msg(write_table(&dir.path().join("x.fits"), &bad).unwrap_err());
        assert!(e.contains("x.fits") && e.contains("'é'"), "{e}");
        // Zero rows can be written (e.g. no galaxy converged) but not read back as a catalogue.
        let empty = Table::new(vec![Column::f64("a", vec![]), Column::str("s", vec![])]).unwrap();
        for ext in ["csv", "fits", "parquet"] {
            let p = dir.path().join(format!("empty.{ext}"));
            write_table(&p, &empty).unwrap();
            let e = msg(read_table(&p).unwrap_err());
            assert!(e.contains("holds no rows"), "{ext}: {e}");
        }
    }
}
