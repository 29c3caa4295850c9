//! Units of the columns of the results tables, as astropy-parsable strings (written as FITS
//! `TUNITn`, Parquet field metadata `unit` and ECSV `unit`).
//!
//! Masses and luminosities are linear (M☉, L☉), not logarithmic; the `par_*` columns are the
//! parametrisation's unit-space values and dimensionless.

use crate::derived::PROPERTIES;
use crate::fit::EXTRA_PROPERTIES;

/// The astropy form of a unit as the derived properties write it (`"M_sun/yr"` →
/// `"solMass / yr"`); `""` for dimensionless ones (metallicities in Z☉ included, astropy has no
/// solar-metallicity unit).
///
/// ```
/// use galsed_fit::units::astropy_unit;
/// assert_eq!(astropy_unit("M_sun/yr"), "solMass / yr");
/// assert_eq!(astropy_unit("L_sun"), "solLum");
/// assert_eq!(astropy_unit("Z_sun"), "");
/// ```
pub fn astropy_unit(unit: &str) -> &str {
    match unit {
        "M_sun" => "solMass",
        "M_sun/yr" => "solMass / yr",
        "M_sun/kpc^2" => "solMass / kpc2",
        "L_sun" => "solLum",
        "Z_sun" => "",
        other => other,
    }
}

/// The unit of the results-table column `name` (see [`crate::catalog::results_table`]):
/// derived properties and their `_p16`/`_p50`/`_p84` percentiles in physical units (θ in deg,
/// radii in kpc, masses in M☉, SFR in M☉/yr, luminosities in L☉, ages in yr, A_V and
/// `model_<band>` magnitudes in AB mag), `""` for dimensionless numbers (redshift, χ², counts,
/// `par_*`); `None` for a column it does not know.
///
/// ```
/// use galsed_fit::units::result_unit;
/// assert_eq!(result_unit("sfr_p50"), Some("solMass / yr"));
/// assert_eq!(result_unit("theta"), Some("deg"));
/// assert_eq!(result_unit("sfh_3_p84"), Some("solMass"));
/// assert_eq!(result_unit("model_sdss_r0"), Some("mag(AB)"));
/// assert_eq!(result_unit("par_theta"), Some(""));
/// assert_eq!(result_unit("whatever"), None);
/// ```
pub fn result_unit(name: &str) -> Option<&'static str> {
    let base = ["_p16", "_p50", "_p84"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    if let Some(p) = PROPERTIES.iter().find(|p| p.name == base) {
        return Some(astropy_unit(p.unit));
    }
    // Per-age columns: `sfh_3`, `mh_disk_0`.
    if let Some((stem, bin)) = base.rsplit_once('_')
        && bin.bytes().all(|b| b.is_ascii_digit())
        && !bin.is_empty()
        && let Some(p) = PROPERTIES.iter().find(|p| p.name == stem)
    {
        return Some(astropy_unit(p.unit));
    }
    if let Some(p) = EXTRA_PROPERTIES.iter().find(|p| p.0 == base) {
        return Some(if p.1 == "mag" {
            "mag"
        } else {
            astropy_unit(p.1)
        });
    }
    if base.starts_with("model_") {
        return Some("mag(AB)");
    }
    if base.starts_with("par_") {
        return Some("");
    }
    match base {
        "distmod" => Some("mag"),
        "redshift"
        | "n_bands"
        | "chi2"
        | "chi2_reduced"
        | "neg_log_post"
        | "optimizer_converged"
        | "optimizer_spread"
        | "n_evaluations"
        | "sampler_converged"
        | "sampler_acceptance"
        | "sampler_evaluations"
        | "tau_max"
        | "log_z"
        | "log_z_err"
        | "rhat_max"
        | "ess_min" => Some(""),
        _ => None,
    }
}
