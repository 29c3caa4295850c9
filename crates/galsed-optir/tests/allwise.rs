//! AllWISE cross-matches as the catalogue services deliver them: Vega `w1mpro…w4mpro`, a null
//! `w?sigmpro` for an upper limit, `cc_flags` (one artefact flag per band) and `ext_flg`, in CSV
//! (IRSA's layout, with the uploaded id column and unrelated columns around the photometry) and
//! in FITS.

use std::path::Path;

use fitsio::FitsFile;
use fitsio::tables::ColumnDataType;
use galsed_optir::readers::{
    CcArtefacts, WiseCatalogue, cc_flag_artefacts, read_wise_catalogue, read_wise_catalogue_with,
    read_wise_csv,
};
use galsed_optir::survey::{UNDETECTED_SIGMA, WISE_DEPTH_5SIGMA};

mod common;
use common::col;

/// An IRSA cross-match of uploaded SDSS ids with AllWISE (CSV): `cntr_u`/`dist_x` from the
/// match, the uploaded `specobjid`, then the catalogue's columns; empty cells are nulls.
const IRSA_CSV: &str = "\
cntr_u,dist_x,specobjid,designation,ra,dec,w1mpro,w1sigmpro,w1snr,w2mpro,w2sigmpro,w2snr,w3mpro,w3sigmpro,w3snr,w4mpro,w4sigmpro,w4snr,cc_flags,ext_flg,ph_qual
1,0.21,299489677444933632,J094945.63-010233.8,147.440,-1.043,13.521,0.025,43.4,13.384,0.031,35.1,10.220,0.072,15.1,8.012,0.301,3.6,0000,0,AAAC
2,0.48,10378442837036398592,J094951.20-004101.2,147.463,-0.684,14.902,0.034,31.7,14.611,0.052,20.8,11.104,0.145,7.5,8.640,,1.2,00D0,0,AABU
3,1.02,299489677444933633,J095002.11-002932.0,147.509,-0.492,12.114,0.023,46.9,11.930,0.022,49.3,9.841,,0.9,7.911,,-0.4,hh00,2,AAUU
4,0.77,299489677444933634,J095010.00-001000.0,147.542,-0.167,15.833,0.052,20.9,15.402,,1.8,11.930,,0.3,8.500,,0.1,0P00,1,ABUU
";

fn ids() -> Vec<i64> {
    vec![
        299489677444933632,
        10378442837036398592u64 as i64,
        299489677444933633,
        299489677444933634,
    ]
}

/// What the four rows above must give by default (upper-case artefacts dropped).
fn check_default(w: &WiseCatalogue) {
    let (d, u) = (WISE_DEPTH_5SIGMA, UNDETECTED_SIGMA);
    assert_eq!(w.ids, ids());
    // Clean and detected everywhere.
    assert_eq!(w.mags.row(0).to_vec(), [13.521, 13.384, 10.220, 8.012]);
    assert_eq!(w.errs.row(0).to_vec(), [0.025, 0.031, 0.072, 0.301]);
    // 00D0: W3 is a diffraction spike, dropped; W4's null sigma keeps 8.640 as the upper limit.
    assert_eq!(w.mags.row(1).to_vec(), [14.902, 14.611, d[2], 8.640]);
    assert_eq!(w.errs.row(1).to_vec(), [0.034, 0.052, u, u]);
    // hh00: lower case (probably real) keeps W1 and W2; W3 and W4 are upper limits.
    assert_eq!(w.mags.row(2).to_vec(), [12.114, 11.930, 9.841, 7.911]);
    assert_eq!(w.errs.row(2).to_vec(), [0.023, 0.022, u, u]);
    // 0P00: W2 is persistence, dropped even though it was an upper limit.
    assert_eq!(w.mags.row(3).to_vec(), [15.833, d[1], 11.930, 8.500]);
    assert_eq!(w.errs.row(3).to_vec(), [0.052, u, u, u]);
    assert_eq!(w.artefact_bands, [0, 1, 1, 0]);
    assert_eq!(w.ext_flg, Some(vec![Some(0), Some(0), Some(2), Some(1)]));
}

#[test]
fn an_irsa_csv_cross_match_with_upper_limits_and_artefacts() {
    check_default(&read_wise_csv(IRSA_CSV.as_bytes(), "specobjid").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("allwise.csv");
    std::fs::write(&p, IRSA_CSV).unwrap();
    check_default(&read_wise_catalogue(&p, "SPECOBJID").unwrap());
    // Kept on request: the catalogue's values, W3 of row 2 detected again.
    let kept = read_wise_catalogue_with(&p, "specobjid", None, CcArtefacts::Keep).unwrap();
    assert_eq!(kept.mags.row(1).to_vec(), [14.902, 14.611, 11.104, 8.640]);
    assert_eq!(kept.errs[[1, 2]], 0.145);
    assert_eq!(kept.mags[[3, 1]], 15.402);
    assert_eq!(kept.artefact_bands, [0; 4]);
}

#[test]
fn catalogues_without_the_flag_columns_still_read() {
    let text: String = IRSA_CSV
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            // Without cc_flags, ext_flg and ph_qual (the last three columns).
            cells[..cells.len() - 3].join(",") + "\n"
        })
        .collect();
    let w = read_wise_csv(text.as_bytes(), "specobjid").unwrap();
    assert_eq!(w.ext_flg, None);
    assert_eq!(w.artefact_bands, [0; 4]);
    assert_eq!(w.errs[[1, 2]], 0.145);
}

#[test]
fn cc_flags_values() {
    assert_eq!(cc_flag_artefacts("0000"), Ok([false; 4]));
    assert_eq!(cc_flag_artefacts("00D0"), Ok([false, false, true, false]));
    assert_eq!(cc_flag_artefacts("hdpo"), Ok([false; 4]));
    assert_eq!(cc_flag_artefacts("HOPD"), Ok([true; 4]));
    assert_eq!(cc_flag_artefacts(""), Ok([false; 4]));
    for bad in ["000", "00000", "00X0", "0 00", "ÄÄ", "0\u{0}00"] {
        assert!(cc_flag_artefacts(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn bad_flag_cells_name_the_row_and_column() {
    let head =
        "id,w1mpro,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,w4mpro,w4sigmpro,cc_flags,ext_flg\n";
    let row = "1,14,0.1,13,0.1,10,0.1,8,0.2";
    for (cells, wants) in [
        ("00X0,0", ["row 1", "'cc_flags'", "00X0"]),
        ("000,0", ["row 1", "'cc_flags'", "'000'"]),
        ("0000,-1", ["row 1", "'ext_flg'", "'-1'"]),
        ("0000,1.5", ["row 1", "'ext_flg'", "'1.5'"]),
        ("0000,point", ["row 1", "'ext_flg'", "'point'"]),
    ] {
        let text = format!("{head}{row},{cells}\n");
        let e = read_wise_csv(text.as_bytes(), "id")
            .unwrap_err()
            .to_string();
        for w in wants {
            assert!(e.contains(w), "{cells}: '{w}' not in: {e}");
        }
    }
    // Null flags (an unmatched row of an outer join) are no information, not an error.
    let text = format!("{head}{row},,\n");
    let w = read_wise_csv(text.as_bytes(), "id").unwrap();
    assert_eq!(w.ext_flg, Some(vec![None]));
    assert_eq!(w.errs[[0, 0]], 0.1);
}

/// An AllWISE FITS table as IRSA writes one: float magnitudes with NaN sigmas for upper limits,
/// `cc_flags` as `4A`, `ext_flg` as a 16-bit integer.
fn write_allwise_fits(path: &Path, flags: [&str; 2]) {
    let _g = galsed_io::fits::lock();
    let mut f = FitsFile::create(path).overwrite().open().unwrap();
    let mut cols = vec![col("specobjid", ColumnDataType::UnsignedLongLong, 1)];
    for b in 1..=4 {
        cols.push(col(&format!("w{b}mpro"), ColumnDataType::Double, 1));
        cols.push(col(&format!("w{b}sigmpro"), ColumnDataType::Double, 1));
    }
    cols.push(col("cc_flags", ColumnDataType::String, 4));
    cols.push(col("ext_flg", ColumnDataType::Short, 1));
    let hdu = f.create_table("ALLWISE", &cols).unwrap();
    hdu.write_col(&mut f, "specobjid", &[7u64, 10378442837036398592])
        .unwrap();
    for b in 1..=4 {
        let m = [10.0 + b as f64, 12.0];
        hdu.write_col(&mut f, format!("w{b}mpro"), &m).unwrap();
        let s = if b == 4 { [0.2, f64::NAN] } else { [0.05, 0.1] };
        hdu.write_col(&mut f, format!("w{b}sigmpro"), &s).unwrap();
    }
    hdu.write_col(&mut f, "cc_flags", &flags.map(String::from))
        .unwrap();
    hdu.write_col(&mut f, "ext_flg", &[0i16, 3]).unwrap();
}

#[test]
fn an_allwise_fits_table_with_flags() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("allwise.fits");
    write_allwise_fits(&p, ["0000", "H00o"]);
    let w = read_wise_catalogue(&p, "specobjid").unwrap();
    assert_eq!(w.ids, [7, 10378442837036398592u64 as i64]);
    assert_eq!(w.mags.row(0).to_vec(), [11.0, 12.0, 13.0, 14.0]);
    // H: W1 dropped; o (lower case): W4 kept, an upper limit (NaN sigma).
    assert_eq!(
        w.mags.row(1).to_vec(),
        [WISE_DEPTH_5SIGMA[0], 12.0, 12.0, 12.0]
    );
    assert_eq!(
        w.errs.row(1).to_vec(),
        [UNDETECTED_SIGMA, 0.1, 0.1, UNDETECTED_SIGMA]
    );
    assert_eq!(w.artefact_bands, [1, 0, 0, 0]);
    assert_eq!(w.ext_flg, Some(vec![Some(0), Some(3)]));
    let bad = dir.path().join("bad.fits");
    write_allwise_fits(&bad, ["0000", "0Z00"]);
    let e = read_wise_catalogue(&bad, "specobjid")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.fits")
            && e.contains("row 2")
            && e.contains("cc_flags")
            && e.contains("0Z00"),
        "{e}"
    );
}
