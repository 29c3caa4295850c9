//! Filter weights on a model wavelength grid (spec §5.3): turning λL_λ into band fluxes with one
//! weighted sum per band.

use crate::numeric::{interp_with_slope, trapz};
use crate::units::fnu_unit_jy;

/// A filter curve that cannot be used on a grid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhotometryError {
    /// The filter transmits nowhere inside the model's observed wavelength grid.
    #[error(
        "filter '{name}' ({lo:.4}–{hi:.4} µm) does not overlap the model's observed wavelength range \
         {grid_lo:.4}–{grid_hi:.4} µm at this redshift"
    )]
    NoOverlap {
        /// Filter name.
        name: String,
        /// First wavelength of the filter curve \[µm\].
        lo: f64,
        /// Last wavelength of the filter curve \[µm\].
        hi: f64,
        /// First wavelength of the observed-frame grid \[µm\].
        grid_lo: f64,
        /// Last wavelength of the observed-frame grid \[µm\].
        grid_hi: f64,
    },
    /// The filter transmits partly outside the grid and partial overlap was not allowed.
    #[error(
        "filter '{name}' extends beyond the model's observed wavelength range \
         ({lo:.4}–{hi:.4} µm vs {grid_lo:.4}–{grid_hi:.4} µm): its flux would be truncated"
    )]
    PartialOverlap {
        /// Filter name.
        name: String,
        /// First wavelength of the filter curve \[µm\].
        lo: f64,
        /// Last wavelength of the filter curve \[µm\].
        hi: f64,
        /// First wavelength of the observed-frame grid \[µm\].
        grid_lo: f64,
        /// Last wavelength of the observed-frame grid \[µm\].
        grid_hi: f64,
    },
    /// The grid has fewer than two points, starts at a wavelength <= 0, or is not strictly
    /// increasing under the filter.
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
/// at `lam_obs_um` (0 outside the curve). Then F_ν \[Jy\] = trapz(λL_λ · W_f, λ_obs) · 10^(−0.4μ).
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
    let (first, window) = filter_weights_window(
        name,
        lam_obs_um,
        wavelength_angstrom,
        transmission,
        allow_partial,
    )?;
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
    Passband::new(name, wavelength_angstrom, transmission).window(lam_obs_um, allow_partial)
}

/// A filter curve prepared for [`filter_weights_window`] on many grids (one per redshift).
#[derive(Debug, Clone, PartialEq)]
pub struct Passband {
    name: String,
    lam_um: Vec<f64>,
    transmission: Vec<f64>,
    /// Where the transmission is non-zero: (first, last) wavelength \[µm\], if anywhere.
    transmitting: Option<(f64, f64)>,
    /// `bucket_node[b]`: the largest curve node at or below the left edge of bucket b of
    /// [`BUCKETS_PER_NODE`]·n equal slices of the curve's range, so that finding the node of a
    /// wavelength takes a step or two instead of a binary search.
    bucket_node: Vec<u32>,
    /// Buckets per µm.
    bucket_density: f64,
    /// Slope of each curve segment, as NumPy's interp computes it.
    slopes: Vec<f64>,
}

/// Buckets per curve node in [`Passband`]'s lookup table.
const BUCKETS_PER_NODE: usize = 4;

impl Passband {
    /// Prepares a curve: `wavelength_angstrom` [Å, increasing, at least one point] and the
    /// transmission at each wavelength (any normalisation).
    pub fn new(name: &str, wavelength_angstrom: &[f64], transmission: &[f64]) -> Self {
        let lam_um: Vec<f64> = wavelength_angstrom.iter().map(|w| w * 1e-4).collect();
        let nonzero = |&(_, &t): &(&f64, &f64)| t > 0.0;
        let first = lam_um
            .iter()
            .zip(transmission)
            .find(nonzero)
            .map(|(l, _)| *l);
        let last = lam_um
            .iter()
            .zip(transmission)
            .rev()
            .find(nonzero)
            .map(|(l, _)| *l);
        let n_buckets = BUCKETS_PER_NODE * lam_um.len();
        let (lo, width) = (lam_um[0], lam_um[lam_um.len() - 1] - lam_um[0]);
        let bucket_node = (0..n_buckets)
            .map(|b| {
                let edge = lo + width * b as f64 / n_buckets as f64;
                (lam_um.partition_point(|&l| l <= edge).max(1) - 1) as u32
            })
            .collect();
        let slopes = lam_um
            .windows(2)
            .zip(transmission.windows(2))
            .map(|(x, f)| (f[1] - f[0]) / (x[1] - x[0]))
            .collect();
        Self {
            name: name.to_owned(),
            lam_um,
            transmission: transmission.to_vec(),
            transmitting: first.zip(last),
            bucket_node,
            bucket_density: n_buckets as f64 / width,
            slopes,
        }
    }

    /// numpy.interp of the transmission at `x` (0 outside the curve), as `interp_with_edges`.
    fn transmission_at(&self, x: f64) -> f64 {
        let xp = &self.lam_um;
        let n = xp.len();
        if x.is_nan() || x < xp[0] || x > xp[n - 1] {
            return if x.is_nan() { x } else { 0.0 };
        }
        let b = (((x - xp[0]) * self.bucket_density) as usize).min(self.bucket_node.len() - 1);
        // The node lies between this bucket's first node and the next bucket's, unless rounding
        // put x in a neighbouring bucket: then search the whole curve.
        let lo = self.bucket_node[b] as usize;
        let hi = self.bucket_node.get(b + 1).map_or(n - 1, |&h| h as usize);
        let j = if xp[lo] <= x && (hi + 1 >= n || xp[hi + 1] > x) {
            lo + xp[lo..=hi].partition_point(|&a| a <= x) - 1
        } else {
            xp.partition_point(|&a| a <= x) - 1
        };
        if j == n - 1 || xp[j] == x {
            return self.transmission[j];
        }
        interp_with_slope(xp, &self.transmission, self.slopes[j], x, j)
    }

    /// The weights of [`filter_weights_window`] on `lam_obs_um`.
    pub fn window(
        &self,
        lam_obs_um: &[f64],
        allow_partial: bool,
    ) -> Result<(usize, Vec<f64>), PhotometryError> {
        let n = lam_obs_um.len();
        if n < 2 || lam_obs_um[0] <= 0.0 {
            return Err(PhotometryError::BadGrid);
        }
        let (lo, hi) = (self.lam_um[0], self.lam_um[self.lam_um.len() - 1]);
        let (grid_lo, grid_hi) = (lam_obs_um[0], lam_obs_um[n - 1]);
        let name = &self.name;
        let no_overlap = || PhotometryError::NoOverlap {
            name: name.clone(),
            lo,
            hi,
            grid_lo,
            grid_hi,
        };
        // Grid points inside [lo, hi] plus one (zero-weight) neighbour on each side.
        let first = lam_obs_um.partition_point(|&l| l < lo).saturating_sub(1);
        let last = lam_obs_um.partition_point(|&l| l <= hi).min(n - 1);
        if first >= last {
            return Err(no_overlap());
        }
        let grid = &lam_obs_um[first..=last];
        // Only the window enters the weights, so only the window needs to be increasing.
        if grid.windows(2).any(|w| w[1] <= w[0]) {
            return Err(PhotometryError::BadGrid);
        }
        let t: Vec<f64> = grid.iter().map(|&x| self.transmission_at(x)).collect();
        let t_over_l: Vec<f64> = t.iter().zip(grid).map(|(t, l)| t / l).collect();
        let norm = trapz(&t_over_l, grid);
        if norm <= 0.0 || !norm.is_finite() {
            return Err(no_overlap());
        }
        // Only an error when the part outside the grid carries transmission.
        if !allow_partial
            && let Some((t_lo, t_hi)) = self.transmitting
            && (t_lo < grid_lo || t_hi > grid_hi)
        {
            return Err(PhotometryError::PartialOverlap {
                name: name.clone(),
                lo,
                hi,
                grid_lo,
                grid_hi,
            });
        }
        let u = fnu_unit_jy();
        Ok((first, t.iter().map(|t| t / norm * u).collect()))
    }
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
        .map(|&l| {
            if (lo_angstrom..=hi_angstrom).contains(&(l * 1e4)) {
                1.0
            } else {
                0.0
            }
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{Filter, builtin_names};
    use crate::numeric::interp_with_edges;

    #[test]
    fn bucketed_lookup_is_numpy_interp_exactly() {
        for name in builtin_names() {
            let f = Filter::builtin(name).unwrap();
            let band = Passband::new(name, &f.wavelength_angstrom, &f.transmission);
            let (lo, hi) = (band.lam_um[0], band.lam_um[band.lam_um.len() - 1]);
            // Dense probes across (and just beyond) the curve, the nodes themselves included.
            let probes = (0..=5000)
                .map(|i| lo - 0.01 * (hi - lo) + 1.02 * (hi - lo) * f64::from(i) / 5000.0)
                .chain(band.lam_um.iter().copied());
            for x in probes {
                let want = interp_with_edges(&band.lam_um, &band.transmission, x, 0.0, 0.0);
                assert_eq!(
                    band.transmission_at(x).to_bits(),
                    want.to_bits(),
                    "{name} at {x}"
                );
            }
        }
    }
}
