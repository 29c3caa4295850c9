//! Parameters in physical units for figures and printed tables: the fit works in the unit
//! space u ∈ [−1, 1] of the emulator, people read θ in degrees and radii in kpc.

use galsed_core::params::{GALAXY_PARAMS, GalaxyParam, Transform};

/// How one free parameter is shown: its label with unit, and the map from its unit-space value.
#[derive(Debug, Clone, PartialEq)]
pub struct PhysicalAxis {
    /// Label with the unit: `θ [deg]`, `log r_disk [kpc]`, `log den_dust [M☉ kpc⁻²]`,
    /// `b_to_t`; a parameter that is not a galaxy parameter (star-formation history weights)
    /// keeps its name with "(unit space)".
    pub label: String,
    /// The unit alone (`deg`, `log kpc`, … ; empty when dimensionless or unit space).
    pub unit: String,
    gp: Option<GalaxyParam>,
}

/// The unit in figure text: `M_sun/kpc^2` → `M☉ kpc⁻²`.
fn pretty_unit(unit: &str) -> String {
    match unit {
        "M_sun/kpc^2" => "M☉ kpc⁻²".into(),
        "M_sun" => "M☉".into(),
        "L_sun" => "L☉".into(),
        other => other.into(),
    }
}

impl PhysicalAxis {
    /// The axis of the free parameter `name` (as [`galsed_fit::params::Parametrization::names`]
    /// gives it).
    ///
    /// ```
    /// use galsed_plot::physical::PhysicalAxis;
    /// let t = PhysicalAxis::of("theta");
    /// assert_eq!(t.label, "θ [deg]");
    /// assert!((t.value(1.0) - 0.0).abs() < 1e-9 && (t.value(-1.0) - 90.0).abs() < 1e-9);
    /// let r = PhysicalAxis::of("r_disk");
    /// assert_eq!(r.label, "log r_disk [kpc]");
    /// assert!((r.value(-1.0) + 2.0).abs() < 1e-12); // log10(0.01 kpc)
    /// assert_eq!(PhysicalAxis::of("sfh_0").label, "sfh_0 (unit space)");
    /// ```
    pub fn of(name: &str) -> Self {
        let gp = GALAXY_PARAMS.iter().find(|g| g.name == name).copied();
        let (label, unit) = match gp.map(|g| (g.transform, g.unit)) {
            Some((Transform::Theta, _)) => ("θ [deg]".to_string(), "deg".to_string()),
            Some((Transform::Log { .. }, "")) => (format!("log {name}"), "dex".to_string()),
            Some((Transform::Log { .. }, u)) => {
                let u = pretty_unit(u);
                (format!("log {name} [{u}]"), format!("log {u}"))
            }
            Some((Transform::Frac, _)) => (name.to_string(), String::new()),
            None => (format!("{name} (unit space)"), String::new()),
        };
        Self { label, unit, gp }
    }

    /// The shown value of unit-space value `u`: θ in degrees, log10 of the log-mapped
    /// parameters in their unit, fractions as they are, others unchanged.
    pub fn value(&self, u: f64) -> f64 {
        match self.gp {
            Some(g) => match g.transform {
                Transform::Log { a, b } => 0.5 * (u + 1.0) * (b - a) + a,
                _ => g.from_unit(u),
            },
            None => u,
        }
    }

    /// The shown (lower, upper) values of the unit-space interval (`lo`, `hi`): θ decreases
    /// with u, so its ends swap.
    pub fn interval(&self, lo: f64, hi: f64) -> (f64, f64) {
        let (a, b) = (self.value(lo), self.value(hi));
        (a.min(b), a.max(b))
    }
}
