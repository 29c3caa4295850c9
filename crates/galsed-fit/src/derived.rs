//! Physical properties of galaxies derived from the model inputs (spec §5.7; the reference's
//! `Analyzer`): the seven galaxy parameters in physical units, stellar and dust masses, star
//! formation rate and history, mass-weighted ages and metallicities, the absorption fraction and
//! the bolometric luminosity.
//!
//! The inputs are the model inputs *after* the adapter: galaxy parameters in unit space (N × 7)
//! and disk/bulge star-formation histories as light fractions over the 36 SSPs (N × 36,
//! k = 6·i_met + i_age), exactly what the emulator evaluates (see
//! [`galsed_emulator::inputs::Batch`]).
//!
//! # Conventions (those of the reference)
//!
//! * SFH weight k of a component is the fraction of the component's intrinsic bolometric
//!   luminosity emitted by SSP k, so the stellar mass in SSP k is
//!   `mass_c[k] = sfh_c[k] / norm[k] · L_c`, with `L_disk = l_norm·(1 − b_to_t)` and
//!   `L_bulge = l_norm·b_to_t`, and `norm[k]` the bolometric luminosity of one solar mass of SSP k.
//!   The weights are used as given (they are not renormalised).
//! * Metallicities are reported in solar units, Z/0.019.
//! * `sfr` averages the mass formed over the last 10⁸ yr: the mass of the age bins entirely younger
//!   than 10⁸ yr plus the fraction (10⁸ − edge_lo)/(edge_hi − edge_lo) of the bin that straddles
//!   10⁸ yr, divided by 10⁸ yr. As in the reference, **only the disk gets the straddling-bin
//!   fraction**; `sfr_bulge` counts complete bins only, and `sfr = sfr_disk + sfr_bulge`.
//! * Averages over no mass (a component with `b_to_t` exactly 0 or 1, or an age bin with zero
//!   weight at every metallicity, which fitting parametrisations can produce) are 0/0 = NaN, as in
//!   the reference.
//!
//! # Precision
//!
//! The reference ran in float32. Here every property is computed in float64 from the float32
//! inputs, from the float32 roundings of the SSP constants the reference used (`norm`, `met`,
//! `tau`, `tau_edges` are float32 buffers there) and, for `l_bol` and `frac_abs`, from the
//! emulator's float32 predictions. Results therefore agree with the reference to the float32
//! rounding of its own arithmetic (measured ≤ 2.3e−6 relative; the 10^x transforms amplify
//! float32 rounding by ln 10·|x|), except where that arithmetic is ill-conditioned (see
//! [`PROPERTIES`] for `theta`).

use std::ops::Range;

use galsed_core::numeric::trapz;
use galsed_core::params::GALAXY_PARAMS;
use galsed_core::ssp::SspLibrary;
use galsed_emulator::inputs::Batch;
use galsed_emulator::predict::{Observer, SpectralUnits};
use galsed_emulator::{Component, ModelError, N_GP, N_SSP, Starduster};
use ndarray::{Array2, ArrayView1, ArrayView2, s};

/// Solar metallicity used to express metallicities in solar units (the reference's `met_sol`).
pub const MET_SOL: f64 = 0.019;

/// Time scale of [`sfr`](PROPERTIES), in yr.
pub const SFR_TIME_SCALE_YR: f64 = 1e8;

/// Galaxies evaluated at a time (bounds the N × n_λ spectra held in memory).
const ROWS_PER_PASS: usize = 4096;

/// Errors of the derived-property computation.
#[derive(Debug, thiserror::Error)]
pub enum DerivedError {
    /// The inputs have inconsistent lengths.
    #[error("invalid input: {0}")]
    Input(String),
    /// The SSP library does not have the model's 36 SSPs.
    #[error("SSP library does not match the model: {0}")]
    Library(String),
    /// The emulator refused the inputs.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Whether a property is one number per galaxy or one per SSP age bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value per galaxy.
    Scalar,
    /// One value per SSP age bin (6 for the published library), expanded to the columns
    /// `<name>_0` (youngest) … `<name>_5` (oldest).
    PerAge,
}

/// A derived property: name, unit and a one-line description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// Name as in the reference's `Analyzer`.
    pub name: &'static str,
    /// Unit ("" for dimensionless quantities).
    pub unit: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Scalar or per age bin.
    pub shape: Shape,
}

const fn scalar(name: &'static str, unit: &'static str, description: &'static str) -> Property {
    Property {
        name,
        unit,
        description,
        shape: Shape::Scalar,
    }
}

const fn per_age(name: &'static str, unit: &'static str, description: &'static str) -> Property {
    Property {
        name,
        unit,
        description,
        shape: Shape::PerAge,
    }
}

/// The 29 properties of the reference's `Analyzer`, in its order (the order of the columns of
/// [`DerivedProperties`]).
///
/// `theta` near face-on (u → 1) is ill-conditioned in float32: the reference's values there
/// carry a relative error of up to ≈ 6e−8/(θ·sin θ) (θ in radians; 1e−5 at θ = 4°), which the
/// float64 values here do not have.
///
/// ```
/// use galsed_fit::derived::{PROPERTIES, Shape};
/// assert_eq!(PROPERTIES.len(), 29);
/// let sfh = PROPERTIES.iter().find(|p| p.name == "sfh").unwrap();
/// assert_eq!((sfh.unit, sfh.shape), ("M_sun", Shape::PerAge));
/// for p in PROPERTIES {
///     println!("{:<13} [{}] {}", p.name, p.unit, p.description);
/// }
/// ```
pub const PROPERTIES: [Property; 29] = [
    scalar("theta", "deg", "inclination (0 = face-on, 90 = edge-on)"),
    scalar(
        "den_dust",
        "M_sun/kpc^2",
        "dust surface density m_dust/(2π r_dust²)",
    ),
    scalar(
        "r_dust_to_rd",
        "",
        "dust-disk to stellar-disk scale-radius ratio",
    ),
    scalar("r_disk", "kpc", "stellar disk scale radius"),
    scalar("r_bulge", "kpc", "bulge radius"),
    scalar(
        "l_norm",
        "L_sun",
        "intrinsic (dust-free) bolometric luminosity",
    ),
    scalar(
        "b_to_t",
        "",
        "bulge-to-total ratio of the intrinsic luminosity",
    ),
    scalar(
        "frac_abs",
        "",
        "fraction of the intrinsic stellar light absorbed by dust",
    ),
    scalar(
        "l_bol",
        "L_sun",
        "bolometric luminosity of the model SED (stars + dust), ∫λL_λ dlnλ",
    ),
    scalar("m_dust", "M_sun", "dust mass den_dust·2π·r_dust²"),
    scalar("m_star", "M_sun", "stellar mass (disk + bulge)"),
    scalar("m_star_disk", "M_sun", "stellar mass of the disk"),
    scalar("m_star_bulge", "M_sun", "stellar mass of the bulge"),
    scalar("mwa", "yr", "mass-weighted stellar age"),
    scalar("mwa_disk", "yr", "mass-weighted stellar age of the disk"),
    scalar("mwa_bulge", "yr", "mass-weighted stellar age of the bulge"),
    scalar("mwm", "Z_sun", "mass-weighted stellar metallicity Z/0.019"),
    scalar(
        "mwm_disk",
        "Z_sun",
        "mass-weighted stellar metallicity of the disk, Z/0.019",
    ),
    scalar(
        "mwm_bulge",
        "Z_sun",
        "mass-weighted stellar metallicity of the bulge, Z/0.019",
    ),
    per_age(
        "mh",
        "Z_sun",
        "mass-weighted metallicity Z/0.019 of the stars in each age bin",
    ),
    per_age(
        "mh_disk",
        "Z_sun",
        "mass-weighted metallicity Z/0.019 of the disk stars in each age bin",
    ),
    per_age(
        "mh_bulge",
        "Z_sun",
        "mass-weighted metallicity Z/0.019 of the bulge stars in each age bin",
    ),
    scalar(
        "r_dust",
        "kpc",
        "dust-disk scale radius r_disk·r_dust_to_rd",
    ),
    per_age(
        "sfh",
        "M_sun",
        "stellar mass in each age bin (summed over metallicity)",
    ),
    per_age("sfh_disk", "M_sun", "disk stellar mass in each age bin"),
    per_age("sfh_bulge", "M_sun", "bulge stellar mass in each age bin"),
    scalar(
        "sfr",
        "M_sun/yr",
        "star formation rate over the last 1e8 yr (sfr_disk + sfr_bulge)",
    ),
    scalar(
        "sfr_disk",
        "M_sun/yr",
        "disk star formation rate over the last 1e8 yr, with the partial age bin",
    ),
    scalar(
        "sfr_bulge",
        "M_sun/yr",
        "bulge star formation rate over the last 1e8 yr, complete age bins only (reference quirk)",
    ),
];

/// One column of the table of derived properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name: the property name, with `_<i>` appended for age bin i of a per-age property
    /// (`"sfh_0"` … `"sfh_5"`).
    pub name: String,
    /// The property this column belongs to.
    pub property: Property,
    /// Age bin of a per-age column.
    pub age_bin: Option<AgeBin>,
    /// One-line description, including the age bin of a per-age column.
    pub description: String,
}

/// An SSP age bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeBin {
    /// Index, 0 = youngest.
    pub index: usize,
    /// Age of the SSP, in yr.
    pub age_yr: f64,
    /// Bin edges, in yr.
    pub edges_yr: (f64, f64),
}

/// The columns of the table of derived properties for an SSP library: the [`PROPERTIES`] in
/// order, per-age properties expanded to one column per age bin.
///
/// ```no_run
/// use galsed_core::ssp::SspLibrary;
/// let ssp = SspLibrary::from_npz("ssp_library.npz")?;
/// let cols = galsed_fit::derived::columns(&ssp);
/// assert_eq!(cols.len(), 59); // 29 properties, 6 of them per age bin (6 bins)
/// assert_eq!(cols[38].name, "sfh_0");
/// assert_eq!(cols[38].age_bin.unwrap().age_yr, ssp.tau[0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn columns(ssp: &SspLibrary) -> Vec<Column> {
    let bins: Vec<AgeBin> = ssp
        .tau
        .iter()
        .enumerate()
        .map(|(i, &age)| AgeBin {
            index: i,
            age_yr: age,
            // A library always has len(tau) + 1 edges; NaN marks an inconsistent one.
            edges_yr: (
                ssp.tau_edges.get(i).copied().unwrap_or(f64::NAN),
                ssp.tau_edges.get(i + 1).copied().unwrap_or(f64::NAN),
            ),
        })
        .collect();
    let mut out = Vec::new();
    for p in PROPERTIES {
        match p.shape {
            Shape::Scalar => out.push(Column {
                name: p.name.to_string(),
                property: p,
                age_bin: None,
                description: p.description.to_string(),
            }),
            Shape::PerAge => out.extend(bins.iter().map(|b| Column {
                name: format!("{}_{}", p.name, b.index),
                property: p,
                age_bin: Some(*b),
                description: format!(
                    "{}; age bin {} (SSP age {:.3e} yr, {:.3e}–{:.3e} yr)",
                    p.description, b.index, b.age_yr, b.edges_yr.0, b.edges_yr.1
                ),
            })),
        }
    }
    out
}

/// Derived properties of a batch: one row per galaxy, one column per [`Column`].
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedProperties {
    columns: Vec<Column>,
    values: Array2<f64>,
}

impl DerivedProperties {
    /// Number of galaxies.
    pub fn len(&self) -> usize {
        self.values.nrows()
    }

    /// Whether there are no galaxies.
    pub fn is_empty(&self) -> bool {
        self.values.nrows() == 0
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// All values, (N galaxies × columns).
    pub fn values(&self) -> &Array2<f64> {
        &self.values
    }

    /// The values, consuming the table.
    pub fn into_values(self) -> Array2<f64> {
        self.values
    }

    /// One column by name (`"m_star"`, `"sfh_3"`), or `None` if there is no such column.
    pub fn column(&self, name: &str) -> Option<ArrayView1<'_, f64>> {
        let j = self.columns.iter().position(|c| c.name == name)?;
        Some(self.values.column(j))
    }

    /// One property by name (`"m_star"`, `"sfh"`): (N × 1) for scalars, (N × n_age) for per-age
    /// properties; `None` if there is no such property.
    pub fn property(&self, name: &str) -> Option<ArrayView2<'_, f64>> {
        let range = self.property_columns(name)?;
        Some(self.values.slice(s![.., range]))
    }

    fn property_columns(&self, name: &str) -> Option<Range<usize>> {
        let start = self.columns.iter().position(|c| c.property.name == name)?;
        let len = self.columns[start..]
            .iter()
            .take_while(|c| c.property.name == name)
            .count();
        Some(start..start + len)
    }
}

/// Computes the derived properties with a model and the SSP library it was built from.
///
/// ```no_run
/// use galsed_core::ssp::WavelengthGrid;
/// use galsed_io::store;
/// use galsed_emulator::{Starduster, inputs::{Batch, OutOfRange}, model_files::ModelFiles};
/// use galsed_fit::derived::Analyzer;
///
/// let dir = store::resolve_model_dir(None)?;
/// let files = ModelFiles::load(&dir.path)?;
/// let model = Starduster::from_files(&files, &WavelengthGrid::Base)?;
///
/// let sfh = vec![1.0 / 36.0; 36];
/// let batch = Batch::new(vec![0.0; 7], sfh.clone(), sfh, OutOfRange::Error)?;
/// let analyzer = Analyzer::new(&model, &files.ssp)?;
/// let props = analyzer.compute(&batch)?;
/// let m_star = props.column("m_star").unwrap()[0];          // M_sun
/// let sfh_young = props.column("sfh_0").unwrap()[0];        // M_sun in the youngest age bin
/// for (col, v) in props.columns().iter().zip(props.values().row(0)) {
///     println!("{:>14} = {v:.4e} {}  ({})", col.name, col.property.unit, col.description);
/// }
/// # let _ = (m_star, sfh_young);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Analyzer<'a> {
    model: &'a Starduster,
    columns: Vec<Column>,
    n_age: usize,
    /// float32 roundings of the library constants, as the reference uses them.
    norm: Vec<f64>,
    met: Vec<f64>,
    tau: Vec<f64>,
    /// Weight of each age bin in the mass formed within [`SFR_TIME_SCALE_YR`]: 1 for complete
    /// bins, the overlapping fraction for the straddling bin, 0 beyond.
    sfr_weight_disk: Vec<f64>,
    /// Same without the straddling bin (the reference's bulge).
    sfr_weight_bulge: Vec<f64>,
    /// ln λ of the model grid (float32 rounding of ln of the float32 grid, as the reference).
    ln_lam: Vec<f64>,
}

fn round32(v: f64) -> f64 {
    f64::from(v as f32)
}

impl<'a> Analyzer<'a> {
    /// An analyzer for `model`, whose SSP library `ssp` must be the one the model was built from
    /// (only its shape can be checked: 36 SSPs).
    pub fn new(model: &'a Starduster, ssp: &SspLibrary) -> Result<Self, DerivedError> {
        if ssp.n_ssp() != N_SSP
            || ssp.tau_edges.len() != ssp.n_age() + 1
            || ssp.norm.dim() != (ssp.n_met(), ssp.n_age())
        {
            return Err(DerivedError::Library(format!(
                "{} metallicities × {} ages ({} age edges, norm {:?}); the model has {N_SSP} SSPs",
                ssp.n_met(),
                ssp.n_age(),
                ssp.tau_edges.len(),
                ssp.norm.dim()
            )));
        }
        let n_age = ssp.n_age();
        let edges: Vec<f64> = ssp.tau_edges.iter().map(|&e| round32(e)).collect();
        let mut sfr_weight_disk = vec![0.0; n_age];
        let mut sfr_weight_bulge = vec![0.0; n_age];
        for i in 0..n_age {
            let (lo, hi) = (edges[i], edges[i + 1]);
            if hi <= SFR_TIME_SCALE_YR {
                sfr_weight_disk[i] = 1.0;
                sfr_weight_bulge[i] = 1.0;
            } else if lo < SFR_TIME_SCALE_YR {
                sfr_weight_disk[i] = (SFR_TIME_SCALE_YR - lo) / (hi - lo);
            }
        }
        let ln_lam = model
            .grid()
            .lam_eval
            .iter()
            .map(|&l| f64::from((l as f32).ln()))
            .collect();
        Ok(Self {
            model,
            columns: columns(ssp),
            n_age,
            norm: ssp.norm.iter().map(|&v| round32(v)).collect(),
            met: ssp.met.iter().map(|&v| round32(v)).collect(),
            tau: ssp.tau.iter().map(|&v| round32(v)).collect(),
            sfr_weight_disk,
            sfr_weight_bulge,
            ln_lam,
        })
    }

    /// The columns of the results.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Derived properties of a batch (its inputs are used as they are: a batch from
    /// [`Batch::new`] is clipped like the reference's default adapter, one from
    /// [`Batch::from_adapted`] is not).
    pub fn compute(&self, batch: &Batch) -> Result<DerivedProperties, DerivedError> {
        let n = batch.len();
        let n_col = self.columns.len();
        let mut values = Array2::zeros((n, n_col));
        for start in (0..n).step_by(ROWS_PER_PASS) {
            let end = (start + ROWS_PER_PASS).min(n);
            let part = batch.rows(start, end);
            let lum = self.model.spectrum(
                &part,
                Component::Combine,
                SpectralUnits::Luminosity,
                Observer::default(),
            );
            let frac = self.model.absorption_fraction(&part);
            if lum.ncols() != self.ln_lam.len() || frac.len() != part.len() {
                return Err(DerivedError::Input(format!(
                    "the model returned {} × {} spectra and {} fractions for {} galaxies on a {}-point grid",
                    lum.nrows(),
                    lum.ncols(),
                    frac.len(),
                    part.len(),
                    self.ln_lam.len()
                )));
            }
            for (i, row) in (start..end).enumerate() {
                let spectrum: Vec<f64> = lum.row(i).iter().map(|&v| f64::from(v)).collect();
                let l_bol = trapz(&spectrum, &self.ln_lam);
                let out = values
                    .row_mut(row)
                    .into_slice()
                    .expect("rows of a standard-layout array are contiguous");
                self.row(
                    &batch.gp()[row * N_GP..(row + 1) * N_GP],
                    &batch.sfh_disk()[row * N_SSP..(row + 1) * N_SSP],
                    &batch.sfh_bulge()[row * N_SSP..(row + 1) * N_SSP],
                    f64::from(frac[i]),
                    l_bol,
                    out,
                );
            }
        }
        Ok(DerivedProperties {
            columns: self.columns.clone(),
            values,
        })
    }

    /// Derived properties of already-adapted inputs given as row-major slices: `gp` (N × 7, unit
    /// space), `sfh_disk` and `sfh_bulge` (N × 36 light fractions). They are not clipped (see
    /// [`Batch::from_adapted`]). Empty inputs give an empty table; inconsistent lengths or
    /// non-finite values are an error.
    pub fn compute_slices(
        &self,
        gp: &[f32],
        sfh_disk: &[f32],
        sfh_bulge: &[f32],
    ) -> Result<DerivedProperties, DerivedError> {
        if !gp.len().is_multiple_of(N_GP) {
            return Err(DerivedError::Input(format!(
                "gp has {} values, not a whole number of rows of {N_GP}",
                gp.len()
            )));
        }
        let n = gp.len() / N_GP;
        for (name, v) in [("sfh_disk", sfh_disk), ("sfh_bulge", sfh_bulge)] {
            if v.len() != n * N_SSP {
                return Err(DerivedError::Input(format!(
                    "{name} has {} values, expected {n} rows × {N_SSP}",
                    v.len()
                )));
            }
        }
        if n == 0 {
            return Ok(DerivedProperties {
                columns: self.columns.clone(),
                values: Array2::zeros((0, self.columns.len())),
            });
        }
        let batch = Batch::from_adapted(gp.to_vec(), sfh_disk.to_vec(), sfh_bulge.to_vec())?;
        self.compute(&batch)
    }

    /// Fills one output row (column order of [`PROPERTIES`]).
    fn row(
        &self,
        gp: &[f32],
        sfh_disk: &[f32],
        sfh_bulge: &[f32],
        frac_abs: f64,
        l_bol: f64,
        out: &mut [f64],
    ) {
        let n_age = self.n_age;
        let phys: [f64; N_GP] =
            std::array::from_fn(|i| GALAXY_PARAMS[i].from_unit(f64::from(gp[i])));
        let [_, den_dust, r_dust_to_rd, r_disk, _, l_norm, b_to_t] = phys;
        let r_dust = r_disk * r_dust_to_rd;

        // Stellar mass per SSP [M_sun] = light fraction / (L_sun per M_sun) · component luminosity.
        let mass = |sfh: &[f32], l: f64| -> Vec<f64> {
            sfh.iter()
                .zip(&self.norm)
                .map(|(&s, &norm)| f64::from(s) / norm * l)
                .collect()
        };
        let m_disk = mass(sfh_disk, l_norm * (1.0 - b_to_t));
        let m_bulge = mass(sfh_bulge, l_norm * b_to_t);
        let m_total: Vec<f64> = m_disk.iter().zip(&m_bulge).map(|(a, b)| a + b).collect();

        // Per component (total, disk, bulge): mass per age, mass-weighted age and metallicity,
        // metallicity per age.
        struct Summary {
            m_star: f64,
            per_age: Vec<f64>,
            mwa: f64,
            mwm: f64,
            mh: Vec<f64>,
        }
        let summarise = |m: &[f64]| -> Summary {
            let per_age: Vec<f64> = (0..n_age)
                .map(|a| m.iter().skip(a).step_by(n_age).sum())
                .collect();
            let m_star: f64 = per_age.iter().sum();
            let mwa = per_age
                .iter()
                .zip(&self.tau)
                .map(|(m, t)| m * t)
                .sum::<f64>()
                / m_star;
            let z_mass = |a: usize| -> f64 {
                self.met
                    .iter()
                    .enumerate()
                    .map(|(i_met, z)| z * m[i_met * n_age + a])
                    .sum()
            };
            let mwm = (0..n_age).map(z_mass).sum::<f64>() / m_star / MET_SOL;
            let mh = (0..n_age)
                .map(|a| z_mass(a) / per_age[a] / MET_SOL)
                .collect();
            Summary {
                m_star,
                per_age,
                mwa,
                mwm,
                mh,
            }
        };
        let (t, d, b) = (summarise(&m_total), summarise(&m_disk), summarise(&m_bulge));

        let sfr = |per_age: &[f64], w: &[f64]| -> f64 {
            per_age.iter().zip(w).map(|(m, w)| m * w).sum::<f64>() / SFR_TIME_SCALE_YR
        };
        let sfr_disk = sfr(&d.per_age, &self.sfr_weight_disk);
        let sfr_bulge = sfr(&b.per_age, &self.sfr_weight_bulge);

        let mut k = 0;
        let mut put = |vals: &[f64]| {
            out[k..k + vals.len()].copy_from_slice(vals);
            k += vals.len();
        };
        put(&phys);
        put(&[
            frac_abs,
            l_bol,
            den_dust * 2.0 * std::f64::consts::PI * r_dust * r_dust,
        ]);
        put(&[t.m_star, d.m_star, b.m_star]);
        put(&[t.mwa, d.mwa, b.mwa]);
        put(&[t.mwm, d.mwm, b.mwm]);
        put(&t.mh);
        put(&d.mh);
        put(&b.mh);
        put(&[r_dust]);
        put(&t.per_age);
        put(&d.per_age);
        put(&b.per_age);
        put(&[sfr_disk + sfr_bulge, sfr_disk, sfr_bulge]);
        debug_assert_eq!(k, out.len());
    }
}

/// Derived properties of a batch in one call: [`Analyzer::new`] then [`Analyzer::compute`].
pub fn derived_properties(
    model: &Starduster,
    ssp: &SspLibrary,
    batch: &Batch,
) -> Result<DerivedProperties, DerivedError> {
    Analyzer::new(model, ssp)?.compute(batch)
}
