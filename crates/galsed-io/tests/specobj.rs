//! SDSS's own spectroscopic catalogue (`specObj-dr16.fits` layout: empty primary, one binary
//! table in HDU 1) read by `galsed_io::sdss::read_specobj_catalogue`: 20-digit SPECOBJIDs as
//! strings and as unsigned 64-bit integers, blank-padded CLASS, `LEGACY_TARGET1` or the older
//! `PRIMTARGET`, and every malformed case with a clear error.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use fitsio::tables::{ColumnDataType, ColumnDescription, ConcreteColumnDescription};
use galsed_io::sdss::{
    MAIN_SAMPLE_TARGET_BITS, TARGET_GALAXY, TARGET_GALAXY_BIG, TARGET_GALAXY_BRIGHT_CORE,
    TARGET_GALAXY_RED, plate_mjd_fiber_of, read_specobj_catalogue, specobj_catalogue_from_bytes,
};

fn col(name: &str, t: ColumnDataType, repeat: usize) -> ConcreteColumnDescription {
    ColumnDescription::new(name)
        .with_type(t)
        .that_repeats(repeat)
        .create()
        .unwrap()
}

/// SPECOBJIDs above i64::MAX (20 digits), as SDSS assigns them to late plates.
const IDS: [&str; 3] = [
    "10378442837036398592",
    "299489677444933632",
    "18446744073709551615",
];

/// How the test catalogue stores its columns.
#[derive(Clone, Copy)]
struct Layout {
    /// SPECOBJID as `20A` (true) or as unsigned 64-bit `W` (false).
    string_ids: bool,
    /// `LEGACY_TARGET1` (K, DR8+) or `PRIMTARGET` (J, older catalogues).
    legacy: bool,
    /// Write CLASS as an integer column (a wrong type).
    numeric_class: bool,
    /// Leave the ZWARNING column out.
    no_zwarning: bool,
}

const DR16: Layout = Layout {
    string_ids: true,
    legacy: true,
    numeric_class: false,
    no_zwarning: false,
};

/// Writes a three-row specObj catalogue in `layout`, with columns the reader ignores (RA, DEC,
/// SUBCLASS) between the ones it reads, as in the real file.
fn write_specobj(path: &Path, layout: Layout) {
    let _g = galsed_io::fits::lock();
    let mut f = FitsFile::create(path).overwrite().open().unwrap();
    let mut cols = vec![
        col("PLATE", ColumnDataType::Int, 1),
        col("MJD", ColumnDataType::Int, 1),
        col("FIBERID", ColumnDataType::Int, 1),
        col("RA", ColumnDataType::Double, 1),
        col("DEC", ColumnDataType::Double, 1),
    ];
    cols.push(if layout.numeric_class {
        col("CLASS", ColumnDataType::Int, 1)
    } else {
        col("CLASS", ColumnDataType::String, 6)
    });
    cols.push(col("SUBCLASS", ColumnDataType::String, 21));
    cols.push(col("Z", ColumnDataType::Float, 1));
    if !layout.no_zwarning {
        cols.push(col("ZWARNING", ColumnDataType::Int, 1));
    }
    cols.push(if layout.string_ids {
        col("SPECOBJID", ColumnDataType::String, 20)
    } else {
        col("SPECOBJID", ColumnDataType::UnsignedLongLong, 1)
    });
    cols.push(if layout.legacy {
        col("LEGACY_TARGET1", ColumnDataType::LongLong, 1)
    } else {
        col("PRIMTARGET", ColumnDataType::Int, 1)
    });
    let hdu = f.create_table("", &cols).unwrap();
    hdu.write_col(&mut f, "PLATE", &[9218i32, 266, 266])
        .unwrap();
    hdu.write_col(&mut f, "MJD", &[58109i32, 51630, 51630])
        .unwrap();
    hdu.write_col(&mut f, "FIBERID", &[1i32, 9, 640]).unwrap();
    hdu.write_col(&mut f, "RA", &[146.7f64, 146.9, 147.0])
        .unwrap();
    hdu.write_col(&mut f, "DEC", &[-1.04f64, -0.3, 0.1])
        .unwrap();
    if layout.numeric_class {
        hdu.write_col(&mut f, "CLASS", &[1i32, 2, 3]).unwrap();
    } else {
        let class = ["GALAXY", "QSO   ", "STAR  "].map(String::from);
        hdu.write_col(&mut f, "CLASS", &class).unwrap();
    }
    let sub = ["STARFORMING", "BROADLINE", "K3"].map(String::from);
    hdu.write_col(&mut f, "SUBCLASS", &sub).unwrap();
    hdu.write_col(&mut f, "Z", &[0.0813f32, 1.5, 0.0001])
        .unwrap();
    if !layout.no_zwarning {
        hdu.write_col(&mut f, "ZWARNING", &[0i32, 4, 0]).unwrap();
    }
    if layout.string_ids {
        hdu.write_col(&mut f, "SPECOBJID", &IDS.map(String::from))
            .unwrap();
    } else {
        let ids = IDS.map(|s| s.parse::<u64>().unwrap());
        hdu.write_col(&mut f, "SPECOBJID", &ids).unwrap();
    }
    let bits = [
        TARGET_GALAXY | TARGET_GALAXY_RED,
        0x1,
        TARGET_GALAXY_BRIGHT_CORE,
    ];
    if layout.legacy {
        hdu.write_col(&mut f, "LEGACY_TARGET1", &bits).unwrap();
    } else {
        let bits = bits.map(|b| b as i32);
        hdu.write_col(&mut f, "PRIMTARGET", &bits).unwrap();
    }
}

fn catalogue(dir: &Path, name: &str, layout: Layout) -> PathBuf {
    let p = dir.join(name);
    write_specobj(&p, layout);
    p
}

fn ids_as_i64() -> Vec<i64> {
    IDS.iter()
        .map(|s| s.parse::<u64>().unwrap() as i64)
        .collect()
}

#[test]
fn the_main_sample_bits_are_sdss_target_bits() {
    assert_eq!(MAIN_SAMPLE_TARGET_BITS, 0x1c0);
    assert_eq!(MAIN_SAMPLE_TARGET_BITS & TARGET_GALAXY_RED, 0);
    assert_eq!(TARGET_GALAXY_BIG, 0x80);
}

#[test]
fn reads_a_dr16_style_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let p = catalogue(dir.path(), "specObj-dr16.fits", DR16);
    let c = read_specobj_catalogue(&p).unwrap();
    assert_eq!(c.len(), 3);
    // Above i64::MAX: kept bit for bit, as the spec-lite reader keeps them.
    assert_eq!(c.specobjid, ids_as_i64());
    assert!(c.specobjid[0] < 0 && c.specobjid[1] > 0);
    assert_eq!(c.class, ["GALAXY", "QSO", "STAR"]);
    assert_eq!(c.z, [0.0813f32, 1.5, 0.0001].map(f64::from));
    assert_eq!(c.zwarning, [0, 4, 0]);
    assert_eq!(c.plate, [9218, 266, 266]);
    assert_eq!(c.mjd, [58109, 51630, 51630]);
    assert_eq!(c.fiberid, [1, 9, 640]);
    assert_eq!(c.target_column, "LEGACY_TARGET1");
    assert_eq!(c.target_bits, [0x60, 0x1, 0x100]);
    // The same bytes from memory.
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(specobj_catalogue_from_bytes(&bytes, &p).unwrap(), c);
}

#[test]
fn unsigned_integer_ids_and_primtarget() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout {
        string_ids: false,
        legacy: false,
        ..DR16
    };
    let p = catalogue(dir.path(), "specObj-dr7.fits", layout);
    let c = read_specobj_catalogue(&p).unwrap();
    assert_eq!(c.specobjid, ids_as_i64());
    assert_eq!(c.target_column, "PRIMTARGET");
    assert_eq!(c.target_bits, [0x60, 0x1, 0x100]);
}

#[test]
fn malformed_catalogues_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let no_zw = Layout {
        no_zwarning: true,
        ..DR16
    };
    let p = catalogue(dir.path(), "nozw.fits", no_zw);
    let e = read_specobj_catalogue(&p).unwrap_err().to_string();
    assert!(
        e.contains("nozw.fits") && e.contains("no column 'ZWARNING'") && e.contains("SPECOBJID"),
        "{e}"
    );
    let numeric = Layout {
        numeric_class: true,
        ..DR16
    };
    let p = catalogue(dir.path(), "class.fits", numeric);
    let e = read_specobj_catalogue(&p).unwrap_err().to_string();
    assert!(
        e.contains("class.fits") && e.contains("'CLASS'") && e.contains("not a string"),
        "{e}"
    );
    // Truncated: the header promises rows the file does not hold.
    let good = catalogue(dir.path(), "good.fits", DR16);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.fits");
    std::fs::write(&cut, &bytes[..bytes.len() - 2880 + 100]).unwrap();
    let e = read_specobj_catalogue(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.fits") && e.contains("truncated"), "{e}");
    // Not FITS, empty, a directory, a missing file.
    let text = dir.path().join("text.fits");
    std::fs::write(&text, "SPECOBJID,Z\n1,0.1\n").unwrap();
    for p in [
        text,
        dir.path().join("missing.fits"),
        dir.path().to_path_buf(),
    ] {
        let e = read_specobj_catalogue(&p).unwrap_err().to_string();
        assert!(e.contains(&*p.to_string_lossy()), "{e}");
    }
    // A primary HDU only.
    let e = specobj_catalogue_from_bytes(&bytes[..2880], Path::new("head.fits"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("head.fits") && e.contains("HDU 1"), "{e}");
}

#[test]
fn every_prefix_and_corruption_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = catalogue(dir.path(), "specObj.fits", DR16);
    let bytes = std::fs::read(&p).unwrap();
    let name = Path::new("x.fits");
    // The rows (under 2880 bytes) fill the start of the last block: every prefix that ends
    // before it lacks rows; longer ones may read (only the block padding is missing).
    let data_start = bytes.len() - 2880;
    for len in (0..=data_start).step_by(331).chain([data_start + 10]) {
        let r = specobj_catalogue_from_bytes(&bytes[..len], name);
        assert!(r.is_err(), "{len} of {} bytes read", bytes.len());
    }
    for len in data_start + 10..bytes.len() {
        if let Ok(c) = specobj_catalogue_from_bytes(&bytes[..len], name) {
            assert_eq!(c.specobjid, ids_as_i64());
        }
    }
    // Flipped bytes in the headers and the data: Ok or Err, never a panic.
    for k in (0..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[k] ^= 0x5a;
        let _ = specobj_catalogue_from_bytes(&b, name);
    }
}

#[test]
fn plate_mjd_fiber_from_spec_lite_file_names() {
    for (name, want) in [
        ("spec-0266-51630-0009.fits", Some((266, 51630, 9))),
        ("spec-9218-58109-0001.fits.gz", Some((9218, 58109, 1))),
        ("SPEC-266-51630-640.FITS", Some((266, 51630, 640))),
        ("spec-266-51630.fits", None),
        ("spec-266-51630-9-1.fits", None),
        ("spec-266-51630-x9.fits", None),
        ("spec-266-51630-9.csv", None),
        ("spPlate-266-51630.fits", None),
    ] {
        assert_eq!(plate_mjd_fiber_of(Path::new(name)), want, "{name}");
    }
    assert_eq!(
        plate_mjd_fiber_of(Path::new("/data/sdss/0266/spec-0266-51630-0009.fits")),
        Some((266, 51630, 9))
    );
}
