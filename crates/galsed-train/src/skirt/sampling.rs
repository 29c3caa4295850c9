//! Galaxy samples for SKIRT runs: the priors of the paper's Table 1, star-formation histories and
//! user tables.
//!
//! Priors (Qiu & Kang 2022, Table 1; bounds from [`GALAXY_PARAMS`], spec §3.1):
//!
//! | parameter | prior |
//! |---|---|
//! | `theta` | θ = 90° · Beta(0.5, 0.5), i.e. Beta(0.5, 0.5) scaled to [0, π/2] |
//! | `den_dust`, `r_dust_to_rd`, `r_disk`, `r_bulge`, `l_norm` | log-uniform between the bounds |
//! | `b_to_t` | Beta(0.5, 0.5) on [0, 1] |
//!
//! Star-formation histories (light fractions over the SSPs of the library, `k = n_age·i_met +
//! i_age`) are not part of Table 1; by default the disk and the bulge each get an independent
//! draw from a symmetric Dirichlet distribution (α = 1: uniform over all SFHs), so the training
//! set covers every mix of ages and metallicities.

use std::collections::HashSet;
use std::path::Path;

use galsed_core::params::{GALAXY_PARAMS, Transform, physical_to_unit};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::multi::Dirichlet;
use rand_distr::{Beta, Distribution};

use super::SkirtError;

/// Shape parameters (α = β) of the Beta priors of the inclination and of `b_to_t`.
pub const BETA_SHAPE: f64 = 0.5;

/// Default concentration of the Dirichlet prior of the star-formation histories.
pub const DEFAULT_SFH_ALPHA: f64 = 1.0;

/// Tolerance on |u| − 1 for parameters at the bounds of the model's range.
const UNIT_TOL: f64 = 1e-9;

/// Weights summing to 1 within this are taken as normalised.
const SUM_TOL: f64 = 1e-12;

/// Longest accepted sample identifier (it becomes part of file names).
const MAX_ID_LEN: usize = 64;

/// One galaxy to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Identifier, used as the prefix of the sample's files.
    pub id: String,
    /// Physical parameters in the column order of [`GALAXY_PARAMS`]: θ \[deg\], den_dust
    /// [M_sun/kpc²], r_dust_to_rd, r_disk \[kpc\], r_bulge \[kpc\], l_norm \[L_sun\], b_to_t.
    pub physical: [f64; 7],
    /// The same parameters in the networks' unit space (`gp`).
    pub unit: [f64; 7],
    /// Light fractions of the disk over the SSPs (sum 1).
    pub sfh_disk: Vec<f64>,
    /// Light fractions of the bulge over the SSPs (sum 1).
    pub sfh_bulge: Vec<f64>,
}

impl Sample {
    /// Builds a sample after checking the identifier and the parameters (inside the model's
    /// range, i.e. |u| ≤ 1); the SFHs are normalised to sum 1.
    pub fn new(
        id: String,
        physical: [f64; 7],
        sfh_disk: Vec<f64>,
        sfh_bulge: Vec<f64>,
    ) -> Result<Sample, String> {
        check_id(&id)?;
        let mut unit = physical_to_unit(&physical).map_err(|e| e.to_string())?;
        for (i, u) in unit.iter_mut().enumerate() {
            // The networks only know u ∈ [−1, 1]; draws at the bounds may round just beyond.
            if u.abs() > 1.0 + UNIT_TOL {
                let p = &GALAXY_PARAMS[i];
                let (a, b) = p.physical_range();
                return Err(format!(
                    "{} = {} is outside the model's range {} … {} {}",
                    p.name,
                    physical[i],
                    a.min(b),
                    a.max(b),
                    p.unit
                ));
            }
            *u = u.clamp(-1.0, 1.0);
        }
        Ok(Sample {
            id,
            physical,
            unit,
            sfh_disk: normalise_sfh("sfh_disk", sfh_disk)?,
            sfh_bulge: normalise_sfh("sfh_bulge", sfh_bulge)?,
        })
    }

    /// Identifier of the `row`-th drawn sample.
    pub fn default_id(row: usize) -> String {
        format!("s{row:06}")
    }
}

/// Identifiers become file names: letters, digits, `_`, `-`, `.`, not starting with `.`.
fn check_id(id: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if id.is_empty() || id.len() > MAX_ID_LEN || id.starts_with('.') || !id.chars().all(ok_char) {
        return Err(format!(
            "id '{id}' is not usable in file names (1–{MAX_ID_LEN} characters among letters, \
             digits, '_', '-', '.', not starting with '.')"
        ));
    }
    Ok(())
}

/// Checks that the weights are finite, non-negative and not all zero, and scales them to sum 1.
fn normalise_sfh(name: &str, mut sfh: Vec<f64>) -> Result<Vec<f64>, String> {
    if let Some(k) = sfh.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(format!("{name}_{k} = {} must be finite and ≥ 0", sfh[k]));
    }
    let sum: f64 = sfh.iter().sum();
    if sum <= 0.0 {
        return Err(format!("the {name} weights are all zero"));
    }
    // Weights already normalised (up to rounding) are kept bit for bit, so tables round-trip.
    if (sum - 1.0).abs() > SUM_TOL {
        sfh.iter_mut().for_each(|w| *w /= sum);
    }
    Ok(sfh)
}

/// Draws the seven physical parameters from the priors of Table 1.
pub fn draw_params<R: Rng + ?Sized>(rng: &mut R) -> [f64; 7] {
    // Shape 0.5 is valid, so the constructor cannot fail.
    let beta = Beta::new(BETA_SHAPE, BETA_SHAPE).expect("Beta(0.5, 0.5) is a valid distribution");
    std::array::from_fn(|i| {
        let p = &GALAXY_PARAMS[i];
        match p.transform {
            // θ ∈ [0°, 90°] (u from +1 face-on to −1 edge-on).
            Transform::Theta => 90.0 * beta.sample(rng),
            // Uniform in u is uniform in log10 x between the bounds.
            Transform::Log { .. } => p.from_unit(2.0 * rng.random::<f64>() - 1.0),
            Transform::Frac => {
                let (lo, hi) = p.physical_range();
                lo + (hi - lo) * beta.sample(rng)
            }
        }
    })
}

/// Draws the light fractions of `n_ssp` SSPs from a symmetric Dirichlet(α) distribution.
pub fn draw_sfh<R: Rng + ?Sized>(
    rng: &mut R,
    n_ssp: usize,
    alpha: f64,
) -> Result<Vec<f64>, SkirtError> {
    check_alpha(alpha)?;
    match n_ssp {
        0 => Err(SkirtError::Invalid("the SSP library holds no SSP".into())),
        1 => Ok(vec![1.0]),
        _ => {
            let dirichlet = Dirichlet::new(&vec![alpha; n_ssp])
                .map_err(|e| SkirtError::Invalid(format!("Dirichlet({alpha}) prior: {e}")))?;
            Ok(dirichlet.sample(rng))
        }
    }
}

fn check_alpha(alpha: f64) -> Result<(), SkirtError> {
    // Below ~1e-3 the Dirichlet draws underflow to all-zero vectors.
    if alpha.is_finite() && alpha >= 1e-3 {
        Ok(())
    } else {
        Err(SkirtError::Invalid(format!(
            "the Dirichlet concentration of the SFHs must be ≥ 0.001, got {alpha}"
        )))
    }
}

/// Draws `n` samples (parameters from Table 1, SFHs from Dirichlet(`sfh_alpha`)) from the
/// ChaCha8 stream of `seed`: the same seed always gives the same samples.
pub fn draw_samples(
    n: usize,
    n_ssp: usize,
    seed: u64,
    sfh_alpha: f64,
) -> Result<Vec<Sample>, SkirtError> {
    check_alpha(sfh_alpha)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|row| {
            let physical = draw_params(&mut rng);
            let sfh_disk = draw_sfh(&mut rng, n_ssp, sfh_alpha)?;
            let sfh_bulge = draw_sfh(&mut rng, n_ssp, sfh_alpha)?;
            Sample::new(Sample::default_id(row), physical, sfh_disk, sfh_bulge)
                .map_err(|e| SkirtError::Invalid(format!("drawn sample {row}: {e}")))
        })
        .collect()
}

/// Reads samples from a CSV table with a header row.
///
/// Columns (any order, others ignored, `#` starts a comment line): the seven physical parameters
/// `theta` \[deg\], `den_dust` [M_sun/kpc²], `r_dust_to_rd`, `r_disk` \[kpc\], `r_bulge` \[kpc\],
/// `l_norm` \[L_sun\], `b_to_t`; optionally `id`; optionally the SFHs `sfh_disk_0 …
/// sfh_disk_{n−1}` and `sfh_bulge_0 … sfh_bulge_{n−1}` (n = `n_ssp`, both or neither; each
/// normalised to sum 1). Without SFH columns the SFHs are drawn as in [`draw_samples`] from the
/// stream of `seed`. This is the layout of `galsed sed`'s CSV input and of the index written by
/// [`prepare`](super::prepare()), so either can be fed back.
pub fn read_table(
    path: &Path,
    n_ssp: usize,
    seed: u64,
    sfh_alpha: f64,
) -> Result<Vec<Sample>, SkirtError> {
    let text = std::fs::read(path).map_err(SkirtError::io("read", path))?;
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| csv_error(path, &text, e))?
        .clone();
    let header_line = line_at(&text, 0);
    let column = |name: &str| headers.iter().position(|h| h == name);
    let params: Vec<usize> = GALAXY_PARAMS
        .iter()
        .map(|p| {
            column(p.name).ok_or_else(|| {
                SkirtError::parse(path, header_line, format!("no column '{}'", p.name))
            })
        })
        .collect::<Result<_, _>>()?;
    let id_col = column("id");
    let sfh_cols = |prefix: &str| -> Option<Vec<Option<usize>>> {
        let cols: Vec<Option<usize>> = (0..n_ssp)
            .map(|k| column(&format!("{prefix}_{k}")))
            .collect();
        cols.iter().any(Option::is_some).then_some(cols)
    };
    let (disk_cols, bulge_cols) = (sfh_cols("sfh_disk"), sfh_cols("sfh_bulge"));
    let sfh_cols = match (disk_cols, bulge_cols) {
        (None, None) => None,
        (Some(d), Some(b)) => {
            let missing = d
                .iter()
                .zip(b.iter())
                .enumerate()
                .find_map(|(k, (d, b))| match (d, b) {
                    (None, _) => Some(format!("sfh_disk_{k}")),
                    (_, None) => Some(format!("sfh_bulge_{k}")),
                    _ => None,
                });
            if let Some(name) = missing {
                return Err(SkirtError::parse(
                    path,
                    header_line,
                    format!("no column '{name}' (the library has {n_ssp} SSPs)"),
                ));
            }
            let flat = |c: Vec<Option<usize>>| c.into_iter().flatten().collect::<Vec<_>>();
            Some((flat(d), flat(b)))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(SkirtError::parse(
                path,
                header_line,
                "give both the sfh_disk_* and the sfh_bulge_* columns, or neither",
            ));
        }
    };

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut samples: Vec<Sample> = Vec::new();
    let mut ids = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &text, e))?;
        let line = record.position().map_or(0, |p| line_at(&text, p.byte()));
        let value = |col: usize, name: &str| -> Result<f64, SkirtError> {
            let text = record.get(col).unwrap_or("");
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    SkirtError::parse(
                        path,
                        line,
                        format!("{name} = '{text}' is not a finite number"),
                    )
                })
        };
        let mut physical = [0.0; 7];
        for (i, &col) in params.iter().enumerate() {
            physical[i] = value(col, GALAXY_PARAMS[i].name)?;
        }
        let (sfh_disk, sfh_bulge) = match &sfh_cols {
            Some((d, b)) => {
                let read = |cols: &[usize], prefix: &str| {
                    cols.iter()
                        .enumerate()
                        .map(|(k, &c)| value(c, &format!("{prefix}_{k}")))
                        .collect::<Result<Vec<f64>, _>>()
                };
                (read(d, "sfh_disk")?, read(b, "sfh_bulge")?)
            }
            None => (
                draw_sfh(&mut rng, n_ssp, sfh_alpha)?,
                draw_sfh(&mut rng, n_ssp, sfh_alpha)?,
            ),
        };
        let id = match id_col {
            Some(c) => record.get(c).unwrap_or("").to_string(),
            None => Sample::default_id(samples.len()),
        };
        if !ids.insert(id.clone()) {
            return Err(SkirtError::parse(
                path,
                line,
                format!("id '{id}' appears twice"),
            ));
        }
        let sample = Sample::new(id, physical, sfh_disk, sfh_bulge)
            .map_err(|e| SkirtError::parse(path, line, e))?;
        samples.push(sample);
    }
    if samples.is_empty() {
        return Err(SkirtError::parse(
            path,
            header_line,
            "the table has no data rows",
        ));
    }
    Ok(samples)
}

/// 1-based line of the record the csv reader places at `byte`. The reader reports the end of the
/// previous record, so blank and `#` comment lines in between are skipped here.
pub(crate) fn line_at(text: &[u8], byte: u64) -> usize {
    let mut start = (byte as usize).min(text.len());
    loop {
        let end = text[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| start + i);
        let line = text[start..end].trim_ascii();
        if end >= text.len() || !(line.is_empty() || line.starts_with(b"#")) {
            break;
        }
        start = end + 1;
    }
    text[..start].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A CSV error as a [`SkirtError`] naming the line (`text`: the file's bytes).
pub(crate) fn csv_error(path: &Path, text: &[u8], e: csv::Error) -> SkirtError {
    let line = e.position().map_or(1, |p| line_at(text, p.byte()));
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields, but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 ({err})"),
        _ => e.to_string(),
    };
    match e.into_kind() {
        csv::ErrorKind::Io(source) => SkirtError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        },
        _ => SkirtError::parse(path, line, message),
    }
}
