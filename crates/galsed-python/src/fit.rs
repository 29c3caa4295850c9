//! `Model.fit`: one galaxy through galsed-fit's driver, as `galsed fit` fits a catalogue row.

use std::path::PathBuf;

use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::units::ab_mag;
use galsed_emulator::predict::Observer;
use galsed_fit::catalog::{BandCells, FitFile, RowError, RowReader};
use galsed_fit::derived::Analyzer;
use galsed_fit::fit::{FitConfig, FitResult, fit_galaxy};
use galsed_fit::likelihood::Observations;
use galsed_fit::params::Parametrization;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::model::Inner;
use crate::{bad, describe, resolve_filters, value_error, vector};

/// Parses the TOML of a `galsed fit` configuration with the command line's parser
/// ([`FitFile::parse`]): the [`FitConfig`] sections, and `[catalog]`, of which only `grid` means
/// something here (when given, it must match the model's grid).
pub(crate) fn parse_config(text: &str, model_grid: &str) -> PyResult<FitConfig> {
    let file = FitFile::parse(text).map_err(|e| bad(format!("config: {}", describe(&e))))?;
    match &file.catalog.grid {
        Some(g) if g != model_grid => Err(bad(format!(
            "config: [catalog] grid = {g:?} but this Model uses the {model_grid:?} grid; load Model(grid={g:?}) to fit on it"
        ))),
        _ => Ok(file.fit),
    }
}

/// Bands with a magnitude (NaN: not observed) as observations, with their filters.
fn observations(
    filters: &[Filter],
    mags: &[f64],
    errors: &[f64],
) -> PyResult<(Vec<Filter>, Observations)> {
    let cells = mags.iter().zip(errors).map(|(&value, &error)| BandCells {
        value,
        error,
        limit: None,
    });
    RowReader::model_fit_magnitudes()
        .observations(filters, cells)
        .map_err(|e| match e {
            RowError::NoBands => bad("no band has a magnitude (all are NaN)"),
            e => value_error(e),
        })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn fit<'py>(
    py: Python<'py>,
    inner: &Inner,
    mags: &Bound<'py, PyAny>,
    mag_errors: &Bound<'py, PyAny>,
    filters: &Bound<'py, PyAny>,
    redshift: f64,
    distmod: Option<f64>,
    config: Option<&str>,
    seed: Option<u64>,
    plot: Option<(PathBuf, &str)>,
) -> PyResult<Bound<'py, PyDict>> {
    // A bad plot file name fails before the fit, not after it.
    let plot = plot
        .map(|(path, title)| {
            galsed_plot::Format::from_path(&path)
                .map(|format| (path, format, title))
                .map_err(value_error)
        })
        .transpose()?;
    let filters = resolve_filters(filters)?;
    let nb = filters.len();
    let mags = vector(mags, "mags", Some(nb))?;
    let errors = vector(mag_errors, "mag_errors", Some(nb))?;
    let (used, obs) = observations(&filters, &mags, &errors)?;
    if !(redshift.is_finite() && redshift >= 0.0) {
        return Err(bad(format!(
            "redshift = {redshift}: must be finite and ≥ 0"
        )));
    }
    let mu = match distmod {
        Some(mu) if !mu.is_nan() => mu,
        _ if redshift == 0.0 => 0.0,
        _ => Cosmology::planck18()
            .distance_modulus(redshift)
            .map_err(value_error)?,
    };
    let observer = Observer::new(redshift, mu).map_err(value_error)?;
    let mut cfg = match config {
        Some(text) => parse_config(text, &inner.grid)?,
        None => FitConfig::default(),
    };
    if let Some(s) = seed {
        cfg.optimizer.pso.seed = s;
        cfg.sampler.ensemble.seed = s;
        cfg.sampler.nested.seed = s;
        cfg.sampler.nuts.seed = s;
    }
    let param = Parametrization::from_config(&cfg.parametrization, &inner.ssp)
        .map_err(|e| bad(format!("config [parametrization]: {}", describe(&e))))?;

    let result: Result<FitResult, String> = py.detach(|| {
        let analyzer = Analyzer::new(&inner.sd, &inner.ssp).map_err(|e| describe(&e))?;
        let post = cfg
            .posterior(&inner.sd, param, &used, observer, obs)
            .map_err(|e| describe(&e))?;
        let r = fit_galaxy(&post, &analyzer, &cfg, &mut |_, _, _| {}).map_err(|e| describe(&e))?;
        if let Some((path, format, title)) = &plot {
            galsed_plot::fit::plot_fit(path, *format, &post, &r, &used, title).map_err(|e| {
                format!("writing the fit plot {}: {}", path.display(), describe(&e))
            })?;
        }
        Ok(r)
    });
    let r = result.map_err(bad)?;

    let out = PyDict::new(py);
    let names = &r.names;
    out.set_item("param_names", names.clone())?;
    out.set_item("best", r.best.clone().into_pyarray(py))?;
    let params = PyDict::new(py);
    for (n, v) in names.iter().zip(&r.best) {
        params.set_item(n, v)?;
    }
    out.set_item("params", params)?;
    out.set_item("neg_log_post", r.best_value)?;
    out.set_item("chi2", r.chi2)?;
    out.set_item("n_detections", r.n_detections)?;
    let dof = r.n_detections as f64 - names.len() as f64;
    out.set_item(
        "chi2_reduced",
        if dof > 0.0 { r.chi2 / dof } else { f64::NAN },
    )?;
    out.set_item(
        "filters",
        used.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "model_mags",
        r.model_flux
            .iter()
            .map(|&f| ab_mag(f))
            .collect::<Vec<_>>()
            .into_pyarray(py),
    )?;
    out.set_item("model_flux_jy", r.model_flux.clone().into_pyarray(py))?;
    let derived = PyDict::new(py);
    for (n, v) in r.derived_names.iter().zip(&r.derived_best) {
        derived.set_item(n, v)?;
    }
    out.set_item("derived", derived)?;
    let opt = PyDict::new(py);
    let method = match r.optimizer.method {
        galsed_fit::fit::OptimizerMethod::Pso => "pso",
        galsed_fit::fit::OptimizerMethod::Adam => "adam",
        galsed_fit::fit::OptimizerMethod::Lbfgsb => "lbfgsb",
        galsed_fit::fit::OptimizerMethod::Multistart => "multistart",
        galsed_fit::fit::OptimizerMethod::NelderMead => "nelder_mead",
    };
    opt.set_item("method", method)?;
    opt.set_item("n_evaluations", r.optimizer.n_evaluations)?;
    opt.set_item("converged", r.optimizer.converged)?;
    opt.set_item("spread", r.optimizer.spread)?;
    out.set_item("optimizer", opt)?;
    out.set_item("redshift", observer.redshift)?;
    out.set_item("distmod", observer.distmod)?;
    if let Some(p) = &r.posterior {
        out.set_item("samples", p.samples.clone().into_pyarray(py))?;
        let pct = PyDict::new(py);
        for (i, n) in names.iter().enumerate() {
            pct.set_item(
                n,
                vec![p.summary.p16[i], p.summary.median[i], p.summary.p84[i]],
            )?;
        }
        out.set_item("percentiles", pct)?;
        let s = PyDict::new(py);
        s.set_item("converged", p.converged)?;
        s.set_item("acceptance", p.acceptance)?;
        s.set_item("n_evaluations", p.n_evaluations)?;
        s.set_item("tau_max", p.tau_max)?;
        s.set_item("log_z", p.log_z.map(|z| z.0))?;
        s.set_item("log_z_err", p.log_z.map(|z| z.1))?;
        s.set_item("rhat_max", p.rhat_ess.map(|r| r.0))?;
        s.set_item("ess_min", p.rhat_ess.map(|r| r.1))?;
        out.set_item("sampler", s)?;
    }
    if let Some(s) = &r.derived_summary {
        let pct = PyDict::new(py);
        for (i, n) in r.derived_names.iter().enumerate() {
            pct.set_item(n, vec![s.p16[i], s.median[i], s.p84[i]])?;
        }
        out.set_item("derived_percentiles", pct)?;
    }
    Ok(out)
}
