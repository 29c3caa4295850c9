//! Catalogues of observed galaxies, fitted one row at a time (what `galsed fit` and Python's
//! `Model.fit` share).
//!
//! * [`FitFile`] — the TOML configuration: `[catalog]` ([`CatalogConfig`]) plus the sections of
//!   a [`FitConfig`]; one parser for the command line and Python.
//! * [`galaxies`] — a catalogue [`Table`] → one [`Galaxy`] per row: bands from the columns,
//!   redshift and distance modulus, observations ([`RowReader`]: magnitudes, fluxes, upper
//!   limits), or the reason the row cannot be fitted.
//! * [`CatalogFitter`] — one galaxy fitted into a [`Record`], the flat row of the results;
//!   [`results_table`] puts the records in a table.
//! * The resume file `<output>.partial.jsonl` ([`resume_path`], [`read_records`],
//!   [`ResumeLog`], [`pending`], [`finished_records`]): one JSON record per finished galaxy, so
//!   that an interrupted run resumes where it stopped.

use std::collections::{BTreeMap, HashSet};
use std::error::Error as StdError;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use galsed_core::cosmology::Cosmology;
use galsed_core::extinction::{MILKY_WAY_RV, band_extinction};
use galsed_core::filters::{Filter, FilterError, builtin_names, misspelt_builtin};
use galsed_core::ssp::SspLibrary;
use galsed_core::units::{ab_mag, ab_to_jy};
use galsed_emulator::Starduster;
use galsed_emulator::predict::Observer;
use galsed_io::table::{Column, Table};
use serde::{Deserialize, Serialize};

use crate::derived::Analyzer;
use crate::fit::{FitConfig, FitResult, fit_galaxy};
use crate::knowledge::{self, Knowledge, ParameterColumn};
use crate::likelihood::{Measurement, Observations};
use crate::params::Parametrization;
use crate::posterior::Posterior;

/// Errors of a catalogue or a configuration as a whole (problems of single rows are kept per
/// [`Galaxy`] instead).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The configuration file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A problem in a configuration file, with its path.
    #[error("in {}", path.display())]
    In {
        /// The file.
        path: PathBuf,
        /// The problem.
        #[source]
        source: Box<CatalogError>,
    },
    /// The configuration is not TOML.
    #[error("not valid TOML")]
    Toml(#[source] toml::de::Error),
    /// The `[catalog]` section does not parse.
    #[error("[catalog]")]
    CatalogSection(#[source] toml::de::Error),
    /// The fit sections do not parse.
    #[error("fit settings")]
    FitSections(#[source] toml::de::Error),
    /// `[catalog] flux_unit` is not a known unit.
    #[error("[catalog] flux_unit {0:?}: expected Jy, mJy, uJy or nJy")]
    FluxUnit(String),
    /// A `[catalog.sigma]` entry is not a positive error.
    #[error("[catalog.sigma] {band} = {sigma}: errors must be > 0")]
    Sigma {
        /// The band.
        band: String,
        /// The error given.
        sigma: f64,
    },
    /// A `[catalog.calibration_floor]` entry is not a fraction ≥ 0.
    #[error("[catalog.calibration_floor] {band} = {floor}: floors must be finite and >= 0")]
    CalibrationFloor {
        /// The band.
        band: String,
        /// The floor given.
        floor: f64,
    },
    /// A per-band key (`[catalog.sigma]`, `[catalog.calibration_floor]`) is not a band of the
    /// catalogue: a misspelt band would otherwise be silently ignored.
    #[error("[catalog.{section}] {detail}")]
    BandKey {
        /// The section (`sigma` or `calibration_floor`).
        section: &'static str,
        /// The key and the catalogue's bands.
        detail: String,
    },
    /// `[catalog] extinction_curve` is unknown.
    #[error("[catalog] extinction_curve")]
    Curve(#[source] galsed_core::extinction::UnknownCurve),
    /// A `[catalog] vega_bands` entry cannot be converted.
    #[error("[catalog] vega_bands: {0}")]
    Vega(String),
    /// The catalogue is empty.
    #[error("the catalogue has no rows")]
    NoRows,
    /// No band column found.
    #[error(
        "no band columns: name columns after filters (see `galsed filters list`) or list them in \
         [catalog] bands; columns found: {0}"
    )]
    NoBandColumns(String),
    /// Columns named almost like filters: without `[catalog] bands` they would not be fitted.
    #[error(
        "not a built-in filter name: {0}; such columns would not be fitted: rename them, or list \
         the bands to fit in [catalog] bands (other columns are then ignored)"
    )]
    MisspeltBands(String),
    /// A band is not a filter.
    #[error("unknown band {spec:?}")]
    UnknownBand {
        /// The band as written.
        spec: String,
        /// Why it does not resolve.
        #[source]
        source: FilterError,
    },
    /// A band has neither an error column nor a `[catalog.sigma]` entry.
    #[error("band {band}: no error column {column:?} and no [catalog.sigma] entry")]
    NoErrors {
        /// The band.
        band: String,
        /// The error column looked for.
        column: String,
    },
    /// A column is missing or not numeric.
    #[error("{what}")]
    Column {
        /// Which column, as the user knows it.
        what: String,
        /// The table's message.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A problem of the table itself (a column that is not numeric, columns of unequal lengths).
    #[error(transparent)]
    Table(BoxError),
    /// `[catalog.parameters]` cannot be read.
    #[error("{0}")]
    Knowledge(String),
    /// The truth columns are incomplete.
    #[error("the catalogue has truth_ columns but not truth_{0}")]
    Truth(String),
    /// Reading or writing the resume file.
    #[error("{what} {}", path.display())]
    Resume {
        /// "reading" or "opening".
        what: &'static str,
        /// The resume file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A column problem reported by the table, under the name the user knows the column by.
fn column_err<E: Into<BoxError>>(what: impl Into<String>) -> impl FnOnce(E) -> CatalogError {
    let what = what.into();
    move |e| CatalogError::Column {
        what,
        source: e.into(),
    }
}

/// A problem reported by the table as it is.
fn table_err<E: Into<BoxError>>(e: E) -> CatalogError {
    CatalogError::Table(e.into())
}

/// Errors of the table model (`galsed_io::table`), kept with their causes.
type BoxError = Box<dyn StdError + Send + Sync>;

/// What the catalogue holds and how to read it (`[catalog]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// `"mag"` (AB magnitudes) or `"flux"`.
    pub quantity: Quantity,
    /// Unit of flux columns: Jy, mJy, uJy or nJy.
    pub flux_unit: String,
    /// Bands to fit (filter names or filter files); default: every column named after a
    /// built-in filter.
    pub bands: Option<Vec<String>>,
    /// Galaxy identifier column (default "id"; row numbers when absent).
    pub id_column: String,
    /// Redshift column (default "redshift").
    pub redshift_column: String,
    /// Distance-modulus column (optional; default "distmod" when present). Without it the
    /// luminosity distance of Planck18 at the redshift is used.
    pub distmod_column: String,
    /// Error columns are `<band><error_suffix>` (default "_err").
    pub error_suffix: String,
    /// Upper-limit columns are `<band><limit_suffix>` (default "_limit"), used when the value is
    /// missing (NaN): a flux or magnitude limit.
    pub limit_suffix: String,
    /// Significance of the limits, used for the noise when the error is missing (default 3).
    pub limit_nsigma: f64,
    /// Per-band magnitude errors that replace the catalogue's (the paper used 0.05/0.1/0.2 mag).
    pub sigma: BTreeMap<String, f64>,
    /// Wavelength grid of the emulator: "auto" (the default, as the reference's fits) or
    /// "base"; see [`CatalogConfig::grid`]. `None` when the configuration does not say (Python
    /// then fits on its `Model`'s grid).
    pub grid: Option<String>,
    /// Quality-flag columns are `<band><flag_suffix>` (default "_flag"): 0 (or empty) is good,
    /// anything else flags the band in that row. No flag column: every value is good.
    pub flag_suffix: String,
    /// What a flagged band becomes: left out ("skip", the default) or an upper limit at value +
    /// `limit_nsigma` × error ("limit").
    pub flag_action: FlagAction,
    /// Calibration floors added in quadrature to the catalogue errors: "none" (the default) or
    /// "default" (each survey's published absolute calibration uncertainty,
    /// [`crate::conventions::CALIBRATION_FLOORS`]).
    pub calibration: Calibration,
    /// Per-band fractional calibration floors that replace the defaults (and apply even with
    /// `calibration = "none"`).
    pub calibration_floor: BTreeMap<String, f64>,
    /// Milky Way E(B−V) column; without it nothing is de-reddened.
    pub ebv_column: Option<String>,
    /// Extinction curve for the E(B−V) column: "f99" (Fitzpatrick 1999, the default) or "ccm89"
    /// (Cardelli et al. 1989 with O'Donnell 1994), with R_V = 3.1.
    pub extinction_curve: String,
    /// Bands whose magnitudes (values and limits) are Vega, converted to AB with
    /// [`crate::conventions::VEGA_TO_AB`]; the results then also have `model_<band>_vega`.
    pub vega_bands: Vec<String>,
    /// Parameters known per galaxy from catalogue columns, as fixed values or Gaussian priors
    /// ([`crate::knowledge`]), by parameter name.
    pub parameters: BTreeMap<String, ParameterColumn>,
}

/// What a flagged band becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagAction {
    /// Left out of the fit.
    #[default]
    Skip,
    /// An upper limit at value + `limit_nsigma` × error.
    Limit,
}

/// Whether the published calibration floors are added to the errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// No floors except `[catalog.calibration_floor]` entries.
    #[default]
    None,
    /// The published floors of [`crate::conventions::CALIBRATION_FLOORS`].
    Default,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            quantity: Quantity::Mag,
            flux_unit: "Jy".into(),
            bands: None,
            id_column: "id".into(),
            redshift_column: "redshift".into(),
            distmod_column: "distmod".into(),
            error_suffix: "_err".into(),
            limit_suffix: "_limit".into(),
            limit_nsigma: 3.0,
            sigma: BTreeMap::new(),
            grid: None,
            flag_suffix: "_flag".into(),
            flag_action: FlagAction::Skip,
            calibration: Calibration::None,
            calibration_floor: BTreeMap::new(),
            ebv_column: None,
            extinction_curve: "f99".into(),
            vega_bands: vec![],
            parameters: BTreeMap::new(),
        }
    }
}

impl CatalogConfig {
    /// The wavelength grid: as configured, "auto" by default.
    pub fn grid(&self) -> &str {
        self.grid.as_deref().unwrap_or("auto")
    }
}

/// Whether band columns are magnitudes or fluxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// AB magnitudes.
    Mag,
    /// Flux densities in [`CatalogConfig::flux_unit`].
    Flux,
}

/// The whole configuration file: `[catalog]` and the fit settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitFile {
    /// How to read the catalogue.
    pub catalog: CatalogConfig,
    /// How to fit each galaxy.
    pub fit: FitConfig,
}

impl FitFile {
    /// Parses the TOML text: `[catalog]` plus the sections of [`FitConfig`].
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let mut table: toml::Table = toml::from_str(text).map_err(CatalogError::Toml)?;
        let catalog = match table.remove("catalog") {
            Some(v) => v.try_into().map_err(CatalogError::CatalogSection)?,
            None => CatalogConfig::default(),
        };
        let fit: FitConfig = toml::Value::Table(table)
            .try_into()
            .map_err(CatalogError::FitSections)?;
        Ok(Self { catalog, fit })
    }

    /// A configuration file with every key at its default, the template that
    /// `galsed fit --write-config` writes: edit what matters and delete the rest.
    pub fn template() -> Result<String, toml::ser::Error> {
        let mut table = toml::Table::try_from(FitConfig::default())?;
        table.insert(
            "catalog".into(),
            toml::Value::try_from(CatalogConfig::default())?,
        );
        Ok(format!(
            "# galsed fit configuration: every key at its default value (docs/fitting.md).\n\
             # Use it with `galsed fit --config FILE`; sections and keys left out keep their defaults.\n\n{}",
            toml::to_string_pretty(&table)?
        ))
    }

    /// Reads and parses a configuration file.
    pub fn read(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| CatalogError::In {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }
}

/// Jansky per unit of a flux column.
pub fn flux_unit_jy(unit: &str) -> Result<f64, CatalogError> {
    Ok(match unit {
        "Jy" | "jy" => 1.0,
        "mJy" | "mjy" => 1e-3,
        "uJy" | "ujy" | "µJy" => 1e-6,
        "nJy" | "njy" => 1e-9,
        other => return Err(CatalogError::FluxUnit(other.to_owned())),
    })
}

/// The cells of one band in one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandCells {
    /// Magnitude or flux (in the catalogue's unit); NaN when not observed.
    pub value: f64,
    /// Its 1σ error.
    pub error: f64,
    /// Upper limit (magnitude or flux), used when the value is missing; `None` without a limit
    /// column.
    pub limit: Option<f64>,
}

/// Why one row gives no observations.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// An observed band whose error is not finite and > 0 (catalogue rules only).
    #[error("band {band}: error {error} (errors must be finite and > 0)")]
    BadError {
        /// The band.
        band: String,
        /// The error given.
        error: f64,
    },
    /// Every band is missing.
    #[error("no usable bands (every band is missing)")]
    NoBands,
    /// The measurements do not make valid observations.
    #[error(transparent)]
    Observations(#[from] crate::likelihood::LikelihoodError),
}

/// Turns the cells of one row into observations.
///
/// Catalogue rules ([`RowReader::new`]): a band whose value is not finite is missing; it becomes
/// an upper limit when its limit is finite, with the flux error as noise when the quantity is
/// flux and the error is finite and > 0, else limit / `limit_nsigma`; an observed band must have
/// an error that is finite and > 0 ([`RowError::BadError`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RowReader {
    quantity: Quantity,
    unit_jy: f64,
    limit_nsigma: f64,
    only_nan_missing: bool,
    check_errors: bool,
}

impl RowReader {
    /// The catalogue's rules for the quantity, flux unit and limit significance of `cfg`.
    pub fn new(cfg: &CatalogConfig) -> Result<Self, CatalogError> {
        Ok(Self {
            quantity: cfg.quantity,
            unit_jy: flux_unit_jy(&cfg.flux_unit)?,
            limit_nsigma: cfg.limit_nsigma,
            only_nan_missing: false,
            check_errors: true,
        })
    }

    /// Python's `Model.fit` rules for magnitudes: only NaN marks a band as not observed (an
    /// infinite magnitude is an error), and errors are checked by [`Observations::new`] (its
    /// message) rather than by the catalogue's check.
    pub fn model_fit_magnitudes() -> Self {
        Self {
            quantity: Quantity::Mag,
            unit_jy: 1.0,
            limit_nsigma: CatalogConfig::default().limit_nsigma,
            only_nan_missing: true,
            check_errors: false,
        }
    }

    /// The observations of one row: the bands observed (or limited) and their measurements.
    pub fn observations(
        &self,
        filters: &[Filter],
        cells: impl IntoIterator<Item = BandCells>,
    ) -> Result<(Vec<Filter>, Observations), RowError> {
        let mut used = vec![];
        let mut bands = vec![];
        for (f, c) in filters.iter().zip(cells) {
            let (v, e) = (c.value, c.error);
            let observed = if self.only_nan_missing {
                !v.is_nan()
            } else {
                v.is_finite()
            };
            let m = if observed {
                if self.check_errors && !(e.is_finite() && e > 0.0) {
                    return Err(RowError::BadError {
                        band: f.name.clone(),
                        error: e,
                    });
                }
                match self.quantity {
                    Quantity::Mag => Measurement::Magnitude { mag: v, sigma: e },
                    Quantity::Flux => Measurement::Flux {
                        flux: v * self.unit_jy,
                        sigma: e * self.unit_jy,
                    },
                }
            } else if let Some(l) = c.limit.filter(|l| l.is_finite()) {
                let lim_jy = match self.quantity {
                    Quantity::Mag => ab_to_jy(l),
                    Quantity::Flux => l * self.unit_jy,
                };
                let sigma = match (self.quantity, e.is_finite() && e > 0.0) {
                    (Quantity::Flux, true) => e * self.unit_jy,
                    _ => lim_jy / self.limit_nsigma,
                };
                Measurement::UpperLimit {
                    limit: lim_jy,
                    sigma,
                }
            } else {
                continue; // not observed
            };
            used.push(f.clone());
            bands.push((f.name.clone(), m));
        }
        if bands.is_empty() {
            return Err(RowError::NoBands);
        }
        Ok((used, Observations::new(bands)?))
    }
}

/// One galaxy of the catalogue, ready to fit or with the reason it cannot be.
#[derive(Debug, Clone)]
pub struct Galaxy {
    /// Row in the catalogue (0-based).
    pub row: usize,
    /// Identifier (the id column, or the row number).
    pub id: String,
    /// Redshift.
    pub redshift: f64,
    /// Distance modulus (NaN when it cannot be had).
    pub distmod: f64,
    /// The bands observed and the observations, or why the row cannot be fitted (the status
    /// written in the results).
    pub input: Result<(Vec<Filter>, Observations), String>,
    /// Parameters known from the catalogue (`[catalog.parameters]`).
    pub known: Knowledge,
}

/// A band's columns and conventions.
struct BandColumns {
    value: Vec<f64>,
    error: Vec<f64>,
    limit: Option<Vec<f64>>,
    /// Quality flags (non-zero: flagged), when the column exists.
    flag: Option<Vec<f64>>,
    /// Fractional calibration floor added to the catalogue errors (0: none).
    floor: f64,
    /// AB − Vega offset added to magnitudes and magnitude limits (0 for AB bands).
    vega: f64,
}

/// The catalogue conventions applied to one band of one row, before [`RowReader`]: Vega → AB,
/// calibration floor, quality flag, Milky Way de-reddening by `a_band` magnitudes.
fn conventional_cells(
    c: BandCells,
    band: &BandColumns,
    row: usize,
    cfg: &CatalogConfig,
    a_band: f64,
) -> Option<BandCells> {
    use crate::conventions::MAG_PER_LN_FLUX;
    let BandCells {
        mut value,
        mut error,
        mut limit,
    } = c;
    let mag = cfg.quantity == Quantity::Mag;
    if mag {
        value += band.vega;
        limit = limit.map(|l| l + band.vega);
    }
    if band.floor > 0.0 && value.is_finite() {
        let extra = if mag {
            MAG_PER_LN_FLUX * band.floor
        } else {
            band.floor * value.abs()
        };
        error = error.hypot(extra);
    }
    let flagged = band
        .flag
        .as_ref()
        .is_some_and(|f| !f[row].is_nan() && f[row] != 0.0);
    if flagged && value.is_finite() {
        match cfg.flag_action {
            FlagAction::Skip => return None,
            FlagAction::Limit if error.is_finite() && error > 0.0 => {
                let n = cfg.limit_nsigma;
                limit = Some(if mag {
                    // F + n σ_F with σ_F = F σ_m / 1.0857.
                    value - 2.5 * (1.0 + n * error / MAG_PER_LN_FLUX).log10()
                } else {
                    value + n * error
                });
                value = f64::NAN;
            }
            // No usable error: the row reader reports it.
            FlagAction::Limit => {}
        }
    } else if flagged && cfg.flag_action == FlagAction::Skip {
        return None;
    }
    if a_band != 0.0 {
        if mag {
            value -= a_band;
            limit = limit.map(|l| l - a_band);
        } else {
            let k = 10f64.powf(0.4 * a_band);
            value *= k;
            error *= k;
            limit = limit.map(|l| l * k);
        }
    }
    Some(BandCells {
        value,
        error,
        limit,
    })
}

/// Reads the catalogue into galaxies; returns the bands (as configured or found) and one
/// [`Galaxy`] per row. Problems of single rows are kept per row.
pub fn galaxies(
    table: &Table,
    cfg: &CatalogConfig,
) -> Result<(Vec<String>, Vec<Galaxy>), CatalogError> {
    let n = table.n_rows();
    if n == 0 {
        return Err(CatalogError::NoRows);
    }
    let band_specs: Vec<String> = match &cfg.bands {
        Some(b) => b.clone(),
        None => {
            let names = table.names();
            builtin_names()
                .into_iter()
                .filter(|b| names.contains(b))
                .map(String::from)
                .collect()
        }
    };
    if cfg.bands.is_none() {
        misspelt_bands(table, cfg, &band_specs)?;
    }
    if band_specs.is_empty() {
        return Err(CatalogError::NoBandColumns(table.names().join(", ")));
    }
    let mut filters = vec![];
    for spec in &band_specs {
        filters.push(
            Filter::resolve(spec).map_err(|source| CatalogError::UnknownBand {
                spec: spec.clone(),
                source,
            })?,
        );
    }
    let reader = RowReader::new(cfg)?;
    let ids = match table.get(&cfg.id_column) {
        Some(c) => c.to_strings(),
        None => (0..n).map(|i| i.to_string()).collect(),
    };
    let redshift = table
        .f64_column(&cfg.redshift_column)
        .map_err(column_err("[catalog] redshift_column"))?;
    let distmod = match table.get(&cfg.distmod_column) {
        Some(c) => Some(c.as_f64().map_err(table_err)?),
        None => None,
    };
    for (name, &f) in &cfg.calibration_floor {
        if !(f.is_finite() && f >= 0.0) {
            return Err(CatalogError::CalibrationFloor {
                band: name.clone(),
                floor: f,
            });
        }
    }
    let band_names: Vec<String> = filters.iter().map(|f| f.name.clone()).collect();
    for (section, keys) in [
        ("sigma", cfg.sigma.keys().collect::<Vec<_>>()),
        ("calibration_floor", cfg.calibration_floor.keys().collect()),
    ] {
        crate::likelihood::check_band_keys(keys, &band_names)
            .map_err(|detail| CatalogError::BandKey { section, detail })?;
    }
    for b in &cfg.vega_bands {
        if cfg.quantity != Quantity::Mag {
            return Err(CatalogError::Vega(format!(
                "{b}: Vega applies to magnitudes, but quantity = \"flux\""
            )));
        }
        if crate::conventions::vega_to_ab(b).is_none() {
            let known: Vec<&str> = crate::conventions::VEGA_TO_AB
                .iter()
                .map(|(n, _, _)| *n)
                .collect();
            return Err(CatalogError::Vega(format!(
                "{b}: no known Vega-to-AB offset (known: {})",
                known.join(", ")
            )));
        }
        if !filters.iter().any(|f| &f.name == b) {
            return Err(CatalogError::Vega(format!("{b} is not a band of the fit")));
        }
    }
    let curve: galsed_core::extinction::Curve =
        cfg.extinction_curve.parse().map_err(CatalogError::Curve)?;
    let ebv = match &cfg.ebv_column {
        Some(name) => Some(
            table
                .f64_column(name)
                .map_err(column_err(format!("[catalog] ebv_column {name:?}")))?
                .into_owned(),
        ),
        None => None,
    };
    let mut columns: Vec<BandColumns> = vec![];
    for f in &filters {
        let value = table
            .f64_column(&f.name)
            .map_err(column_err(format!("band {}", f.name)))?
            .into_owned();
        let err_name = format!("{}{}", f.name, cfg.error_suffix);
        let replaced = cfg.sigma.get(&f.name);
        let error = match (table.get(&err_name), replaced) {
            (_, Some(&s)) => vec![s; n],
            (Some(c), None) => c.as_f64().map_err(table_err)?.into_owned(),
            (None, None) => {
                return Err(CatalogError::NoErrors {
                    band: f.name.clone(),
                    column: err_name,
                });
            }
        };
        let limit = match table.get(&format!("{}{}", f.name, cfg.limit_suffix)) {
            Some(c) => Some(c.as_f64().map_err(table_err)?.into_owned()),
            None => None,
        };
        let flag_name = format!("{}{}", f.name, cfg.flag_suffix);
        let flag = match table
            .get(&flag_name)
            .filter(|_| !cfg.flag_suffix.is_empty())
        {
            Some(c) => Some(
                c.as_f64()
                    .map_err(column_err(format!("flag column {flag_name:?}")))?
                    .into_owned(),
            ),
            None => None,
        };
        // [catalog.sigma] errors are final: no floor on top.
        let floor = match (cfg.calibration_floor.get(&f.name), cfg.calibration) {
            _ if replaced.is_some() => 0.0,
            (Some(&x), _) => x,
            (None, Calibration::Default) => {
                crate::conventions::calibration_floor(&f.name).unwrap_or(0.0)
            }
            (None, Calibration::None) => 0.0,
        };
        let vega = if cfg.vega_bands.contains(&f.name) {
            crate::conventions::vega_to_ab(&f.name).unwrap_or(0.0)
        } else {
            0.0
        };
        columns.push(BandColumns {
            value,
            error,
            limit,
            flag,
            floor,
            vega,
        });
    }
    for (name, &s) in &cfg.sigma {
        if !(s.is_finite() && s > 0.0) {
            return Err(CatalogError::Sigma {
                band: name.clone(),
                sigma: s,
            });
        }
    }
    let mut knowledge = knowledge::per_galaxy(&cfg.parameters, n, |c| {
        table.f64_column(c).map(|v| v.into_owned())
    })
    .map_err(|e| CatalogError::Knowledge(e.to_string()))?;
    let cosmology = Cosmology::planck18();
    let mut out = Vec::with_capacity(n);
    for row in 0..n {
        let known = std::mem::replace(&mut knowledge[row], Ok(Knowledge::new()));
        let z = redshift[row];
        let mu = match &distmod {
            Some(d) if d[row].is_finite() => Ok(d[row]),
            _ if z.is_finite() && z > 0.0 => {
                cosmology.distance_modulus(z).map_err(|e| e.to_string())
            }
            _ => Err(format!("redshift {z}: need z > 0 or a distance modulus")),
        };
        let input = mu.clone().and_then(|_| {
            if !(z.is_finite() && z >= 0.0) {
                return Err(format!("redshift {z} is not a finite value ≥ 0"));
            }
            let mut a_bands = vec![0.0; filters.len()];
            if let (Some(ebv), Some(name)) = (&ebv, &cfg.ebv_column) {
                for (a, f) in a_bands.iter_mut().zip(&filters) {
                    *a = band_extinction(f, curve, MILKY_WAY_RV, ebv[row])
                        .map_err(|e| format!("[catalog] ebv_column {name:?}: {e}"))?;
                }
            }
            let mut used = vec![];
            let mut cells = vec![];
            for ((f, band), &a) in filters.iter().zip(&columns).zip(&a_bands) {
                let c = BandCells {
                    value: band.value[row],
                    error: band.error[row],
                    limit: band.limit.as_ref().map(|l| l[row]),
                };
                if let Some(c) = conventional_cells(c, band, row, cfg, a) {
                    used.push(f.clone());
                    cells.push(c);
                }
            }
            if used.is_empty() {
                return Err(RowError::NoBands.to_string());
            }
            reader.observations(&used, cells).map_err(|e| e.to_string())
        });
        let (input, known) = match known {
            Ok(k) => (input, k),
            Err(e) => (input.and(Err(e)), Knowledge::new()),
        };
        out.push(Galaxy {
            row,
            id: ids[row].clone(),
            redshift: z,
            distmod: mu.unwrap_or(f64::NAN),
            input,
            known,
        });
    }
    Ok((band_specs, out))
}

/// Refuses columns named almost like a built-in filter (`sdss_r` for `sdss_r0`, `GALEX_FUV`), with
/// or without the error or limit suffix: bands are found by their exact names, so such a column
/// would silently be left out of the fit.
fn misspelt_bands(
    table: &Table,
    cfg: &CatalogConfig,
    bands: &[String],
) -> Result<(), CatalogError> {
    let mut found = vec![];
    for name in table.names() {
        let other = [&cfg.id_column, &cfg.redshift_column, &cfg.distmod_column];
        if other.iter().any(|c| c.as_str() == name)
            || cfg.ebv_column.as_deref() == Some(name)
            || name.starts_with("truth_")
        {
            continue;
        }
        let base = [&cfg.error_suffix, &cfg.limit_suffix, &cfg.flag_suffix]
            .iter()
            .filter(|s| !s.is_empty())
            .find_map(|s| name.strip_suffix(s.as_str()))
            .unwrap_or(name);
        if bands.iter().any(|b| b == base) {
            continue;
        }
        let suffix = &name[base.len()..];
        let close: Vec<String> = misspelt_builtin(base)
            .iter()
            .map(|b| format!("`{b}{suffix}`"))
            .collect();
        if !close.is_empty() {
            found.push(format!(
                "column `{name}` (did you mean {}?)",
                close.join(" or ")
            ));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(CatalogError::MisspeltBands(found.join(", ")))
    }
}

/// True parameter values of mock galaxies, from columns `truth_<parameter>` (all or none):
/// one column per parameter, `None` without truth columns.
pub fn truth_columns(
    table: &Table,
    names: &[String],
) -> Result<Option<Vec<Vec<f64>>>, CatalogError> {
    let cols: Vec<Option<&Column>> = names
        .iter()
        .map(|n| table.get(&format!("truth_{n}")))
        .collect();
    if cols.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut out = vec![];
    for (name, c) in names.iter().zip(cols) {
        let c = c.ok_or_else(|| CatalogError::Truth(name.clone()))?;
        out.push(c.as_f64().map_err(table_err)?.into_owned());
    }
    Ok(Some(out))
}

/// One finished galaxy: a row of the results, as stored in the resume file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Row in the catalogue.
    pub row: usize,
    /// Identifier.
    pub id: String,
    /// "ok", or why the galaxy could not be fitted.
    pub status: String,
    /// Result columns. Non-finite values are stored as null (JSON has no NaN) and read back as
    /// NaN.
    pub values: BTreeMap<String, Option<f64>>,
}

/// A fit result flattened into a record: redshift, distance modulus, fit quality, best-fit
/// parameters and derived properties, model magnitudes in `bands` (NaN for bands not used),
/// percentiles when sampled. `fit` is the result and the names of the bands it used, or why the
/// galaxy could not be fitted.
pub fn record(
    g: &Galaxy,
    bands: &[String],
    fit: Result<(FitResult, Vec<String>), String>,
) -> Record {
    let mut values = BTreeMap::new();
    values.insert("redshift".into(), g.redshift);
    values.insert("distmod".into(), g.distmod);
    let status = match fit {
        Err(e) => e,
        Ok((r, used)) => {
            let n_free = r.names.len();
            values.insert("n_bands".into(), used.len() as f64);
            values.insert("chi2".into(), r.chi2);
            let dof = r.n_detections as f64 - n_free as f64;
            values.insert(
                "chi2_reduced".into(),
                if dof > 0.0 { r.chi2 / dof } else { f64::NAN },
            );
            values.insert("neg_log_post".into(), r.best_value);
            values.insert(
                "optimizer_converged".into(),
                f64::from(u8::from(r.optimizer.converged)),
            );
            values.insert("optimizer_spread".into(), r.optimizer.spread);
            values.insert("n_evaluations".into(), r.optimizer.n_evaluations as f64);
            for (name, v) in r.names.iter().zip(&r.best) {
                values.insert(format!("par_{name}"), *v);
            }
            for (name, v) in r.derived_names.iter().zip(&r.derived_best) {
                values.insert(name.clone(), *v);
            }
            for b in bands {
                let flux = used.iter().position(|u| u == b).map(|i| r.model_flux[i]);
                values.insert(format!("model_{b}"), flux.map(ab_mag).unwrap_or(f64::NAN));
            }
            if let Some(p) = &r.posterior {
                for (i, name) in r.names.iter().enumerate() {
                    values.insert(format!("par_{name}_p16"), p.summary.p16[i]);
                    values.insert(format!("par_{name}_p50"), p.summary.median[i]);
                    values.insert(format!("par_{name}_p84"), p.summary.p84[i]);
                }
                values.insert("sampler_converged".into(), f64::from(u8::from(p.converged)));
                values.insert("sampler_acceptance".into(), p.acceptance);
                values.insert("sampler_evaluations".into(), p.n_evaluations as f64);
                values.insert("tau_max".into(), p.tau_max.unwrap_or(f64::NAN));
                values.insert("log_z".into(), p.log_z.map_or(f64::NAN, |z| z.0));
                values.insert("log_z_err".into(), p.log_z.map_or(f64::NAN, |z| z.1));
                values.insert("rhat_max".into(), p.rhat_ess.map_or(f64::NAN, |r| r.0));
                values.insert("ess_min".into(), p.rhat_ess.map_or(f64::NAN, |r| r.1));
            }
            if let Some(s) = &r.derived_summary {
                for (i, name) in r.derived_names.iter().enumerate() {
                    values.insert(format!("{name}_p16"), s.p16[i]);
                    values.insert(format!("{name}_p50"), s.median[i]);
                    values.insert(format!("{name}_p84"), s.p84[i]);
                }
            }
            "ok".into()
        }
    };
    let values = values
        .into_iter()
        .map(|(k, v)| (k, Some(v).filter(|v| v.is_finite())))
        .collect();
    Record {
        row: g.row,
        id: g.id.clone(),
        status,
        values,
    }
}

/// Adds `model_<band>_vega` (the best-fit magnitude in Vega: `model_<band>` − the AB − Vega
/// offset) to each record for the bands of `[catalog] vega_bands`.
pub fn add_vega_models(records: &mut [Record], cfg: &CatalogConfig) {
    for r in records {
        for b in &cfg.vega_bands {
            let Some(offset) = crate::conventions::vega_to_ab(b) else {
                continue;
            };
            if let Some(&ab) = r.values.get(&format!("model_{b}")) {
                r.values
                    .insert(format!("model_{b}_vega"), ab.map(|m| m - offset));
            }
        }
    }
}

/// An error and its causes on one line ("a: b: c"), without the causes a message already quotes.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// What every galaxy of a catalogue is fitted with.
pub struct CatalogFitter<'a> {
    /// The emulator (on any device).
    pub model: &'a Starduster,
    /// The parametrisation.
    pub param: &'a Parametrization,
    /// The SSP library the parametrisation was built with (galaxies with parameters known from
    /// the catalogue get their own).
    pub ssp: &'a SspLibrary,
    /// Derived properties of the fits.
    pub analyzer: &'a Analyzer<'a>,
    /// Fit settings.
    pub config: &'a FitConfig,
    /// Bands of the catalogue: the results have a model magnitude for each.
    pub bands: &'a [String],
}

impl CatalogFitter<'_> {
    /// Fits one galaxy into its record. `after` is called with each successful fit (to plot
    /// it); its error, like any other, becomes the galaxy's status.
    pub fn fit(
        &self,
        g: &Galaxy,
        after: impl FnOnce(&Posterior<'_>, &FitResult, &[Filter]) -> Result<(), String>,
    ) -> Record {
        let fitted = g.input.clone().and_then(|(filters, obs)| {
            let observer = Observer::new(g.redshift, g.distmod).map_err(|e| chain(&e))?;
            let own;
            let (param, config) = if g.known.is_empty() {
                (self.param.clone(), self.config)
            } else {
                let (pc, prior) =
                    knowledge::apply(&g.known, &self.config.parametrization, &self.config.prior)?;
                let param = Parametrization::from_config(&pc, self.ssp)
                    .map_err(|e| format!("[catalog.parameters]: {}", chain(&e)))?;
                own = FitConfig {
                    parametrization: pc,
                    prior,
                    ..self.config.clone()
                };
                (param, &own)
            };
            let post = config
                .posterior(self.model, param, &filters, observer, obs)
                .map_err(|e| chain(&e))?;
            let r = fit_galaxy(&post, self.analyzer, config, &mut |_, _, _| {})
                .map_err(|e| chain(&e))?;
            after(&post, &r, &filters)?;
            Ok((r, filters.iter().map(|f| f.name.clone()).collect()))
        });
        record(g, self.bands, fitted)
    }
}

/// The posterior draws of a fit, one row per draw and one `par_<name>` column per free
/// parameter (the units of the parametrisation, as `par_<name>` of the results table); `None`
/// when no sampler ran.
pub fn posterior_samples_table(r: &FitResult) -> Option<Result<Table, CatalogError>> {
    let p = r.posterior.as_ref()?;
    let columns = r
        .names
        .iter()
        .enumerate()
        .map(|(j, name)| Column::f64(format!("par_{name}"), p.samples.column(j).to_vec()))
        .collect();
    Some(Table::new(columns).map_err(table_err))
}

/// The flat results table: `row`, `id`, `status`, then one float column per value (redshift,
/// distance modulus and fit quality first), rows in catalogue order.
pub fn results_table(mut records: Vec<Record>) -> Result<Table, CatalogError> {
    records.sort_by_key(|r| r.row);
    let mut keys: Vec<String> = vec![];
    let mut seen = HashSet::new();
    for r in &records {
        for k in r.values.keys() {
            if seen.insert(k.clone()) {
                keys.push(k.clone());
            }
        }
    }
    let front = [
        "redshift",
        "distmod",
        "n_bands",
        "chi2",
        "chi2_reduced",
        "neg_log_post",
    ];
    keys.sort_by_key(|k| front.iter().position(|f| f == k).unwrap_or(front.len()));
    let mut cols = vec![
        Column::i64("row", records.iter().map(|r| r.row as i64).collect()),
        Column::str("id", records.iter().map(|r| r.id.clone()).collect()),
        Column::str("status", records.iter().map(|r| r.status.clone()).collect()),
    ];
    for k in keys {
        let col = Column::f64(
            k.clone(),
            records
                .iter()
                .map(|r| r.values.get(&k).copied().flatten().unwrap_or(f64::NAN))
                .collect(),
        );
        // Units in the file (FITS TUNIT, Parquet field metadata, ECSV).
        cols.push(match crate::units::result_unit(&k) {
            Some(u) => col.with_unit(u),
            None => col,
        });
    }
    Table::new(cols).map_err(table_err)
}

/// The resume file of a results table: `<output>.partial.jsonl`.
pub fn resume_path(output: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial.jsonl", output.display()))
}

/// Records already in a resume file, none when it does not exist (a truncated last line from a
/// kill is ignored).
pub fn read_records(path: &Path) -> Result<Vec<Record>, CatalogError> {
    let Ok(f) = File::open(path) else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|source| CatalogError::Resume {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
        if let Ok(r) = serde_json::from_str::<Record>(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

/// The galaxies without a record yet.
pub fn pending<'g>(galaxies: &'g [Galaxy], done: &[Record]) -> Vec<&'g Galaxy> {
    let done_rows: HashSet<usize> = done.iter().map(|r| r.row).collect();
    galaxies
        .iter()
        .filter(|g| !done_rows.contains(&g.row))
        .collect()
}

/// The records of a finished run: those of the resume file for rows of a catalogue of
/// `n_galaxies`, the first of each row.
pub fn finished_records(path: &Path, n_galaxies: usize) -> Result<Vec<Record>, CatalogError> {
    let mut records = read_records(path)?;
    records.retain(|r| r.row < n_galaxies);
    let mut seen = HashSet::new();
    records.retain(|r| seen.insert(r.row));
    Ok(records)
}

/// A resume file open for appending, shared by the workers.
pub struct ResumeLog(Mutex<File>);

impl ResumeLog {
    /// Opens (creates) the resume file for appending.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| CatalogError::Resume {
                what: "opening",
                path: path.to_owned(),
                source,
            })?;
        Ok(Self(Mutex::new(f)))
    }

    /// Appends one record as a JSON line and flushes it.
    pub fn append(&self, rec: &Record) -> std::io::Result<()> {
        let line = serde_json::to_string(rec).map_err(std::io::Error::other)?;
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(f, "{line}").and_then(|()| f.flush())
    }
}

/// Safe file name for a galaxy's plots: characters other than ASCII letters, digits, `-`, `_`
/// and `.` become `_`.
pub fn safe_file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |a − b| ≤ 1e-12 |b|: unit conversions may differ from the hand value in the last bit.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs()
    }

    fn table(cols: Vec<Column>) -> Table {
        Table::new(cols).unwrap()
    }

    fn measurements(g: &Galaxy) -> Vec<(String, Measurement)> {
        let (_, obs) = g.input.as_ref().unwrap();
        obs.bands()
            .iter()
            .cloned()
            .zip(obs.measurements().iter().copied())
            .collect()
    }

    #[test]
    fn magnitudes_limits_and_missing_bands() {
        let nan = f64::NAN;
        let t = table(vec![
            Column::str("id", vec!["a".into(), "b".into()]),
            Column::f64("redshift", vec![0.02, 0.03]),
            Column::f64("distmod", vec![nan, 34.9]),
            Column::f64("sdss_r0", vec![15.0, 16.0]),
            Column::f64("sdss_r0_err", vec![0.1, 0.2]),
            Column::f64("wise_w3", vec![13.0, nan]),
            Column::f64("wise_w3_err", vec![0.15, nan]),
            Column::f64("wise_w3_limit", vec![nan, 12.0]),
            Column::f64("galex_FUV", vec![17.5, nan]),
            Column::f64("galex_FUV_err", vec![0.1, nan]),
        ]);
        let (bands, gs) = galaxies(&t, &CatalogConfig::default()).unwrap();
        // Bands found by name, in the order of the built-in filter list.
        let mut sorted = bands.clone();
        sorted.sort();
        assert_eq!(sorted, ["galex_FUV", "sdss_r0", "wise_w3"]);
        assert_eq!(gs.len(), 2);
        assert_eq!((gs[0].id.as_str(), gs[1].id.as_str()), ("a", "b"));

        let a: BTreeMap<_, _> = measurements(&gs[0]).into_iter().collect();
        assert_eq!(
            a["sdss_r0"],
            Measurement::Magnitude {
                mag: 15.0,
                sigma: 0.1
            }
        );
        assert_eq!(
            a["wise_w3"],
            Measurement::Magnitude {
                mag: 13.0,
                sigma: 0.15
            }
        );
        assert_eq!(
            a["galex_FUV"],
            Measurement::Magnitude {
                mag: 17.5,
                sigma: 0.1
            }
        );
        // No distance modulus: Planck18's at the redshift.
        assert!(gs[0].distmod > 34.0 && gs[0].distmod < 36.0);

        // FUV missing without a limit: dropped; W3 missing with a 12 mag limit: an upper limit of
        // 10^(−0.4 (12 − 8.9)) Jy with the noise limit / 3.
        let b = measurements(&gs[1]);
        assert_eq!(b.len(), 2);
        let (used, _) = gs[1].input.as_ref().unwrap();
        assert!(used.iter().all(|f| f.name != "galex_FUV"));
        let b: BTreeMap<_, _> = b.into_iter().collect();
        assert_eq!(
            b["sdss_r0"],
            Measurement::Magnitude {
                mag: 16.0,
                sigma: 0.2
            }
        );
        let Measurement::UpperLimit { limit, sigma } = b["wise_w3"] else {
            panic!("{:?}", b["wise_w3"]);
        };
        assert!(close(limit, 0.057543993733715694), "{limit}");
        assert!(close(sigma, 0.019181331244571897), "{sigma}");
        assert_eq!(gs[1].distmod, 34.9);
    }

    #[test]
    fn fluxes_in_mjy() {
        let nan = f64::NAN;
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("sdss_r0", vec![2.5]),
            Column::f64("sdss_r0_err", vec![0.25]),
            Column::f64("twomass_Ks", vec![nan]),
            Column::f64("twomass_Ks_err", vec![0.2]),
            Column::f64("twomass_Ks_limit", vec![0.6]),
            Column::f64("wise_w3", vec![nan]),
            Column::f64("wise_w3_err", vec![nan]),
            Column::f64("wise_w3_limit", vec![0.6]),
        ]);
        let cfg = CatalogConfig {
            quantity: Quantity::Flux,
            flux_unit: "mJy".into(),
            limit_nsigma: 2.5,
            ..Default::default()
        };
        let (_, gs) = galaxies(&t, &cfg).unwrap();
        assert_eq!(gs[0].id, "0", "row numbers without an id column");
        let m: BTreeMap<_, _> = measurements(&gs[0]).into_iter().collect();
        let Measurement::Flux { flux, sigma } = m["sdss_r0"] else {
            panic!("{:?}", m["sdss_r0"]);
        };
        assert!(
            close(flux, 2.5e-3) && close(sigma, 2.5e-4),
            "{flux} {sigma}"
        );
        // A flux limit with an error: the error is the noise.
        let Measurement::UpperLimit { limit, sigma } = m["twomass_Ks"] else {
            panic!("{:?}", m["twomass_Ks"]);
        };
        assert!(close(limit, 6e-4) && close(sigma, 2e-4), "{limit} {sigma}");
        // Without an error: limit / limit_nsigma.
        let Measurement::UpperLimit { limit, sigma } = m["wise_w3"] else {
            panic!("{:?}", m["wise_w3"]);
        };
        assert!(
            close(limit, 6e-4) && close(sigma, 2.4e-4),
            "{limit} {sigma}"
        );
    }

    #[test]
    fn bad_rows_keep_their_reason() {
        let nan = f64::NAN;
        let t = table(vec![
            Column::f64("redshift", vec![0.02, 0.02, nan, 0.02, 0.0]),
            Column::f64("sdss_r0", vec![15.0, 15.0, 15.0, nan, 15.0]),
            Column::f64("sdss_r0_err", vec![-0.1, 0.0, 0.1, 0.1, 0.1]),
        ]);
        let (_, gs) = galaxies(&t, &CatalogConfig::default()).unwrap();
        let err = |i: usize| gs[i].input.as_ref().unwrap_err().clone();
        assert_eq!(
            err(0),
            "band sdss_r0: error -0.1 (errors must be finite and > 0)"
        );
        assert_eq!(
            err(1),
            "band sdss_r0: error 0 (errors must be finite and > 0)"
        );
        assert!(err(2).contains("redshift NaN"), "{}", err(2));
        assert!(gs[2].distmod.is_nan());
        assert_eq!(err(3), "no usable bands (every band is missing)");
        assert!(
            err(4).contains("need z > 0 or a distance modulus"),
            "{}",
            err(4)
        );
    }

    fn one_band(g: &Galaxy, band: &str) -> Option<Measurement> {
        measurements(g)
            .into_iter()
            .find(|(b, _)| b == band)
            .map(|(_, m)| m)
    }

    #[test]
    fn flagged_bands_are_skipped_or_limits() {
        let nan = f64::NAN;
        let t = table(vec![
            Column::f64("redshift", vec![0.02, 0.02, 0.02]),
            Column::f64("sdss_r0", vec![15.0, 15.0, 15.0]),
            Column::f64("sdss_r0_err", vec![0.1, 0.1, 0.1]),
            Column::f64("sdss_r0_flag", vec![0.0, 4.0, nan]),
            Column::f64("sdss_g0", vec![15.5, 15.5, 15.5]),
            Column::f64("sdss_g0_err", vec![0.1, 0.1, 0.1]),
        ]);
        let (_, gs) = galaxies(&t, &CatalogConfig::default()).unwrap();
        let good = Measurement::Magnitude {
            mag: 15.0,
            sigma: 0.1,
        };
        // 0 and an empty (NaN) flag are good; 4 is flagged and skipped.
        assert_eq!(one_band(&gs[0], "sdss_r0"), Some(good));
        assert_eq!(one_band(&gs[1], "sdss_r0"), None);
        assert_eq!(one_band(&gs[2], "sdss_r0"), Some(good));
        assert!(one_band(&gs[1], "sdss_g0").is_some());
        // "limit": F + 3σ_F with σ_F = F · 0.1 · ln10 / 2.5; noise limit / 3.
        let cfg = CatalogConfig {
            flag_action: FlagAction::Limit,
            ..Default::default()
        };
        let (_, gs) = galaxies(&t, &cfg).unwrap();
        let Some(Measurement::UpperLimit { limit, sigma }) = one_band(&gs[1], "sdss_r0") else {
            panic!("{:?}", measurements(&gs[1]));
        };
        let f = 10f64.powf(-0.4 * (15.0 - 8.9));
        let want = f * (1.0 + 3.0 * 0.1 * 10f64.ln() / 2.5);
        assert!(
            close(limit, want) && close(sigma, want / 3.0),
            "{limit} {sigma}"
        );
        // Fluxes: value + 3 × error, the error as noise.
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("sdss_r0", vec![2.5]),
            Column::f64("sdss_r0_err", vec![0.25]),
            Column::i64("sdss_r0_flag", vec![1]),
        ]);
        let cfg = CatalogConfig {
            quantity: Quantity::Flux,
            flux_unit: "mJy".into(),
            flag_action: FlagAction::Limit,
            ..Default::default()
        };
        let (_, gs) = galaxies(&t, &cfg).unwrap();
        let Some(Measurement::UpperLimit { limit, sigma }) = one_band(&gs[0], "sdss_r0") else {
            panic!("{:?}", measurements(&gs[0]));
        };
        assert!(
            close(limit, 3.25e-3) && close(sigma, 2.5e-4),
            "{limit} {sigma}"
        );
        // Only a flagged band: nothing to fit, with the usual reason.
        let (_, gs) = galaxies(
            &t,
            &CatalogConfig {
                flag_action: FlagAction::Skip,
                ..cfg.clone()
            },
        )
        .unwrap();
        assert_eq!(
            gs[0].input.as_ref().unwrap_err(),
            "no usable bands (every band is missing)"
        );
        // A flag column that is not numeric is an error naming it.
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("sdss_r0", vec![15.0]),
            Column::f64("sdss_r0_err", vec![0.1]),
            Column::str("sdss_r0_flag", vec!["bad".into()]),
        ]);
        let e = galaxies(&t, &CatalogConfig::default()).unwrap_err();
        assert!(e.to_string().contains("sdss_r0_flag"), "{e}");
        let ok =
            FitFile::parse("[catalog]\nflag_action = \"limit\"\nflag_suffix = \"_q\"\n").unwrap();
        assert_eq!(ok.catalog.flag_action, FlagAction::Limit);
        assert!(FitFile::parse("[catalog]\nflag_action = \"drop\"\n").is_err());
    }

    #[test]
    fn calibration_floors_in_quadrature() {
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("sdss_r0", vec![15.0]),
            Column::f64("sdss_r0_err", vec![0.1]),
            Column::f64("wise_w4", vec![14.0]),
            Column::f64("wise_w4_err", vec![0.2]),
            Column::f64("sdss_g0", vec![15.5]),
            Column::f64("sdss_g0_err", vec![0.1]),
        ]);
        let sigma_of = |cfg: &CatalogConfig, band: &str| {
            let (_, gs) = galaxies(&t, cfg).unwrap();
            match one_band(&gs[0], band).unwrap() {
                Measurement::Magnitude { sigma, .. } => sigma,
                m => panic!("{m:?}"),
            }
        };
        // Default off.
        assert_eq!(sigma_of(&CatalogConfig::default(), "sdss_r0"), 0.1);
        // SDSS r 2 %, WISE W4 5.7 %: σ² + (1.0857 f)².
        let on = CatalogConfig {
            calibration: Calibration::Default,
            ..Default::default()
        };
        let mag = |s: f64, f: f64| (s * s + (1.085_736_204_758_129_6 * f).powi(2)).sqrt();
        assert!(close(sigma_of(&on, "sdss_r0"), mag(0.1, 0.02)));
        assert!(close(sigma_of(&on, "wise_w4"), mag(0.2, 0.057)));
        // Overrides, also with calibration = "none"; [catalog.sigma] errors get no floor.
        let over = CatalogConfig {
            calibration_floor: BTreeMap::from([("sdss_r0".to_string(), 0.1)]),
            sigma: BTreeMap::from([("sdss_g0".to_string(), 0.05)]),
            ..on.clone()
        };
        assert!(close(sigma_of(&over, "sdss_r0"), mag(0.1, 0.1)));
        assert_eq!(sigma_of(&over, "sdss_g0"), 0.05);
        let none = CatalogConfig {
            calibration: Calibration::None,
            ..over.clone()
        };
        assert!(close(sigma_of(&none, "sdss_r0"), mag(0.1, 0.1)));
        assert!(close(sigma_of(&none, "wise_w4"), 0.2));
        // Fluxes: σ² + (f F)².
        let flux = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("wise_w4", vec![2.0]),
            Column::f64("wise_w4_err", vec![0.1]),
        ]);
        let cfg = CatalogConfig {
            quantity: Quantity::Flux,
            calibration: Calibration::Default,
            ..Default::default()
        };
        let (_, gs) = galaxies(&flux, &cfg).unwrap();
        let Some(Measurement::Flux { sigma, .. }) = one_band(&gs[0], "wise_w4") else {
            panic!()
        };
        assert!(
            close(sigma, (0.01f64 + (0.057f64 * 2.0).powi(2)).sqrt()),
            "{sigma}"
        );
        let bad = CatalogConfig {
            calibration_floor: BTreeMap::from([("sdss_r0".to_string(), -0.01)]),
            ..Default::default()
        };
        let e = galaxies(&t, &bad).unwrap_err().to_string();
        assert!(e.contains("sdss_r0") && e.contains(">= 0"), "{e}");
        // A floor for a band the catalogue lacks (a misspelling) is refused, naming the bands.
        let unknown = CatalogConfig {
            calibration_floor: BTreeMap::from([("sdss_i0".to_string(), 0.02)]),
            ..Default::default()
        };
        let e = galaxies(&t, &unknown).unwrap_err().to_string();
        assert!(
            e.contains("sdss_i0: not a band of the catalogue (")
                && ["sdss_g0", "sdss_r0", "wise_w4"]
                    .iter()
                    .all(|b| e.contains(b)),
            "{e}"
        );
        // So is an error for a band the catalogue lacks.
        let unknown = CatalogConfig {
            sigma: BTreeMap::from([("galex_NUV".to_string(), 0.1)]),
            ..Default::default()
        };
        let e = galaxies(&t, &unknown).unwrap_err().to_string();
        assert!(
            e.starts_with("[catalog.sigma] galex_NUV: not a band of the catalogue ("),
            "{e}"
        );
        assert!(FitFile::parse("[catalog]\ncalibration = \"default\"\n").is_ok());
        assert!(FitFile::parse("[catalog]\ncalibration = \"on\"\n").is_err());
    }

    #[test]
    fn milky_way_extinction_is_removed() {
        let t = table(vec![
            Column::f64("redshift", vec![0.02, 0.02]),
            Column::f64("ebv", vec![0.1, f64::NAN]),
            Column::f64("sdss_r0", vec![15.0, 15.0]),
            Column::f64("sdss_r0_err", vec![0.1, 0.1]),
        ]);
        let cfg = CatalogConfig {
            ebv_column: Some("ebv".into()),
            ..Default::default()
        };
        let (_, gs) = galaxies(&t, &cfg).unwrap();
        let Some(Measurement::Magnitude { mag, sigma }) = one_band(&gs[0], "sdss_r0") else {
            panic!()
        };
        // Schlafly & Finkbeiner (2011) Table 6: A_r / E(B−V) = 2.285 on the SFD scale, F99's
        // 2.285 / 0.86 = 2.66 (5 %: a different source spectrum).
        let a = 15.0 - mag;
        assert!((a - 0.1 * 2.285 / 0.86).abs() < 0.05 * a, "{a}");
        assert_eq!(sigma, 0.1);
        let e = gs[1].input.as_ref().unwrap_err();
        assert!(e.contains("ebv") && e.contains("NaN"), "{e}");
        // CCM89 is a little different; unknown curves and columns are errors.
        let ccm = CatalogConfig {
            extinction_curve: "ccm89".into(),
            ..cfg.clone()
        };
        let (_, gs) = galaxies(&t, &ccm).unwrap();
        let Some(Measurement::Magnitude { mag: m2, .. }) = one_band(&gs[0], "sdss_r0") else {
            panic!()
        };
        assert!(m2 != mag && (m2 - mag).abs() < 0.03, "{m2} {mag}");
        let e = galaxies(
            &t,
            &CatalogConfig {
                extinction_curve: "sfd98".into(),
                ..cfg.clone()
            },
        )
        .unwrap_err();
        assert!(
            format!("{e}: {}", e.source().unwrap()).contains("sfd98"),
            "{e}"
        );
        let e = galaxies(
            &t,
            &CatalogConfig {
                ebv_column: Some("EBV_SFD".into()),
                ..cfg.clone()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("EBV_SFD"), "{e}");
        // Fluxes (and their errors) are multiplied by 10^(0.4 A).
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("ebv", vec![0.1]),
            Column::f64("sdss_r0", vec![2.0]),
            Column::f64("sdss_r0_err", vec![0.2]),
        ]);
        let (_, gs) = galaxies(
            &t,
            &CatalogConfig {
                quantity: Quantity::Flux,
                ..cfg.clone()
            },
        )
        .unwrap();
        let Some(Measurement::Flux { flux, sigma }) = one_band(&gs[0], "sdss_r0") else {
            panic!()
        };
        let k = 10f64.powf(0.4 * a);
        assert!(
            close(flux, 2.0 * k) && close(sigma, 0.2 * k),
            "{flux} {sigma}"
        );
    }

    #[test]
    fn vega_magnitudes_become_ab() {
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("twomass_Ks", vec![12.0]),
            Column::f64("twomass_Ks_err", vec![0.1]),
            Column::f64("wise_w1", vec![f64::NAN]),
            Column::f64("wise_w1_err", vec![f64::NAN]),
            Column::f64("wise_w1_limit", vec![15.0]),
        ]);
        let cfg = CatalogConfig {
            vega_bands: vec!["twomass_Ks".into(), "wise_w1".into()],
            ..Default::default()
        };
        let (_, gs) = galaxies(&t, &cfg).unwrap();
        // Blanton & Roweis (2007): Ks_AB = Ks_Vega + 1.85; Jarrett et al. (2011): W1 + 2.699.
        assert_eq!(
            one_band(&gs[0], "twomass_Ks"),
            Some(Measurement::Magnitude {
                mag: 13.85,
                sigma: 0.1
            })
        );
        let Some(Measurement::UpperLimit { limit, .. }) = one_band(&gs[0], "wise_w1") else {
            panic!()
        };
        assert!(close(limit, 10f64.powf(-0.4 * (17.699 - 8.9))), "{limit}");
        for (bands, quantity, want) in [
            (vec!["sdss_r0"], Quantity::Mag, "sdss_r0"),
            (vec!["wise_w2"], Quantity::Mag, "not a band"),
            (vec!["twomass_Ks"], Quantity::Flux, "flux"),
        ] {
            let bad = CatalogConfig {
                vega_bands: bands.into_iter().map(String::from).collect(),
                quantity,
                ..Default::default()
            };
            let e = galaxies(&t, &bad).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let mut recs = vec![Record {
            row: 0,
            id: "a".into(),
            status: "ok".into(),
            values: BTreeMap::from([("model_twomass_Ks".to_string(), Some(13.85))]),
        }];
        add_vega_models(&mut recs, &cfg);
        let v = recs[0].values["model_twomass_Ks_vega"].unwrap();
        assert!((v - 12.0).abs() < 1e-12, "{v}");
        assert!(!recs[0].values.contains_key("model_wise_w1_vega"));
    }

    #[test]
    fn the_template_is_every_default_and_reads_back() {
        let text = FitFile::template().unwrap();
        for section in [
            "[catalog]",
            "[optimizer.multistart]",
            "[sampler.nuts]",
            "[likelihood]",
        ] {
            assert!(text.contains(section), "{section} missing from\n{text}");
        }
        assert_eq!(FitFile::parse(&text).unwrap(), FitFile::default());
    }

    #[test]
    fn catalogue_errors_are_clear() {
        let t = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("sdss_r0", vec![15.0]),
        ]);
        let e = galaxies(&t, &CatalogConfig::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "band sdss_r0: no error column \"sdss_r0_err\" and no [catalog.sigma] entry"
        );
        // [catalog.sigma] replaces the missing errors.
        let cfg = CatalogConfig {
            sigma: BTreeMap::from([("sdss_r0".to_string(), 0.05)]),
            ..Default::default()
        };
        let (_, gs) = galaxies(&t, &cfg).unwrap();
        assert_eq!(
            measurements(&gs[0])[0].1,
            Measurement::Magnitude {
                mag: 15.0,
                sigma: 0.05
            }
        );
        let cfg = CatalogConfig {
            sigma: BTreeMap::from([("sdss_r0".to_string(), 0.0)]),
            ..Default::default()
        };
        assert!(matches!(
            galaxies(&t, &cfg),
            Err(CatalogError::Sigma { .. })
        ));
        let cfg = CatalogConfig {
            flux_unit: "furlongs".into(),
            ..Default::default()
        };
        assert!(
            galaxies(&t, &cfg)
                .unwrap_err()
                .to_string()
                .contains("furlongs")
        );
        let cfg = CatalogConfig {
            bands: Some(vec!["no_such_band".into()]),
            ..Default::default()
        };
        assert!(
            galaxies(&t, &cfg)
                .unwrap_err()
                .to_string()
                .contains("no_such_band")
        );
        // A column named almost like a band is an error, not a band left out.
        let misspelt = table(vec![
            Column::f64("redshift", vec![0.02]),
            Column::f64("z", vec![0.02]),
            Column::f64("dec", vec![-3.0]),
            Column::f64("sdss_g0", vec![15.5]),
            Column::f64("sdss_g0_err", vec![0.1]),
            Column::f64("sdss_r", vec![15.0]),
            Column::f64("sdss_r_err", vec![0.1]),
            Column::f64("truth_sdss_r", vec![15.0]),
        ]);
        let e = galaxies(&misspelt, &CatalogConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "not a built-in filter name: column `sdss_r` (did you mean `sdss_r0`?), column \
                 `sdss_r_err` (did you mean `sdss_r0_err`?); such columns would not be fitted"
            ),
            "{e}"
        );
        // Listing the bands says which columns are bands; the others are ignored.
        let cfg = CatalogConfig {
            bands: Some(vec!["sdss_g0".into()]),
            ..Default::default()
        };
        assert_eq!(galaxies(&misspelt, &cfg).unwrap().0, ["sdss_g0"]);
        let none = table(vec![
            Column::f64("redshift", vec![0.1]),
            Column::f64("flux", vec![3.0]),
        ]);
        assert!(matches!(
            galaxies(&none, &CatalogConfig::default()),
            Err(CatalogError::NoBandColumns(_))
        ));
        let empty = table(vec![
            Column::f64("redshift", vec![]),
            Column::f64("sdss_r0", vec![]),
        ]);
        assert!(matches!(
            galaxies(&empty, &CatalogConfig::default()),
            Err(CatalogError::NoRows)
        ));
    }

    #[test]
    fn model_fit_rules() {
        let filters: Vec<Filter> = ["sdss_r0", "sdss_g0"]
            .iter()
            .map(|n| Filter::builtin(n).unwrap())
            .collect();
        let cells = |v: [f64; 2], e: [f64; 2]| {
            (0..2).map(move |i| BandCells {
                value: v[i],
                error: e[i],
                limit: None,
            })
        };
        let r = RowReader::model_fit_magnitudes();
        let (used, obs) = r
            .observations(&filters, cells([15.0, f64::NAN], [0.1, 0.1]))
            .unwrap();
        assert_eq!((used.len(), obs.bands()), (1, &["sdss_r0".to_string()][..]));
        // Only NaN is "not observed"; an infinite magnitude is an error, as is a zero error
        // (reported by the observations, not the catalogue's check).
        assert!(matches!(
            r.observations(&filters, cells([f64::INFINITY, 15.0], [0.1, 0.1])),
            Err(RowError::Observations(_))
        ));
        let e = r
            .observations(&filters, cells([15.0, 15.0], [0.0, 0.1]))
            .unwrap_err();
        assert!(matches!(e, RowError::Observations(_)), "{e}");
        assert!(matches!(
            r.observations(&filters, cells([f64::NAN; 2], [0.1; 2])),
            Err(RowError::NoBands)
        ));
    }

    #[test]
    fn configuration_file() {
        let f = FitFile::parse(
            "[catalog]\nquantity = \"flux\"\nflux_unit = \"uJy\"\n[optimizer]\nmethod = \"adam\"\n",
        )
        .unwrap();
        assert_eq!(f.catalog.quantity, Quantity::Flux);
        assert_eq!(f.catalog.grid, None);
        assert_eq!(f.catalog.grid(), "auto");
        assert_eq!(f.fit.optimizer.method, crate::fit::OptimizerMethod::Adam);
        assert!(FitFile::parse("[catalog]\nnot_a_key = 1\n").is_err());
        assert!(
            FitFile::parse("[optimizer")
                .unwrap_err()
                .to_string()
                .contains("TOML")
        );
        let f = FitFile::parse("[catalog]\ngrid = \"base\"\n").unwrap();
        assert_eq!(f.catalog.grid(), "base");
    }

    #[test]
    fn records_round_trip_through_the_resume_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = resume_path(&dir.path().join("out.csv"));
        assert!(path.ends_with("out.csv.partial.jsonl"));
        let g = |row: usize| Galaxy {
            row,
            id: format!("g{row}"),
            redshift: 0.1,
            distmod: f64::NAN,
            input: Err("no".into()),
            known: Knowledge::new(),
        };
        let log = ResumeLog::open(&path).unwrap();
        for row in [2, 0, 2, 7] {
            log.append(&record(&g(row), &[], Err(format!("failed {row}"))))
                .unwrap();
        }
        drop(log);
        // A truncated last line (a killed run) is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"row\": 1, \"id\"")
            .unwrap();
        let done = read_records(&path).unwrap();
        assert_eq!(done.len(), 4);
        let gs: Vec<Galaxy> = (0..4).map(g).collect();
        let todo: Vec<usize> = pending(&gs, &done).iter().map(|g| g.row).collect();
        assert_eq!(todo, [1, 3]);
        let fin = finished_records(&path, 4).unwrap();
        assert_eq!(fin.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 0]);
        let t = results_table(fin).unwrap();
        assert_eq!(t.names(), ["row", "id", "status", "redshift", "distmod"]);
        assert_eq!(t.str_column("status").unwrap(), ["failed 0", "failed 2"]);
        assert!(t.f64_column("distmod").unwrap().iter().all(|v| v.is_nan()));
        assert_eq!(safe_file_stem("a b/c.d"), "a_b_c.d");
    }
}
