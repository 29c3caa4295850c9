//! The demo's fit: `galsed fit --threads 1 --plots OUT --seed SEED` through the library.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use galsed_emulator::model_files::ModelFiles;
use galsed_fit::catalog::{
    self, CatalogFitter, FitFile, results_table, safe_file_stem, truth_columns,
};
use galsed_fit::derived::Analyzer;
use galsed_fit::params::Parametrization;
use galsed_io::table::{read_table, write_table};

use super::DemoArgs;
use crate::shared::plots::plot_galaxy;
use crate::shared::{model, progress};

/// `galsed fit --threads 1 --plots OUT --seed SEED` of the demo's catalogue, through the library.
pub fn fit_catalog(
    catalog: &Path,
    config: &Path,
    output: &Path,
    files: &ModelFiles,
    args: &DemoArgs,
) -> Result<()> {
    let file = FitFile::read(config)?;
    let mut fit_cfg = file.fit.clone();
    fit_cfg.optimizer.pso.seed = args.seed;
    fit_cfg.optimizer.multistart.seed = args.seed;
    fit_cfg.sampler.ensemble.seed = args.seed;
    fit_cfg.sampler.nested.seed = args.seed;
    let table = read_table(catalog)?;
    let (bands, galaxies) = catalog::galaxies(&table, &file.catalog)?;
    let sd = model::build_on(
        files,
        &model::parse_grid(file.catalog.grid())?,
        &burn::prelude::Device::flex(),
    )?;
    let param = Parametrization::from_config(&fit_cfg.parametrization, &files.ssp)?;
    let analyzer = Analyzer::new(&sd, &files.ssp)?;
    let truths = truth_columns(&table, &param.names())?;
    let fitter = CatalogFitter {
        model: &sd,
        param: &param,
        ssp: &files.ssp,
        analyzer: &analyzer,
        config: &fit_cfg,
        bands: &bands,
    };
    // One single-threaded worker, as `galsed fit --threads 1`.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let records = pool.install(|| {
        galaxies
            .iter()
            .map(|g| {
                fitter.fit(g, |post, r, filters| {
                    let stem = args.out.join(safe_file_stem(&g.id));
                    let truth = || {
                        truths
                            .as_ref()
                            .map(|t| t.iter().map(|c| c[g.row]).collect::<Vec<f64>>())
                    };
                    plot_galaxy(&stem, args.format.ext(), (post, r, filters), &g.id, truth)
                        .map_err(|e| format!("{e:#}"))
                })
            })
            .collect::<Vec<_>>()
    });
    let n_failed = records.iter().filter(|r| r.status != "ok").count();
    let n_fitted = records.len() - n_failed;
    let mut records = records;
    catalog::add_vega_models(&mut records, &file.catalog);
    write_table(output, &results_table(records)?)?;
    eprintln!(
        "fitted {} ({n_failed} could not be fitted) → {}",
        progress::galaxies(n_fitted as u64),
        output.display()
    );
    Ok(())
}

pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
