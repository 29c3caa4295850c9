//! Python bindings of galsed: the module `galsed` (PyO3, abi3 for CPython ≥ 3.9, built by maturin).
//!
//! * [`model::Model`] — the published Starduster model on one wavelength grid: spectra
//!   ([`model::Model::sed`]), photometry with one redshift per galaxy
//!   ([`model::Model::photometry`]), SED fitting ([`fit`]) and SAM catalogues
//!   ([`model::Model::sam_photometry`]).
//! * [`sam::SamConverter`] — semi-analytic-model galaxies → model inputs.
//! * `filters()`, `fetch_model()`.
//!
//! Arrays come in as anything numpy can turn into float64 and go out as float64 numpy arrays. The
//! GIL is released while Rust computes. Bad input raises `ValueError` with galsed's message; a
//! missing model raises `FileNotFoundError`. Nothing here panics on user input.

// Doc comments here are also the Python docstrings, where "[yr]" is a unit, not a Rust link; the
// items are private because the crate's interface is the Python module.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Mutex, OnceLock};

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod fit;
mod model;
mod sam;

use galsed_core::filters::{DEFAULT19, Filter, FilterListError, builtin_names, split_list};

/// An error and its causes, "outer: inner: …" (causes already quoted by the outer message are
/// not repeated).
pub(crate) fn describe(e: &(dyn Error + 'static)) -> String {
    // Some messages (TOML's) end in a newline; a Python exception message does not.
    let mut text = e.to_string().trim_end().to_owned();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        let t = t.trim_end();
        if !text.contains(t) {
            text.push_str(": ");
            text.push_str(t);
        }
        source = s.source();
    }
    text
}

/// `ValueError` carrying a Rust error's message.
pub(crate) fn value_error(e: impl Error + 'static) -> PyErr {
    PyValueError::new_err(describe(&e))
}

/// `ValueError` with a message.
pub(crate) fn bad(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A float64 array read from anything numpy accepts: shape and row-major values.
pub(crate) struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// `numpy.asarray(obj, dtype=float64)`, copied out in row-major order.
pub(crate) fn array(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Array> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", np.getattr("float64")?)?;
    let converted = np
        .call_method("asarray", (obj,), Some(&kwargs))
        .map_err(|e| {
            bad(format!(
                "{name}: cannot be read as an array of floats ({e})"
            ))
        })?;
    let arr = converted
        .cast_into::<PyArrayDyn<f64>>()
        .map_err(|_| bad(format!("{name}: cannot be read as an array of floats")))?;
    let shape = arr.shape().to_vec();
    let ro = arr
        .try_readonly()
        .map_err(|e| bad(format!("{name}: {e}")))?;
    let data = ro.as_array().iter().copied().collect();
    Ok(Array { shape, data })
}

/// A 2-D array with `cols` columns: (rows, values).
pub(crate) fn matrix(
    obj: &Bound<'_, PyAny>,
    name: &str,
    cols: usize,
) -> PyResult<(usize, Vec<f64>)> {
    let a = array(obj, name)?;
    match a.shape.as_slice() {
        [n, c] if *c == cols => Ok((*n, a.data)),
        shape => Err(bad(format!(
            "{name} must be a 2-D array of shape (N, {cols}), got shape {shape:?}"
        ))),
    }
}

/// A 2-D array of any width: (rows, cols, values).
pub(crate) fn matrix_any(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(usize, usize, Vec<f64>)> {
    let a = array(obj, name)?;
    match a.shape.as_slice() {
        [n, c] => Ok((*n, *c, a.data)),
        shape => Err(bad(format!(
            "{name} must be a 2-D array (N, n_bins), got shape {shape:?}"
        ))),
    }
}

/// A 1-D array of length `n` (or any length when `n` is None).
pub(crate) fn vector(obj: &Bound<'_, PyAny>, name: &str, n: Option<usize>) -> PyResult<Vec<f64>> {
    let a = array(obj, name)?;
    match (a.shape.as_slice(), n) {
        ([m], Some(n)) if *m == n => Ok(a.data),
        ([_], None) => Ok(a.data),
        (shape, Some(n)) => Err(bad(format!(
            "{name} must be a 1-D array of length {n}, got shape {shape:?}"
        ))),
        (shape, None) => Err(bad(format!(
            "{name} must be a 1-D array, got shape {shape:?}"
        ))),
    }
}

/// Built-in filters already parsed, by the name they were asked for.
static BUILTIN_CACHE: OnceLock<Mutex<HashMap<String, Filter>>> = OnceLock::new();

/// A built-in filter (parsed once per process) or a filter file (read every time).
fn filter(spec: &str) -> PyResult<Filter> {
    let cache = BUILTIN_CACHE.get_or_init(Default::default);
    if let Some(f) = cache
        .lock()
        .map_err(|_| bad("filter cache poisoned"))?
        .get(spec)
    {
        return Ok(f.clone());
    }
    match Filter::builtin(spec) {
        Ok(f) => {
            cache
                .lock()
                .map_err(|_| bad("filter cache poisoned"))?
                .insert(spec.to_owned(), f.clone());
            Ok(f)
        }
        Err(_) => {
            Filter::resolve(spec).map_err(|e| bad(format!("filter {spec:?}: {}", describe(&e))))
        }
    }
}

/// Filters from a list of specs (built-in names, filter files, `default19`) or one comma-separated
/// string, as `galsed sed --filters`.
pub(crate) fn resolve_filters(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Filter>> {
    let specs: Vec<String> = if let Ok(s) = obj.extract::<String>() {
        split_list(&s).map(str::to_owned).collect()
    } else {
        obj.extract::<Vec<String>>()
            .map_err(|_| bad("filters must be a list of filter names (or filter file paths)"))?
    };
    Filter::resolve_list(&specs, filter).map_err(|e| match e {
        FilterListError::Filter { source, .. } => source,
        FilterListError::Empty => bad("filters names no filter"),
        FilterListError::Duplicate(name) => bad(format!("filter {name} is listed twice")),
    })
}

/// Names of the built-in filters (sedpy's curves), sorted. Any of them, a filter file
/// (wavelength [Å], transmission) or "default19" can be passed as `filters=`.
#[pyfunction]
fn filters() -> Vec<&'static str> {
    builtin_names()
}

/// Downloads the published Starduster files (7 files, 9 MB, sha256-checked) into `dest` (default:
/// the user cache directory that `Model()` reads when no path and no GALSED_MODEL_DIR are given),
/// or copies them from `source` (a directory or base URL). Files already in place are kept.
/// Returns the directory.
#[pyfunction]
#[pyo3(signature = (dest=None, source=None))]
fn fetch_model(
    py: Python<'_>,
    dest: Option<std::path::PathBuf>,
    source: Option<String>,
) -> PyResult<String> {
    use galsed_io::store;
    let dest = match dest {
        Some(d) => d,
        None => store::default_cache_dir()
            .ok_or_else(|| bad("this system has no user cache directory; give dest="))?,
    };
    let from = source.unwrap_or_else(|| store::DEFAULT_BASE_URL.to_owned());
    py.detach(|| store::fetch(&dest, &from, |_| {}).and_then(|()| store::verify_dir(&dest)))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(describe(&e)))?;
    Ok(dest.display().to_string())
}

/// Galaxy SEDs with the Starduster emulator (Qiu & Kang 2022), implemented in Rust.
///
/// Model(path=None, grid="base") loads the published model; see help(galsed.Model).
#[pymodule(name = "galsed")]
fn galsed_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT19", DEFAULT19.to_vec())?;
    m.add_class::<model::Model>()?;
    m.add_class::<sam::SamConverter>()?;
    m.add_function(wrap_pyfunction!(filters, m)?)?;
    m.add_function(wrap_pyfunction!(fetch_model, m)?)?;
    Ok(())
}
