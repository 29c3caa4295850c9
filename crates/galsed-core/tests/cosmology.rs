//! Cosmology tests against astropy 6.0.1.
//!
//! Reference values generated with astropy 6.0.1 (numpy 1.26.4, scipy 1.17.1, Python 3.11):
//! `astropy.cosmology.Planck18.luminosity_distance(z).value`, `Planck18.distmod(z).value` and
//! `FlatLambdaCDM(H0=70, Om0=0.3).luminosity_distance(z).value` (Tcmb0 = 0: no radiation).

use galsed_core::cosmology::{Cosmology, CosmologyError};

/// (z, Planck18 luminosity distance [Mpc]).
const PLANCK18_DL_MPC: &[(f64, f64)] = &[
    (0.001, 4.434262480323607),
    (0.005, 22.239098905867618),
    (0.01, 44.64710613238465),
    (0.02, 89.96613008088508),
    (0.05, 229.8806284648579),
    (0.1, 475.8222675121877),
    (0.2, 1012.2934793154875),
    (0.3, 1602.518667454059),
    (0.5, 2919.6249521806776),
    (0.75, 4770.014072797684),
    (1.0, 6791.2689423031325),
    (1.5, 11192.994766300159),
    (2.0, 15924.566651659155),
    (3.0, 26016.015955798568),
    (4.0, 36659.04730931081),
    (5.0, 47677.760421995015),
    (10.0, 105999.13587403279),
    (100.0, 1295969.2872249025),
    (1000.0, 13879748.634894684),
];

/// (z, Planck18 distance modulus [mag]).
const PLANCK18_DISTMOD: &[(f64, f64)] = &[
    (0.001, 28.234106985144297),
    (0.005, 31.735585931605513),
    (0.01, 33.24896657351743),
    (0.02, 34.770395197890885),
    (0.05, 36.80751187885012),
    (0.1, 38.38722381136649),
    (0.2, 40.02653219675655),
    (0.3, 41.024015486196305),
    (0.5, 42.326635333167445),
    (0.75, 43.39259830162548),
    (1.0, 44.15975464691881),
    (1.5, 45.24473150345023),
    (2.0, 46.01033811450198),
    (3.0, 47.076203951349),
    (4.0, 47.82090587191366),
    (5.0, 48.39157923500183),
    (10.0, 50.126511624122486),
    (100.0, 55.56297354722997),
    (1000.0, 60.711908005137886),
];

/// (z, FlatLambdaCDM(H0=70, Om0=0.3) luminosity distance [Mpc]).
const FLAT70_DL_MPC: &[(f64, f64)] = &[
    (0.001, 4.286067358418558),
    (0.005, 21.49657874328017),
    (0.01, 43.158235071933476),
    (0.02, 86.97326782196728),
    (0.05, 222.28905465961708),
    (0.1, 460.2999363904721),
    (0.2, 980.067886865555),
    (0.3, 1552.7159306297958),
    (0.5, 2832.9380939001253),
    (0.75, 4635.387104266818),
    (1.0, 6607.6576117749355),
    (1.5, 10909.639415584015),
    (2.0, 15539.58622322812),
    (3.0, 25422.741745189862),
    (4.0, 35851.832072316436),
    (5.0, 46652.22297277719),
    (10.0, 103842.74589040258),
    (100.0, 1272472.1177041333),
    (1000.0, 13674189.826212961),
];

fn max_rel_error(cosmo: &Cosmology, table: &[(f64, f64)]) -> f64 {
    table
        .iter()
        .map(|&(z, expected)| {
            let got = cosmo.luminosity_distance_mpc(z).expect("valid redshift");
            (got / expected - 1.0).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn planck18_luminosity_distance_matches_astropy() {
    let err = max_rel_error(&Cosmology::planck18(), PLANCK18_DL_MPC);
    println!("Planck18 d_L max relative error: {err:e}");
    assert!(err <= 1e-12, "max relative error {err:e}");
}

#[test]
fn planck18_distance_modulus_matches_astropy() {
    let cosmo = Cosmology::default();
    let mut max_abs = 0.0f64;
    for &(z, expected) in PLANCK18_DISTMOD {
        let got = cosmo.distance_modulus(z).expect("z > 0");
        max_abs = max_abs.max((got - expected).abs());
    }
    println!("Planck18 distance modulus max abs error: {max_abs:e} mag");
    assert!(max_abs <= 1e-11, "max abs error {max_abs:e}");
    // The value quoted in the starduster specification.
    assert!((cosmo.distance_modulus(0.05).expect("z > 0") - 36.80751187885012).abs() <= 1e-12);
}

#[test]
fn planck18_densities_match_astropy() {
    // astropy 6.0.1: Planck18.Ogamma0, Planck18.Onu0, Planck18.Ode0.
    let c = Cosmology::planck18();
    for (got, expected, what) in [
        (c.ogamma0(), 5.402015137139352e-05, "Ogamma0"),
        (c.onu0(), 0.0014396743040845242, "Onu0"),
        (c.ode0(), 0.6888463055445441, "Ode0"),
    ] {
        assert!(
            (got / expected - 1.0).abs() <= 1e-13,
            "{what}: {got} vs {expected}"
        );
    }
    assert_eq!(c.h0(), 67.66);
    assert_eq!(c.om0(), 0.30966);
    assert!((c.hubble_distance_mpc() - 4430.866952409105).abs() <= 1e-9);
}

#[test]
fn flat_lcdm_without_radiation_matches_astropy() {
    let cosmo = Cosmology::flat_lcdm(70.0, 0.3).expect("valid parameters");
    assert_eq!(cosmo.ode0(), 0.7);
    let err = max_rel_error(&cosmo, FLAT70_DL_MPC);
    println!("FlatLambdaCDM(70, 0.3) d_L max relative error: {err:e}");
    assert!(err <= 1e-12, "max relative error {err:e}");
}

#[test]
fn radiation_matters_at_the_expected_level() {
    // Same H0/Om0 as Planck18 without radiation: distances differ, at high z by > 1e-4.
    let with = Cosmology::planck18();
    let without = Cosmology::flat_lcdm(67.66, 0.30966).expect("valid");
    let z = 5.0;
    let rel = with.luminosity_distance_mpc(z).expect("ok")
        / without.luminosity_distance_mpc(z).expect("ok")
        - 1.0;
    assert!(rel < -1e-4, "{rel}");
    // General constructor with Planck18 numbers reproduces planck18().
    let general =
        Cosmology::flat_lcdm_with_radiation(67.66, 0.30966, 2.7255, 3.046, &[0.0, 0.0, 0.06])
            .expect("valid");
    assert_eq!(general, with);
}

#[test]
fn zero_redshift_and_invalid_inputs() {
    let c = Cosmology::planck18();
    assert_eq!(c.luminosity_distance_mpc(0.0), Ok(0.0));
    assert_eq!(c.comoving_distance_mpc(0.0), Ok(0.0));
    assert_eq!(
        c.distance_modulus(0.0),
        Err(CosmologyError::ZeroRedshiftModulus)
    );
    for z in [-0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            c.luminosity_distance_mpc(z),
            Err(CosmologyError::InvalidRedshift(_))
        ));
        assert!(matches!(
            c.distance_modulus(z),
            Err(CosmologyError::InvalidRedshift(_))
        ));
    }
    assert!(
        c.distance_modulus(-1.0)
            .expect_err("negative")
            .to_string()
            .contains("-1")
    );
    // Tiny redshift: Hubble law d_L ≈ c z / H0.
    let z = 1e-8;
    let hubble = c.hubble_distance_mpc() * z;
    assert!((c.luminosity_distance_mpc(z).expect("ok") / hubble - 1.0).abs() < 1e-7);
}

#[test]
fn invalid_parameters_are_rejected() {
    for (h0, om0) in [
        (0.0, 0.3),
        (-70.0, 0.3),
        (f64::NAN, 0.3),
        (70.0, -0.1),
        (70.0, f64::INFINITY),
    ] {
        let err = Cosmology::flat_lcdm(h0, om0).expect_err("invalid");
        assert!(
            matches!(err, CosmologyError::InvalidParameter { .. }),
            "{err:?}"
        );
    }
    let bad = |tcmb: f64, neff: f64, m_nu: &[f64]| {
        Cosmology::flat_lcdm_with_radiation(70.0, 0.3, tcmb, neff, m_nu).expect_err("invalid")
    };
    assert!(matches!(
        bad(-1.0, 3.046, &[]),
        CosmologyError::InvalidParameter { name: "Tcmb0", .. }
    ));
    assert!(matches!(
        bad(2.7, f64::NAN, &[]),
        CosmologyError::InvalidParameter { name: "Neff", .. }
    ));
    assert!(matches!(
        bad(2.7, 3.046, &[0.0, -0.1, 0.0]),
        CosmologyError::InvalidParameter { name: "m_nu", .. }
    ));
    let err = bad(2.7, 3.046, &[0.06]);
    assert_eq!(
        err,
        CosmologyError::NeutrinoCount {
            masses: 1,
            neff: 3.046,
            species: 3
        }
    );
    assert!(err.to_string().contains("3 species"));
}
