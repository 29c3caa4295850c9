//! `galsed fit`: fit a catalogue of observed galaxies.
//!
//! Each row is one galaxy. Its bands, redshift and distance are read from the catalogue as the
//! `[catalog]` section of the configuration says; the rest of the configuration is a
//! [`FitConfig`]. Galaxies are fitted in parallel (one single-threaded worker per core); each
//! finished galaxy is appended to `<output>.partial.jsonl` so that an interrupted run resumes
//! where it stopped, and the results table is written at the end.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::{Filter, builtin_names};
use galsed_core::units::{ab_mag, ab_to_jy};
use galsed_emulator::Starduster;
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::Observer;
use galsed_fit::derived::Analyzer;
use galsed_fit::fit::{FitConfig, FitResult, fit_galaxy};
use galsed_fit::likelihood::{Likelihood, Measurement, Observations};
use galsed_fit::params::Parametrization;
use galsed_fit::posterior::Posterior;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{FitArgs, corner, fit_plot, model, progress};
use galsed_io::table::{Column, Table, read_table, write_table};

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
    /// Wavelength grid of the emulator: "auto" (default, as the reference's fits) or "base".
    pub grid: String,
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
            grid: "auto".into(),
        }
    }
}

/// Whether band columns are magnitudes or fluxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    Mag,
    Flux,
}

/// The whole configuration file.
#[derive(Debug, Clone, Default)]
pub struct FitFile {
    pub catalog: CatalogConfig,
    pub fit: FitConfig,
}

impl FitFile {
    /// Parses the TOML text: `[catalog]` plus the sections of [`FitConfig`].
    pub fn parse(text: &str) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).context("not valid TOML")?;
        let catalog = match table.remove("catalog") {
            Some(v) => v.try_into().context("[catalog]")?,
            None => CatalogConfig::default(),
        };
        let fit: FitConfig = toml::Value::Table(table)
            .try_into()
            .context("fit settings")?;
        Ok(Self { catalog, fit })
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }
}

fn flux_unit_jy(unit: &str) -> Result<f64> {
    Ok(match unit {
        "Jy" | "jy" => 1.0,
        "mJy" | "mjy" => 1e-3,
        "uJy" | "ujy" | "µJy" => 1e-6,
        "nJy" | "njy" => 1e-9,
        other => bail!("[catalog] flux_unit {other:?}: expected Jy, mJy, uJy or nJy"),
    })
}

/// One galaxy of the catalogue, ready to fit or with the reason it cannot be.
struct Galaxy {
    row: usize,
    id: String,
    redshift: f64,
    distmod: f64,
    input: Result<(Vec<Filter>, Observations), String>,
}

/// Reads the catalogue into galaxies; problems of single rows are kept per row.
fn galaxies(table: &Table, cfg: &CatalogConfig) -> Result<(Vec<String>, Vec<Galaxy>)> {
    let n = table.n_rows();
    if n == 0 {
        bail!("the catalogue has no rows");
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
    if band_specs.is_empty() {
        bail!(
            "no band columns: name columns after filters (see `galsed filters list`) or list them in \
             [catalog] bands; columns found: {}",
            table.names().join(", ")
        );
    }
    let mut filters = vec![];
    for spec in &band_specs {
        filters.push(Filter::resolve(spec).with_context(|| format!("unknown band {spec:?}"))?);
    }
    let unit = flux_unit_jy(&cfg.flux_unit)?;
    let ids = match table.get(&cfg.id_column) {
        Some(c) => c.to_strings(),
        None => (0..n).map(|i| i.to_string()).collect(),
    };
    let redshift = table
        .f64_column(&cfg.redshift_column)
        .context("[catalog] redshift_column")?;
    let distmod = table
        .get(&cfg.distmod_column)
        .map(|c| c.as_f64())
        .transpose()?;
    let mut columns = vec![];
    for f in &filters {
        let value = table
            .f64_column(&f.name)
            .with_context(|| format!("band {}", f.name))?
            .into_owned();
        let err_name = format!("{}{}", f.name, cfg.error_suffix);
        let err = match (table.get(&err_name), cfg.sigma.get(&f.name)) {
            (_, Some(&s)) => vec![s; n],
            (Some(c), None) => c.as_f64()?.into_owned(),
            (None, None) => bail!(
                "band {}: no error column {err_name:?} and no [catalog.sigma] entry",
                f.name
            ),
        };
        let limit = table
            .get(&format!("{}{}", f.name, cfg.limit_suffix))
            .map(|c| c.as_f64().map(|v| v.into_owned()))
            .transpose()?;
        columns.push((value, err, limit));
    }
    for (name, &s) in &cfg.sigma {
        if !(s.is_finite() && s > 0.0) {
            bail!("[catalog.sigma] {name} = {s}: errors must be > 0");
        }
    }
    let cosmology = Cosmology::planck18();
    let mut out = Vec::with_capacity(n);
    for row in 0..n {
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
            row_observations(row, &filters, &columns, cfg, unit)
        });
        out.push(Galaxy {
            row,
            id: ids[row].clone(),
            redshift: z,
            distmod: mu.unwrap_or(f64::NAN),
            input,
        });
    }
    Ok((band_specs, out))
}

type BandColumns = (Vec<f64>, Vec<f64>, Option<Vec<f64>>);

fn row_observations(
    row: usize,
    filters: &[Filter],
    columns: &[BandColumns],
    cfg: &CatalogConfig,
    unit: f64,
) -> Result<(Vec<Filter>, Observations), String> {
    let mut used = vec![];
    let mut bands = vec![];
    for (f, (value, err, limit)) in filters.iter().zip(columns) {
        let (v, e) = (value[row], err[row]);
        let m = if v.is_finite() {
            if !(e.is_finite() && e > 0.0) {
                return Err(format!(
                    "band {}: error {e} (errors must be finite and > 0)",
                    f.name
                ));
            }
            match cfg.quantity {
                Quantity::Mag => Measurement::Magnitude { mag: v, sigma: e },
                Quantity::Flux => Measurement::Flux {
                    flux: v * unit,
                    sigma: e * unit,
                },
            }
        } else if let Some(l) = limit.as_ref().map(|l| l[row]).filter(|l| l.is_finite()) {
            let lim_jy = match cfg.quantity {
                Quantity::Mag => ab_to_jy(l),
                Quantity::Flux => l * unit,
            };
            let sigma = match (cfg.quantity, e.is_finite() && e > 0.0) {
                (Quantity::Flux, true) => e * unit,
                _ => lim_jy / cfg.limit_nsigma,
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
        return Err("no usable bands (every band is missing)".into());
    }
    Observations::new(bands)
        .map(|o| (used, o))
        .map_err(|e| e.to_string())
}

/// True parameter values of mock galaxies, from columns `truth_<parameter>` (all or none),
/// drawn in the corner plots.
fn truth_columns(table: &Table, names: &[String]) -> Result<Option<Vec<Vec<f64>>>> {
    let cols: Vec<Option<&Column>> = names
        .iter()
        .map(|n| table.get(&format!("truth_{n}")))
        .collect();
    if cols.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut out = vec![];
    for (name, c) in names.iter().zip(cols) {
        let c =
            c.with_context(|| format!("the catalogue has truth_ columns but not truth_{name}"))?;
        out.push(c.as_f64()?.into_owned());
    }
    Ok(Some(out))
}

/// One finished galaxy as stored in the resume file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    row: usize,
    id: String,
    status: String,
    /// Non-finite values are stored as null (JSON has no NaN) and read back as NaN.
    values: BTreeMap<String, Option<f64>>,
}

fn record(g: &Galaxy, bands: &[String], fit: Result<(FitResult, Vec<String>), String>) -> Record {
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

/// Records already in the resume file (a truncated last line from a kill is ignored).
fn read_partial(path: &Path) -> Result<Vec<Record>> {
    let Ok(f) = File::open(path) else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for line in BufReader::new(f).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if let Ok(r) = serde_json::from_str::<Record>(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

fn results_table(mut records: Vec<Record>) -> Result<Table> {
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
        cols.push(Column::f64(
            k.clone(),
            records
                .iter()
                .map(|r| r.values.get(&k).copied().flatten().unwrap_or(f64::NAN))
                .collect(),
        ));
    }
    Table::new(cols)
}

fn safe_file_stem(id: &str) -> String {
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

/// Builds the emulator on an autodiff device (gradients for L-BFGS-B, Adam and polish).
fn build_model(files: &ModelFiles, grid: &str) -> Result<Starduster> {
    let grid = model::parse_grid(grid)?;
    model::build_on(files, &grid, &burn::prelude::Device::flex().autodiff())
}

pub fn run(args: &FitArgs) -> Result<()> {
    let file = match &args.config {
        Some(p) => FitFile::read(p)?,
        None => FitFile::default(),
    };
    let mut fit_cfg = file.fit.clone();
    if let Some(s) = args.seed {
        fit_cfg.optimizer.pso.seed = s;
        fit_cfg.sampler.ensemble.seed = s;
        fit_cfg.sampler.nested.seed = s;
    }
    let table = read_table(&args.catalog)
        .with_context(|| format!("reading the catalogue {}", args.catalog.display()))?;
    let (bands, galaxies) = galaxies(&table, &file.catalog)
        .with_context(|| format!("in {}", args.catalog.display()))?;
    galsed_io::table::TableFormat::from_path(&args.output)?;
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let dir = model::locate(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let sd = build_model(&files, &file.catalog.grid)?;
    let param = Parametrization::from_config(&fit_cfg.parametrization, &files.ssp)
        .context("[parametrization]")?;
    let analyzer = Analyzer::new(&sd, &files.ssp)?;
    let truths = truth_columns(&table, &param.names())?;

    let partial_path = PathBuf::from(format!("{}.partial.jsonl", args.output.display()));
    let done = read_partial(&partial_path)?;
    let done_rows: HashSet<usize> = done.iter().map(|r| r.row).collect();
    let todo: Vec<&Galaxy> = galaxies
        .iter()
        .filter(|g| !done_rows.contains(&g.row))
        .collect();
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} galaxies already fitted ({})",
            done.len(),
            galaxies.len(),
            partial_path.display()
        );
    }
    let partial = Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial_path)
            .with_context(|| format!("opening {}", partial_path.display()))?,
    );
    let bar = progress::rows_bar(galaxies.len() as u64);
    bar.set_position(done.len() as u64);

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let failures: Mutex<Vec<String>> = Mutex::new(vec![]);
    pool.install(|| {
        todo.par_iter().with_max_len(1).for_each(|g| {
            // One galaxy per worker: the batch predictions inside stay single-threaded.
            let fitted = g.input.clone().and_then(|(filters, obs)| {
                let run = || -> Result<(FitResult, Vec<String>)> {
                    let like = Likelihood::new(obs, fit_cfg.likelihood)?;
                    let observer = Observer::new(g.redshift, g.distmod)?;
                    let post = Posterior::new(
                        &sd,
                        param.clone(),
                        &filters,
                        observer,
                        like,
                        &fit_cfg.prior,
                    )?
                    .with_selector_penalty(fit_cfg.selector_penalty);
                    let r = fit_galaxy(&post, &analyzer, &fit_cfg, &mut |_, _, _| {})?;
                    if let Some(dir) = &args.plots {
                        let stem = dir.join(safe_file_stem(&g.id));
                        fit_plot::plot_fit(
                            &stem.with_extension(args.plot_format.ext()),
                            &post,
                            &r,
                            &filters,
                            &g.id,
                        )?;
                        if let Some(p) = &r.posterior {
                            let path = PathBuf::from(format!(
                                "{}_corner.{}",
                                stem.display(),
                                args.plot_format.ext()
                            ));
                            let truth = truths
                                .as_ref()
                                .map(|t| t.iter().map(|c| c[g.row]).collect::<Vec<f64>>());
                            corner::corner_plot(
                                &path,
                                &r.names,
                                &p.samples,
                                None,
                                truth.as_deref(),
                                Some(&r.best),
                            )?;
                        }
                    }
                    Ok((r, filters.iter().map(|f| f.name.clone()).collect()))
                };
                run().map_err(|e| format!("{e:#}"))
            });
            let rec = record(g, &bands, fitted);
            if rec.status != "ok" {
                failures
                    .lock()
                    .expect("no panics while holding the lock")
                    .push(format!("{} (row {}): {}", rec.id, rec.row, rec.status));
            }
            let line = serde_json::to_string(&rec).expect("records serialise");
            let mut f = partial.lock().expect("no panics while holding the lock");
            // A failed write only costs the resume of this galaxy.
            let _ = writeln!(f, "{line}").and_then(|()| f.flush());
            bar.inc(1);
        });
    });
    bar.finish_and_clear();

    let mut records = read_partial(&partial_path)?;
    records.retain(|r| r.row < galaxies.len());
    let mut seen = HashSet::new();
    records.retain(|r| seen.insert(r.row));
    write_table(&args.output, &results_table(records.clone())?)?;
    std::fs::remove_file(&partial_path).ok();
    for f in failures.into_inner().expect("no poisoned lock") {
        eprintln!("warning: {f}");
    }
    let n_failed = records.iter().filter(|r| r.status != "ok").count();
    eprintln!(
        "fitted {} galaxies ({n_failed} could not be fitted) → {}",
        records.len() - n_failed,
        args.output.display()
    );
    Ok(())
}
