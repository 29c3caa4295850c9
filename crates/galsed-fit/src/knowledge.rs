//! What the catalogue already knows of a galaxy's parameters — an inclination or a disk radius
//! from imaging — as per-galaxy fixed values or Gaussian priors (`[catalog.parameters]`).
//!
//! ```toml
//! [catalog.parameters]
//! theta = { column = "incl", sigma_column = "incl_err" }  # a prior, per galaxy
//! r_disk = { column = "r_disk_kpc" }                       # fixed, per galaxy
//! b_to_t = { column = "bt", sigma = 0.1 }                  # a prior with one σ for all
//! ```
//!
//! Values are in the units of `[parametrization.fixed]` and `bounds`: the galaxy parameters in
//! physical units (θ in deg, radii in kpc, `den_dust` in M☉/kpc², `l_norm` in L☉), SFH and
//! metallicity parameters in their own. An empty (NaN) value leaves the parameter as configured
//! for that galaxy.
//!
//! The fit works in the model's internal coordinate u of each galaxy parameter (u = 2 cos θ − 1
//! for θ, linear in log10 for the radii, density and luminosity). A prior x ± σ is a Gaussian in
//! u with mean u(x) and σ_u = |u(x + σ) − u(x − σ)|/2 (one-sided where x − σ leaves the
//! parameter's domain): Gaussian in the catalogue's units to first order in σ.

use std::collections::BTreeMap;

use galsed_core::params::{GALAXY_PARAMS, param_index};
use serde::{Deserialize, Serialize};

use crate::params::ParamConfig;
use crate::posterior::{GaussianPrior, Prior};

/// Where a parameter's per-galaxy value comes from (an entry of `[catalog.parameters]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterColumn {
    /// The column of values.
    pub column: String,
    /// The column of 1σ errors: the value is then a Gaussian prior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_column: Option<String>,
    /// One 1σ error for every galaxy: the value is then a Gaussian prior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
}

/// One parameter known for one galaxy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    /// The value, in the parameter's configuration units.
    pub value: f64,
    /// Its 1σ error; `None`: the parameter is fixed at the value.
    pub sigma: Option<f64>,
}

/// The parameters known for one galaxy, by parameter name.
pub type Knowledge = BTreeMap<String, Known>;

/// Per-galaxy knowledge from the catalogue's cells: for each row, the known parameters, or why
/// the row's knowledge is unusable (a value with an error that is not finite and > 0).
/// `column(name)` gives a column's values, or the table's error.
pub fn per_galaxy<E>(
    entries: &BTreeMap<String, ParameterColumn>,
    n_rows: usize,
    mut column: impl FnMut(&str) -> Result<Vec<f64>, E>,
) -> Result<Vec<Result<Knowledge, String>>, KnowledgeError<E>> {
    let mut rows: Vec<Result<Knowledge, String>> = vec![Ok(Knowledge::new()); n_rows];
    for (name, entry) in entries {
        if entry.sigma.is_some() && entry.sigma_column.is_some() {
            return Err(KnowledgeError::BothSigmas(name.clone()));
        }
        if let Some(s) = entry.sigma
            && !(s.is_finite() && s > 0.0)
        {
            return Err(KnowledgeError::Sigma {
                name: name.clone(),
                sigma: s,
            });
        }
        let values = column(&entry.column).map_err(|source| KnowledgeError::Column {
            name: name.clone(),
            column: entry.column.clone(),
            source,
        })?;
        let sigmas = match &entry.sigma_column {
            Some(c) => Some(column(c).map_err(|source| KnowledgeError::Column {
                name: name.clone(),
                column: c.clone(),
                source,
            })?),
            None => None,
        };
        for (row, out) in rows.iter_mut().enumerate() {
            let value = values[row];
            let Ok(known) = out else { continue };
            if value.is_nan() {
                continue;
            }
            let sigma = entry.sigma.or(sigmas.as_ref().map(|s| s[row]));
            let bad = !value.is_finite() || sigma.is_some_and(|s| !(s.is_finite() && s > 0.0));
            if bad {
                *out = Err(format!(
                    "{name} from column {}: {value}{} (need a finite value and an error > 0)",
                    entry.column,
                    sigma.map(|s| format!(" ± {s}")).unwrap_or_default()
                ));
                continue;
            }
            known.insert(name.clone(), Known { value, sigma });
        }
    }
    Ok(rows)
}

/// Errors of `[catalog.parameters]` as a whole.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError<E> {
    /// Both `sigma` and `sigma_column` given.
    #[error("[catalog.parameters] {0}: give sigma or sigma_column, not both")]
    BothSigmas(String),
    /// A constant σ that is not > 0.
    #[error("[catalog.parameters] {name}: sigma = {sigma}, must be finite and > 0")]
    Sigma {
        /// The parameter.
        name: String,
        /// The σ given.
        sigma: f64,
    },
    /// A column that is missing or not numeric.
    #[error("[catalog.parameters] {name}: column {column:?}")]
    Column {
        /// The parameter.
        name: String,
        /// The column.
        column: String,
        /// The table's message.
        #[source]
        source: E,
    },
}

/// The mean and σ of a prior `value ± sigma` in the fit's coordinate of parameter `name`: u for
/// the galaxy parameters (see the module documentation), the value itself for the others.
pub fn internal_prior(name: &str, value: f64, sigma: f64) -> Result<(f64, f64), String> {
    let Some(i) = param_index(name) else {
        return Ok((value, sigma));
    };
    let gp = &GALAXY_PARAMS[i];
    let u = gp.to_unit(value).map_err(|e| e.to_string())?;
    let sigma_u = match (
        gp.to_unit(value + sigma).ok(),
        gp.to_unit(value - sigma).ok(),
    ) {
        (Some(a), Some(b)) => (a - b).abs() / 2.0,
        (Some(a), None) => (a - u).abs(),
        (None, Some(b)) => (u - b).abs(),
        (None, None) => f64::NAN,
    };
    if !(sigma_u.is_finite() && sigma_u > 0.0) {
        return Err(format!(
            "{name} = {value} ± {sigma}: no finite width in the fit's coordinate"
        ));
    }
    Ok((u, sigma_u))
}

/// The parametrisation and prior of one galaxy: `known` fixed values replace the configured
/// bounds and fixed values of their parameters, known priors replace configured Gaussian priors
/// on theirs.
pub fn apply(
    known: &Knowledge,
    param: &ParamConfig,
    prior: &Prior,
) -> Result<(ParamConfig, Prior), String> {
    let (mut param, mut prior) = (param.clone(), prior.clone());
    for (name, k) in known {
        match k.sigma {
            None => {
                param.bounds.remove(name);
                param.fixed.insert(name.clone(), k.value);
            }
            Some(sigma) => {
                let (mean, sigma) = internal_prior(name, k.value, sigma)?;
                prior.gaussian.retain(|g| g.name != *name);
                prior.gaussian.push(GaussianPrior {
                    name: name.clone(),
                    mean,
                    sigma,
                });
            }
        }
    }
    Ok((param, prior))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(column: &str, sigma_column: Option<&str>, sigma: Option<f64>) -> ParameterColumn {
        ParameterColumn {
            column: column.into(),
            sigma_column: sigma_column.map(Into::into),
            sigma,
        }
    }

    /// Priors in θ map through u = 2 cos θ − 1 by hand; radii through log10.
    #[test]
    fn priors_in_the_fit_coordinate() {
        let (u, s) = internal_prior("theta", 60.0, 5.0).unwrap();
        let want_s = ((65f64.to_radians().cos() - 55f64.to_radians().cos()) * 2.0).abs() / 2.0;
        assert!(
            (u - 0.0).abs() < 1e-12 && (s - want_s).abs() < 1e-12,
            "{u} {s}"
        );
        // r_disk: u = 2 (log10 r + 2)/4.5 − 1; 3 ± 1 kpc.
        let (u, s) = internal_prior("r_disk", 3.0, 1.0).unwrap();
        let uf = |r: f64| 2.0 * (r.log10() + 2.0) / 4.5 - 1.0;
        assert!((u - uf(3.0)).abs() < 1e-12);
        assert!((s - (uf(4.0) - uf(2.0)) / 2.0).abs() < 1e-12);
        // One-sided where x − σ ≤ 0.
        let (_, s) = internal_prior("r_disk", 1.0, 2.0).unwrap();
        assert!((s - (uf(3.0) - uf(1.0))).abs() < 1e-12);
        // Not a galaxy parameter: as given.
        assert_eq!(
            internal_prior("log_met_disk", -0.5, 0.2).unwrap(),
            (-0.5, 0.2)
        );
        assert!(internal_prior("theta", 200.0, 5.0).is_err());
    }

    /// Rows: NaN leaves the parameter free, a bad σ is the row's error, a missing column and two
    /// σs are errors of the whole configuration.
    #[test]
    fn rows_of_knowledge() {
        let cols: BTreeMap<&str, Vec<f64>> = [
            ("incl", vec![30.0, f64::NAN, 80.0]),
            ("incl_err", vec![3.0, 1.0, -1.0]),
            ("rd", vec![2.0, 3.0, f64::NAN]),
        ]
        .into();
        let get = |c: &str| cols.get(c).cloned().ok_or("no such column");
        let entries: BTreeMap<String, ParameterColumn> = [
            ("theta".to_string(), entry("incl", Some("incl_err"), None)),
            ("r_disk".to_string(), entry("rd", None, None)),
        ]
        .into();
        let rows = per_galaxy(&entries, 3, get).unwrap();
        let r0 = rows[0].as_ref().unwrap();
        assert_eq!(
            r0["theta"],
            Known {
                value: 30.0,
                sigma: Some(3.0)
            }
        );
        assert_eq!(
            r0["r_disk"],
            Known {
                value: 2.0,
                sigma: None
            }
        );
        let r1 = rows[1].as_ref().unwrap();
        assert!(!r1.contains_key("theta") && r1.contains_key("r_disk"));
        assert!(
            rows[2].as_ref().unwrap_err().contains("incl"),
            "{:?}",
            rows[2]
        );

        let missing: BTreeMap<String, ParameterColumn> =
            [("theta".to_string(), entry("inclination", None, None))].into();
        let e = per_galaxy(&missing, 3, get).unwrap_err().to_string();
        assert!(e.contains("inclination"), "{e}");
        let both: BTreeMap<String, ParameterColumn> = [(
            "theta".to_string(),
            entry("incl", Some("incl_err"), Some(2.0)),
        )]
        .into();
        assert!(matches!(
            per_galaxy(&both, 3, get),
            Err(KnowledgeError::BothSigmas(_))
        ));
    }

    /// Fixed values replace bounds; priors replace configured priors of the same parameter.
    #[test]
    fn applied_to_the_configuration() {
        let mut param = ParamConfig::default();
        param.bounds.insert("r_disk".into(), [1.0, 10.0]);
        let prior = Prior {
            smoothed_uniform: None,
            gaussian: vec![GaussianPrior {
                name: "theta".into(),
                mean: 0.0,
                sigma: 1.0,
            }],
        };
        let known: Knowledge = [
            (
                "r_disk".to_string(),
                Known {
                    value: 2.5,
                    sigma: None,
                },
            ),
            (
                "theta".to_string(),
                Known {
                    value: 60.0,
                    sigma: Some(5.0),
                },
            ),
        ]
        .into();
        let (p, q) = apply(&known, &param, &prior).unwrap();
        assert!(p.bounds.is_empty() && p.fixed["r_disk"] == 2.5);
        assert_eq!(q.gaussian.len(), 1);
        assert!(q.gaussian[0].mean.abs() < 1e-12 && q.gaussian[0].sigma < 0.2);
    }
}
