//! Galaxy tables (`galsed_io::galaxies`): the reference's golden inputs read as numpy wrote them,
//! and hand-written CSV tables in any column order.

use std::fs::File;
use std::path::PathBuf;

use galsed_io::galaxies::{GalaxyFormat, RowOrigin, csv_columns, read_galaxy_table};
use ndarray::Array2;
use ndarray_npy::NpzReader;

fn golden_inputs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/starduster/golden/inputs.npz")
}

#[test]
fn golden_inputs_read_as_numpy_wrote_them() {
    let path = golden_inputs();
    let t = read_galaxy_table(&path, GalaxyFormat::from_path(&path).unwrap()).unwrap();
    let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
    for (key, got, width) in [
        ("gp", &t.gp, 7),
        ("sfh_disk", &t.sfh_disk, 36),
        ("sfh_bulge", &t.sfh_bulge, 36),
    ] {
        let want: Array2<f64> = npz.by_name(key).unwrap();
        assert_eq!(want.dim(), (t.n, width), "{key}");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(got), bits(want.as_slice().unwrap()), "{key}");
    }
    assert_eq!(t.origin, RowOrigin::Array);
    assert_eq!(t.row_name(3), "row 3");
}

#[test]
fn csv_columns_in_any_order_with_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.csv");
    let mut cols = csv_columns();
    cols.reverse();
    cols.push("name".into()); // other columns are ignored
    let value = |c: &str, row: usize| -> String {
        match csv_columns().iter().position(|x| x == c) {
            Some(i) => format!("{}", i as f64 + 0.5 * row as f64),
            None => "NGC628".into(),
        }
    };
    let mut text = format!("# a comment\n{}\n", cols.join(","));
    for row in 0..2 {
        let fields: Vec<String> = cols.iter().map(|c| value(c, row)).collect();
        text.push_str(&format!("{}\n# between rows\n", fields.join(", ")));
    }
    std::fs::write(&path, text).unwrap();
    let t = read_galaxy_table(&path, GalaxyFormat::Csv).unwrap();
    assert_eq!(t.n, 2);
    assert_eq!(t.gp[7..], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    assert_eq!(t.sfh_disk[0], 7.0);
    assert_eq!(t.sfh_bulge[36 + 35], 78.5);
    assert_eq!(t.row_name(1), "row 1 (line 5)");
}

#[test]
fn bad_tables_are_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let header = csv_columns().join(",");
    let cases = [
        (format!("{header}\n"), "holds no galaxies"),
        (format!("{header},theta\n"), "appears twice"),
        (
            "theta,b_to_t\n1,2\n".to_owned(),
            "missing column(s) den_dust",
        ),
        (format!("{header}\n1,2\n"), "line 2: 2 fields"),
    ];
    for (text, want) in cases {
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, text).unwrap();
        let e = format!(
            "{:#}",
            read_galaxy_table(&path, GalaxyFormat::Csv).unwrap_err()
        );
        assert!(e.contains(want), "{e}");
    }
    let junk = dir.path().join("junk.npz");
    std::fs::write(&junk, b"not a zip").unwrap();
    let e = format!(
        "{:#}",
        read_galaxy_table(&junk, GalaxyFormat::Npz).unwrap_err()
    );
    assert!(e.contains("not a valid .npz archive"), "{e}");
    assert!(GalaxyFormat::from_path("g.parquet".as_ref()).is_err());
}
