//! Reader of the text output of SKIRT 9's SED instrument (`<prefix>_<instrument>_sed.dat`).
//!
//! The file starts with `#` comment lines, among them one per column:
//!
//! ```text
//! # SED at inclination 30 deg, azimuth 0 deg, distance 100 Mpc
//! # column 1: wavelength; lambda (micron)
//! # column 2: total flux; F_lambda (W/m2/micron)
//! # column 3: transparent flux; F_lambda (W/m2/micron)
//! # column 4: direct primary flux; F_lambda (W/m2/micron)
//! …
//! 0.09 1.2e-15 3.4e-15 …
//! ```
//!
//! followed by one whitespace-separated row per wavelength. Columns are found by their name (the
//! text before `;`), never by position, so outputs with or without components, polarisation or
//! scattering levels all read the same. Every problem — a missing column, a value that is not a
//! finite number, a negative flux, a wavelength out of order, a short row, a file cut in the
//! middle of a line — is an error naming the file and the line.

use std::path::{Path, PathBuf};

use super::SkirtError;

/// How the flux density of a column is expressed (SKIRT's `fluxOutputStyle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FluxStyle {
    /// λF_λ (`Neutral`).
    Neutral,
    /// F_λ (`Wavelength`).
    Wavelength,
    /// F_ν (`Frequency`).
    Frequency,
}

impl FluxStyle {
    /// A quantity proportional to λF_λ (flux per unit ln λ) from a value of this style at
    /// wavelength `lam_um`, up to a factor common to all wavelengths.
    pub fn per_ln_lambda(self, lam_um: f64, value: f64) -> f64 {
        match self {
            FluxStyle::Neutral => value,
            FluxStyle::Wavelength => lam_um * value,
            // νF_ν = c·F_ν/λ; c is common to all wavelengths.
            FluxStyle::Frequency => value / lam_um,
        }
    }

    /// The style of a column from its symbol (`lambda*F_lambda`, `F_lambda`, `F_nu`) or, when the
    /// header has none, from its unit.
    fn detect(symbol: Option<&str>, unit: &str) -> Result<FluxStyle, String> {
        match symbol.map(str::trim) {
            Some("lambda*F_lambda") | Some("nu*F_nu") => return Ok(FluxStyle::Neutral),
            Some("F_lambda") => return Ok(FluxStyle::Wavelength),
            Some("F_nu") => return Ok(FluxStyle::Frequency),
            Some("F_E") => {
                return Err(
                    "flux per unit energy (F_E) is not supported; set fluxOutputStyle to \
                            Wavelength, Frequency or Neutral"
                        .into(),
                );
            }
            _ => {}
        }
        let u = unit.trim();
        if u.ends_with("Jy") || u.ends_with("/Hz") {
            Ok(FluxStyle::Frequency)
        } else if u == "W/m2" || u == "erg/s/cm2" {
            Ok(FluxStyle::Neutral)
        } else if ["/micron", "/m3", "/nm", "/Angstrom", "/A", "/m"]
            .iter()
            .any(|s| u.ends_with(s))
        {
            Ok(FluxStyle::Wavelength)
        } else {
            Err(format!(
                "cannot tell the flux density style from the unit '{unit}'"
            ))
        }
    }
}

/// Wavelength units SKIRT writes, in µm.
fn wavelength_unit_um(unit: &str) -> Option<f64> {
    Some(match unit.trim() {
        "micron" | "um" => 1.0,
        "nm" => 1e-3,
        "Angstrom" | "A" => 1e-4,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        _ => return None,
    })
}

/// One column declared in the header.
#[derive(Debug, Clone, PartialEq)]
pub struct SedColumn {
    /// Quantity name in lower case, e.g. `total flux`.
    pub name: String,
    /// Symbol after `;`, e.g. `F_lambda`.
    pub symbol: Option<String>,
    /// Unit in parentheses, e.g. `W/m2/micron`.
    pub unit: String,
    /// Line of its `# column` declaration.
    pub line: usize,
    /// Values, in order of increasing wavelength.
    pub values: Vec<f64>,
}

/// A parsed SED output, rows in order of increasing wavelength.
#[derive(Debug, Clone, PartialEq)]
pub struct SedOutput {
    /// The file read.
    pub path: PathBuf,
    /// Wavelengths \[µm\], strictly increasing.
    pub lam_um: Vec<f64>,
    /// Line of each row.
    pub lines: Vec<usize>,
    /// Style of the flux columns.
    pub style: FluxStyle,
    /// All declared columns except the wavelength.
    pub columns: Vec<SedColumn>,
    /// Line of the last header declaration.
    pub header_line: usize,
}

impl SedOutput {
    /// The values of the column named `name` (case-insensitive); a missing column is an error
    /// naming the header line and the columns that are there.
    pub fn column(&self, name: &str) -> Result<&[f64], SkirtError> {
        let want = name.to_lowercase();
        self.columns
            .iter()
            .find(|c| c.name == want)
            .map(|c| c.values.as_slice())
            .ok_or_else(|| {
                let have: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
                SkirtError::parse(
                    &self.path,
                    self.header_line,
                    format!(
                        "no column '{name}' in the header (columns: wavelength, {}); the SED \
                         instrument must record its components (recordComponents=\"true\")",
                        have.join(", ")
                    ),
                )
            })
    }
}

/// Reads and parses a SED output file.
pub fn read_sed_output(path: &Path) -> Result<SedOutput, SkirtError> {
    let bytes = std::fs::read(path).map_err(SkirtError::io("read", path))?;
    parse_sed_output(path, &bytes)
}

/// A `# column N: name; symbol (unit)` declaration, without the leading `#`.
fn parse_declaration(body: &str) -> Option<(usize, String, Option<String>, String)> {
    let rest = body
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("column"))
        .map(|_| &body[6..])?;
    let (number, description) = rest.split_once(':')?;
    let number = number.trim().parse::<usize>().ok()?;
    let description = description.trim();
    let (text, unit) = match (description.rfind('('), description.ends_with(')')) {
        (Some(open), true) => (
            &description[..open],
            &description[open + 1..description.len() - 1],
        ),
        _ => (description, ""),
    };
    let (name, symbol) = match text.split_once(';') {
        Some((n, s)) => (n, Some(s.trim().to_string())),
        None => (text, None),
    };
    Some((
        number,
        name.trim().to_lowercase(),
        symbol,
        unit.trim().to_string(),
    ))
}

/// Parses the bytes of a SED output; `path` only names the file in errors.
pub fn parse_sed_output(path: &Path, bytes: &[u8]) -> Result<SedOutput, SkirtError> {
    let err = |line: usize, message: String| SkirtError::parse(path, line, message);
    let mut columns: Vec<SedColumn> = Vec::new();
    let mut rows: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut header_line = 0;
    let mut last_line = 0;
    // A file that does not end with a newline was cut while being written.
    let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let raw_lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let n_lines = if unterminated {
        raw_lines.len()
    } else {
        raw_lines.len() - 1
    };
    for (i, raw) in raw_lines.iter().take(n_lines).enumerate() {
        let line_no = i + 1;
        last_line = line_no;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw)
            .map_err(|e| err(line_no, format!("not valid UTF-8 text ({e})")))?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(body) = trimmed.strip_prefix('#') {
            let body = body.trim();
            if body.len() >= 6
                && body.is_char_boundary(6)
                && body[..6].eq_ignore_ascii_case("column")
            {
                if !rows.is_empty() {
                    return Err(err(
                        line_no,
                        "column declaration after the data rows".into(),
                    ));
                }
                let (number, name, symbol, unit) = parse_declaration(body).ok_or_else(|| {
                    err(
                        line_no,
                        format!("malformed column declaration '{trimmed}' (expected '# column N: name; symbol (unit)')"),
                    )
                })?;
                if number != columns.len() + 1 {
                    return Err(err(
                        line_no,
                        format!(
                            "column {number} declared where column {} was expected",
                            columns.len() + 1
                        ),
                    ));
                }
                if columns.iter().any(|c| c.name == name) {
                    return Err(err(line_no, format!("column '{name}' is declared twice")));
                }
                columns.push(SedColumn {
                    name,
                    symbol,
                    unit,
                    line: line_no,
                    values: Vec::new(),
                });
                header_line = line_no;
            }
            continue;
        }
        if columns.is_empty() {
            return Err(err(
                line_no,
                "data before any '# column N: …' declaration (not a SKIRT text output?)".into(),
            ));
        }
        if unterminated && line_no == n_lines {
            return Err(err(
                line_no,
                "the file ends in the middle of this line (truncated output?)".into(),
            ));
        }
        let mut values = Vec::with_capacity(columns.len());
        for (j, token) in trimmed.split_whitespace().enumerate() {
            let Some(column) = columns.get(j) else {
                return Err(err(
                    line_no,
                    format!(
                        "{} values, but the header declares {} columns",
                        trimmed.split_whitespace().count(),
                        columns.len()
                    ),
                ));
            };
            let value = token.parse::<f64>().map_err(|_| {
                err(
                    line_no,
                    format!(
                        "'{token}' in column {} ({}) is not a number",
                        j + 1,
                        column.name
                    ),
                )
            })?;
            if !value.is_finite() {
                return Err(err(
                    line_no,
                    format!(
                        "column {} ({}) holds '{token}', not a finite number",
                        j + 1,
                        column.name
                    ),
                ));
            }
            if value < 0.0 && column.name.ends_with("flux") {
                return Err(err(
                    line_no,
                    format!(
                        "negative flux {value} in column {} ({})",
                        j + 1,
                        column.name
                    ),
                ));
            }
            values.push(value);
        }
        if values.len() != columns.len() {
            return Err(err(
                line_no,
                format!(
                    "{} values, but the header declares {} columns (truncated row?)",
                    values.len(),
                    columns.len()
                ),
            ));
        }
        rows.push((line_no, values));
    }
    if columns.is_empty() {
        return Err(err(
            last_line.max(1),
            "no '# column N: …' declarations (empty or not a SKIRT text output)".into(),
        ));
    }
    if rows.len() < 2 {
        return Err(err(
            last_line.max(1),
            format!(
                "{} data rows; a SED needs at least 2 (truncated output?)",
                rows.len()
            ),
        ));
    }

    let lam_col = columns
        .iter()
        .position(|c| c.name == "wavelength")
        .ok_or_else(|| {
            let what = columns.first().map_or("", |c| c.name.as_str());
            err(
                header_line,
                format!(
                    "no 'wavelength' column (the first column is '{what}'; write the SED against \
                 wavelength)"
                ),
            )
        })?;
    let lam_decl = &columns[lam_col];
    let to_um = wavelength_unit_um(&lam_decl.unit).ok_or_else(|| {
        err(
            lam_decl.line,
            format!("unsupported wavelength unit '{}'", lam_decl.unit),
        )
    })?;
    let lam: Vec<f64> = rows.iter().map(|(_, v)| v[lam_col] * to_um).collect();
    if let Some(i) = lam.iter().position(|&l| l <= 0.0) {
        return Err(err(
            rows[i].0,
            format!("wavelength {} is not positive", rows[i].1[lam_col]),
        ));
    }
    let increasing = lam[1] > lam[0];
    if let Some(i) = lam.windows(2).position(|w| {
        if increasing {
            w[1] <= w[0]
        } else {
            w[1] >= w[0]
        }
    }) {
        let (line, _) = &rows[i + 1];
        return Err(err(
            *line,
            format!(
                "wavelength {} µm breaks the monotonic order of the rows (previous row {} µm)",
                lam[i + 1],
                lam[i]
            ),
        ));
    }

    // Flux style: all flux columns must agree, as ratios of columns are taken.
    let mut style: Option<(FluxStyle, &SedColumn)> = None;
    for c in columns.iter().filter(|c| c.name.ends_with("flux")) {
        let s = FluxStyle::detect(c.symbol.as_deref(), &c.unit).map_err(|m| err(c.line, m))?;
        match style {
            None => style = Some((s, c)),
            Some((first, fc)) if first != s || fc.unit != c.unit => {
                return Err(err(
                    c.line,
                    format!(
                        "column '{}' is in {} but '{}' in {}; all flux columns must share a unit",
                        c.name, c.unit, fc.name, fc.unit
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let Some((style, _)) = style else {
        return Err(err(header_line, "no flux column in the header".into()));
    };

    let order: Vec<usize> = if increasing {
        (0..rows.len()).collect()
    } else {
        (0..rows.len()).rev().collect()
    };
    let lines = order.iter().map(|&i| rows[i].0).collect();
    let lam_um = order.iter().map(|&i| lam[i]).collect();
    let columns = columns
        .into_iter()
        .enumerate()
        .filter(|(j, _)| *j != lam_col)
        .map(|(j, mut c)| {
            c.values = order.iter().map(|&i| rows[i].1[j]).collect();
            c
        })
        .collect();
    Ok(SedOutput {
        path: path.to_path_buf(),
        lam_um,
        lines,
        style,
        columns,
        header_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# SED at inclination 30 deg, azimuth 0 deg, distance 100 Mpc\n\
# column 1: wavelength; lambda (micron)\n\
# column 2: total flux; F_lambda (W/m2/micron)\n\
# column 3: transparent flux; F_lambda (W/m2/micron)\n";

    fn parse(text: &str) -> Result<SedOutput, SkirtError> {
        parse_sed_output(Path::new("x_sed.dat"), text.as_bytes())
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_columns_by_name() {
        let out = parse(&format!("{HEADER}0.1 1 2\n0.2 3 4\n")).unwrap();
        assert_eq!(out.lam_um, vec![0.1, 0.2]);
        assert_eq!(out.column("Total flux").unwrap(), &[1.0, 3.0]);
        assert_eq!(out.column("transparent flux").unwrap(), &[2.0, 4.0]);
        assert_eq!(out.style, FluxStyle::Wavelength);
        assert_eq!(out.lines, vec![5, 6]);
        let missing = out.column("direct secondary flux").unwrap_err().to_string();
        assert!(
            missing.contains("x_sed.dat, line 4") && missing.contains("direct secondary flux"),
            "{missing}"
        );
    }

    #[test]
    fn decreasing_wavelengths_are_reordered_and_units_converted() {
        let text = "# column 1: wavelength; lambda (nm)\n# column 2: total flux; F_nu (Jy)\n200 1\n100 2\n";
        let out = parse(text).unwrap();
        assert_eq!(out.lam_um, vec![0.1, 0.2]);
        assert_eq!(out.column("total flux").unwrap(), &[2.0, 1.0]);
        assert_eq!(out.lines, vec![4, 3]);
        assert_eq!(out.style, FluxStyle::Frequency);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases = [
            (
                format!("{HEADER}0.1 1 2\n0.2 x 4\n"),
                "line 6",
                "'x' in column 2",
            ),
            (
                format!("{HEADER}0.1 1 2\n0.2 nan 4\n"),
                "line 6",
                "not a finite number",
            ),
            (
                format!("{HEADER}0.1 1 2\n0.2 -1 4\n"),
                "line 6",
                "negative flux",
            ),
            (format!("{HEADER}0.1 1 2\n0.2 1\n"), "line 6", "2 values"),
            (
                format!("{HEADER}0.1 1 2\n0.3 1 2\n0.2 1 2\n"),
                "line 7",
                "monotonic",
            ),
            (format!("{HEADER}0.1 1 2\n0.2 1 2"), "line 6", "truncated"),
            (format!("{HEADER}0.1 1 2\n"), "line 5", "1 data rows"),
            (HEADER.to_string(), "line 4", "0 data rows"),
            (
                format!("{HEADER}0.1 1 2 3\n0.2 1 2\n"),
                "line 5",
                "4 values",
            ),
            ("0.1 1 2\n".to_string(), "line 1", "before any"),
            (
                "# column 2: total flux; F_nu (Jy)\n".to_string(),
                "line 1",
                "column 2 declared",
            ),
        ];
        for (text, line, what) in cases {
            let m = message(&text);
            assert!(
                m.contains("x_sed.dat") && m.contains(line) && m.contains(what),
                "{m}"
            );
        }
    }
}
