//! `galsed.Model`: the published model on one wavelength grid; spectra and photometry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::Device;
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::params::GALAXY_PARAMS;
use galsed_core::ssp::{GridSpecError, SspLibrary, WavelengthGrid};
use galsed_core::units::ab_mag;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::{ModelFileError, ModelFiles};
use galsed_emulator::predict::{Observer, Observers, SpectralUnits};
use galsed_emulator::sam::SamPhotometry;
use galsed_emulator::{Component, ModelError, N_GP, N_SSP, Starduster};
use galsed_io::store::{self, MODEL_DIR_ENV, ModelDirSource};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::sam::{self, SamConverter, SamRows};
use crate::{array, bad, describe, matrix, resolve_filters, value_error, vector};

/// What a loaded model holds: the emulator (predictions and fit gradients both take its fast
/// path) and the SSP library.
pub(crate) struct Inner {
    pub sd: Starduster,
    pub ssp: SspLibrary,
    pub dir: PathBuf,
    pub grid: String,
}

enum LoadError {
    NotFound(String),
    Invalid(String),
}

fn parse_grid(obj: &Bound<'_, PyAny>) -> PyResult<(WavelengthGrid, String)> {
    if let Ok(spec) = obj.extract::<String>() {
        let grid = WavelengthGrid::parse(&spec).map_err(|e| match e {
            GridSpecError::Unknown(_) => bad(format!(
                "grid {spec:?}: expected \"base\", \"auto\", \"full\", a file of wavelengths in µm or an array of them"
            )),
            e => bad(describe(&e)),
        })?;
        let name = match grid {
            WavelengthGrid::Custom(_) => "custom".to_owned(),
            _ => spec,
        };
        return Ok((grid, name));
    }
    let lam = vector(obj, "grid", None)?;
    Ok((WavelengthGrid::Custom(lam), "custom".into()))
}

fn load(path: Option<&Path>, grid: &WavelengthGrid, grid_name: String) -> Result<Inner, LoadError> {
    if let Some(p) = path
        && !p.is_dir()
    {
        return Err(LoadError::NotFound(format!(
            "model directory {} does not exist or is not a directory",
            p.display()
        )));
    }
    let dir = store::resolve_model_dir(path).map_err(|e| LoadError::NotFound(describe(&e)))?;
    let invalid = |what: &str, e: &(dyn std::error::Error + 'static)| {
        LoadError::Invalid(format!("{what} ({}): {}", dir.path.display(), describe(e)))
    };
    let files = ModelFiles::load(&dir.path).map_err(|e| match e {
        ModelFileError::NotAModel(_) => {
            let why = match dir.source {
                ModelDirSource::Explicit => "given as path".to_owned(),
                ModelDirSource::Env => format!("from {MODEL_DIR_ENV}"),
                ModelDirSource::Cache => format!("the user cache; no path given and {MODEL_DIR_ENV} unset"),
            };
            LoadError::NotFound(format!(
                "no model files in {} ({why}): download them with galsed.fetch_model() (or `galsed model fetch`), \
                 or pass Model(path=DIR) / set {MODEL_DIR_ENV} to a directory holding the published Starduster files",
                dir.path.display()
            ))
        }
        e => invalid("loading the model", &e),
    })?;
    let sd = Starduster::from_files_on(&files, grid, &Device::flex()).map_err(|e| {
        let what = match e {
            ModelError::Ssp(_) => "building the wavelength grid",
            _ => "building the emulator",
        };
        invalid(what, &e)
    })?;
    Ok(Inner {
        sd,
        ssp: files.ssp,
        dir: dir.path,
        grid: grid_name,
    })
}

/// Validated, clipped inputs; `None` for zero rows (the outputs are then empty arrays).
pub(crate) fn batch(
    gp: &Bound<'_, PyAny>,
    sfh_disk: &Bound<'_, PyAny>,
    sfh_bulge: &Bound<'_, PyAny>,
    clip: bool,
) -> PyResult<Option<Batch>> {
    let (n, gp) = matrix(gp, "gp", N_GP)?;
    let (nd, sd) = matrix(sfh_disk, "sfh_disk", N_SSP)?;
    let (nb, sb) = matrix(sfh_bulge, "sfh_bulge", N_SSP)?;
    if nd != n || nb != n {
        return Err(bad(format!(
            "gp has {n} rows but sfh_disk has {nd} and sfh_bulge {nb}"
        )));
    }
    if n == 0 {
        return Ok(None);
    }
    let policy = if clip {
        OutOfRange::Clip
    } else {
        OutOfRange::Error
    };
    Batch::new(gp, sd, sb, policy)
        .map(Some)
        .map_err(value_error)
}

/// The observers from `redshift` and `distmod` (numbers or (N,) arrays). Without a distance
/// modulus (None, or NaN entries) it is Planck18's luminosity-distance modulus of the redshift,
/// or 0 (10 pc) at z = 0, as `galsed sed` does.
pub(crate) fn observers(
    redshift: Option<&Bound<'_, PyAny>>,
    distmod: Option<&Bound<'_, PyAny>>,
    n: usize,
) -> PyResult<Observers> {
    let read = |o: Option<&Bound<'_, PyAny>>,
                name: &str,
                default: f64|
     -> PyResult<(Vec<f64>, bool)> {
        match o {
            None => Ok((vec![default], false)),
            Some(o) => {
                let a = array(o, name)?;
                match a.shape.as_slice() {
                    [] => Ok((a.data, false)),
                    [m] if *m == n => Ok((a.data, true)),
                    shape => Err(bad(format!(
                        "{name} must be a number or a 1-D array of length {n}, got shape {shape:?}"
                    ))),
                }
            }
        }
    };
    let (z, z_rows) = read(redshift, "redshift", 0.0)?;
    let (mu, mu_rows) = read(distmod, "distmod", f64::NAN)?;
    let per_row = z_rows || mu_rows;
    let m = if per_row { n } else { 1 };
    let cosmology = Cosmology::planck18();
    let mut cache: HashMap<u64, f64> = HashMap::new();
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let (z, mu) = (
            z[if z_rows { i } else { 0 }],
            mu[if mu_rows { i } else { 0 }],
        );
        let at = if per_row {
            format!("[{i}]")
        } else {
            String::new()
        };
        if !(z.is_finite() && z >= 0.0) {
            return Err(bad(format!(
                "redshift{at} = {z}: redshifts must be finite and ≥ 0"
            )));
        }
        let mu = if mu.is_nan() {
            match cache.get(&z.to_bits()) {
                Some(&m) => m,
                None => {
                    let m = if z == 0.0 {
                        0.0
                    } else {
                        cosmology.distance_modulus(z).map_err(value_error)?
                    };
                    cache.insert(z.to_bits(), m);
                    m
                }
            }
        } else {
            mu
        };
        out.push(Observer::new(z, mu).map_err(|e| bad(format!("distmod{at}: {}", describe(&e))))?);
    }
    Ok(if per_row {
        Observers::PerRow(out)
    } else {
        Observers::One(out[0])
    })
}

/// Band magnitudes (AB) or fluxes (Jy) of a batch, (N × n_filters) row-major
/// ([`Starduster::band_fluxes`]: a band the model does not cover is an error with one observer,
/// NaN with one observer per galaxy).
pub(crate) fn photometry_values(
    sd: &Starduster,
    batch: &Batch,
    observers: &Observers,
    filters: &[Filter],
    component: Component,
    mag: bool,
) -> Result<Vec<f64>, ModelError> {
    // A galaxy's result does not depend on the other galaxies of the batch (the emulator's
    // fast path rounds alike for every batch size; tests/test_model.py checks it bitwise).
    let flux = sd.band_fluxes(batch, component, filters, observers)?;
    Ok(flux.iter().map(|&f| jy_or_mag(f, mag)).collect())
}

/// A band flux as AB magnitude or Jy.
fn jy_or_mag(flux: f32, mag: bool) -> f64 {
    if mag {
        ab_mag(f64::from(flux))
    } else {
        f64::from(flux)
    }
}

pub(crate) fn to_2d<'py>(
    py: Python<'py>,
    rows: usize,
    cols: usize,
    data: Vec<f64>,
) -> Bound<'py, PyArray2<f64>> {
    Array2::from_shape_vec((rows, cols), data)
        .expect("rows × cols values")
        .into_pyarray(py)
}

fn parse_component(s: &str) -> PyResult<Component> {
    s.parse().map_err(value_error)
}

/// The Starduster model (Qiu & Kang 2022) on one wavelength grid.
///
/// Model(path=None, grid="base")
///
/// path: directory of the published Starduster files or of a galsed native model; default
/// $GALSED_MODEL_DIR, else the user cache filled by galsed.fetch_model() / `galsed model fetch`.
/// grid: "base" (495 points, fastest), "auto" (2086 points, as the reference's fits), "full",
/// a file of wavelengths in µm or an array of them.
///
/// Inputs: gp (N, 7) galaxy parameters in unit space [-1, 1] (columns: param_names), sfh_disk and
/// sfh_bulge (N, 36) light fractions over the SSPs (k = 6·i_met + i_age). A Model is safe to use
/// from several threads; the GIL is released while it computes.
#[pyclass(module = "galsed", frozen)]
pub struct Model {
    pub(crate) inner: Arc<Inner>,
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (path=None, grid=None), text_signature = "(path=None, grid='base')")]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        grid: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (grid, name) = match grid {
            Some(g) => parse_grid(g)?,
            None => (WavelengthGrid::Base, "base".to_owned()),
        };
        let inner = py
            .detach(|| load(path.as_deref(), &grid, name))
            .map_err(|e| match e {
                LoadError::NotFound(m) => PyFileNotFoundError::new_err(m),
                LoadError::Invalid(m) => bad(m),
            })?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Rest-frame wavelengths of the grid [µm], (n_λ,).
    #[getter]
    fn wavelength<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.sd.grid().lam_eval.clone().into_pyarray(py)
    }

    /// Names of the 7 columns of gp.
    #[getter]
    fn param_names(&self) -> Vec<&'static str> {
        GALAXY_PARAMS.iter().map(|p| p.name).collect()
    }

    /// Number of SSPs (columns of sfh_disk and sfh_bulge): 36.
    #[getter]
    fn n_ssp(&self) -> usize {
        self.inner.ssp.n_ssp()
    }

    /// SSP ages [yr] (index i_age of k = 6·i_met + i_age).
    #[getter]
    fn ssp_ages<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.ssp.tau.clone().into_pyarray(py)
    }

    /// SSP metallicities Z (index i_met of k = 6·i_met + i_age).
    #[getter]
    fn ssp_metallicities<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.ssp.met.clone().into_pyarray(py)
    }

    /// Name of the wavelength grid: base, auto, full or custom.
    #[getter]
    fn grid(&self) -> &str {
        &self.inner.grid
    }

    /// The model directory.
    #[getter]
    fn path(&self) -> String {
        self.inner.dir.display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "galsed.Model(path={:?}, grid={:?}, n_wavelengths={})",
            self.inner.dir.display().to_string(),
            self.inner.grid,
            self.inner.sd.grid().lam_eval.len()
        )
    }

    /// SEDs, (N, n_λ) float64.
    ///
    /// component: "combine" (default), "dust_free", "dust_attenuation" or "dust_emission".
    /// units: "lsun" — rest-frame λL_λ [L_sun] (redshift and distmod are not used); "jy" — F_ν [Jy]
    /// observed at wavelength·(1+z) from the distance modulus distmod.
    /// redshift, distmod: numbers or (N,) arrays; distmod defaults to Planck18's luminosity-distance
    /// modulus of the redshift (0, i.e. 10 pc, at z = 0).
    /// clip: clip out-of-range inputs as the published library does (default); False raises
    /// ValueError for |gp| > 1 or SFH weights outside [0, 1].
    #[pyo3(signature = (gp, sfh_disk, sfh_bulge, component="combine", units="lsun", redshift=None, distmod=None, clip=true),
           text_signature = "(self, gp, sfh_disk, sfh_bulge, component='combine', units='lsun', redshift=0.0, distmod=None, clip=True)")]
    #[allow(clippy::too_many_arguments)]
    fn sed<'py>(
        &self,
        py: Python<'py>,
        gp: &Bound<'py, PyAny>,
        sfh_disk: &Bound<'py, PyAny>,
        sfh_bulge: &Bound<'py, PyAny>,
        component: &str,
        units: &str,
        redshift: Option<&Bound<'py, PyAny>>,
        distmod: Option<&Bound<'py, PyAny>>,
        clip: bool,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let component = parse_component(component)?;
        let units = match units.to_ascii_lowercase().as_str() {
            "lsun" | "l_sun" => SpectralUnits::Luminosity,
            "jy" => SpectralUnits::Fnu,
            other => return Err(bad(format!("units {other:?}: expected \"lsun\" or \"jy\""))),
        };
        let n_lam = self.inner.sd.grid().lam_eval.len();
        let Some(batch) = batch(gp, sfh_disk, sfh_bulge, clip)? else {
            return Ok(to_2d(py, 0, n_lam, vec![]));
        };
        let n = batch.len();
        let obs = match units {
            SpectralUnits::Luminosity => Observers::One(Observer::default()),
            SpectralUnits::Fnu => observers(redshift, distmod, n)?,
        };
        let sd = &self.inner.sd;
        let data = py.detach(|| {
            sd.spectra(&batch, component, units, &obs)
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        });
        Ok(to_2d(py, n, n_lam, data))
    }

    /// Photometry, (N, n_filters) float64: AB magnitudes (mag=True) or fluxes [Jy].
    ///
    /// filters: list of built-in filter names (galsed.filters()), filter files (wavelength [Å],
    /// transmission) or "default19"; a comma-separated string also works.
    /// redshift: number or (N,) array (one redshift per galaxy). distmod: number or (N,) array;
    /// default (None, or NaN entries) Planck18's luminosity-distance modulus of the redshift, 0
    /// (10 pc) at z = 0. With one observer for all rows a band the model does not cover raises
    /// ValueError; with per-galaxy arrays such a band is NaN in the rows concerned.
    #[pyo3(signature = (gp, sfh_disk, sfh_bulge, filters, redshift=None, distmod=None, component="combine", mag=true, clip=true),
           text_signature = "(self, gp, sfh_disk, sfh_bulge, filters, redshift=0.0, distmod=None, component='combine', mag=True, clip=True)")]
    #[allow(clippy::too_many_arguments)]
    fn photometry<'py>(
        &self,
        py: Python<'py>,
        gp: &Bound<'py, PyAny>,
        sfh_disk: &Bound<'py, PyAny>,
        sfh_bulge: &Bound<'py, PyAny>,
        filters: &Bound<'py, PyAny>,
        redshift: Option<&Bound<'py, PyAny>>,
        distmod: Option<&Bound<'py, PyAny>>,
        component: &str,
        mag: bool,
        clip: bool,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let component = parse_component(component)?;
        let filters = resolve_filters(filters)?;
        let Some(batch) = batch(gp, sfh_disk, sfh_bulge, clip)? else {
            return Ok(to_2d(py, 0, filters.len(), vec![]));
        };
        let obs = observers(redshift, distmod, batch.len())?;
        let sd = &self.inner.sd;
        let data = py
            .detach(|| photometry_values(sd, &batch, &obs, &filters, component, mag))
            .map_err(value_error)?;
        Ok(to_2d(py, batch.len(), filters.len(), data))
    }

    /// Fits one galaxy's photometry with galsed-fit (as `galsed fit` does for a catalogue row).
    ///
    /// mags, mag_errors: (n_bands,) AB magnitudes and 1σ errors; NaN magnitudes are bands not
    /// observed. filters: the bands, as in photometry(). redshift, distmod: as in photometry().
    /// config: TOML text of a `galsed fit` configuration (docs/fitting.md; [catalog] keys other
    /// than grid do not apply, and grid must match this Model's grid). Default: the 7 galaxy
    /// parameters plus one SFH weight per SSP age and one metallicity for disk and bulge (21;
    /// `[parametrization.sfh] model = "interpolated"` gives the tutorial's 11), particle swarm
    /// (32 particles × 2000 iterations × 10 restarts) + L-BFGS-B polish, no sampler. seed: seed
    /// of the swarm and the samplers (default: the config's seeds, 0).
    ///
    /// Returns a dict: param_names, best (array), params ({name: value}), neg_log_post, chi2,
    /// n_detections, chi2_reduced, filters (bands used), model_mags, model_flux_jy, derived
    /// ({name: value} of the best fit: masses, SFRs, ages, …), optimizer ({method, n_evaluations,
    /// converged, spread}), redshift, distmod; with a sampler also samples, percentiles
    /// ({name: [p16, p50, p84]}), derived_percentiles and sampler ({converged, acceptance,
    /// n_evaluations, tau_max, log_z, log_z_err, rhat_max, ess_min}).
    ///
    /// plot: a file name ending in .png or .svg to also draw the fit there, as `galsed fit
    /// --plot` does: the observed photometry with its errors and limits, the best-fit spectrum
    /// with its components (dust-free and attenuated stars, dust emission) and the residuals;
    /// title: the plot's title (default "galaxy").
    #[pyo3(signature = (mags, mag_errors, filters, redshift=0.0, distmod=None, config=None, seed=None, plot=None, title="galaxy"))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &self,
        py: Python<'py>,
        mags: &Bound<'py, PyAny>,
        mag_errors: &Bound<'py, PyAny>,
        filters: &Bound<'py, PyAny>,
        redshift: f64,
        distmod: Option<f64>,
        config: Option<&str>,
        seed: Option<u64>,
        plot: Option<std::path::PathBuf>,
        title: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        crate::fit::fit(
            py,
            &self.inner,
            mags,
            mag_errors,
            filters,
            redshift,
            distmod,
            config,
            seed,
            plot.map(|p| (p, title)),
        )
    }

    /// Photometry of SAM galaxies, converted by `converter` (a galsed.SamConverter).
    ///
    /// Arguments as SamConverter.convert, then filters, redshift, distmod, component and mag as in
    /// photometry(). Returns (photometry (N, n_filters) with NaN rows for galaxies that cannot be
    /// converted, status: list of N str, "" for good rows and the reason otherwise). Converted
    /// parameters outside the model's range are clipped, as the reference does.
    #[pyo3(signature = (converter, theta, m_dust, r_dust, r_disk, r_bulge, mass_disk, metal_disk, mass_bulge, metal_bulge, filters, redshift=None, distmod=None, component="combine", mag=true),
           text_signature = "(self, converter, theta, m_dust, r_dust, r_disk, r_bulge, mass_disk, metal_disk, mass_bulge, metal_bulge, filters, redshift=0.0, distmod=None, component='combine', mag=True)")]
    #[allow(clippy::too_many_arguments)]
    fn sam_photometry<'py>(
        &self,
        py: Python<'py>,
        converter: &SamConverter,
        theta: &Bound<'py, PyAny>,
        m_dust: &Bound<'py, PyAny>,
        r_dust: &Bound<'py, PyAny>,
        r_disk: &Bound<'py, PyAny>,
        r_bulge: &Bound<'py, PyAny>,
        mass_disk: &Bound<'py, PyAny>,
        metal_disk: &Bound<'py, PyAny>,
        mass_bulge: &Bound<'py, PyAny>,
        metal_bulge: &Bound<'py, PyAny>,
        filters: &Bound<'py, PyAny>,
        redshift: Option<&Bound<'py, PyAny>>,
        distmod: Option<&Bound<'py, PyAny>>,
        component: &str,
        mag: bool,
    ) -> PyResult<(Bound<'py, PyArray2<f64>>, Vec<String>)> {
        let component = parse_component(component)?;
        let filters = resolve_filters(filters)?;
        let rows = SamRows::read(
            converter,
            theta,
            m_dust,
            r_dust,
            r_disk,
            r_bulge,
            mass_disk,
            metal_disk,
            mass_bulge,
            metal_bulge,
        )?;
        let n = rows.len();
        let obs = observers(redshift, distmod, n)?;
        let nf = filters.len();
        let sd = &self.inner.sd;
        let (data, status) = py
            .detach(|| -> Result<(Vec<f64>, Vec<String>), ModelError> {
                let phot = SamPhotometry::new(sd, filters, component, None);
                let res = phot.compute(sd, &converter.inner, &rows.view(), &obs, &[])?;
                let mut out = vec![f64::NAN; n * nf];
                for &r in &res.converted.good {
                    for (o, &f) in out[r * nf..(r + 1) * nf].iter_mut().zip(res.fluxes.row(r)) {
                        *o = jy_or_mag(f, mag);
                    }
                }
                Ok((out, sam::status(&res.converted)))
            })
            .map_err(value_error)?;
        Ok((to_2d(py, n, nf, data), status))
    }
}
