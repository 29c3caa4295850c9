//! From SKIRT outputs to a training set.
//!
//! * **Attenuation curves** (disk and bulge runs): A_λ = −2.5 log10(F_total / F_transparent)
//!   \[mag\] at the instrument wavelengths, interpolated linearly in ln λ onto the networks'
//!   attenuation grid (the first 297 points of `lam_main`, spec §4.1). Where either flux is zero
//!   the curve is undefined: the sample's curve is stored as NaN and flagged invalid.
//! * **Dust emission** (emission runs): the dust flux F_dust = direct + scattered secondary flux,
//!   as λF_λ, interpolated linearly in ln λ onto `lam_main` (495 points, spec §4.3) and
//!   normalised to ∫ y d ln λ = 1 (trapezoids); the **absorbed fraction**
//!   frac = ∫F_dust d ln λ / ∫F_transparent d ln λ × f_src, where f_src (from the index) is the
//!   share of the bolometric luminosity l_norm that SKIRT's sources emit, so that frac is relative
//!   to l_norm like the emulator's (∫ l_dust d ln λ = frac, spec §5.2). A run without dust
//!   emission, or whose fraction exceeds 1 (Monte Carlo noise, anisotropic emission), is flagged
//!   invalid and stored as NaN.
//!
//! The result is a [`crate::data::TrainingSet`], the npz layout `galsed train` reads: `params` in
//! unit space, `lam` = `lam_main`, the curves, SFHs, `frac_abs`, `dust_emission` and the
//! `valid_*` labels. Its rows are the index rows in order, minus the samples skipped for missing
//! outputs ([`Collected::skipped`]).
//!
//! All runs must share one instrument wavelength grid; a file whose grid differs from the first
//! one read is an error.

use std::path::Path;

use galsed_core::numeric::trapz;
use galsed_core::ssp::N_LAM_ATTENUATION;
use ndarray::Array2;

use super::index::{IndexRow, read_index};
use super::sed_output::{SedOutput, read_sed_output};
use super::{Run, SkirtError};
use crate::data::TrainingSet;

/// Relative tolerance when comparing wavelengths of different files or grid ends.
const LAM_RTOL: f64 = 1e-6;

/// Options of [`collect`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectOptions {
    /// Runs to read; `None`: every run the index lists parameter files for.
    pub runs: Option<Vec<Run>>,
    /// Leave out samples with a missing output instead of failing.
    pub skip_missing: bool,
}

/// A training set read from SKIRT outputs, with where its rows come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// The training set.
    pub set: TrainingSet,
    /// Sample identifier of each row.
    pub ids: Vec<String>,
    /// Row of each sample in the index (0-based).
    pub rows: Vec<usize>,
    /// Samples left out for a missing output, with the reason.
    pub skipped: Vec<String>,
}

/// Value at `target` of the function sampled at `lam` (increasing) by linear interpolation in
/// ln λ, with `value(i)` giving the sample at point i; only points with non-zero weight are
/// evaluated. `None` if `value` returns `None` for a needed point. Targets outside the grid
/// (beyond [`LAM_RTOL`]) are an error.
fn interp_ln(
    sed: &SedOutput,
    target: f64,
    value: &dyn Fn(usize) -> Option<f64>,
) -> Result<Option<f64>, SkirtError> {
    let lam = &sed.lam_um;
    let (first, last) = (lam[0], lam[lam.len() - 1]);
    if target < first * (1.0 - LAM_RTOL) || target > last * (1.0 + LAM_RTOL) {
        return Err(SkirtError::parse(
            &sed.path,
            sed.lines[0],
            format!(
                "the wavelengths {first}–{last} µm do not cover the model grid point {target} µm"
            ),
        ));
    }
    let t = target.clamp(first, last);
    let j = lam.partition_point(|&x| x < t);
    if j < lam.len() && (lam[j] / t - 1.0).abs() <= LAM_RTOL {
        return Ok(value(j));
    }
    if j > 0 && (lam[j - 1] / t - 1.0).abs() <= LAM_RTOL {
        return Ok(value(j - 1));
    }
    let (i0, i1) = (j - 1, j);
    let w = (t.ln() - lam[i0].ln()) / (lam[i1].ln() - lam[i0].ln());
    Ok(match (value(i0), value(i1)) {
        (Some(a), Some(b)) => Some(a + w * (b - a)),
        _ => None,
    })
}

/// The attenuation curve A_λ \[mag\] of an extinction run on `lam_target` \[µm\]; `None` where a
/// needed flux is zero.
pub fn attenuation_curve(
    sed: &SedOutput,
    lam_target: &[f64],
) -> Result<Option<Vec<f64>>, SkirtError> {
    let total = sed.column("total flux")?;
    let transparent = sed.column("transparent flux")?;
    let att = |i: usize| {
        (total[i] > 0.0 && transparent[i] > 0.0).then(|| -2.5 * (total[i] / transparent[i]).log10())
    };
    let mut curve = Vec::with_capacity(lam_target.len());
    for &t in lam_target {
        match interp_ln(sed, t, &att)? {
            Some(a) => curve.push(a),
            None => return Ok(None),
        }
    }
    Ok(Some(curve))
}

/// The normalised dust spectrum on `lam_target` and the absorbed fraction of an emission run,
/// with `source_fraction` the share of l_norm emitted by SKIRT's sources. The spectrum is `None`
/// if the run has no dust emission on `lam_target`.
pub fn dust_emission(
    sed: &SedOutput,
    lam_target: &[f64],
    source_fraction: f64,
) -> Result<(Option<Vec<f64>>, f64), SkirtError> {
    let direct = sed.column("direct secondary flux")?;
    let scattered = sed.column("scattered secondary flux")?;
    let transparent = sed.column("transparent flux")?;
    let lam = &sed.lam_um;
    let per_ln = |v: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..lam.len())
            .map(|i| sed.style.per_ln_lambda(lam[i], v(i)))
            .collect()
    };
    let dust = per_ln(&|i| direct[i] + scattered[i]);
    let stars = per_ln(&|i| transparent[i]);
    let ln_lam: Vec<f64> = lam.iter().map(|l| l.ln()).collect();
    let l_stars = trapz(&stars, &ln_lam);
    if l_stars.is_nan() || l_stars <= 0.0 {
        return Err(SkirtError::parse(
            &sed.path,
            sed.lines[0],
            "the transparent flux is zero at every wavelength: the run has no stellar source",
        ));
    }
    let frac = trapz(&dust, &ln_lam) / l_stars * source_fraction;

    let mut y = Vec::with_capacity(lam_target.len());
    for &t in lam_target {
        // Every point has a value, so interpolation always succeeds.
        y.push(interp_ln(sed, t, &|i| Some(dust[i]))?.unwrap_or(0.0));
    }
    let ln_target: Vec<f64> = lam_target.iter().map(|l| l.ln()).collect();
    let norm = trapz(&y, &ln_target);
    if norm.is_nan() || norm <= 0.0 {
        return Ok((None, frac));
    }
    y.iter_mut().for_each(|v| *v /= norm);
    Ok((Some(y), frac))
}

/// Checks that `sed` has the same wavelengths as the first file read (`reference`).
fn check_same_grid(sed: &SedOutput, reference: &SedOutput) -> Result<(), SkirtError> {
    let (n, m) = (sed.lam_um.len(), reference.lam_um.len());
    if n != m {
        let last = sed.lines.iter().max().copied().unwrap_or(1);
        return Err(SkirtError::parse(
            &sed.path,
            last,
            format!(
                "{n} wavelengths, but {} has {m}: all runs must use the same instrument grid \
                 (truncated output?)",
                reference.path.display()
            ),
        ));
    }
    if let Some(i) = (0..n).find(|&i| (sed.lam_um[i] / reference.lam_um[i] - 1.0).abs() > LAM_RTOL)
    {
        return Err(SkirtError::parse(
            &sed.path,
            sed.lines[i],
            format!(
                "wavelength {} µm, but {} has {} µm in the same row: all runs must use the same \
                 instrument grid",
                sed.lam_um[i],
                reference.path.display(),
                reference.lam_um[i]
            ),
        ));
    }
    Ok(())
}

/// The runs to read: the requested ones, or those with parameter files in the first row.
fn select_runs(
    index: &Path,
    rows: &[IndexRow],
    opts: &CollectOptions,
) -> Result<Vec<Run>, SkirtError> {
    let runs = match &opts.runs {
        Some(runs) => runs.clone(),
        None => Run::ALL
            .into_iter()
            .filter(|&r| rows[0].ski_file(r).is_some())
            .collect(),
    };
    if runs.is_empty() {
        return Err(SkirtError::Invalid(format!(
            "{} lists no SKIRT runs",
            index.display()
        )));
    }
    for (i, row) in rows.iter().enumerate() {
        if let Some(run) = runs.iter().find(|&&r| row.ski_file(r).is_none()) {
            return Err(SkirtError::parse(
                index,
                i + 2,
                format!("sample {} has no {run} run", row.sample.id),
            ));
        }
    }
    Ok(runs)
}

/// Reads the SKIRT outputs of the samples of `index` from `outputs_dir` and builds the training
/// set on the model grid `lam_main` (≥ 297 points; the attenuation grid is its first 297).
/// `progress` is called with the number of samples done so far.
pub fn collect(
    index: &Path,
    outputs_dir: &Path,
    lam_main: &[f64],
    opts: &CollectOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Collected, SkirtError> {
    if lam_main.len() < N_LAM_ATTENUATION {
        return Err(SkirtError::Invalid(format!(
            "the model grid has {} points, fewer than the {N_LAM_ATTENUATION} of the attenuation curves",
            lam_main.len()
        )));
    }
    let lam_att = &lam_main[..N_LAM_ATTENUATION];
    let rows = read_index(index)?;
    let runs = select_runs(index, &rows, opts)?;

    let mut reference: Option<SedOutput> = None;
    let mut kept: Vec<(usize, &IndexRow)> = Vec::new();
    let mut skipped = Vec::new();
    let (mut disk, mut bulge, mut spectra) = (Vec::new(), Vec::new(), Vec::new());
    let mut frac_abs = Vec::new();
    'samples: for (i, row) in rows.iter().enumerate() {
        let mut outputs = Vec::with_capacity(runs.len());
        for &run in &runs {
            let ski = row.ski_file(run).unwrap_or_default();
            let path = outputs_dir.join(Run::sed_output_file(ski));
            if !path.is_file() {
                if opts.skip_missing {
                    skipped.push(format!(
                        "{}: no {run} output {}",
                        row.sample.id,
                        path.display()
                    ));
                    progress(i + 1);
                    continue 'samples;
                }
                return Err(SkirtError::MissingOutput {
                    path,
                    id: row.sample.id.clone(),
                    run,
                    ski: ski.to_string(),
                });
            }
            let sed = read_sed_output(&path)?;
            match &reference {
                Some(r) => check_same_grid(&sed, r)?,
                None => reference = Some(sed.clone()),
            }
            outputs.push((run, sed));
        }
        for (run, sed) in &outputs {
            match run {
                Run::Disk => disk.push(attenuation_curve(sed, lam_att)?),
                Run::Bulge => bulge.push(attenuation_curve(sed, lam_att)?),
                Run::Emission => {
                    let (y, frac) = dust_emission(sed, lam_main, row.source_fraction())?;
                    match y.filter(|_| frac <= 1.0) {
                        Some(y) => {
                            spectra.push(Some(y));
                            frac_abs.push(frac);
                        }
                        None => {
                            spectra.push(None);
                            frac_abs.push(f64::NAN);
                        }
                    }
                }
            }
        }
        kept.push((i, row));
        progress(i + 1);
    }
    if kept.is_empty() {
        return Err(SkirtError::Invalid(format!(
            "no sample of {} has all its outputs in {}",
            index.display(),
            outputs_dir.display()
        )));
    }

    let n = kept.len();
    let table = |f: &dyn Fn(&IndexRow) -> &[f64]| -> Array2<f64> {
        let width = f(kept[0].1).len();
        Array2::from_shape_fn((n, width), |(r, c)| f(kept[r].1)[c])
    };
    // Invalid rows hold NaN.
    let stack = |rows: &[Option<Vec<f64>>], width: usize| -> Array2<f64> {
        Array2::from_shape_fn((rows.len(), width), |(r, c)| {
            rows[r].as_ref().map_or(f64::NAN, |v| v[c])
        })
    };
    let labels =
        |rows: &[Option<Vec<f64>>]| rows.iter().map(Option::is_some).collect::<Vec<bool>>();
    let has = |run| runs.contains(&run);
    let set = TrainingSet {
        lam: lam_main.to_vec(),
        params: table(&|r| r.sample.unit.as_slice()),
        curve_disk: has(Run::Disk).then(|| stack(&disk, N_LAM_ATTENUATION)),
        curve_bulge: has(Run::Bulge).then(|| stack(&bulge, N_LAM_ATTENUATION)),
        sfh_disk: Some(table(&|r| r.sample.sfh_disk.as_slice())),
        sfh_bulge: Some(table(&|r| r.sample.sfh_bulge.as_slice())),
        frac_abs: has(Run::Emission).then(|| frac_abs.clone()),
        dust_emission: has(Run::Emission).then(|| stack(&spectra, lam_main.len())),
        valid_disk: has(Run::Disk).then(|| labels(&disk)),
        valid_bulge: has(Run::Bulge).then(|| labels(&bulge)),
        valid_emission: has(Run::Emission).then(|| labels(&spectra)),
    };
    Ok(Collected {
        set,
        ids: kept.iter().map(|(_, r)| r.sample.id.clone()).collect(),
        rows: kept.iter().map(|(i, _)| *i).collect(),
        skipped,
    })
}
