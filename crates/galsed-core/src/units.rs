//! Physical constants and unit conversions of the SED model (astropy's values, as the reference).

/// Solar luminosity \[W\] (IAU 2015 nominal, astropy `L_sun`).
pub const L_SUN_W: f64 = 3.828e26;
/// Parsec \[m\].
pub const PARSEC_M: f64 = 3.085_677_581_491_367e16;
/// Speed of light [m/s].
pub const C_M_PER_S: f64 = 299_792_458.0;
/// Jansky [W m⁻² Hz⁻¹].
pub const JANSKY: f64 = 1e-26;
/// AB magnitude of a 1 Jy source: m_AB = −2.5 log10(F_ν / Jy) + 8.9.
pub const AB_ZERO_POINT_MAG: f64 = 8.9;

/// F_ν \[Jy\] at 10 pc of a source with λL_λ = 1 L_sun at λ = 1 µm: F_ν = λL_λ · λ\[µm\] · u_ν.
///
/// ```
/// let u = galsed_core::units::fnu_unit_jy();
/// assert!((u - 106.71863745933612).abs() < 1e-12);
/// ```
pub fn fnu_unit_jy() -> f64 {
    let d = 10.0 * PARSEC_M;
    L_SUN_W / (4.0 * std::f64::consts::PI * d * d) * 1e-6 / C_M_PER_S / JANSKY
}

/// AB magnitude of a flux density in Jy (+∞ for zero flux, NaN for negative flux).
pub fn ab_mag(flux_jy: f64) -> f64 {
    -2.5 * flux_jy.log10() + AB_ZERO_POINT_MAG
}

/// Flux density in Jy of an AB magnitude.
pub fn ab_to_jy(mag: f64) -> f64 {
    10f64.powf(-0.4 * (mag - AB_ZERO_POINT_MAG))
}

/// Flux scale 10^(−0.4 μ) of a distance modulus μ (fluxes are computed at 10 pc).
pub fn distance_factor(distmod: f64) -> f64 {
    10f64.powf(-0.4 * distmod)
}
