//! Flat ΛCDM luminosity distances and distance moduli, reproducing astropy 6.0.1 (`FlatLambdaCDM`),
//! with [`Cosmology::planck18`] as the default.
//!
//! As in astropy, photons and neutrinos (massless and massive, the latter through the Komatsu et al.
//! 2011 fitting formula) enter the expansion rate, and dark energy takes the rest of the critical
//! density. The comoving-distance integral is computed by adaptive Gauss–Kronrod quadrature to
//! ~1e-13 relative accuracy.

/// Speed of light in km/s.
const C_KM_S: f64 = 299_792.458;
/// 1 km/s/Mpc in 1/s (astropy 6.0.1: `(u.km / (u.s * u.Mpc)).to(1 / u.s)`).
const H0_UNITS_TO_INV_S: f64 = 3.240779289444365e-20;
/// 3/(8πG) in CGS units (astropy 6.0.1, CODATA 2018 G).
const CRITICAL_DENSITY_CONST: f64 = 1_788_445.339_869_672_2;
/// Radiation constant over c², 4σ/c³, in CGS units (astropy 6.0.1).
const A_B_C2: f64 = 8.418_013_525_010_778e-36;
/// Boltzmann constant in eV/K (CODATA 2018).
const K_B_EV_PER_K: f64 = 8.617_333_262_145_179e-5;
/// (4/11)^(1/3): neutrino-to-photon temperature ratio (astropy's rounded value).
const TNU_OVER_TCMB: f64 = 0.713_765_855_503_608_2;
/// 7/8 (4/11)^(4/3): energy density of one massless neutrino species relative to photons.
const NU_PREFACTOR: f64 = 0.227_107_317_66;
/// Komatsu et al. (2011) massive-neutrino fitting constants p, 1/p and k, as in astropy.
const NU_P: f64 = 1.83;
const NU_INV_P: f64 = 0.546_448_087_43;
const NU_K: f64 = 0.3173;

/// Relative tolerance of the comoving-distance quadrature (per subinterval; the integrand is
/// positive, so it bounds the total relative error too).
const QUAD_REL_TOL: f64 = 1e-13;
/// Bisection depth limit; never reached for the smooth integrands here.
const QUAD_MAX_DEPTH: u32 = 60;

/// Errors from building a cosmology or evaluating distances.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CosmologyError {
    /// Redshift NaN, infinite or negative.
    #[error("redshift must be finite and >= 0, got {0}")]
    InvalidRedshift(f64),
    /// The distance modulus diverges at z = 0.
    #[error("the distance modulus is -infinity at z = 0; give a redshift > 0")]
    ZeroRedshiftModulus,
    /// A parameter outside its valid range.
    #[error("invalid cosmological parameter {name} = {value}: must be {requirement}")]
    InvalidParameter {
        /// Name of the parameter (e.g. `H0`).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The range it must lie in, in words.
        requirement: &'static str,
    },
    /// The neutrino mass list does not match the number of species implied by Neff.
    #[error(
        "{masses} neutrino masses given but Neff = {neff} implies floor(Neff) = {species} species"
    )]
    NeutrinoCount {
        /// Number of neutrino masses given.
        masses: usize,
        /// Effective number of neutrino species N_eff.
        neff: f64,
        /// Number of massive species implied by N_eff: floor(N_eff).
        species: usize,
    },
    /// A cosmology specification that is neither `planck18` nor `flat:H0,Om0`.
    #[error("{0:?}: expected planck18 or flat:H0,Om0 (e.g. flat:70,0.3)")]
    Spec(String),
    /// `flat:H0,Om0` with parameters outside their range.
    #[error("{spec:?}: expected planck18 or flat:H0,Om0 (e.g. flat:70,0.3)")]
    SpecParameters {
        /// The specification.
        spec: String,
        /// Why the parameters were refused.
        source: Box<CosmologyError>,
    },
}

/// A flat ΛCDM cosmology (Ω_k = 0; dark energy fills what matter and radiation leave).
#[derive(Debug, Clone, PartialEq)]
pub struct Cosmology {
    h0: f64,
    om0: f64,
    ode0: f64,
    ogamma0: f64,
    neff: f64,
    /// Neff shared equally among floor(Neff) species (astropy's convention).
    neff_per_nu: f64,
    n_massless_nu: usize,
    /// m_ν c² / (k_B T_ν0) of each massive species.
    nu_y: Vec<f64>,
}

impl Default for Cosmology {
    /// [`Cosmology::planck18`].
    fn default() -> Self {
        Self::planck18()
    }
}

impl Cosmology {
    /// Planck 2018 (TT,TE,EE+lowE+lensing+BAO), identical to astropy 6.0.1's
    /// `astropy.cosmology.Planck18`: H0 = 67.66 km/s/Mpc, Ωm = 0.30966, T_cmb = 2.7255 K,
    /// N_eff = 3.046, m_ν = (0, 0, 0.06) eV (Ωb = 0.04897 is part of Ωm and does not enter distances).
    ///
    /// ```rust
    /// use galsed_core::cosmology::Cosmology;
    /// let mu = Cosmology::planck18().distance_modulus(0.05)?;
    /// assert!((mu - 36.80751187885012).abs() < 1e-9);
    /// # Ok::<(), galsed_core::cosmology::CosmologyError>(())
    /// ```
    pub fn planck18() -> Self {
        Self::build(67.66, 0.30966, 2.7255, 3.046, &[0.0, 0.0, 0.06])
    }

    /// Parses a cosmology specification, `planck18` (any case) or `flat:H0,Om0` (flat ΛCDM without
    /// radiation, H0 in km/s/Mpc), into the cosmology and its name for humans and file metadata.
    ///
    /// ```rust
    /// use galsed_core::cosmology::Cosmology;
    /// let (c, name) = Cosmology::parse("flat:70,0.3")?;
    /// assert_eq!(name, "flat ΛCDM H0=70 Om0=0.3");
    /// assert_eq!(c, Cosmology::flat_lcdm(70.0, 0.3)?);
    /// assert!(Cosmology::parse("flat:70").is_err());
    /// # Ok::<(), galsed_core::cosmology::CosmologyError>(())
    /// ```
    pub fn parse(spec: &str) -> Result<(Self, String), CosmologyError> {
        if spec.eq_ignore_ascii_case("planck18") {
            return Ok((Self::planck18(), "Planck18".to_owned()));
        }
        let usage = || CosmologyError::Spec(spec.to_owned());
        let rest = spec.strip_prefix("flat:").ok_or_else(usage)?;
        let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
        let [h0, om0] = parts.as_slice() else {
            return Err(usage());
        };
        let (h0, om0): (f64, f64) = (
            h0.parse().map_err(|_| usage())?,
            om0.parse().map_err(|_| usage())?,
        );
        let c = Self::flat_lcdm(h0, om0).map_err(|e| CosmologyError::SpecParameters {
            spec: spec.to_owned(),
            source: Box::new(e),
        })?;
        Ok((c, format!("flat ΛCDM H0={h0} Om0={om0}")))
    }

    /// Flat ΛCDM without radiation (astropy `FlatLambdaCDM(H0, Om0)` with its default `Tcmb0 = 0`):
    /// Ω_Λ = 1 − Ωm. `h0` in km/s/Mpc must be finite and > 0; `om0` finite and >= 0.
    pub fn flat_lcdm(h0: f64, om0: f64) -> Result<Self, CosmologyError> {
        Self::flat_lcdm_with_radiation(h0, om0, 0.0, 0.0, &[])
    }

    /// Flat ΛCDM with photons at `tcmb0_k` (K) and `neff` effective neutrino species, of which those
    /// with a positive entry in `m_nu_ev` (eV) are massive. As in astropy, `m_nu_ev` is either empty
    /// (all massless) or has one mass per species, floor(`neff`) entries. `tcmb0_k = 0` means no
    /// radiation at all.
    pub fn flat_lcdm_with_radiation(
        h0: f64,
        om0: f64,
        tcmb0_k: f64,
        neff: f64,
        m_nu_ev: &[f64],
    ) -> Result<Self, CosmologyError> {
        let invalid = |name, value, requirement| {
            Err(CosmologyError::InvalidParameter {
                name,
                value,
                requirement,
            })
        };
        if !(h0.is_finite() && h0 > 0.0) {
            return invalid("H0", h0, "finite and > 0 (km/s/Mpc)");
        }
        if !(om0.is_finite() && om0 >= 0.0) {
            return invalid("Om0", om0, "finite and >= 0");
        }
        if !(tcmb0_k.is_finite() && tcmb0_k >= 0.0) {
            return invalid("Tcmb0", tcmb0_k, "finite and >= 0 (K)");
        }
        if !(neff.is_finite() && neff >= 0.0) {
            return invalid("Neff", neff, "finite and >= 0");
        }
        if let Some(&m) = m_nu_ev.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
            return invalid("m_nu", m, "finite and >= 0 (eV)");
        }
        // Truncation is the intent: astropy uses floor(Neff) species.
        let species = neff.floor() as usize;
        if !m_nu_ev.is_empty() && m_nu_ev.len() != species {
            return Err(CosmologyError::NeutrinoCount {
                masses: m_nu_ev.len(),
                neff,
                species,
            });
        }
        Ok(Self::build(h0, om0, tcmb0_k, neff, m_nu_ev))
    }

    /// Derives the densities exactly as astropy's `FLRW.__init__` and `FlatFLRWMixin` do.
    fn build(h0: f64, om0: f64, tcmb0_k: f64, neff: f64, m_nu_ev: &[f64]) -> Self {
        let h0_inv_s = h0 * H0_UNITS_TO_INV_S;
        let critical_density0 = CRITICAL_DENSITY_CONST * h0_inv_s * h0_inv_s;
        // `powf` (libm pow, as numpy's `**`): `powi` is not exactly rounded and constant-folds differently.
        let ogamma0 = A_B_C2 * tcmb0_k.powf(4.0) / critical_density0;
        let species = neff.floor() as usize;
        let tnu0 = TNU_OVER_TCMB * tcmb0_k;
        let nu_y: Vec<f64> = if tnu0 > 0.0 {
            m_nu_ev
                .iter()
                .filter(|&&m| m > 0.0)
                .map(|m| m / (K_B_EV_PER_K * tnu0))
                .collect()
        } else {
            Vec::new()
        };
        let mut cosmo = Self {
            h0,
            om0,
            ode0: 0.0,
            ogamma0,
            neff,
            neff_per_nu: if species > 0 {
                neff / species as f64
            } else {
                0.0
            },
            n_massless_nu: species.saturating_sub(nu_y.len()),
            nu_y,
        };
        cosmo.ode0 = 1.0 - (om0 + ogamma0 + cosmo.onu0());
        cosmo
    }

    /// Hubble constant in km/s/Mpc.
    pub fn h0(&self) -> f64 {
        self.h0
    }

    /// Matter density parameter today (excluding neutrinos, as in astropy).
    pub fn om0(&self) -> f64 {
        self.om0
    }

    /// Dark-energy density parameter today.
    pub fn ode0(&self) -> f64 {
        self.ode0
    }

    /// Photon density parameter today.
    pub fn ogamma0(&self) -> f64 {
        self.ogamma0
    }

    /// Neutrino density parameter today.
    pub fn onu0(&self) -> f64 {
        self.ogamma0 * self.nu_relative_density(1.0)
    }

    /// Hubble distance c/H0 in Mpc.
    pub fn hubble_distance_mpc(&self) -> f64 {
        C_KM_S / self.h0
    }

    /// Neutrino energy density relative to photons at 1+z = `opz` (astropy `nu_relative_density`).
    fn nu_relative_density(&self, opz: f64) -> f64 {
        if self.nu_y.is_empty() {
            return NU_PREFACTOR * self.neff;
        }
        let k = NU_K / opz;
        let massive: f64 = self
            .nu_y
            .iter()
            .map(|y| (1.0 + (k * y).powf(NU_P)).powf(NU_INV_P))
            .sum();
        NU_PREFACTOR * self.neff_per_nu * (self.n_massless_nu as f64 + massive)
    }

    /// 1/E(z) = H0/H(z).
    fn inv_efunc(&self, z: f64) -> f64 {
        let opz = 1.0 + z;
        let or0 = self.ogamma0 * (1.0 + self.nu_relative_density(opz));
        (opz.powi(3) * (opz * or0 + self.om0) + self.ode0).powf(-0.5)
    }

    /// Line-of-sight comoving distance to redshift `z`, in Mpc.
    ///
    /// Errors if `z` is NaN, infinite or negative.
    pub fn comoving_distance_mpc(&self, z: f64) -> Result<f64, CosmologyError> {
        if !(z.is_finite() && z >= 0.0) {
            return Err(CosmologyError::InvalidRedshift(z));
        }
        Ok(self.hubble_distance_mpc() * integrate(|x| self.inv_efunc(x), 0.0, z))
    }

    /// Luminosity distance to redshift `z`, in Mpc: (1+z) times the comoving distance (flat
    /// universe). Returns 0 at z = 0.
    ///
    /// Errors if `z` is NaN, infinite or negative.
    pub fn luminosity_distance_mpc(&self, z: f64) -> Result<f64, CosmologyError> {
        Ok((1.0 + z) * self.comoving_distance_mpc(z)?)
    }

    /// Distance modulus μ = 5 log10(d_L / 10 pc) = 5 log10(d_L/Mpc) + 25, in magnitudes.
    ///
    /// Errors if `z` is NaN, infinite or negative, and at z = 0, where μ would be −∞.
    pub fn distance_modulus(&self, z: f64) -> Result<f64, CosmologyError> {
        if z == 0.0 {
            return Err(CosmologyError::ZeroRedshiftModulus);
        }
        Ok(5.0 * self.luminosity_distance_mpc(z)?.log10() + 25.0)
    }
}

/// Gauss–Kronrod 15-point nodes on [-1, 1] (positive half, QUADPACK `qk15`); the odd-indexed
/// entries and 0 are the 7-point Gauss nodes.
const XGK: [f64; 8] = [
    0.9914553711208126,
    0.9491079123427585,
    0.8648644233597691,
    0.7415311855993945,
    0.5860872354676911,
    0.4058451513773972,
    0.20778495500789848,
    0.0,
];
/// Kronrod weights matching [`XGK`].
const WGK: [f64; 8] = [
    0.022935322010529224,
    0.06309209262997856,
    0.10479001032225019,
    0.14065325971552592,
    0.1690047266392679,
    0.19035057806478542,
    0.20443294007529889,
    0.20948214108472782,
];
/// Gauss weights for the nodes XGK\[1\], XGK\[3\], XGK\[5\], XGK\[7\].
const WG: [f64; 4] = [
    0.1294849661688697,
    0.27970539148927664,
    0.3818300505051189,
    0.4179591836734694,
];

/// (Kronrod 15-point, Gauss 7-point) estimates of ∫f over [a, b].
fn gauss_kronrod_15(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    let center = 0.5 * (a + b);
    let half = 0.5 * (b - a);
    let mut kronrod = 0.0;
    let mut gauss = 0.0;
    for (i, (&x, &wk)) in XGK.iter().zip(&WGK).enumerate() {
        let sum = if x == 0.0 {
            f(center)
        } else {
            f(center - half * x) + f(center + half * x)
        };
        kronrod += wk * sum;
        if i % 2 == 1 {
            gauss += WG[i / 2] * sum;
        }
    }
    (kronrod * half, gauss * half)
}

/// Adaptive bisection with a Gauss–Kronrod 15 rule; intervals are accepted when the Kronrod and
/// Gauss estimates agree to [`QUAD_REL_TOL`] relative.
fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let mut total = 0.0;
    let mut pending = vec![(a, b, 0u32)];
    while let Some((lo, hi, depth)) = pending.pop() {
        let (kronrod, gauss) = gauss_kronrod_15(&f, lo, hi);
        if (kronrod - gauss).abs() <= QUAD_REL_TOL * kronrod.abs() || depth >= QUAD_MAX_DEPTH {
            total += kronrod;
        } else {
            let mid = 0.5 * (lo + hi);
            pending.push((lo, mid, depth + 1));
            pending.push((mid, hi, depth + 1));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_kronrod_rules_are_exact_for_their_polynomial_degrees() {
        // 7-point Gauss is exact to degree 13, 15-point Kronrod to degree 22.
        for degree in 0..=22 {
            let exact = 2.0f64.powi(degree + 1) / f64::from(degree + 1);
            let (kronrod, gauss) = gauss_kronrod_15(&|x: f64| x.powi(degree), 0.0, 2.0);
            assert!(
                (kronrod - exact).abs() <= 1e-14 * exact,
                "Kronrod degree {degree}"
            );
            if degree <= 13 {
                assert!(
                    (gauss - exact).abs() <= 1e-14 * exact,
                    "Gauss degree {degree}"
                );
            }
        }
    }

    #[test]
    fn adaptive_integration_handles_peaked_integrands() {
        let value = integrate(|x| 1.0 / (1e-4 + x * x), -1.0, 1.0);
        let exact = 2.0 * 100.0 * (100.0f64).atan();
        assert!((value - exact).abs() <= 1e-12 * exact, "{value} vs {exact}");
    }
}
