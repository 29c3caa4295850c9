//! Validated model inputs: galaxy parameters in unit space and disk/bulge star-formation histories,
//! and the checks of a galaxy table as read ([`unit_space_gp`], [`sfh_sum_warning`]).

use galsed_core::numeric::short_number;
use galsed_core::params::GALAXY_PARAMS;
use galsed_io::galaxies::GalaxyTable;

use crate::ModelError;
use crate::sed::{N_GP, N_SSP};

/// Relative margin of the reference's input clipping (spec §5.1).
const CLIP_EPS: f64 = 1e-6;

/// What to do with values outside the model's domain (|u| > 1, SFH weights outside [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutOfRange {
    /// Refuse them with an error naming the row and column.
    #[default]
    Error,
    /// Clip them into the domain, as the published library silently does.
    Clip,
}

/// A batch of galaxies: `gp` (N × 7, unit space), `sfh_disk` and `sfh_bulge` (N × 36 light
/// fractions, k = 6·i_met + i_age), row-major float32.
///
/// ```
/// use galsed_emulator::inputs::{Batch, OutOfRange};
/// let sfh = vec![1.0 / 36.0; 36];
/// let batch = Batch::new(vec![0.0; 7], sfh.clone(), sfh, OutOfRange::Error).unwrap();
/// assert_eq!(batch.len(), 1);
/// assert!(Batch::new(vec![f64::NAN; 7], vec![0.0; 36], vec![0.0; 36], OutOfRange::Clip).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    n: usize,
    gp: Vec<f32>,
    sfh_disk: Vec<f32>,
    sfh_bulge: Vec<f32>,
}

fn check(
    name: &str,
    values: &[f64],
    width: usize,
    n: usize,
    range: (f64, f64),
    policy: OutOfRange,
) -> Result<(), ModelError> {
    if values.len() != n * width {
        return Err(ModelError::Input(format!(
            "{name} has {} values, expected {n} rows × {width} columns",
            values.len()
        )));
    }
    for (i, &v) in values.iter().enumerate() {
        let (row, col) = (i / width, i % width);
        if !v.is_finite() {
            return Err(ModelError::Input(format!("{name}[{row}, {col}] is {v}")));
        }
        if policy == OutOfRange::Error && !(range.0..=range.1).contains(&v) {
            return Err(ModelError::Input(format!(
                "{name}[{row}, {col}] = {v} is outside [{}, {}] (use clipping to accept it)",
                range.0, range.1
            )));
        }
    }
    Ok(())
}

/// Number of rows of a `gp` array of `len` values (a whole number ≥ 1 of rows of 7).
fn rows_of_gp(len: usize) -> Result<usize, ModelError> {
    if len == 0 || !len.is_multiple_of(N_GP) {
        return Err(ModelError::Input(format!(
            "gp has {len} values: expected a whole number (≥ 1) of rows of {N_GP} parameters"
        )));
    }
    Ok(len / N_GP)
}

/// The reference's clipping in float32: centre + radius·clamp((p − centre)/radius, −1+ε, 1−ε).
fn clip(values: &[f64], centre: f32, radius: f32) -> Vec<f32> {
    let hi = (1.0 - CLIP_EPS) as f32;
    values
        .iter()
        .map(|&v| centre + radius * ((v as f32 - centre) / radius).clamp(-hi, hi))
        .collect()
}

impl Batch {
    /// Validates and clips a batch. Every value must be finite; rows are counted from `gp`.
    /// With [`OutOfRange::Error`], |u| > 1 or SFH weights outside [0, 1] are refused.
    /// Values are then clipped exactly as the reference does, so zero SFH weights become ≈5e−7.
    pub fn new(
        gp: Vec<f64>,
        sfh_disk: Vec<f64>,
        sfh_bulge: Vec<f64>,
        policy: OutOfRange,
    ) -> Result<Self, ModelError> {
        let n = rows_of_gp(gp.len())?;
        check("gp", &gp, N_GP, n, (-1.0, 1.0), policy)?;
        check("sfh_disk", &sfh_disk, N_SSP, n, (0.0, 1.0), policy)?;
        check("sfh_bulge", &sfh_bulge, N_SSP, n, (0.0, 1.0), policy)?;
        Ok(Self {
            n,
            gp: clip(&gp, 0.0, 1.0),
            sfh_disk: clip(&sfh_disk, 0.5, 0.5),
            sfh_bulge: clip(&sfh_bulge, 0.5, 0.5),
        })
    }

    /// A batch of inputs that a fitting parametrisation has already mapped into the model's
    /// domain (spec §5.5): used as they are, without the default clipping, so that exact zeros
    /// of an interpolated SFH stay zero as in the reference. Values must be finite.
    ///
    /// ```
    /// use galsed_emulator::inputs::Batch;
    /// let mut sfh = vec![0.0f32; 36];
    /// sfh[0] = 1.0;
    /// let b = Batch::from_adapted(vec![0.0; 7], sfh.clone(), sfh).unwrap();
    /// assert_eq!(b.sfh_disk()[1], 0.0);
    /// ```
    pub fn from_adapted(
        gp: Vec<f32>,
        sfh_disk: Vec<f32>,
        sfh_bulge: Vec<f32>,
    ) -> Result<Self, ModelError> {
        let n = rows_of_gp(gp.len())?;
        for (name, values, width) in [
            ("gp", &gp, N_GP),
            ("sfh_disk", &sfh_disk, N_SSP),
            ("sfh_bulge", &sfh_bulge, N_SSP),
        ] {
            let wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
            check(
                name,
                &wide,
                width,
                n,
                (f64::NEG_INFINITY, f64::INFINITY),
                OutOfRange::Clip,
            )?;
        }
        Ok(Self {
            n,
            gp,
            sfh_disk,
            sfh_bulge,
        })
    }

    /// Number of galaxies.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the batch is empty (never, for a validated batch).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Clipped galaxy parameters, row-major (N × 7).
    pub fn gp(&self) -> &[f32] {
        &self.gp
    }

    /// Clipped disk SFH, row-major (N × 36).
    pub fn sfh_disk(&self) -> &[f32] {
        &self.sfh_disk
    }

    /// Clipped bulge SFH, row-major (N × 36).
    pub fn sfh_bulge(&self) -> &[f32] {
        &self.sfh_bulge
    }

    /// Rows `start..end` as a new batch.
    pub fn rows(&self, start: usize, end: usize) -> Batch {
        Batch {
            n: end - start,
            gp: self.gp[start * N_GP..end * N_GP].to_vec(),
            sfh_disk: self.sfh_disk[start * N_SSP..end * N_SSP].to_vec(),
            sfh_bulge: self.sfh_bulge[start * N_SSP..end * N_SSP].to_vec(),
        }
    }
}

/// The space a table's galaxy parameters are given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSpace {
    /// The networks' unit space u ∈ [−1, 1].
    Unit,
    /// Physical values (θ in degrees, radii in kpc, …; see [`GALAXY_PARAMS`]).
    Physical,
}

/// Every problem found in a table of galaxies; its message lists the first few.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputProblems {
    /// One message per bad value, naming the row and the column.
    pub messages: Vec<String>,
    /// Whether some problem is a finite value outside the model's domain (which clipping, as the
    /// published library does, would accept).
    pub out_of_range: bool,
}

impl InputProblems {
    /// Messages shown in the error text.
    const SHOWN: usize = 5;
}

impl std::fmt::Display for InputProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.messages.len();
        write!(
            f,
            "invalid input ({n} value{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for m in self.messages.iter().take(Self::SHOWN) {
            write!(f, "\n  {m}")?;
        }
        if n > Self::SHOWN {
            write!(f, "\n  … and {} more", n - Self::SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for InputProblems {}

/// Checks a table of galaxies as read and returns its `gp` in unit space (N × 7, row-major).
///
/// NaN, ∞ and physical values without a unit-space image (e.g. a negative radius) are always
/// refused; values outside the model's domain (|u| > 1, SFH weights outside [0, 1]) are refused
/// under [`OutOfRange::Error`] and left for [`Batch::new`] to clip under [`OutOfRange::Clip`].
///
/// ```
/// use galsed_emulator::inputs::{OutOfRange, ParamSpace, unit_space_gp};
/// use galsed_io::galaxies::{GalaxyTable, RowOrigin};
/// let sfh = vec![1.0 / 36.0; 36];
/// let mut table = GalaxyTable {
///     n: 1,
///     gp: vec![60.0, 1e5, 1.0, 3.0, 1.0, 1e10, 0.2],
///     sfh_disk: sfh.clone(),
///     sfh_bulge: sfh,
///     origin: RowOrigin::Array,
///     ids: None,
/// };
/// let u = unit_space_gp(&table, ParamSpace::Physical, OutOfRange::Error).unwrap();
/// assert!((u[0] - 0.0).abs() < 1e-12); // 2 cos 60° − 1
/// table.gp[3] = -1.0; // a negative radius has no unit-space image
/// let e = unit_space_gp(&table, ParamSpace::Physical, OutOfRange::Clip).unwrap_err();
/// assert!(e.to_string().contains("row 0"));
/// ```
pub fn unit_space_gp(
    table: &GalaxyTable,
    space: ParamSpace,
    policy: OutOfRange,
) -> Result<Vec<f64>, InputProblems> {
    let clip = policy == OutOfRange::Clip;
    let mut problems = InputProblems::default();
    let mut unit = Vec::with_capacity(table.gp.len());
    for (i, row) in table.gp.chunks(N_GP).enumerate() {
        for (j, (&x, p)) in row.iter().zip(GALAXY_PARAMS.iter()).enumerate() {
            let name = || table.row_name(i);
            if !x.is_finite() {
                problems
                    .messages
                    .push(format!("{}: {} (gp column {j}) is {x}", name(), p.name));
                unit.push(0.0);
                continue;
            }
            let u = match space {
                ParamSpace::Unit => x,
                ParamSpace::Physical => match p.to_unit(x) {
                    Ok(u) => u,
                    Err(e) => {
                        problems.messages.push(format!("{}: {e}", name()));
                        unit.push(0.0);
                        continue;
                    }
                },
            };
            if !clip && !(-1.0..=1.0).contains(&u) {
                problems.out_of_range = true;
                problems.messages.push(match space {
                    ParamSpace::Unit => {
                        format!(
                            "{}: {} (gp column {j}) = {x} is outside [-1, 1]",
                            name(),
                            p.name
                        )
                    }
                    ParamSpace::Physical => {
                        let (lo, hi) = p.physical_range();
                        format!(
                            "{}: {} = {x} {} is outside the model's range {} … {}",
                            name(),
                            p.name,
                            p.unit,
                            short_number(lo.min(hi)),
                            short_number(lo.max(hi))
                        )
                    }
                });
            }
            unit.push(u);
        }
    }
    for (name, sfh) in [
        ("sfh_disk", &table.sfh_disk),
        ("sfh_bulge", &table.sfh_bulge),
    ] {
        for (i, row) in sfh.chunks(N_SSP).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                if !w.is_finite() {
                    problems
                        .messages
                        .push(format!("{}: {name}[{k}] is {w}", table.row_name(i)));
                } else if !clip && !(0.0..=1.0).contains(&w) {
                    problems.out_of_range = true;
                    problems.messages.push(format!(
                        "{}: {name}[{k}] = {w} is outside [0, 1] (SFH weights are light fractions)",
                        table.row_name(i)
                    ));
                }
            }
        }
    }
    if problems.messages.is_empty() {
        Ok(unit)
    } else {
        Err(problems)
    }
}

/// A warning naming the rows whose SFH weights do not sum to 1 (within 1e−3), for components that
/// carry light (`b_to_t` from the unit-space `unit_gp`); `None` when all do.
pub fn sfh_sum_warning(table: &GalaxyTable, unit_gp: &[f64]) -> Option<String> {
    let mut bad = vec![];
    for i in 0..table.n {
        let b_to_t = 0.5 * (unit_gp[i * N_GP + 6] + 1.0);
        for (name, sfh, weight) in [
            ("sfh_disk", &table.sfh_disk, 1.0 - b_to_t),
            ("sfh_bulge", &table.sfh_bulge, b_to_t),
        ] {
            let s: f64 = sfh[i * N_SSP..(i + 1) * N_SSP].iter().sum();
            if weight > 0.0 && (s - 1.0).abs() > 1e-3 {
                bad.push(format!("{} {name} sums to {s:.4}", table.row_name(i)));
            }
        }
    }
    (!bad.is_empty()).then(|| {
        format!(
            "warning: {} SFH vector(s) do not sum to 1 (first: {}); the weights are light fractions \
             and are used as given, so the luminosity is not l_norm",
            bad.len(),
            bad[0]
        )
    })
}
