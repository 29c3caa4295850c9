//! Stellar input spectra of the disk and the bulge, written for SKIRT's `FileSED`.
//!
//! A component with light fractions `s_k` over the SSPs has the spectrum
//! `l_λ = Σ_k s_k · L_λ,k / L_bol,k` per unit bolometric luminosity, the same mixture the emulator
//! forms (spec §5.2). SKIRT emits only inside the source wavelength range and normalises the
//! spectrum there, so the parameter files give each source the luminosity it has inside that
//! range: `l_norm` × (share of the component) × [`ComponentSed::source_fraction`].

use std::fmt::Write as _;
use std::path::Path;

use galsed_core::ssp::SspLibrary;

use super::SkirtError;

/// A component's spectrum on the SSP wavelengths that cover the source range. Beyond the table
/// the spectrum is zero, for SKIRT as for the emulator (the built-in library ends at 99.08 µm,
/// inside the published source range 0.09–100 µm).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSed {
    /// Wavelengths \[µm\], strictly increasing: the SSP wavelengths inside the source range plus
    /// the nearest one beyond each end (where the table has one), so that SKIRT interpolates the
    /// range completely.
    pub lam_um: Vec<f64>,
    /// L_λ per unit bolometric luminosity of the component [1/µm].
    pub l_lambda: Vec<f64>,
    /// Fraction of the bolometric luminosity emitted inside the source range (∫ l_λ dλ over the
    /// range, the spectrum interpolated linearly in λ as SKIRT does).
    pub source_fraction: f64,
}

/// The spectrum of a component with light fractions `sfh` (length `lib.n_ssp()`, order
/// `k = n_age·i_met + i_age`) restricted to `range` \[µm\].
pub fn component_sed(
    lib: &SspLibrary,
    sfh: &[f64],
    range: (f64, f64),
) -> Result<ComponentSed, SkirtError> {
    if sfh.len() != lib.n_ssp() {
        return Err(SkirtError::Invalid(format!(
            "an SFH has {} weights, the SSP library {} SSPs",
            sfh.len(),
            lib.n_ssp()
        )));
    }
    let (lo, hi) = range;
    let (first, last) = (lib.lam[0], lib.lam[lib.lam.len() - 1]);
    if !(lo < hi && lo < last && hi > first) {
        return Err(SkirtError::Invalid(format!(
            "the source wavelength range {lo}–{hi} µm does not overlap the SSP library's \
             {first}–{last} µm"
        )));
    }
    let n_age = lib.n_age();
    let l_all: Vec<f64> = (0..lib.lam.len())
        .map(|i| {
            sfh.iter()
                .enumerate()
                .map(|(k, s)| {
                    let (m, a) = (k / n_age, k % n_age);
                    s * lib.flx[[i, m, a]] / lib.norm[[m, a]]
                })
                .sum()
        })
        .collect();
    let source_fraction = integrate_linear(&lib.lam, &l_all, lo, hi);
    // Index range [start, end] covering [lo, hi] with one point beyond each end where possible.
    let start = lib.lam.partition_point(|&x| x < lo).saturating_sub(1);
    let end = lib.lam.partition_point(|&x| x <= hi).min(lib.lam.len() - 1);
    Ok(ComponentSed {
        lam_um: lib.lam[start..=end].to_vec(),
        l_lambda: l_all[start..=end].to_vec(),
        source_fraction,
    })
}

/// ∫_lo^hi y dx of the piecewise-linear interpolant of (x, y), x increasing, [lo, hi] ⊂ [x₀, x_last].
fn integrate_linear(x: &[f64], y: &[f64], lo: f64, hi: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..x.len().saturating_sub(1) {
        let (x0, x1) = (x[i], x[i + 1]);
        let (a, b) = (x0.max(lo), x1.min(hi));
        if b <= a {
            continue;
        }
        let at = |t: f64| y[i] + (y[i + 1] - y[i]) * (t - x0) / (x1 - x0);
        total += 0.5 * (at(a) + at(b)) * (b - a);
    }
    total
}

/// Writes a SKIRT `FileSED` text file: two columns, wavelength \[micron\] and L_λ per unit
/// bolometric luminosity [Lsun/micron] (the parameter file sets the luminosity).
pub fn write_sed_file(
    path: &Path,
    sed: &ComponentSed,
    description: &str,
) -> Result<(), SkirtError> {
    let mut text = String::with_capacity(32 * (sed.lam_um.len() + 4));
    // Writing into a String cannot fail.
    let _ = writeln!(text, "# {description}");
    text.push_str(
        "# L_lambda per unit bolometric luminosity; the parameter file sets the luminosity\n",
    );
    text.push_str("# column 1: wavelength (micron)\n");
    text.push_str("# column 2: specific luminosity (Lsun/micron)\n");
    for (lam, l) in sed.lam_um.iter().zip(&sed.l_lambda) {
        // 9 significant digits keep neighbouring SSP wavelengths distinct.
        let _ = writeln!(text, "{lam:.8e} {l:.6e}");
    }
    std::fs::write(path, text).map_err(SkirtError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    /// Two SSPs with flat L_λ over 0.05–200 µm, normalised to their integral.
    fn flat_library() -> SspLibrary {
        let lam: Vec<f64> = (0..=400)
            .map(|i| 0.05 * (4000f64).powf(i as f64 / 400.0))
            .collect();
        let flx = Array3::from_shape_fn((lam.len(), 1, 2), |(_, _, a)| (a + 1) as f64);
        let width = lam[lam.len() - 1] - lam[0];
        let norm = Array2::from_shape_fn((1, 2), |(_, a)| (a + 1) as f64 * width);
        let lam_main: Vec<f64> = (0..300).map(|i| 0.1 * 1.02f64.powi(i)).collect();
        SspLibrary::new(
            lam,
            vec![0.02],
            vec![1e7, 1e9],
            vec![1e6, 1e8, 1e10],
            flx,
            norm,
            lam_main,
        )
        .unwrap()
    }

    #[test]
    fn source_fraction_of_a_flat_spectrum_is_the_range_share() {
        let lib = flat_library();
        let width = lib.lam[lib.lam.len() - 1] - lib.lam[0];
        let sed = component_sed(&lib, &[0.25, 0.75], (0.09, 100.0)).unwrap();
        let want = (100.0 - 0.09) / width;
        assert!(
            (sed.source_fraction - want).abs() < 1e-12,
            "{} vs {want}",
            sed.source_fraction
        );
        assert!(sed.lam_um[0] < 0.09 && sed.lam_um[1] >= 0.09);
        let n = sed.lam_um.len();
        assert!(sed.lam_um[n - 1] > 100.0 && sed.lam_um[n - 2] <= 100.0);
        assert!(
            sed.l_lambda
                .iter()
                .all(|&l| (l - 1.0 / width).abs() < 1e-15)
        );
    }

    #[test]
    fn bad_sfh_length_and_range_are_errors() {
        let lib = flat_library();
        assert!(component_sed(&lib, &[1.0], (0.09, 100.0)).is_err());
        assert!(component_sed(&lib, &[0.5, 0.5], (300.0, 400.0)).is_err());
        assert!(component_sed(&lib, &[0.5, 0.5], (10.0, 1.0)).is_err());
    }

    #[test]
    fn a_range_beyond_the_table_counts_zero_there() {
        let lib = flat_library();
        let width = lib.lam[lib.lam.len() - 1] - lib.lam[0];
        let sed = component_sed(&lib, &[0.5, 0.5], (0.01, 1000.0)).unwrap();
        assert!(
            (sed.source_fraction - 1.0).abs() < 1e-12,
            "{}",
            sed.source_fraction
        );
        assert_eq!(sed.lam_um, lib.lam);
        assert!((sed.l_lambda[0] * width - 1.0).abs() < 1e-12);
    }
}
