//! The real-data readers: SDSS spec-lite FITS files written in the real layout (COADD + SPECOBJ,
//! float32/int32 columns, string SPECOBJID), WISE catalogues in CSV and FITS, the survey join,
//! and every malformed case we promise a clear error for.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use fitsio::tables::{ColumnDataType, ColumnDescription, ConcreteColumnDescription};
use galsed_optir::OptirError;
use galsed_optir::readers::{
    MissingWise, SpecLite, assemble_survey, plate_mjd_fiber_id, read_spec_lite, read_spectra,
    read_wise_catalogue, read_wise_catalogue_hdu, read_wise_csv, resample_to_survey_grid,
    spec_lite_from_bytes,
};
use galsed_optir::survey::{LOGLAM_START, N_PIX, NODATA, UNDETECTED_SIGMA, WISE_DEPTH_5SIGMA};

fn msg(e: OptirError) -> String {
    e.to_string()
}

fn col(name: &str, t: ColumnDataType) -> ConcreteColumnDescription {
    ColumnDescription::new(name).with_type(t).create().unwrap()
}

fn col_rep(name: &str, t: ColumnDataType, n: usize) -> ConcreteColumnDescription {
    ColumnDescription::new(name)
        .with_type(t)
        .that_repeats(n)
        .create()
        .unwrap()
}

/// What goes into a synthetic spec-lite file.
#[derive(Clone)]
struct Spec {
    /// First pixel, relative to the survey grid (negative: starts blueward of 3800 Å).
    start: i64,
    n: usize,
    z: f64,
    z_double: bool,
    specobjid: Option<String>,
    zwarning: i32,
    /// COADD columns to leave out.
    omit: Vec<&'static str>,
    /// Leave out the SPECOBJ HDU.
    no_specobj: bool,
    /// Name of HDU 2: `SPECOBJ` (SDSS-I/II) or `SPALL` (BOSS/eBOSS).
    hdu2: &'static str,
    /// Add HDU 3 `SPZLINE` (emission lines), as real files have.
    spzline: bool,
    /// Replaces the computed loglam.
    loglam: Option<Vec<f32>>,
}

impl Spec {
    fn new(start: i64, n: usize, z: f64, id: &str) -> Self {
        Spec {
            start,
            n,
            z,
            z_double: false,
            specobjid: Some(id.to_owned()),
            zwarning: 0,
            omit: vec![],
            no_specobj: false,
            hdu2: "SPECOBJ",
            spzline: false,
            loglam: None,
        }
    }
}

/// Flux of grid pixel k (relative to the survey grid): k itself, so placements can be checked.
fn flux_of(k: i64) -> f32 {
    k as f32
}

/// Writes a spec-lite file in the DR8+ layout: empty primary, COADD (flux, loglam, ivar,
/// and_mask, or_mask, wdisp, sky, model), SPECOBJ (PLATE, MJD, FIBERID, CLASS, Z, ZWARNING,
/// SPECOBJID as a string: 19A in SDSS files, 20A here for ids ≥ 10¹⁹).
fn write_spec(path: &Path, s: &Spec) {
    let loglam: Vec<f32> = s.loglam.clone().unwrap_or_else(|| {
        (0..s.n)
            .map(|i| (LOGLAM_START + 1e-4 * (s.start + i as i64) as f64) as f32)
            .collect()
    });
    let n = loglam.len();
    let flux: Vec<f32> = (0..n).map(|i| flux_of(s.start + i as i64)).collect();
    let ivar: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();
    let mask: Vec<i32> = (0..n)
        .map(|i| {
            if i % 100 == 3 {
                (1 << 23) | i32::MIN
            } else {
                0
            }
        })
        .collect();
    let zeros = vec![0f32; n];
    let mut f = FitsFile::create(path).overwrite().open().unwrap();
    let mut cols = vec![];
    let all = [
        ("flux", ColumnDataType::Float),
        ("loglam", ColumnDataType::Float),
        ("ivar", ColumnDataType::Float),
        ("and_mask", ColumnDataType::Int),
        ("or_mask", ColumnDataType::Int),
        ("wdisp", ColumnDataType::Float),
        ("sky", ColumnDataType::Float),
        ("model", ColumnDataType::Float),
    ];
    for (name, t) in all {
        if !s.omit.contains(&name) {
            cols.push(col(name, t));
        }
    }
    let hdu = f.create_table("COADD", &cols).unwrap();
    for (name, _) in all {
        if s.omit.contains(&name) {
            continue;
        }
        match name {
            "flux" => hdu.write_col(&mut f, name, &flux).unwrap(),
            "loglam" => hdu.write_col(&mut f, name, &loglam).unwrap(),
            "ivar" => hdu.write_col(&mut f, name, &ivar).unwrap(),
            "and_mask" => hdu.write_col(&mut f, name, &mask).unwrap(),
            "or_mask" => hdu.write_col(&mut f, name, &mask).unwrap(),
            _ => hdu.write_col(&mut f, name, &zeros).unwrap(),
        };
    }
    if s.no_specobj {
        return;
    }
    let mut cols = vec![
        col("PLATE", ColumnDataType::Int),
        col("MJD", ColumnDataType::Int),
        col("FIBERID", ColumnDataType::Int),
        col_rep("CLASS", ColumnDataType::String, 6),
        col(
            "Z",
            if s.z_double {
                ColumnDataType::Double
            } else {
                ColumnDataType::Float
            },
        ),
        col("ZWARNING", ColumnDataType::Int),
    ];
    if s.specobjid.is_some() {
        cols.push(col_rep("SPECOBJID", ColumnDataType::String, 20));
    }
    let hdu = f.create_table(s.hdu2, &cols).unwrap();
    hdu.write_col(&mut f, "PLATE", &[1234i32]).unwrap();
    hdu.write_col(&mut f, "MJD", &[52345i32]).unwrap();
    hdu.write_col(&mut f, "FIBERID", &[321i32]).unwrap();
    hdu.write_col(&mut f, "CLASS", &["GALAXY".to_string()])
        .unwrap();
    if s.z_double {
        hdu.write_col(&mut f, "Z", &[s.z]).unwrap();
    } else {
        hdu.write_col(&mut f, "Z", &[s.z as f32]).unwrap();
    }
    hdu.write_col(&mut f, "ZWARNING", &[s.zwarning]).unwrap();
    if let Some(id) = &s.specobjid {
        hdu.write_col(&mut f, "SPECOBJID", std::slice::from_ref(id))
            .unwrap();
    }
    if s.spzline {
        let cols = [
            col_rep("LINENAME", ColumnDataType::String, 13),
            col("LINEWAVE", ColumnDataType::Double),
            col("LINEZ", ColumnDataType::Float),
            col("LINEAREA", ColumnDataType::Float),
        ];
        let hdu = f.create_table("SPZLINE", &cols).unwrap();
        let names = ["H_alpha".to_string(), "[O_III] 5007".to_string()];
        hdu.write_col(&mut f, "LINENAME", &names).unwrap();
        hdu.write_col(&mut f, "LINEWAVE", &[6564.61f64, 5008.24])
            .unwrap();
        hdu.write_col(&mut f, "LINEZ", &[s.z as f32; 2]).unwrap();
        hdu.write_col(&mut f, "LINEAREA", &[12.5f32, 3.25]).unwrap();
    }
}

fn spec_file(dir: &Path, name: &str, s: &Spec) -> PathBuf {
    let p = dir.join(name);
    write_spec(&p, s);
    p
}

#[test]
fn reads_spec_lite_and_places_it_on_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    // BOSS-like: starts at 3.5523 (275 pixels blueward of the survey grid), covers all of it.
    let mut boss = Spec::new(-275, 4600, 0.1234567, "1362960613596915712");
    boss.z_double = true;
    boss.zwarning = 4;
    let p = spec_file(dir.path(), "spec-3586-55181-0001.fits", &boss);
    let s = read_spec_lite(&p).unwrap();
    assert_eq!(s.loglam.len(), 4600);
    assert_eq!(s.flux.len(), 4600);
    assert_eq!(s.z, 0.1234567);
    assert_eq!(s.zwarning, 4);
    assert_eq!(s.id, 1362960613596915712);
    assert_eq!(s.flux[0], -275.0);
    assert!((s.loglam[0] - 3.5523).abs() < 1e-6);
    // and_mask keeps the int32 bit pattern (bit 31 set → negative in the file).
    assert_eq!(s.and_mask[3], (1 << 23) | (1 << 31));
    let (flux, ivar, mask) = resample_to_survey_grid(&s).unwrap();
    assert_eq!((flux.len(), ivar.len(), mask.len()), (N_PIX, N_PIX, N_PIX));
    for k in 0..N_PIX {
        assert_eq!(flux[k], flux_of(k as i64), "pixel {k}");
        assert_ne!(mask[k], NODATA, "pixel {k}");
        let i = k + 275;
        assert_eq!(ivar[k], 1.0 + (i % 7) as f32);
    }

    // SDSS-I-like: starts 4 pixels redward of 3800 Å and stops early; float32 Z.
    let p = spec_file(
        dir.path(),
        "spec-0266-51602-0001.fits",
        &Spec::new(4, 3000, 0.05, "299489677444933632"),
    );
    let s = read_spec_lite(&p).unwrap();
    assert!((s.z - 0.05).abs() < 1e-8, "float32 Z read back: {}", s.z);
    let (flux, ivar, mask) = resample_to_survey_grid(&s).unwrap();
    for k in 0..4 {
        assert_eq!((flux[k], ivar[k], mask[k]), (0.0, 0.0, NODATA));
    }
    for k in 4..3004 {
        assert_eq!(flux[k], flux_of(k as i64));
        assert!(ivar[k] > 0.0);
    }
    assert_eq!(mask[4 + 3], (1 << 23) | (1 << 31));
    for k in 3004..N_PIX {
        assert_eq!((flux[k], ivar[k], mask[k]), (0.0, 0.0, NODATA));
    }

    // The same bytes from memory.
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(spec_lite_from_bytes(&bytes, &p).unwrap(), s);
}

/// A BOSS/eBOSS file (HDU 2 `SPALL`) imports exactly as the SDSS-I/II file (`SPECOBJ`) with the
/// same content: pixel for pixel on the survey grid, same redshift and id.
#[test]
fn boss_spall_imports_as_sdss_specobj() {
    let dir = tempfile::tempdir().unwrap();
    let mut sdss = Spec::new(-275, 4600, 0.1234567, "4037508010138036224");
    sdss.spzline = true;
    let boss = Spec {
        hdu2: "SPALL",
        ..sdss.clone()
    };
    let paths = [
        spec_file(dir.path(), "spec-0266-51602-0001.fits", &sdss),
        spec_file(dir.path(), "spec-3586-55181-0001.fits", &boss),
    ];
    let (spectra, z, ids) = read_spectra(&paths).unwrap();
    assert_eq!(z[0].to_bits(), z[1].to_bits());
    assert_eq!(ids, [4037508010138036224, 4037508010138036224]);
    let bits = |r: usize| -> Vec<u32> { spectra.flux.row(r).iter().map(|v| v.to_bits()).collect() };
    assert_eq!(bits(0), bits(1));
    assert_eq!(spectra.ivar.row(0), spectra.ivar.row(1));
    assert_eq!(spectra.and_mask.row(0), spectra.and_mask.row(1));
    assert_eq!(spectra.flux[[1, 0]], flux_of(0));

    let neither = Spec {
        hdu2: "SPECTRUM",
        ..sdss
    };
    let p = spec_file(dir.path(), "spec-other.fits", &neither);
    let e = msg(read_spec_lite(&p).unwrap_err());
    assert!(e.contains("no HDU named 'SPECOBJ' or 'SPALL'"), "{e}");
}

#[test]
fn spec_lite_ids_and_sanitising() {
    let dir = tempfile::tempdir().unwrap();
    // SPECOBJIDs above i64::MAX (plates > 8191) keep their bit pattern.
    let p = spec_file(
        dir.path(),
        "big.fits",
        &Spec::new(0, 100, 0.2, "13000000000000000000"),
    );
    assert_eq!(
        read_spec_lite(&p).unwrap().id,
        13000000000000000000u64 as i64
    );
    // No SPECOBJID: plate/mjd/fiber.
    let mut s = Spec::new(0, 100, 0.2, "");
    s.specobjid = None;
    let p = spec_file(dir.path(), "noid.fits", &s);
    assert_eq!(
        read_spec_lite(&p).unwrap().id,
        plate_mjd_fiber_id(1234, 52345, 321)
    );
    assert_eq!(plate_mjd_fiber_id(1234, 52345, 321), 1_234_523_450_321);

    // Non-finite flux and negative ivar become zero weight; pixels beyond the grid are dropped.
    let spec = SpecLite {
        path: "mem".into(),
        loglam: vec![
            LOGLAM_START - 1e-4,
            LOGLAM_START,
            LOGLAM_START + 1e-4,
            LOGLAM_START + 2e-4,
        ],
        flux: vec![1.0, f32::NAN, 2.0, 3.0],
        ivar: vec![1.0, 1.0, -1.0, f32::INFINITY],
        and_mask: vec![0, 5, 6, 7],
        z: 0.1,
        zwarning: 0,
        id: 1,
    };
    let (f, w, m) = resample_to_survey_grid(&spec).unwrap();
    assert_eq!(
        (&f[..3], &w[..3], &m[..4]),
        (
            &[0.0, 2.0, 3.0][..],
            &[0.0, 0.0, 0.0][..],
            &[5, 6, 7, NODATA][..]
        )
    );
}

#[test]
fn many_files_stack_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = vec![];
    for i in 0..24i64 {
        let s = Spec::new(
            i * 13 - 100,
            3500 + i as usize * 20,
            0.01 * i as f64,
            &format!("{}", 1000 + i),
        );
        paths.push(spec_file(dir.path(), &format!("spec-{i}.fits"), &s));
    }
    let (spectra, z, ids) = read_spectra(&paths).unwrap();
    assert_eq!(spectra.flux.dim(), (24, N_PIX));
    assert_eq!(spectra.loglam.len(), N_PIX);
    for i in 0..24i64 {
        let r = i as usize;
        assert_eq!(ids[r], 1000 + i);
        assert!((z[r] - 0.01 * i as f64).abs() < 1e-7);
        let first = (i * 13 - 100).max(0) as usize;
        assert_eq!(spectra.flux[[r, first]], flux_of(first as i64));
        assert_eq!(spectra.flux[[r, 1000]], 1000.0);
        if first > 0 {
            assert_eq!(spectra.and_mask[[r, first - 1]], NODATA);
        }
    }
    // Two bad files: the first in path order is reported, with the count.
    std::fs::write(&paths[5], b"not fits").unwrap();
    std::fs::write(&paths[9], b"not fits either").unwrap();
    let e = msg(read_spectra(&paths).unwrap_err());
    assert!(
        e.contains("spec-5.fits") && e.contains("2 of 24 files failed"),
        "{e}"
    );
    assert_eq!(read_spectra(&[]).unwrap().0.flux.nrows(), 0);
}

#[test]
fn malformed_spec_lite_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let check = |name: &str, s: &Spec, wants: &[&str]| {
        let p = spec_file(d, name, s);
        let e = match read_spec_lite(&p).and_then(|s| resample_to_survey_grid(&s).map(|_| ())) {
            Ok(_) => panic!("{name}: no error"),
            Err(e) => msg(e),
        };
        assert!(e.contains(name), "{e}");
        for w in wants {
            assert!(e.contains(w), "{name}: '{w}' not in: {e}");
        }
    };
    let good = Spec::new(0, 200, 0.1, "42");
    check(
        "nospecobj.fits",
        &Spec {
            no_specobj: true,
            ..good.clone()
        },
        &["no HDU named 'SPECOBJ'", "1 'COADD'"],
    );
    check(
        "noivar.fits",
        &Spec {
            omit: vec!["ivar"],
            ..good.clone()
        },
        &["HDU 1 'COADD'", "no column 'ivar'"],
    );
    check(
        "nologlam.fits",
        &Spec {
            omit: vec!["loglam"],
            ..good.clone()
        },
        &["no column 'loglam'"],
    );
    check(
        "nanz.fits",
        &Spec {
            z: f64::NAN,
            ..good.clone()
        },
        &["HDU 2 'SPECOBJ'", "redshift"],
    );
    check(
        "negz.fits",
        &Spec {
            z: -0.01,
            ..good.clone()
        },
        &["redshift Z = -0.0099"],
    );
    let mut ll: Vec<f32> = (0..200)
        .map(|i| (LOGLAM_START + 1e-4 * i as f64) as f32)
        .collect();
    ll[17] = f32::NAN;
    check(
        "nanloglam.fits",
        &Spec {
            loglam: Some(ll),
            ..good.clone()
        },
        &["'loglam'", "not finite", "pixel 17"],
    );
    let ll: Vec<f32> = (0..200)
        .map(|i| (LOGLAM_START + 0.5e-4 + 1e-4 * i as f64) as f32)
        .collect();
    check(
        "offgrid.fits",
        &Spec {
            loglam: Some(ll),
            ..good.clone()
        },
        &["off the SDSS grid"],
    );
    let mut ll: Vec<f32> = (0..200)
        .map(|i| (LOGLAM_START + 1e-4 * i as f64) as f32)
        .collect();
    ll.swap(10, 11);
    check(
        "unsorted.fits",
        &Spec {
            loglam: Some(ll),
            ..good.clone()
        },
        &["not strictly increasing", "pixel 11"],
    );

    // Flux and ivar of different lengths: one row of vector columns (the other layout we read).
    let p = d.join("vector.fits");
    {
        let mut f = FitsFile::create(&p).open().unwrap();
        let cols = [
            col_rep("flux", ColumnDataType::Float, 100),
            col_rep("loglam", ColumnDataType::Float, 100),
            col_rep("ivar", ColumnDataType::Float, 99),
            col_rep("and_mask", ColumnDataType::Int, 100),
        ];
        let hdu = f.create_table("COADD", &cols).unwrap();
        let ll: Vec<f32> = (0..100)
            .map(|i| (LOGLAM_START + 1e-4 * i as f64) as f32)
            .collect();
        hdu.write_col(&mut f, "flux", &vec![1f32; 100]).unwrap();
        hdu.write_col(&mut f, "loglam", &ll).unwrap();
        hdu.write_col(&mut f, "ivar", &vec![1f32; 99]).unwrap();
        hdu.write_col(&mut f, "and_mask", &vec![0i32; 100]).unwrap();
    }
    let e = msg(read_spec_lite(&p).unwrap_err());
    assert!(
        e.contains("different lengths") && e.contains("ivar 99") && e.contains("flux 100"),
        "{e}"
    );
    // ... and in a SpecLite built by hand.
    let s = SpecLite {
        path: "hand.fits".into(),
        loglam: vec![LOGLAM_START; 3],
        flux: vec![0.0; 3],
        ivar: vec![0.0; 2],
        and_mask: vec![0; 3],
        z: 0.0,
        zwarning: 0,
        id: 0,
    };
    let e = msg(resample_to_survey_grid(&s).unwrap_err());
    assert!(
        e.contains("hand.fits") && e.contains("different lengths"),
        "{e}"
    );

    // Not FITS at all, empty, missing, a directory.
    let junk = d.join("junk.fits");
    std::fs::write(&junk, b"id,flux\n1,2\n").unwrap();
    let e = msg(read_spec_lite(&junk).unwrap_err());
    assert!(
        e.contains("junk.fits") && e.contains("not a readable FITS file"),
        "{e}"
    );
    let empty = d.join("empty.fits");
    std::fs::write(&empty, b"").unwrap();
    assert!(msg(read_spec_lite(&empty).unwrap_err()).contains("empty"));
    assert!(msg(read_spec_lite(&d.join("nope.fits")).unwrap_err()).contains("cannot open"));
    assert!(msg(read_spec_lite(d).unwrap_err()).contains("directory"));
}

#[test]
fn truncated_spec_lite_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = spec_file(dir.path(), "whole.fits", &Spec::new(0, 3000, 0.1, "7"));
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(bytes.len() % 2880, 0);
    // Inside the COADD data (at and off a block boundary), inside the SPECOBJ header, inside the
    // primary header, and a single byte.
    for keep in [2 * 2880 + 5000, 3 * 2880, bytes.len() - 2880 - 100, 1000, 1] {
        let cut = dir.path().join(format!("cut{keep}.fits"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let e = msg(read_spec_lite(&cut).unwrap_err());
        assert!(e.contains(&format!("cut{keep}.fits")), "{e}");
        assert!(
            e.contains("truncated") || e.contains("not a readable FITS file"),
            "{e}"
        );
        let e = msg(spec_lite_from_bytes(&bytes[..keep], &cut).unwrap_err());
        assert!(
            e.contains("truncated") || e.contains("not a readable FITS file"),
            "{e}"
        );
    }
    // Cut at a block boundary inside the data: no block hint, but the size check says it.
    let cut = dir.path().join("block.fits");
    std::fs::write(&cut, &bytes[..3 * 2880]).unwrap();
    let e = msg(read_spec_lite(&cut).unwrap_err());
    assert!(
        e.contains("HDU 1 'COADD'") && e.contains("truncated"),
        "{e}"
    );
}

// ---- WISE ----------------------------------------------------------------------------------

const WISE_CSV: &str = "\
# an AllWISE crossmatch
SpecObjID,ra,W1MPRO,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,w4mpro,W4SIGMPRO
1001,10.5,14.1,0.03,13.9,0.04,10.2,0.1,8.1,
1002,10.6,15.0,0.05,14.8,0.07,12.0,null,8.9,NaN
13000000000000000000,1.0,13.0,0.02,12.5,0.03,9.5,0.05,7.0,0.2
1004,2.0,16.0,0.1,15.5,0.2,,,,-1
";

#[test]
fn wise_csv_with_non_detections() {
    let w = read_wise_csv(WISE_CSV.as_bytes(), "specobjid").unwrap();
    assert_eq!(w.ids, [1001, 1002, 13000000000000000000u64 as i64, 1004]);
    assert_eq!(w.mags.row(0).to_vec(), [14.1, 13.9, 10.2, 8.1]);
    assert_eq!(w.errs.row(0).to_vec(), [0.03, 0.04, 0.1, UNDETECTED_SIGMA]);
    assert_eq!(w.mags.row(1).to_vec(), [15.0, 14.8, 12.0, 8.9]);
    assert_eq!(
        w.errs.row(1).to_vec(),
        [0.05, 0.07, UNDETECTED_SIGMA, UNDETECTED_SIGMA]
    );
    assert_eq!(w.errs.row(2).to_vec(), [0.02, 0.03, 0.05, 0.2]);
    // No magnitude at all: the 5σ depth as the limit; a negative sigma is a non-detection.
    assert_eq!(
        w.mags.row(3).to_vec(),
        [16.0, 15.5, WISE_DEPTH_5SIGMA[2], WISE_DEPTH_5SIGMA[3]]
    );
    assert_eq!(
        w.errs.row(3).to_vec(),
        [0.1, 0.2, UNDETECTED_SIGMA, UNDETECTED_SIGMA]
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wise.csv");
    std::fs::write(&p, WISE_CSV).unwrap();
    assert_eq!(read_wise_catalogue(&p, "SPECOBJID").unwrap(), w);
    let e = msg(read_wise_catalogue_hdu(&p, "specobjid", Some("WISE")).unwrap_err());
    assert!(e.contains("wise.csv") && e.contains("not FITS"), "{e}");
}

#[test]
fn malformed_wise_csv() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &[u8], wants: &[&str]| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let e = msg(read_wise_catalogue(&p, "id").unwrap_err());
        assert!(e.contains(name), "{e}");
        for w in wants {
            assert!(e.contains(w), "{name}: '{w}' not in: {e}");
        }
    };
    let head = "id,w1mpro,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,w4mpro,w4sigmpro\n";
    check(
        "missing.csv",
        b"id,w1mpro,w1sigmpro,w2mpro,w3mpro\n1,2,3,4,5\n",
        &[
            "lacks column(s)",
            "'w2sigmpro'",
            "'w4mpro'",
            "it has: id, w1mpro",
        ],
    );
    check(
        "noid.csv",
        head.replace("id,", "objid,").as_bytes(),
        &["'id'"],
    );
    check(
        "text.csv",
        format!("{head}1,14,0.1,13,0.1,10,0.1,8,0.1\n2,14,0.1,abc,0.1,10,0.1,8,0.1\n").as_bytes(),
        &["row 2 (line 3)", "column 'w2mpro'", "'abc' is not a number"],
    );
    check(
        "badid.csv",
        format!("{head}1.5,14,0.1,13,0.1,10,0.1,8,0.1\n").as_bytes(),
        &[
            "row 1 (line 2)",
            "column 'id'",
            "'1.5' is not an integer id",
        ],
    );
    check(
        "dup.csv",
        format!("{head}5,14,0.1,13,0.1,10,0.1,8,0.1\n6,14,0.1,13,0.1,10,0.1,8,0.1\n5,1,0.1,1,0.1,1,0.1,1,0.1\n").as_bytes(),
        &["duplicated ids", "id 5 in row 1 (line 2) and row 3 (line 4)"],
    );
    check(
        "short.csv",
        format!("{head}1,14,0.1\n").as_bytes(),
        &["row 1", "3 fields but the header has 9"],
    );
    check("empty.csv", b"", &["empty"]);
    check(
        "twice.csv",
        b"id,ID,w1mpro\n",
        &["names column 'id' 2 times"],
    );
    check(
        "utf8.csv",
        [head.as_bytes(), b"1,\xff\xfe,0.1,13,0.1,10,0.1,8,0.1\n"]
            .concat()
            .as_slice(),
        &["row 1", "w1mpro", "invalid UTF-8"],
    );
    assert!(
        msg(read_wise_catalogue(&dir.path().join("nope.csv"), "id").unwrap_err())
            .contains("cannot open")
    );
}

/// A small xorshift generator: deterministic garbage without extra dependencies.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn garbage_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"0123456789.,-+eE\n\r\" #nulNaidw1234mprosig\xff\x00";
    let valid = WISE_CSV.as_bytes();
    for case in 0..600 {
        let bytes: Vec<u8> = match case % 3 {
            // Uniform random bytes.
            0 => (0..rng.next() % 300).map(|_| rng.next() as u8).collect(),
            // Random CSV-ish text.
            1 => (0..rng.next() % 400)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect(),
            // A valid catalogue with a few bytes flipped, inserted or removed.
            _ => {
                let mut b = valid.to_vec();
                for _ in 0..1 + rng.next() % 6 {
                    let at = (rng.next() % b.len().max(1) as u64) as usize;
                    match rng.next() % 3 {
                        0 if !b.is_empty() => {
                            let k = at.min(b.len() - 1);
                            b[k] = rng.next() as u8;
                        }
                        1 => b.insert(
                            at.min(b.len()),
                            alphabet[(rng.next() % alphabet.len() as u64) as usize],
                        ),
                        _ if !b.is_empty() => {
                            b.remove(at.min(b.len() - 1));
                        }
                        _ => {}
                    }
                }
                b
            }
        };
        // Must return, Ok or Err, without panicking.
        let r = std::panic::catch_unwind(|| {
            read_wise_csv(bytes.as_slice(), "specobjid").map(|w| w.len())
        });
        assert!(
            r.is_ok(),
            "case {case} panicked on {:?}",
            String::from_utf8_lossy(&bytes)
        );
        if case % 50 == 0 {
            // The spec-lite reader on garbage too (from memory), including a FITS-looking start.
            let mut fitsish = b"SIMPLE  =                    T".to_vec();
            fitsish.extend_from_slice(&bytes);
            for b in [&bytes, &fitsish] {
                let r = std::panic::catch_unwind(|| {
                    spec_lite_from_bytes(b, Path::new("garbage.fits")).is_ok()
                });
                assert_eq!(r.ok(), Some(false), "case {case}");
            }
        }
    }
}

/// Writes a WISE FITS file: HDU 1 an unrelated table, HDU 2 'ALLWISE' with the columns (int64
/// ids, float32 magnitudes, NaN = null sigmas).
fn write_wise_fits(path: &Path, id_type: ColumnDataType) {
    let mut f = FitsFile::create(path).overwrite().open().unwrap();
    let hdu = f
        .create_table(
            "OTHER",
            &[
                col("id", ColumnDataType::LongLong),
                col("w1mpro", ColumnDataType::Float),
            ],
        )
        .unwrap();
    hdu.write_col(&mut f, "id", &[1i64]).unwrap();
    hdu.write_col(&mut f, "w1mpro", &[1f32]).unwrap();
    let mut cols = vec![col("ID", id_type)];
    for b in 1..=4 {
        cols.push(col(&format!("W{b}MPRO"), ColumnDataType::Float));
        cols.push(col(&format!("W{b}SIGMPRO"), ColumnDataType::Float));
    }
    let hdu = f.create_table("ALLWISE", &cols).unwrap();
    match id_type {
        ColumnDataType::Double => hdu.write_col(&mut f, "ID", &[7.0f64, 8.5]).unwrap(),
        ColumnDataType::UnsignedLongLong => hdu
            .write_col(&mut f, "ID", &[7u64, 13000000000000000000])
            .unwrap(),
        _ => hdu.write_col(&mut f, "ID", &[7i64, 1 << 40]).unwrap(),
    };
    for b in 1..=4 {
        hdu.write_col(&mut f, format!("W{b}MPRO"), &[10.0f32 + b as f32, 12.0])
            .unwrap();
        let sig = if b == 3 {
            [0.25f32, f32::NAN]
        } else {
            [0.5f32, 0.125]
        };
        hdu.write_col(&mut f, format!("W{b}SIGMPRO"), &sig).unwrap();
    }
}

#[test]
fn wise_fits_tables() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("allwise.fits");
    write_wise_fits(&p, ColumnDataType::LongLong);
    // The first HDU lacks most columns: the reader finds HDU 2.
    let w = read_wise_catalogue(&p, "id").unwrap();
    assert_eq!(w.ids, [7, 1 << 40]);
    assert_eq!(w.mags.row(0).to_vec(), [11.0, 12.0, 13.0, 14.0]);
    assert_eq!(w.errs.row(0).to_vec(), [0.5, 0.5, 0.25, 0.5]);
    assert_eq!(w.mags.row(1).to_vec(), [12.0; 4]);
    assert_eq!(
        w.errs.row(1).to_vec(),
        [0.125, 0.125, UNDETECTED_SIGMA, 0.125]
    );
    assert_eq!(
        read_wise_catalogue_hdu(&p, "ID", Some("allwise")).unwrap(),
        w
    );
    assert_eq!(read_wise_catalogue_hdu(&p, "ID", Some("2")).unwrap(), w);
    let e = msg(read_wise_catalogue_hdu(&p, "id", Some("OTHER")).unwrap_err());
    assert!(
        e.contains("HDU 1 'OTHER' lacks column(s)") && e.contains("'w2mpro'"),
        "{e}"
    );
    let e = msg(read_wise_catalogue_hdu(&p, "id", Some("NOPE")).unwrap_err());
    assert!(
        e.contains("no HDU named 'NOPE'") && e.contains("2 'ALLWISE' (binary table)"),
        "{e}"
    );
    let e = msg(read_wise_catalogue(&p, "objid").unwrap_err());
    assert!(
        e.contains("no table HDU has the WISE columns")
            && e.contains("HDU 2 'ALLWISE' lacks 'objid'"),
        "{e}"
    );
    // Not recognisable as FITS by name: the signature decides.
    let q = dir.path().join("allwise.dat");
    std::fs::copy(&p, &q).unwrap();
    assert_eq!(read_wise_catalogue(&q, "id").unwrap(), w);
    // Unsigned 64-bit ids keep their bit pattern, like SPECOBJIDs.
    let p = dir.path().join("u64id.fits");
    write_wise_fits(&p, ColumnDataType::UnsignedLongLong);
    assert_eq!(
        read_wise_catalogue(&p, "id").unwrap().ids,
        [7, 13000000000000000000u64 as i64]
    );
    // Floating-point ids that are not integers.
    let p = dir.path().join("floatid.fits");
    write_wise_fits(&p, ColumnDataType::Double);
    let e = msg(read_wise_catalogue(&p, "id").unwrap_err());
    assert!(
        e.contains("floatid.fits") && e.contains("row 2 is 8.5"),
        "{e}"
    );
    // Truncated.
    let bytes = std::fs::read(dir.path().join("allwise.fits")).unwrap();
    let cut = dir.path().join("cut.fits");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let e = msg(read_wise_catalogue(&cut, "id").unwrap_err());
    assert!(e.contains("cut.fits") && e.contains("truncated"), "{e}");
}

// ---- the survey ----------------------------------------------------------------------------

#[test]
fn assemble_joins_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = [("a", "1001"), ("b", "1003"), ("c", "13000000000000000000")]
        .iter()
        .enumerate()
        .map(|(i, (n, id))| {
            spec_file(
                dir.path(),
                &format!("{n}.fits"),
                &Spec::new(i as i64, 3000, 0.1 * (i + 1) as f64, id),
            )
        })
        .collect();
    let (spectra, z, ids) = read_spectra(&paths).unwrap();
    let wise = read_wise_csv(WISE_CSV.as_bytes(), "specobjid").unwrap();

    let e = msg(assemble_survey(
        spectra.clone(),
        z.clone(),
        ids.clone(),
        &wise,
        None,
        MissingWise::Error,
    )
    .unwrap_err());
    assert!(
        e.contains("1 of 3 spectra have no WISE row (ids 1003)") && e.contains("MissingWise::Drop"),
        "{e}"
    );

    let s = assemble_survey(
        spectra.clone(),
        z.clone(),
        ids.clone(),
        &wise,
        None,
        MissingWise::Drop,
    )
    .unwrap();
    assert_eq!(s.id, [1001, 13000000000000000000u64 as i64]);
    assert_eq!(s.redshift, [z[0], z[2]]);
    assert_eq!(s.spectra.flux.row(1), spectra.flux.row(2));
    assert_eq!(s.wise.row(0).to_vec(), [14.1, 13.9, 10.2, 8.1]);
    assert_eq!(s.wise.row(1).to_vec(), [13.0, 12.5, 9.5, 7.0]);
    assert_eq!(s.detected(0), [true, true, true, false]);
    assert!(s.ugriz.iter().chain(s.ugriz_err.iter()).all(|v| v.is_nan()));
    assert_eq!(s.ugriz.dim(), (2, 5));
    assert!(s.truth.is_none());

    let ugriz = ndarray::Array2::from_shape_fn((3, 5), |(i, b)| (10 * i + b) as f64);
    let s = assemble_survey(
        spectra.clone(),
        z.clone(),
        ids.clone(),
        &wise,
        Some((ugriz.clone(), ugriz * 0.01)),
        MissingWise::Drop,
    )
    .unwrap();
    assert_eq!(s.ugriz.row(1).to_vec(), [20.0, 21.0, 22.0, 23.0, 24.0]);
    assert_eq!(s.ugriz_err[[1, 0]], 0.2);

    let e = msg(assemble_survey(
        spectra.clone(),
        z.clone(),
        vec![1001, 1001, 7],
        &wise,
        None,
        MissingWise::Drop,
    )
    .unwrap_err());
    assert!(e.contains("spectrum id 1001 appears twice"), "{e}");
    let e = msg(assemble_survey(
        spectra.clone(),
        z[..2].to_vec(),
        ids.clone(),
        &wise,
        None,
        MissingWise::Drop,
    )
    .unwrap_err());
    assert!(e.contains("do not match"), "{e}");
    let e = msg(
        assemble_survey(spectra, z, vec![1, 2, 3], &wise, None, MissingWise::Drop).unwrap_err(),
    );
    assert!(e.contains("none of the 3 spectra"), "{e}");
}
