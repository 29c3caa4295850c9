//! `galsed fit`: fit a catalogue of observed galaxies.
//!
//! Each row is one galaxy. Its bands, redshift and distance are read from the catalogue as the
//! `[catalog]` section of the configuration says; the rest of the configuration is a
//! [`galsed_fit::fit::FitConfig`]. Reading rows, flattening results and the resume file are
//! [`galsed_fit::catalog`]'s; here are the files, the worker pool (one single-threaded worker
//! per core), the progress bar and the plots.

mod args;

use std::sync::Mutex;

use anyhow::{Context, Result};
use galsed_core::filters::Filter;
use galsed_emulator::Starduster;
use galsed_emulator::model_files::ModelFiles;
use galsed_fit::catalog::{
    self, CatalogFitter, FitFile, ResumeLog, finished_records, pending, posterior_samples_table,
    read_records, results_table, resume_path, safe_file_stem, truth_columns,
};
use galsed_fit::derived::Analyzer;
use galsed_fit::likelihood::LikelihoodSettings;
use galsed_fit::params::Parametrization;
use galsed_fit::residuals::residuals;
use galsed_plot::residuals::plot_residuals;
use rayon::prelude::*;

use galsed_io::table::{read_table, write_table};

pub use args::FitArgs;

use crate::shared::args::thread_pool;
use crate::shared::plots::plot_galaxy;
use crate::shared::{model, progress};

/// Builds the emulator (values and gradients both use its fast path: any device will do).
fn build_model(files: &ModelFiles, grid: &str) -> Result<Starduster> {
    let grid = model::parse_grid(grid)?;
    model::build_on(files, &grid, &burn::prelude::Device::flex())
}

pub fn run(args: &FitArgs) -> Result<()> {
    if let Some(path) = &args.write_config {
        let text = FitFile::template().context("writing the configuration template")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the configuration template {}", path.display());
        return Ok(());
    }
    // clap makes both present unless --write-config is given.
    let (Some(catalog_path), Some(output)) = (&args.catalog, &args.output) else {
        anyhow::bail!("--catalog and --output are required");
    };
    let file = match &args.config {
        Some(p) => FitFile::read(p)?,
        None => FitFile::default(),
    };
    let mut fit_cfg = file.fit.clone();
    if let Some(s) = args.seed {
        fit_cfg.optimizer.pso.seed = s;
        fit_cfg.optimizer.multistart.seed = s;
        fit_cfg.sampler.ensemble.seed = s;
        fit_cfg.sampler.nested.seed = s;
        fit_cfg.sampler.nuts.seed = s;
    }
    let table = read_table(catalog_path)
        .with_context(|| format!("reading the catalogue {}", catalog_path.display()))?;
    let (bands, galaxies) = catalog::galaxies(&table, &file.catalog)
        .with_context(|| format!("in {}", catalog_path.display()))?;
    fit_cfg
        .likelihood
        .check(Some(&bands))
        .context("[likelihood]")?;
    galsed_io::Format::from_path(output)?;
    for dir in [&args.plots, &args.samples].into_iter().flatten() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let dir = model::locate(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let sd = build_model(&files, file.catalog.grid())?;
    let param = Parametrization::from_config(&fit_cfg.parametrization, &files.ssp)
        .context("[parametrization]")?;
    let analyzer = Analyzer::new(&sd, &files.ssp)?;
    let truths = truth_columns(&table, &param.names())?;

    let partial_path = resume_path(output);
    let done = read_records(&partial_path)?;
    let todo = pending(&galaxies, &done);
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} galaxies already fitted ({})",
            done.len(),
            galaxies.len(),
            partial_path.display()
        );
    }
    let partial = ResumeLog::open(&partial_path)?;
    let bar = progress::rows_bar(galaxies.len() as u64);
    bar.set_position(done.len() as u64);

    let pool = thread_pool(args.threads)?;
    let fitter = CatalogFitter {
        model: &sd,
        param: &param,
        ssp: &files.ssp,
        analyzer: &analyzer,
        config: &fit_cfg,
        bands: &bands,
    };
    let failures: Mutex<Vec<String>> = Mutex::new(vec![]);
    pool.install(|| {
        todo.par_iter().with_max_len(1).for_each(|g| {
            // One galaxy per worker: its batches (≤ 32 rows for the swarm) stay in one chunk.
            let rec = fitter.fit(g, |post, r, filters| {
                if let Some(dir) = &args.samples
                    && let Some(table) = posterior_samples_table(r)
                {
                    let path = dir.join(format!(
                        "{}_samples.{}",
                        safe_file_stem(&g.id),
                        args.samples_format
                    ));
                    let written = table
                        .map_err(anyhow::Error::from)
                        .and_then(|t| write_table(&path, &t));
                    written.map_err(|e| format!("writing {}: {e:#}", path.display()))?;
                }
                let Some(dir) = &args.plots else {
                    return Ok(());
                };
                let stem = dir.join(safe_file_stem(&g.id));
                let truth = || {
                    truths
                        .as_ref()
                        .map(|t| t.iter().map(|c| c[g.row]).collect::<Vec<f64>>())
                };
                plot_galaxy(
                    &stem,
                    args.plot_format.ext(),
                    (post, r, filters),
                    &g.id,
                    truth,
                )
                .map_err(|e| format!("{e:#}"))
            });
            if rec.status != "ok" {
                failures
                    .lock()
                    .expect("no panics while holding the lock")
                    .push(format!("{} (row {}): {}", rec.id, rec.row, rec.status));
            }
            // A failed write only costs the resume of this galaxy.
            let _ = partial.append(&rec);
            bar.inc(1);
        });
    });
    bar.finish_and_clear();

    let mut records = finished_records(&partial_path, galaxies.len())?;
    catalog::add_vega_models(&mut records, &file.catalog);
    write_table(output, &results_table(records.clone())?)?;
    std::fs::remove_file(&partial_path).ok();
    write_residuals(
        output,
        args.plot_format.ext(),
        &galaxies,
        &records,
        &bands,
        &fit_cfg.likelihood,
    )?;
    for f in failures.into_inner().expect("no poisoned lock") {
        eprintln!("warning: {f}");
    }
    let n_failed = records.iter().filter(|r| r.status != "ok").count();
    eprintln!(
        "fitted {} ({n_failed} could not be fitted) → {}",
        progress::galaxies((records.len() - n_failed) as u64),
        output.display()
    );
    Ok(())
}

/// The per-band residual summary and plot next to the results: `<output stem>.residuals.csv` and
/// `.residuals.<ext>`, and the bands furthest off on stderr. Nothing when no galaxy was fitted.
fn write_residuals(
    output: &std::path::Path,
    plot_ext: &str,
    galaxies: &[catalog::Galaxy],
    records: &[catalog::Record],
    bands: &[String],
    settings: &LikelihoodSettings,
) -> Result<()> {
    let mut named = vec![];
    for spec in bands {
        let f = Filter::resolve(spec)?;
        named.push((f.name.clone(), f.pivot_wavelength_angstrom() * 1e-4));
    }
    let r = residuals(galaxies, records, &named, settings);
    if r.n_galaxies == 0 {
        return Ok(());
    }
    let table_path = output.with_extension("residuals.csv");
    write_table(&table_path, &r.table())?;
    let plot_path = output.with_extension(format!("residuals.{plot_ext}"));
    let format = galsed_plot::Format::from_path(&plot_path)?;
    plot_residuals(&plot_path, format, &r)?;
    let mut off: Vec<_> = r.bands.iter().filter(|b| b.median.is_finite()).collect();
    off.sort_by(|a, b| b.median.abs().total_cmp(&a.median.abs()));
    let worst: Vec<String> = off
        .iter()
        .take(3)
        .map(|b| {
            format!(
                "{} {}",
                b.band,
                format!("{:+.2}", b.median).replace('-', "−")
            )
        })
        .collect();
    eprintln!(
        "per-band residuals → {}, {} (median observed − model [mag], largest: {})",
        table_path.display(),
        plot_path.display(),
        worst.join(", ")
    );
    Ok(())
}
