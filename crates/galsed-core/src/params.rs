//! The seven galaxy parameters of Starduster and their maps to the unit space u ∈ [−1, 1]
//! the networks read (spec §3.1).

use std::fmt;

/// How a physical value maps to u ∈ [−1, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// Inclination θ \[deg\]: u = 2cos θ − 1 (u = +1 face-on, −1 edge-on).
    Theta,
    /// u = 2(log10 x − a)/(b − a) − 1.
    Log {
        /// log10 of the value mapped to u = −1.
        a: f64,
        /// log10 of the value mapped to u = +1.
        b: f64,
    },
    /// u = 2x − 1.
    Frac,
}

/// One galaxy parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GalaxyParam {
    /// Column name, as in the Starduster inputs (e.g. `theta`, `b_to_t`).
    pub name: &'static str,
    /// Map from the physical value to unit space.
    pub transform: Transform,
    /// Unit of the physical value (empty when dimensionless).
    pub unit: &'static str,
    /// One-line meaning of the parameter.
    pub description: &'static str,
}

/// The parameters in column order of `gp`.
pub const GALAXY_PARAMS: [GalaxyParam; 7] = [
    GalaxyParam {
        name: "theta",
        transform: Transform::Theta,
        unit: "deg",
        description: "inclination (0 = face-on)",
    },
    GalaxyParam {
        name: "den_dust",
        transform: Transform::Log { a: 3.0, b: 7.5 },
        unit: "M_sun/kpc^2",
        description: "dust surface density m_dust/(2π r_dust²)",
    },
    GalaxyParam {
        name: "r_dust_to_rd",
        transform: Transform::Log { a: -0.7, b: 0.7 },
        unit: "",
        description: "dust-disk to stellar-disk radius ratio",
    },
    GalaxyParam {
        name: "r_disk",
        transform: Transform::Log { a: -2.0, b: 2.5 },
        unit: "kpc",
        description: "stellar disk scale radius",
    },
    GalaxyParam {
        name: "r_bulge",
        transform: Transform::Log { a: -0.5, b: 1.5 },
        unit: "kpc",
        description: "bulge radius",
    },
    GalaxyParam {
        name: "l_norm",
        transform: Transform::Log { a: 6.0, b: 14.0 },
        unit: "L_sun",
        description: "intrinsic bolometric luminosity",
    },
    GalaxyParam {
        name: "b_to_t",
        transform: Transform::Frac,
        unit: "",
        description: "bulge-to-total ratio of intrinsic luminosity",
    },
];

/// A physical value that has no unit-space image (e.g. a negative radius).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} = {value} is outside the domain of its transform ({domain})")]
pub struct DomainError {
    /// Name of the parameter.
    pub name: &'static str,
    /// The physical value given.
    pub value: f64,
    /// The transform's domain, in words.
    pub domain: &'static str,
}

impl GalaxyParam {
    /// Physical value → u. Values beyond the model's range give |u| > 1 (not clipped here).
    pub fn to_unit(&self, x: f64) -> Result<f64, DomainError> {
        let err = |domain| DomainError {
            name: self.name,
            value: x,
            domain,
        };
        match self.transform {
            Transform::Theta if (0.0..=180.0).contains(&x) => Ok(2.0 * x.to_radians().cos() - 1.0),
            Transform::Theta => Err(err("0 ≤ θ ≤ 180 deg")),
            Transform::Log { a, b } if x > 0.0 && x.is_finite() => {
                Ok(2.0 * (x.log10() - a) / (b - a) - 1.0)
            }
            Transform::Log { .. } => Err(err("finite and > 0")),
            Transform::Frac if x.is_finite() => Ok(2.0 * x - 1.0),
            Transform::Frac => Err(err("finite")),
        }
    }

    /// u → physical value.
    pub fn from_unit(&self, u: f64) -> f64 {
        match self.transform {
            Transform::Theta => (0.5 * (u + 1.0)).acos().to_degrees(),
            Transform::Log { a, b } => 10f64.powf(0.5 * (u + 1.0) * (b - a) + a),
            Transform::Frac => 0.5 * (u + 1.0),
        }
    }

    /// Physical values at u = −1 and u = +1 (for θ: 90° and 0°).
    pub fn physical_range(&self) -> (f64, f64) {
        (self.from_unit(-1.0), self.from_unit(1.0))
    }
}

impl fmt::Display for GalaxyParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = self.physical_range();
        write!(
            f,
            "{} [{}] {} ({} … {})",
            self.name,
            self.unit,
            self.description,
            lo.min(hi),
            lo.max(hi)
        )
    }
}

/// Converts one row of physical parameters to unit space.
///
/// ```
/// use galsed_core::params::{physical_to_unit, unit_to_physical};
/// let u = physical_to_unit(&[60.0, 1e5, 1.0, 3.0, 1.0, 1e10, 0.2]).unwrap();
/// assert!((u[0] - 0.0).abs() < 1e-12); // cos 60° = 1/2
/// let x = unit_to_physical(&u);
/// assert!((x[5] / 1e10 - 1.0).abs() < 1e-12);
/// ```
pub fn physical_to_unit(x: &[f64; 7]) -> Result<[f64; 7], DomainError> {
    let mut u = [0.0; 7];
    for (i, p) in GALAXY_PARAMS.iter().enumerate() {
        u[i] = p.to_unit(x[i])?;
    }
    Ok(u)
}

/// Converts one row of unit-space parameters to physical values.
pub fn unit_to_physical(u: &[f64; 7]) -> [f64; 7] {
    std::array::from_fn(|i| GALAXY_PARAMS[i].from_unit(u[i]))
}

/// Index of a parameter by name.
pub fn param_index(name: &str) -> Option<usize> {
    GALAXY_PARAMS.iter().position(|p| p.name == name)
}
