//! `Model.fit`: one galaxy through galsed-fit's driver, as `galsed fit` fits a catalogue row.

use galsed_core::cosmology::Cosmology;
use galsed_core::units::ab_mag;
use galsed_emulator::predict::Observer;
use galsed_fit::derived::Analyzer;
use galsed_fit::fit::{FitConfig, FitResult, fit_galaxy};
use galsed_fit::likelihood::{Likelihood, Measurement, Observations};
use galsed_fit::params::Parametrization;
use galsed_fit::posterior::Posterior;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::model::Inner;
use crate::{bad, describe, resolve_filters, value_error, vector};

/// Parses the TOML of a `galsed fit` configuration: the [`FitConfig`] sections, and `[catalog]`,
/// of which only `grid` means something here (it must match the model's grid).
pub(crate) fn parse_config(text: &str, model_grid: &str) -> PyResult<FitConfig> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| bad(format!("config is not valid TOML: {e}")))?;
    if let Some(catalog) = table.remove("catalog") {
        let grid = catalog.get("grid").map(|g| g.as_str().map(str::to_owned));
        match grid {
            Some(None) => return Err(bad("config: [catalog] grid must be a string")),
            Some(Some(g)) if g != model_grid => {
                return Err(bad(format!(
                    "config: [catalog] grid = {g:?} but this Model uses the {model_grid:?} grid; load Model(grid={g:?}) to fit on it"
                )));
            }
            _ => {}
        }
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| bad(format!("config: {}", e.to_string().trim_end())))
}

/// Bands with a magnitude (NaN: not observed) as observations, with their filters.
fn observations(
    filters: Vec<galsed_core::filters::Filter>,
    mags: &[f64],
    errors: &[f64],
) -> PyResult<(Vec<galsed_core::filters::Filter>, Observations)> {
    let mut used = vec![];
    let mut bands = vec![];
    for ((f, &m), &e) in filters.into_iter().zip(mags).zip(errors) {
        if m.is_nan() {
            continue;
        }
        bands.push((f.name.clone(), Measurement::Magnitude { mag: m, sigma: e }));
        used.push(f);
    }
    if bands.is_empty() {
        return Err(bad("no band has a magnitude (all are NaN)"));
    }
    let obs = Observations::new(bands).map_err(value_error)?;
    Ok((used, obs))
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
) -> PyResult<Bound<'py, PyDict>> {
    let filters = resolve_filters(filters)?;
    let nb = filters.len();
    let mags = vector(mags, "mags", Some(nb))?;
    let errors = vector(mag_errors, "mag_errors", Some(nb))?;
    let (used, obs) = observations(filters, &mags, &errors)?;
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
    }
    let param = Parametrization::from_config(&cfg.parametrization, &inner.ssp)
        .map_err(|e| bad(format!("config [parametrization]: {}", describe(&e))))?;

    let result: Result<FitResult, String> = py.detach(|| {
        let analyzer = Analyzer::new(&inner.sd, &inner.ssp).map_err(|e| describe(&e))?;
        let like = Likelihood::new(obs, cfg.likelihood).map_err(|e| describe(&e))?;
        let post = Posterior::new(&inner.sd, param, &used, observer, like, &cfg.prior)
            .map_err(|e| describe(&e))?
            .with_selector_penalty(cfg.selector_penalty);
        fit_galaxy(&post, &analyzer, &cfg, &mut |_, _, _| {}).map_err(|e| describe(&e))
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
