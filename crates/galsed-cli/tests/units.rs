//! Units in the results files of `galsed fit`: FITS TUNITn, Parquet field metadata and ECSV.

use std::collections::BTreeMap;

use galsed_fit::catalog::{Record, results_table};
use galsed_io::table::{read_table, write_table};

fn record() -> Record {
    let values: BTreeMap<String, Option<f64>> = [
        ("redshift", 0.002),
        ("distmod", 29.9),
        ("chi2", 12.0),
        ("theta", 30.0),
        ("theta_p50", 31.0),
        ("r_disk", 3.2),
        ("m_star", 2e10),
        ("m_dust_p16", 1e7),
        ("sfr_p84", 1.7),
        ("l_ir", 1e10),
        ("att_v", 0.4),
        ("sfh_2", 1e9),
        ("model_sdss_r0", 9.5),
        ("par_theta", 0.7),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Some(v)))
    .collect();
    Record {
        row: 0,
        id: "NGC 628".into(),
        status: "ok".into(),
        values,
    }
}

#[test]
fn fit_results_carry_units_in_fits_parquet_and_ecsv() {
    let dir = tempfile::tempdir().unwrap();
    let table = results_table(vec![record()]).unwrap();
    let expected = [
        ("theta", "deg"),
        ("theta_p50", "deg"),
        ("r_disk", "kpc"),
        ("m_star", "solMass"),
        ("m_dust_p16", "solMass"),
        ("sfr_p84", "solMass / yr"),
        ("l_ir", "solLum"),
        ("att_v", "mag"),
        ("sfh_2", "solMass"),
        ("model_sdss_r0", "mag(AB)"),
        ("distmod", "mag"),
    ];
    for ext in ["fits", "parquet", "ecsv"] {
        let path = dir.path().join(format!("fit.{ext}"));
        write_table(&path, &table).unwrap();
        let back = read_table(&path).unwrap();
        for (name, unit) in expected {
            assert_eq!(
                back.column(name).unwrap().unit.as_deref(),
                Some(unit),
                "{name} in .{ext}"
            );
        }
        // Dimensionless columns carry no unit.
        assert_eq!(back.column("chi2").unwrap().unit, None, ".{ext}");
        assert_eq!(back.column("par_theta").unwrap().unit, None, ".{ext}");
        assert_eq!(back.f64_column("sfr_p84").unwrap()[0], 1.7);
    }
    let ecsv = std::fs::read_to_string(dir.path().join("fit.ecsv")).unwrap();
    assert!(ecsv.starts_with("# %ECSV 1.0\n"));
    assert!(ecsv.contains("{name: 'sfr_p84', unit: 'solMass / yr', datatype: float64}"));
}
