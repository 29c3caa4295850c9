//! Filter weights on a model wavelength grid (spec §5.3): turning λL_λ into band fluxes with one
//! weighted sum per band.

use crate::numeric::{interp_with_edges, trapz};
use crate::units::fnu_unit_jy;

/// A filter curve that cannot be used on a grid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhotometryError {
    #[error(
        "filter '{name}' ({lo:.4}–{hi:.4} µm) does not overlap the model's observed wavelength range \
         {grid_lo:.4}–{grid_hi:.4} µm at this redshift"
    )]
    NoOverlap { name: String, lo: f64, hi: f64, grid_lo: f64, grid_hi: f64 },
    #[error(
        "filter '{name}' extends beyond the model's observed wavelength range \
         ({lo:.4}–{hi:.4} µm vs {grid_lo:.4}–{grid_hi:.4} µm): its flux would be truncated"
    )]
    PartialOverlap { name: String, lo: f64, hi: f64, grid_lo: f64, grid_hi: f64 },
    #[error("the wavelength grid must be strictly increasing and positive")]
    BadGrid,
}

/// Trapezoid weights ω such that trapz(y, x) = Σ ω_i y_i.
pub fn trapz_weights(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut w = vec![0.0; n];
    for i in 0..n.saturating_sub(1) {
        let h = 0.5 * (x[i + 1] - x[i]);
        w[i] += h;
        w[i + 1] += h;
    }
    w
}

/// W_f on the observed grid: t / trapz(t/λ, λ) · u_ν with t the filter transmission interpolated
/// at `lam_obs_um` (0 outside the curve). Then F_ν [Jy] = trapz(λL_λ · W_f, λ_obs) · 10^(−0.4μ).
///
/// A filter that reaches beyond the grid is rejected unless `allow_partial` (its flux would be
/// silently truncated).
pub fn filter_weights(
    name: &str,
    lam_obs_um: &[f64],
    wavelength_angstrom: &[f64],
    transmission: &[f64],
    allow_partial: bool,
) -> Result<Vec<f64>, PhotometryError> {
    let (first, window) =
        filter_weights_window(name, lam_obs_um, wavelength_angstrom, transmission, allow_partial)?;
    let mut w = vec![0.0; lam_obs_um.len()];
    w[first..first + window.len()].copy_from_slice(&window);
    Ok(w)
}

/// The part of [`filter_weights`] that can be non-zero: `(first, w)` with `w[j]` the weight of grid
/// point `first + j`; every other weight is 0.
///
/// The values are bitwise those of [`filter_weights`]: the grid points left out carry t = 0, so
/// they add exact zeros to the trapezoid sum. Catalogues with one redshift per galaxy build these
/// per row, which costs a few dozen grid points per band instead of the whole grid.
///
/// ```
/// use galsed_core::photometry::{filter_weights, filter_weights_window};
/// let grid: Vec<f64> = (0..100).map(|i| 0.1 + 0.01 * i as f64).collect();
/// let (wl, t) = (vec![5000.0, 5500.0, 6000.0], vec![0.5, 1.0, 0.5]);
/// let dense = filter_weights("V", &grid, &wl, &t, false).unwrap();
/// let (first, w) = filter_weights_window("V", &grid, &wl, &t, false).unwrap();
/// assert_eq!(&dense[first..first + w.len()], &w[..]);
/// assert!(dense[..first].iter().all(|&v| v == 0.0));
/// ```
pub fn filter_weights_window(
    name: &str,
    lam_obs_um: &[f64],
    wavelength_angstrom: &[f64],
    transmission: &[f64],
    allow_partial: bool,
) -> Result<(usize, Vec<f64>), PhotometryError> {
    let n = lam_obs_um.len();
    if n < 2 || lam_obs_um.windows(2).any(|w| w[1] <= w[0]) || lam_obs_um[0] <= 0.0 {
        return Err(PhotometryError::BadGrid);
    }
    let lam_f: Vec<f64> = wavelength_angstrom.iter().map(|w| w * 1e-4).collect();
    let (lo, hi) = (lam_f[0], lam_f[lam_f.len() - 1]);
    let (grid_lo, grid_hi) = (lam_obs_um[0], lam_obs_um[n - 1]);
    let no_overlap = || PhotometryError::NoOverlap { name: name.to_string(), lo, hi, grid_lo, grid_hi };
    // Grid points inside [lo, hi] plus one (zero-weight) neighbour on each side.
    let first = lam_obs_um.partition_point(|&l| l < lo).saturating_sub(1);
    let last = lam_obs_um.partition_point(|&l| l <= hi).min(n - 1);
    if first >= last {
        return Err(no_overlap());
    }
    let grid = &lam_obs_um[first..=last];
    let t: Vec<f64> = grid
        .iter()
        .map(|&l| interp_with_edges(&lam_f, transmission, l, 0.0, 0.0))
        .collect();
    let t_over_l: Vec<f64> = t.iter().zip(grid).map(|(t, l)| t / l).collect();
    let norm = trapz(&t_over_l, grid);
    if norm <= 0.0 || !norm.is_finite() {
        return Err(no_overlap());
    }
    if !allow_partial && (lo < grid_lo || hi > grid_hi) {
        // Only an error when the part outside the grid carries transmission.
        let outside = lam_f
            .iter()
            .zip(transmission)
            .any(|(&l, &tr)| tr > 0.0 && (l < grid_lo || l > grid_hi));
        if outside {
            return Err(PhotometryError::PartialOverlap { name: name.to_string(), lo, hi, grid_lo, grid_hi });
        }
    }
    let u = fnu_unit_jy();
    Ok((first, t.iter().map(|t| t / norm * u).collect()))
}

/// Top-hat window on the grid: transmission 1 for λ1 ≤ λ ≤ λ2 (Å), used for windowed
/// attenuation (spec §5.4).
pub fn window_weights(
    lam_obs_um: &[f64],
    lo_angstrom: f64,
    hi_angstrom: f64,
) -> Result<Vec<f64>, PhotometryError> {
    let t: Vec<f64> = lam_obs_um
        .iter()
        .map(|&l| if (lo_angstrom..=hi_angstrom).contains(&(l * 1e4)) { 1.0 } else { 0.0 })
        .collect();
    let t_over_l: Vec<f64> = t.iter().zip(lam_obs_um).map(|(t, l)| t / l).collect();
    let norm = trapz(&t_over_l, lam_obs_um);
    if norm <= 0.0 {
        return Err(PhotometryError::NoOverlap {
            name: format!("window {lo_angstrom}–{hi_angstrom} Å"),
            lo: lo_angstrom * 1e-4,
            hi: hi_angstrom * 1e-4,
            grid_lo: lam_obs_um[0],
            grid_hi: lam_obs_um[lam_obs_um.len() - 1],
        });
    }
    let u = fnu_unit_jy();
    Ok(t.iter().map(|t| t / norm * u).collect())
}
