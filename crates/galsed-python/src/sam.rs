//! `galsed.SamConverter`: semi-analytic-model galaxies → Starduster inputs
//! (`galsed_core::sam`, the reference's `SemiAnalyticConventer`).

use std::sync::Arc;

use galsed_core::sam::{self as core_sam, AgeBins};
use galsed_emulator::sam::{self, Converted};
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::model::{Model, to_2d};
use crate::{bad, matrix_any, value_error, vector};

/// SAM arrays of N galaxies, read and shape-checked against the converter's bins.
pub(crate) struct SamRows {
    n: usize,
    n_bins: usize,
    /// theta, m_dust, r_dust, r_disk, r_bulge.
    scalars: [Vec<f64>; 5],
    /// mass_disk, metal_disk, mass_bulge, metal_bulge, row-major N × n_bins.
    histories: [Vec<f64>; 4],
}

impl SamRows {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read(
        converter: &SamConverter,
        theta: &Bound<'_, PyAny>,
        m_dust: &Bound<'_, PyAny>,
        r_dust: &Bound<'_, PyAny>,
        r_disk: &Bound<'_, PyAny>,
        r_bulge: &Bound<'_, PyAny>,
        mass_disk: &Bound<'_, PyAny>,
        metal_disk: &Bound<'_, PyAny>,
        mass_bulge: &Bound<'_, PyAny>,
        metal_bulge: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let theta = vector(theta, "theta", None)?;
        let n = theta.len();
        let scalars = [
            theta,
            vector(m_dust, "m_dust", Some(n))?,
            vector(r_dust, "r_dust", Some(n))?,
            vector(r_disk, "r_disk", Some(n))?,
            vector(r_bulge, "r_bulge", Some(n))?,
        ];
        let n_bins = converter.inner.n_bins();
        let hist = |obj: &Bound<'_, PyAny>, name: &str| -> PyResult<Vec<f64>> {
            let (rows, cols, data) = matrix_any(obj, name)?;
            if rows != n || cols != n_bins {
                return Err(bad(format!(
                    "{name} must have shape (N, n_bins) = ({n}, {n_bins}) (N from theta, n_bins from the converter's ages), got ({rows}, {cols})"
                )));
            }
            Ok(data)
        };
        let histories = [
            hist(mass_disk, "mass_disk")?,
            hist(metal_disk, "metal_disk")?,
            hist(mass_bulge, "mass_bulge")?,
            hist(metal_bulge, "metal_bulge")?,
        ];
        Ok(Self {
            n,
            n_bins,
            scalars,
            histories,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// The library's view of the rows.
    pub(crate) fn view(&self) -> sam::SamRows<'_> {
        sam::SamRows {
            n_bins: self.n_bins,
            scalars: self.scalars.each_ref().map(Vec::as_slice),
            histories: self.histories.each_ref().map(Vec::as_slice),
        }
    }
}

/// Converts semi-analytic-model galaxies into the model's inputs, as Starduster's
/// SemiAnalyticConventer does (bit for bit).
///
/// SamConverter(model, age_edges=None, ages=None, frac_recycle=0.0)
///
/// model: a galsed.Model (its SSP library is used). Give exactly one of age_edges (n_bins + 1
/// increasing bin edges [yr]: SAM histories per age bin) or ages (n_bins increasing ages [yr]:
/// instantaneous bursts). frac_recycle: fraction of the formed stellar mass returned to the gas
/// (SAM masses are divided by 1 − frac_recycle).
#[pyclass(module = "galsed", frozen)]
pub struct SamConverter {
    pub(crate) inner: Arc<core_sam::SamConverter>,
}

/// Per row, "" for a converted galaxy and the reason otherwise.
pub(crate) fn status(converted: &Converted) -> Vec<String> {
    converted
        .errors
        .iter()
        .map(|e| e.as_ref().map_or_else(String::new, ToString::to_string))
        .collect()
}

#[pymethods]
impl SamConverter {
    #[new]
    #[pyo3(signature = (model, age_edges=None, ages=None, frac_recycle=0.0))]
    fn new(
        model: &Model,
        age_edges: Option<&Bound<'_, PyAny>>,
        ages: Option<&Bound<'_, PyAny>>,
        frac_recycle: f64,
    ) -> PyResult<Self> {
        let bins = match (age_edges, ages) {
            (Some(e), None) => AgeBins::Step(vector(e, "age_edges", None)?),
            (None, Some(a)) => AgeBins::Instant(vector(a, "ages", None)?),
            _ => {
                return Err(bad(
                    "give exactly one of age_edges (bin edges [yr]) or ages (instantaneous ages [yr])",
                ));
            }
        };
        let inner = core_sam::SamConverter::new(&model.inner.ssp, bins, frac_recycle)
            .map_err(value_error)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Number of SAM age columns (width of the mass and metal-mass histories).
    #[getter]
    fn n_bins(&self) -> usize {
        self.inner.n_bins()
    }

    /// The SAM-age → library-age matrix (n_bins, 6): how each SAM column is shared among the
    /// library ages.
    #[getter]
    fn tau_matrix<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let m = self.inner.tau_matrix();
        to_2d(
            py,
            m.nrows(),
            m.ncols(),
            m.iter().map(|&v| f64::from(v)).collect(),
        )
    }

    /// Bin edges [yr] (None for instantaneous ages).
    #[getter]
    fn age_edges<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        match self.inner.ages() {
            AgeBins::Step(e) => Some(e.clone().into_pyarray(py)),
            AgeBins::Instant(_) => None,
        }
    }

    /// Instantaneous ages [yr] (None for age bins).
    #[getter]
    fn ages<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        match self.inner.ages() {
            AgeBins::Instant(a) => Some(a.clone().into_pyarray(py)),
            AgeBins::Step(_) => None,
        }
    }

    #[getter]
    fn frac_recycle(&self) -> f64 {
        self.inner.frac_recycle()
    }

    fn __repr__(&self) -> String {
        let kind = match self.inner.ages() {
            AgeBins::Step(_) => "age_edges",
            AgeBins::Instant(_) => "ages",
        };
        format!(
            "galsed.SamConverter({kind}: {} bins, frac_recycle={})",
            self.inner.n_bins(),
            self.inner.frac_recycle()
        )
    }

    /// Converts N SAM galaxies.
    ///
    /// theta [deg], m_dust [M_sun], r_dust, r_disk, r_bulge [kpc]: (N,) arrays. mass_disk,
    /// metal_disk, mass_bulge, metal_bulge: (N, n_bins) stellar mass formed and metal mass per
    /// SAM age column [M_sun].
    ///
    /// Returns a dict of arrays gp (N, 7) (unit space, not clipped: the model clips it as the
    /// reference does), sfh_disk, sfh_bulge (N, 36), l_norm_disk, l_norm_bulge (N,) [L_sun], and
    /// status: list of N str, "" for converted rows and the reason otherwise (those rows are NaN).
    /// Wrong shapes raise ValueError; bad values only mark their row.
    #[allow(clippy::too_many_arguments)]
    fn convert<'py>(
        &self,
        py: Python<'py>,
        theta: &Bound<'py, PyAny>,
        m_dust: &Bound<'py, PyAny>,
        r_dust: &Bound<'py, PyAny>,
        r_disk: &Bound<'py, PyAny>,
        r_bulge: &Bound<'py, PyAny>,
        mass_disk: &Bound<'py, PyAny>,
        metal_disk: &Bound<'py, PyAny>,
        mass_bulge: &Bound<'py, PyAny>,
        metal_bulge: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let rows = SamRows::read(
            self,
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
        let c = py.detach(|| Converted::new(&self.inner, &rows.view(), &[]));
        let status = status(&c);
        let out = PyDict::new(py);
        out.set_item("gp", to_2d(py, n, 7, c.gp))?;
        out.set_item("sfh_disk", to_2d(py, n, core_sam::N_SSP, c.sfh_disk))?;
        out.set_item("sfh_bulge", to_2d(py, n, core_sam::N_SSP, c.sfh_bulge))?;
        out.set_item("l_norm_disk", c.l_norm_disk.into_pyarray(py))?;
        out.set_item("l_norm_bulge", c.l_norm_bulge.into_pyarray(py))?;
        out.set_item("status", status)?;
        Ok(out)
    }
}
