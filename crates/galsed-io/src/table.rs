//! Catalogue tables: one row per galaxy, named columns of numbers or text.
//!
//! Used for the inputs of `galsed fit` (observed galaxies: id, fluxes or magnitudes and their
//! errors, redshift, distance) and for its results.
//!
//! This module holds the model ([`Table`], [`Column`], [`ColumnData`]) and the format registry
//! ([`Format::from_path`], [`read_table`], [`write_table`], like astropy's `Table.read`); each
//! format lives in its own module behind a cargo feature of that name. The registry reports a
//! clear error for a format whose feature is off.
//!
//! Formats, chosen by the file name (case-insensitive):
//!
//! | extension | feature | read | write |
//! | --- | --- | --- | --- |
//! | `.csv` | `csv` | header row; numbers, empty cells and `nan` → numeric column, else text | yes |
//! | `.ecsv` | `csv` | astropy ECSV 1.0: column names, types and units from the header's `datatype` list (see [`crate::ecsv`]) | yes (comma-delimited, with units) |
//! | `.fits`, `.fit`, `.fts` | `fits` | first table HDU, or the one named by a `[NAME]` / `[N]` suffix | yes (binary table `TABLE`) |
//! | `.fits.gz`, `.fit.gz`, `.fts.gz` | `fits` | as FITS (decompressed by CFITSIO) | no |
//! | `.vot`, `.votable`, `.xml` | `votable` | IVOA VOTable, first TABLE, TABLEDATA serialisation: names, types, units and nulls from its FIELDs (see [`crate::votable`]) | no |
//! | `.parquet`, `.pq` | `parquet` | float, integer and UTF-8 columns | yes |
//! | `.h5`, `.hdf5`, `.he5` | `hdf5` | equal-length 1-D datasets of the root group, or of the group named by a `[GROUP]` suffix | yes |
//!
//! `.npz` archives are recognised by [`Format::from_path`] but are not tables (see
//! [`crate::npz`]).
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
//! HDF5: one 1-D dataset per column, in name order; integer datasets → I64 (unsigned 64-bit
//! → F64), float datasets → F64, variable-length or fixed-length strings → text. Other
//! datasets (2-D, compound, …) and sub-groups are an error naming them. Written as 1-D
//! datasets of f64, i64 and variable-length UTF-8 strings.
//!
//! Parquet: Float16/32/64 → F64; Int8–64 and UInt8–32 → I64 (F64 with NaN when the column
//! has nulls); UInt64 → F64; Utf8, LargeUtf8, Utf8View → text (null → empty string). Any other
//! type is an error naming the column.
//!
//! Units ([`Column::unit`]) are written as FITS `TUNITn` keywords, Parquet field metadata
//! (key `unit`, in the Arrow schema that pyarrow reads) and ECSV `unit` entries, and read back
//! from them and from VOTable `FIELD` `unit` attributes; CSV and HDF5 carry none.
//!
//! Writing replaces the file atomically: the table is written to a temporary file in the same
//! directory which is then renamed over the target.
//!
//! Row numbers in messages are 1-based data rows (the CSV header is not a row).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

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

    /// True if the column holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// Its physical unit as an astropy-parsable string ("solMass / yr", "deg", "Jy", "" for a
    /// dimensionless number), or `None` when unknown. Written as FITS `TUNITn`, Parquet field
    /// metadata `unit` and the ECSV header's `unit`, and read back from them.
    pub unit: Option<String>,
}

impl Column {
    /// A floating-point column.
    pub fn f64(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            data: ColumnData::F64(values),
            unit: None,
        }
    }

    /// An integer column.
    pub fn i64(name: impl Into<String>, values: Vec<i64>) -> Self {
        Self {
            name: name.into(),
            data: ColumnData::I64(values),
            unit: None,
        }
    }

    /// A text column.
    pub fn str(name: impl Into<String>, values: Vec<String>) -> Self {
        Self {
            name: name.into(),
            data: ColumnData::Str(values),
            unit: None,
        }
    }

    /// The column with `unit` (see [`Column::unit`]).
    ///
    /// ```
    /// use galsed_io::table::Column;
    /// let c = Column::f64("sfr", vec![1.5]).with_unit("solMass / yr");
    /// assert_eq!(c.unit.as_deref(), Some("solMass / yr"));
    /// ```
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the column holds no row.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
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

/// A CSV cell as a number: empty → NaN, else Rust's float syntax (`nan`, `inf` included).
pub(crate) fn parse_f64(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok()
}

/// Shortest round-trip text; exponent form for very large or small magnitudes.
pub(crate) fn fmt_f64(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// The file formats galsed reads and writes, as picked from a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// astropy's Enhanced CSV (`.ecsv`): a YAML header with the columns' types and units.
    Ecsv,
    /// FITS (`.fits`, `.fit`, `.fts`).
    Fits,
    /// IVOA VOTable (`.vot`, `.votable`, `.xml`; read only).
    VoTable,
    /// Gzip-compressed FITS (`.fits.gz`, `.fit.gz`, `.fts.gz`; read only).
    FitsGz,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// HDF5 (`.h5`, `.hdf5`, `.he5`).
    Hdf5,
    /// numpy `.npz` archive (not a table).
    Npz,
}

impl Format {
    /// The format from the file name (case-insensitive), ignoring a `[HDU]` suffix that no
    /// file of that exact name has (see [`split_path`]); an error lists the known extensions.
    ///
    /// This is the one place where a format is picked from a file extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let (file, _) = split_path(path);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
        if ends(&[".csv"]) {
            Ok(Self::Csv)
        } else if ends(&[".ecsv"]) {
            Ok(Self::Ecsv)
        } else if ends(&[".fits", ".fit", ".fts"]) {
            Ok(Self::Fits)
        } else if ends(&[".fits.gz", ".fit.gz", ".fts.gz"]) {
            Ok(Self::FitsGz)
        } else if ends(&[".vot", ".votable", ".xml"]) {
            Ok(Self::VoTable)
        } else if ends(&[".parquet", ".pq"]) {
            Ok(Self::Parquet)
        } else if ends(&[".h5", ".hdf5", ".he5"]) {
            Ok(Self::Hdf5)
        } else if ends(&[".npz"]) {
            Ok(Self::Npz)
        } else {
            bail!(
                "cannot tell the table format of {}: use a .csv, .ecsv, .fits (.fit, .fts, .fits.gz), \
                 .vot (.votable, .xml), .parquet or .h5 (.hdf5) file name",
                path.display()
            )
        }
    }

    /// True for FITS, plain or gzipped.
    pub fn is_fits(self) -> bool {
        matches!(self, Self::Fits | Self::FitsGz)
    }

    /// The cargo feature of galsed-io that reads and writes this format.
    pub fn feature(self) -> &'static str {
        match self {
            Self::Csv | Self::Ecsv => "csv",
            Self::Fits | Self::FitsGz => "fits",
            Self::VoTable => "votable",
            Self::Parquet => "parquet",
            Self::Hdf5 => "hdf5",
            Self::Npz => "npz",
        }
    }

    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Ecsv => "ECSV",
            Self::Fits => "FITS",
            Self::FitsGz => "gzipped FITS",
            Self::VoTable => "VOTable",
            Self::Parquet => "Parquet",
            Self::Hdf5 => "HDF5",
            Self::Npz => "npz",
        }
    }
}

/// Splits `cat.fits[HDU]` (or `cat.h5[GROUP]`) into the file and the HDU or group, unless a
/// file of that exact name exists.
pub fn split_path(path: &Path) -> (PathBuf, Option<String>) {
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

/// The error for a format whose cargo feature is off.
fn feature_off(path: &Path, format: Format) -> anyhow::Error {
    anyhow!(
        "{}: {} files need galsed-io's `{}` feature, which this build lacks",
        path.display(),
        format.name(),
        format.feature()
    )
}

/// Reads a table; the format comes from the extension (see the module documentation), and a
/// `[NAME]` or `[N]` suffix selects the HDU of a FITS file (`[GROUP]` the group of an HDF5
/// file).
pub fn read_table(path: &Path) -> Result<Table> {
    let (file, hdu) = split_path(path);
    let format = Format::from_path(&file)?;
    if hdu.is_some() && !matches!(format, Format::Fits | Format::FitsGz | Format::Hdf5) {
        bail!(
            "{}: a [HDU] suffix is only meaningful for FITS files (or a [GROUP] for HDF5)",
            path.display()
        );
    }
    let table: Result<Table> = match format {
        #[cfg(feature = "fits")]
        Format::Fits | Format::FitsGz => crate::fits::read(&file, hdu.as_deref()),
        #[cfg(feature = "csv")]
        Format::Csv => crate::csv::read(&file),
        #[cfg(feature = "csv")]
        Format::Ecsv => crate::ecsv::read(&file),
        #[cfg(feature = "votable")]
        Format::VoTable => crate::votable::read(&file),
        #[cfg(feature = "parquet")]
        Format::Parquet => crate::parquet::read(&file),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => crate::hdf5::read(&file, hdu.as_deref()),
        Format::Npz => Err(anyhow!("an .npz archive is not a table")),
        #[allow(unreachable_patterns)]
        other => Err(feature_off(path, other)),
    };
    finish_read(&file, table)
}

/// Reads a FITS table: the HDU named `hdu` (its `EXTNAME`/`HDUNAME`, or its 0-based number),
/// or the first table HDU when `None`.
#[cfg(feature = "fits")]
pub fn read_fits(path: &Path, hdu: Option<&str>) -> Result<Table> {
    finish_read(path, crate::fits::read(path, hdu))
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

/// Writes a table as `.csv`, `.parquet`, `.fits` or `.h5` (by extension), replacing the file
/// atomically.
pub fn write_table(path: &Path, table: &Table) -> Result<()> {
    let format = Format::from_path(path)?;
    table
        .validate()
        .with_context(|| format!("writing {}", path.display()))?;
    let written: Result<()> = match format {
        #[cfg(feature = "csv")]
        Format::Csv => crate::atomic_write(path, |tmp| crate::csv::write(tmp, table)),
        #[cfg(feature = "csv")]
        Format::Ecsv => crate::atomic_write(path, |tmp| crate::ecsv::write(tmp, table)),
        #[cfg(feature = "parquet")]
        Format::Parquet => crate::atomic_write(path, |tmp| crate::parquet::write(tmp, table)),
        #[cfg(feature = "fits")]
        Format::Fits => crate::atomic_write(path, |tmp| crate::fits::write(tmp, table)),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => crate::atomic_write(path, |tmp| crate::hdf5::write(tmp, table)),
        Format::FitsGz => Err(anyhow!(
            "writing compressed FITS is not supported: use a .fits file name"
        )),
        Format::VoTable => Err(anyhow!(
            "writing VOTable is not supported: use a .ecsv, .fits or .parquet file name"
        )),
        Format::Npz => Err(anyhow!("an .npz archive is not a table")),
        #[allow(unreachable_patterns)]
        other => Err(feature_off(path, other)),
    };
    written.with_context(|| format!("writing {}", path.display()))
}

#[cfg(all(test, feature = "csv", feature = "parquet", feature = "fits"))]
mod tests;
