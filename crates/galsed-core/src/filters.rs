//! Bandpass filters: the built-in set (curves from astro-sedpy 0.4.1, embedded in the binary), user
//! files, and pivot wavelengths.
//!
//! Every curve, built-in or user-supplied, goes through the same cleaning as sedpy's `Filter` class
//! (see [`Filter::new`]), so built-in curves are identical to what sedpy exposes.

use std::path::{Path, PathBuf};

/// Points whose transmission is at or below this fraction of the peak count as zero when trimming
/// the ends of a curve (sedpy's `min_trans` default).
const MIN_RELATIVE_TRANSMISSION: f64 = 1e-5;

/// Embeds `filters/<name>.par` for each name; names must stay sorted (a test checks this).
macro_rules! builtin_table {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/filters/", $name, ".par")))),*]
    };
}

/// (name, file text) of every built-in filter, sorted by name (byte order).
static BUILTIN: &[(&str, &str)] = builtin_table![
    "bessell_B",
    "bessell_I",
    "bessell_R",
    "bessell_U",
    "bessell_V",
    "decam_Y",
    "decam_g",
    "decam_i",
    "decam_r",
    "decam_u",
    "decam_z",
    "gaia_bp",
    "gaia_g",
    "gaia_rp",
    "galex_FUV",
    "galex_NUV",
    "herschel_pacs_100",
    "herschel_pacs_160",
    "herschel_pacs_70",
    "herschel_spire_250",
    "herschel_spire_350",
    "herschel_spire_500",
    "hsc_g",
    "hsc_i",
    "hsc_r",
    "hsc_y",
    "hsc_z",
    "jwst_f070w",
    "jwst_f090w",
    "jwst_f1000w",
    "jwst_f1130w",
    "jwst_f115w",
    "jwst_f1280w",
    "jwst_f140m",
    "jwst_f1500w",
    "jwst_f150w",
    "jwst_f150w2",
    "jwst_f162m",
    "jwst_f1800w",
    "jwst_f182m",
    "jwst_f200w",
    "jwst_f2100w",
    "jwst_f210m",
    "jwst_f250m",
    "jwst_f2550w",
    "jwst_f277w",
    "jwst_f300m",
    "jwst_f322w2",
    "jwst_f335m",
    "jwst_f356w",
    "jwst_f360m",
    "jwst_f410m",
    "jwst_f430m",
    "jwst_f444w",
    "jwst_f460m",
    "jwst_f480m",
    "jwst_f560w",
    "jwst_f770w",
    "lsst_baseline_g",
    "lsst_baseline_i",
    "lsst_baseline_r",
    "lsst_baseline_u",
    "lsst_baseline_y",
    "lsst_baseline_z",
    "panstarrs_g",
    "panstarrs_i",
    "panstarrs_r",
    "panstarrs_y",
    "panstarrs_z",
    "sdss_g0",
    "sdss_i0",
    "sdss_r0",
    "sdss_u0",
    "sdss_z0",
    "spitzer_irac_ch1",
    "spitzer_irac_ch2",
    "spitzer_irac_ch3",
    "spitzer_irac_ch4",
    "spitzer_mips_160",
    "spitzer_mips_24",
    "spitzer_mips_70",
    "stromgren_b",
    "stromgren_u",
    "stromgren_v",
    "stromgren_y",
    "twomass_H",
    "twomass_J",
    "twomass_Ks",
    "ukirt_wfcam_H",
    "ukirt_wfcam_J",
    "ukirt_wfcam_K",
    "vista_vircam_H",
    "vista_vircam_J",
    "vista_vircam_Ks",
    "vista_vircam_Y",
    "vista_vircam_Z",
    "wise_w1",
    "wise_w2",
    "wise_w3",
    "wise_w4",
];

/// The `default19` preset, the 19 bands of the reference tutorial and timings: GALEX FUV/NUV,
/// SDSS ugriz, 2MASS JHKs, WISE 1–4, PACS 100/160, SPIRE 250/350/500.
pub const DEFAULT19: [&str; 19] = [
    "galex_FUV",
    "galex_NUV",
    "sdss_u0",
    "sdss_g0",
    "sdss_r0",
    "sdss_i0",
    "sdss_z0",
    "twomass_J",
    "twomass_H",
    "twomass_Ks",
    "wise_w1",
    "wise_w2",
    "wise_w3",
    "wise_w4",
    "herschel_pacs_100",
    "herschel_pacs_160",
    "herschel_spire_250",
    "herschel_spire_350",
    "herschel_spire_500",
];

/// Names of all built-in filters, sorted (byte order, so `decam_Y` precedes `decam_g`).
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|&(name, _)| name).collect()
}

/// Why a set of (wavelength, transmission) points is not a usable filter curve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CurveProblem {
    /// The two arrays differ in length.
    #[error("wavelength has {wavelength} points but transmission has {transmission}")]
    LengthMismatch {
        /// Number of wavelength points.
        wavelength: usize,
        /// Number of transmission points.
        transmission: usize,
    },
    /// Fewer than two points (after dropping negative transmissions, for files).
    #[error("a filter needs at least 2 points, got {0}")]
    TooFewPoints(usize),
    /// A NaN or infinite value.
    #[error("non-finite value at point {index}")]
    NonFinite {
        /// Index of the offending point.
        index: usize,
    },
    /// A wavelength that is zero or negative.
    #[error("wavelength must be > 0 Å, got {value} at point {index}")]
    NonPositiveWavelength {
        /// Index of the offending point.
        index: usize,
        /// The wavelength found \[Å\].
        value: f64,
    },
    /// A negative transmission (only [`Filter::new`]; file readers drop such points like sedpy).
    #[error("transmission must be >= 0, got {value} at point {index}")]
    NegativeTransmission {
        /// Index of the offending point.
        index: usize,
        /// The transmission found.
        value: f64,
    },
    /// Transmission zero everywhere.
    #[error("transmission is zero everywhere")]
    AllZero,
    /// Two points share a wavelength, so the curve is not a function of wavelength.
    #[error("duplicate wavelength {0} Å (wavelengths must be strictly increasing after sorting)")]
    DuplicateWavelength(f64),
}

/// Errors from building, looking up or reading filters.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// No built-in filter has this name.
    #[error("unknown built-in filter '{name}'{}", did_you_mean(.suggestions))]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// Built-in names close to it, for the message.
        suggestions: Vec<String>,
    },
    /// [`Filter::resolve`] found neither a built-in name nor a file.
    #[error("'{spec}' is neither a built-in filter name nor an existing file{}", did_you_mean(.suggestions))]
    Unresolved {
        /// The specification given (a name or a path).
        spec: String,
        /// Built-in names close to it, for the message.
        suggestions: Vec<String>,
    },
    /// The file could not be read.
    #[error("cannot read filter file {}: {source}", .path.display())]
    Io {
        /// The filter file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A line of a filter file could not be parsed.
    #[error("filter file {}, line {line}: {message}", .path.display())]
    Parse {
        /// The filter file.
        path: PathBuf,
        /// Line number (1-based).
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// The file holds no data rows (empty, or only comments/header).
    #[error("filter file {} has no data rows (expected 'wavelength transmission' lines)", .path.display())]
    NoData {
        /// The filter file.
        path: PathBuf,
    },
    /// The file parsed but its curve is unusable.
    #[error("filter file {}: {problem}", .path.display())]
    InvalidFile {
        /// The filter file.
        path: PathBuf,
        /// What is wrong with the curve.
        problem: CurveProblem,
    },
    /// The points given to [`Filter::new`] are unusable.
    #[error("filter '{name}': {problem}")]
    InvalidCurve {
        /// Name given to the filter.
        name: String,
        /// What is wrong with the curve.
        problem: CurveProblem,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        " (no similar built-in name)".to_owned()
    } else {
        format!("; did you mean: {}?", suggestions.join(", "))
    }
}

/// Why a list of filter specs (see [`Filter::parse_list`]) gives no usable filter set.
///
/// `E` is the error of the function that resolves one spec ([`FilterError`] for
/// [`Filter::resolve`]).
#[derive(Debug, thiserror::Error)]
pub enum FilterListError<E: std::error::Error + 'static = FilterError> {
    /// One spec could not be resolved.
    #[error("filter {spec:?}")]
    Filter {
        /// The spec as written.
        spec: String,
        /// Why it could not be resolved.
        #[source]
        source: E,
    },
    /// The list holds no spec.
    #[error("the filter list names no filter")]
    Empty,
    /// A filter appears twice (after expanding `default19`).
    #[error("filter {0} is listed twice")]
    Duplicate(String),
}

/// The non-empty, trimmed items of a comma-separated filter list.
pub fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// A filter transmission curve on its own wavelength grid.
///
/// Invariants (established by every constructor): at least 2 points, finite values, wavelengths > 0
/// and strictly increasing, transmissions >= 0 and not all zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Built-in name, or the file stem for user files.
    pub name: String,
    /// Wavelengths in Ångström, strictly increasing.
    pub wavelength_angstrom: Vec<f64>,
    /// Transmission (detector signal per photon; any normalisation).
    pub transmission: Vec<f64>,
}

impl Filter {
    /// Parses a comma-separated list of built-in names, filter files and the `default19` preset
    /// (e.g. `"default19,sdss_r0,my.par"`), each resolved with [`Filter::resolve`].
    ///
    /// Errors if a spec cannot be resolved, the list is empty, or a filter appears twice.
    pub fn parse_list(list: &str) -> Result<Vec<Filter>, FilterListError> {
        Self::resolve_list(split_list(list), Filter::resolve)
    }

    /// Resolves filter specs with `resolve`, expanding the preset `default19` into
    /// [`DEFAULT19`]'s names, then checks that there is at least one filter and no name twice.
    pub fn resolve_list<S, E>(
        specs: impl IntoIterator<Item = S>,
        mut resolve: impl FnMut(&str) -> Result<Filter, E>,
    ) -> Result<Vec<Filter>, FilterListError<E>>
    where
        S: AsRef<str>,
        E: std::error::Error + 'static,
    {
        let mut one = |spec: &str| {
            resolve(spec).map_err(|source| FilterListError::Filter {
                spec: spec.to_owned(),
                source,
            })
        };
        let mut filters: Vec<Filter> = vec![];
        for spec in specs {
            let spec = spec.as_ref();
            if spec == "default19" {
                for name in DEFAULT19 {
                    filters.push(one(name)?);
                }
            } else {
                filters.push(one(spec)?);
            }
        }
        if filters.is_empty() {
            return Err(FilterListError::Empty);
        }
        for (i, f) in filters.iter().enumerate() {
            if filters[..i].iter().any(|g| g.name == f.name) {
                return Err(FilterListError::Duplicate(f.name.clone()));
            }
        }
        Ok(filters)
    }

    /// Builds a filter from points, validating them and applying sedpy's cleaning: points are sorted
    /// by wavelength, then leading and trailing points with transmission at or below 1e-5 of the
    /// peak are trimmed, keeping one such point on each side of the passband if present.
    ///
    /// Errors if the arrays differ in length, have fewer than 2 points, contain NaN/∞, a wavelength
    /// <= 0, a negative transmission, only zero transmission, or a repeated wavelength.
    pub fn new(
        name: impl Into<String>,
        wavelength_angstrom: Vec<f64>,
        transmission: Vec<f64>,
    ) -> Result<Self, FilterError> {
        let name = name.into();
        match clean_curve(wavelength_angstrom, transmission) {
            Ok((wavelength_angstrom, transmission)) => Ok(Self {
                name,
                wavelength_angstrom,
                transmission,
            }),
            Err(problem) => Err(FilterError::InvalidCurve { name, problem }),
        }
    }

    /// Loads a built-in filter by its sedpy name, e.g. `sdss_r0`, `galex_FUV`, `wise_w1`.
    ///
    /// An exact match wins; otherwise a unique case-insensitive match is accepted. Unknown names
    /// give [`FilterError::UnknownBuiltin`] listing close matches.
    ///
    /// ```rust
    /// use galsed_core::filters::Filter;
    /// let r = Filter::builtin("sdss_r0")?;
    /// assert!((r.pivot_wavelength_angstrom() - 6174.99).abs() < 0.01);
    /// assert!(Filter::builtin("sdss_x0").is_err());
    /// # Ok::<(), galsed_core::filters::FilterError>(())
    /// ```
    pub fn builtin(name: &str) -> Result<Self, FilterError> {
        let Some((canonical, text)) = find_builtin(name) else {
            return Err(FilterError::UnknownBuiltin {
                name: name.to_owned(),
                suggestions: close_matches(name),
            });
        };
        let origin = PathBuf::from(format!("<built-in {canonical}.par>"));
        from_text(canonical, text, &origin)
    }

    /// Reads a user filter file: a sedpy/kcorrect `.par` file (either plain two-column rows or
    /// Yanny `KFILTER lambda pass` rows with their `typedef` block), or two-column text separated by
    /// whitespace or commas, wavelength in Ångström first. `#` starts a comment anywhere on a line;
    /// one non-numeric header line before the data is allowed; columns after the second are ignored.
    ///
    /// Rows with negative transmission are dropped (as sedpy does: measured curves carry small
    /// negative noise); NaN/∞ values, wavelengths <= 0 and wavelengths that do not increase from
    /// row to row (which sedpy would sort) are errors. The filter is named after the
    /// file stem.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, FilterError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| FilterError::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        from_text(&name, &text, path)
    }

    /// Resolves a user-given filter spec: a built-in name (see [`Filter::builtin`]) if one matches,
    /// otherwise the path of a filter file (see [`Filter::from_file`]).
    pub fn resolve(spec: &str) -> Result<Self, FilterError> {
        if find_builtin(spec).is_some() {
            return Self::builtin(spec);
        }
        let path = Path::new(spec);
        if path.is_file() {
            return Self::from_file(path);
        }
        Err(FilterError::Unresolved {
            spec: spec.to_owned(),
            suggestions: close_matches(spec),
        })
    }

    /// Pivot wavelength in Ångström: sqrt(∫λT dλ / ∫T/λ dλ), trapezoid rule on the filter's own grid.
    pub fn pivot_wavelength_angstrom(&self) -> f64 {
        let lam = &self.wavelength_angstrom;
        let t = &self.transmission;
        let num = trapezoid(lam, |i| lam[i] * t[i]);
        let den = trapezoid(lam, |i| t[i] / lam[i]);
        (num / den).sqrt()
    }
}

/// Trapezoid rule of `y(i)` over the grid `x`.
fn trapezoid(x: &[f64], y: impl Fn(usize) -> f64) -> f64 {
    (1..x.len())
        .map(|i| (x[i] - x[i - 1]) * (y(i) + y(i - 1)) / 2.0)
        .sum()
}

fn find_builtin(name: &str) -> Option<(&'static str, &'static str)> {
    if let Ok(i) = BUILTIN.binary_search_by(|&(n, _)| n.cmp(name)) {
        return Some(BUILTIN[i]);
    }
    let mut matches = BUILTIN.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    match (matches.next(), matches.next()) {
        (Some(&found), None) => Some(found),
        _ => None,
    }
}

/// Up to 8 built-in names close to `query`: those containing it, then those within a small edit
/// distance, nearest first.
fn close_matches(query: &str) -> Vec<String> {
    let q = query.to_ascii_lowercase();
    let max_distance = (q.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = BUILTIN
        .iter()
        .filter_map(|&(name, _)| {
            let n = name.to_ascii_lowercase();
            if q.len() >= 3 && n.contains(&q) {
                return Some((0, name));
            }
            let d = levenshtein(&q, &n);
            (d <= max_distance).then_some((d, name))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(8)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// The built-in filters a table column is most likely a misspelling of, or nothing when the name
/// is not close to any. Stricter than the suggestions of [`FilterError`] (no substring matches,
/// one edit per five characters, at least one), so that other quantities (`z`, `dec`, `mass`) do
/// not pass for bands while `sdss_r` (for `sdss_r0`) and `GALEX_FUV` do.
///
/// ```rust
/// use galsed_core::filters::misspelt_builtin;
/// assert_eq!(misspelt_builtin("sdss_r"), ["sdss_r0"]);
/// assert!(misspelt_builtin("dec").is_empty());
/// ```
pub fn misspelt_builtin(column: &str) -> Vec<&'static str> {
    let q = column.to_ascii_lowercase();
    let max_distance = (q.chars().count() / 5).max(1);
    let scored: Vec<(usize, &str)> = BUILTIN
        .iter()
        .map(|&(name, _)| (levenshtein(&q, &name.to_ascii_lowercase()), name))
        .filter(|&(d, _)| d <= max_distance)
        .collect();
    let Some(best) = scored.iter().map(|&(d, _)| d).min() else {
        return vec![];
    };
    scored
        .into_iter()
        .filter(|&(d, _)| d == best)
        .map(|(_, name)| name)
        .collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Parses filter text (see [`Filter::from_file`] for the formats); `origin` names it in errors.
fn from_text(name: &str, text: &str, origin: &Path) -> Result<Filter, FilterError> {
    let parse_err = |line: usize, message: String| FilterError::Parse {
        path: origin.to_owned(),
        line,
        message,
    };
    let mut wavelength = Vec::new();
    let mut transmission = Vec::new();
    // Yanny struct names declared by `typedef ... } NAME;`; `KFILTER*` rows are accepted regardless.
    let mut row_keywords: Vec<String> = Vec::new();
    let mut in_typedef = false;
    let mut header_seen = false;
    let mut rows = 0usize;
    // Wavelength and line of the previous data row.
    let mut last: Option<(f64, usize)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let content = raw.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        if in_typedef || content.starts_with("typedef") {
            in_typedef = true;
            if let Some((_, after)) = content.split_once('}') {
                in_typedef = false;
                let keyword = after.trim().trim_end_matches(';').trim();
                if !keyword.is_empty() {
                    row_keywords.push(keyword.to_ascii_uppercase());
                }
            }
            continue;
        }
        let mut tokens = content
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty());
        let Some(first) = tokens.next() else { continue };
        let (lam_text, t_text) = if first.parse::<f64>().is_ok() {
            (first, tokens.next())
        } else {
            let upper = first.to_ascii_uppercase();
            if upper.starts_with("KFILTER") || row_keywords.contains(&upper) {
                match tokens.next() {
                    Some(lam) => (lam, tokens.next()),
                    None => return Err(parse_err(line_no, format!("'{first}' row has no values"))),
                }
            } else if !row_keywords.is_empty() {
                // Yanny keyword/value line (e.g. `units angstrom`): not curve data.
                continue;
            } else if !header_seen && rows == 0 {
                header_seen = true;
                continue;
            } else {
                return Err(parse_err(
                    line_no,
                    format!(
                        "expected two numbers (wavelength [Å], transmission), found '{content}'"
                    ),
                ));
            }
        };
        let Some(t_text) = t_text else {
            return Err(parse_err(
                line_no,
                format!("expected two columns, found '{content}'"),
            ));
        };
        let number = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| parse_err(line_no, format!("'{s}' is not a number")))
        };
        let (lam, t) = (number(lam_text)?, number(t_text)?);
        if !lam.is_finite() || !t.is_finite() {
            return Err(parse_err(
                line_no,
                format!("non-finite value in '{content}'"),
            ));
        }
        if lam <= 0.0 {
            return Err(parse_err(
                line_no,
                format!("wavelength must be > 0 Å, got {lam}"),
            ));
        }
        // sedpy sorts the rows; a file out of order is more likely a wrong column or unit
        // (frequency, a red-to-blue listing) than a curve, so it is refused.
        if let Some((prev, prev_line)) = last {
            if lam == prev {
                return Err(parse_err(
                    line_no,
                    format!("duplicate wavelength {lam} Å (also on line {prev_line})"),
                ));
            }
            if lam < prev {
                return Err(parse_err(
                    line_no,
                    format!(
                        "wavelength {lam} Å comes after {prev} Å (line {prev_line}): the \
                         wavelengths of a filter file must increase from row to row"
                    ),
                ));
            }
        }
        last = Some((lam, line_no));
        rows += 1;
        // sedpy drops negative transmissions (noise in measured curves) rather than failing.
        if t >= 0.0 {
            wavelength.push(lam);
            transmission.push(t);
        }
    }
    if rows == 0 {
        return Err(FilterError::NoData {
            path: origin.to_owned(),
        });
    }
    clean_curve(wavelength, transmission)
        .map(|(wavelength_angstrom, transmission)| Filter {
            name: name.to_owned(),
            wavelength_angstrom,
            transmission,
        })
        .map_err(|problem| FilterError::InvalidFile {
            path: origin.to_owned(),
            problem,
        })
}

/// Validates points and applies sedpy's cleaning (sort, trim near-zero ends).
fn clean_curve(
    wavelength: Vec<f64>,
    transmission: Vec<f64>,
) -> Result<(Vec<f64>, Vec<f64>), CurveProblem> {
    if wavelength.len() != transmission.len() {
        return Err(CurveProblem::LengthMismatch {
            wavelength: wavelength.len(),
            transmission: transmission.len(),
        });
    }
    if wavelength.len() < 2 {
        return Err(CurveProblem::TooFewPoints(wavelength.len()));
    }
    for (index, (&lam, &t)) in wavelength.iter().zip(&transmission).enumerate() {
        if !lam.is_finite() || !t.is_finite() {
            return Err(CurveProblem::NonFinite { index });
        }
        if lam <= 0.0 {
            return Err(CurveProblem::NonPositiveWavelength { index, value: lam });
        }
        if t < 0.0 {
            return Err(CurveProblem::NegativeTransmission { index, value: t });
        }
    }
    let mut points: Vec<(f64, f64)> = wavelength.into_iter().zip(transmission).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    if peak == 0.0 {
        return Err(CurveProblem::AllZero);
    }
    // Same slice as sedpy's `_remove_extra_zeros`: one point beyond the first/last significant one.
    let threshold = peak * MIN_RELATIVE_TRANSMISSION;
    let first = points.iter().position(|p| p.1 > threshold).unwrap_or(0);
    let last = points
        .iter()
        .rposition(|p| p.1 > threshold)
        .unwrap_or(points.len() - 1);
    let kept = &points[first.saturating_sub(1)..(last + 2).min(points.len())];
    if let Some(w) = kept.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(CurveProblem::DuplicateWavelength(w[0].0));
    }
    Ok(kept.iter().copied().unzip())
}
