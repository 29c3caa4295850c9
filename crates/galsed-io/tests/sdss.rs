//! SDSS spec-lite files in the real layouts: SDSS-I/II (HDU 2 `SPECOBJ`) and BOSS/eBOSS
//! (HDU 2 `SPALL`) read alike.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use fitsio::tables::{ColumnDataType, ColumnDescription, ConcreteColumnDescription};
use galsed_io::sdss::{SpecLite, read_spec_lite, spec_lite_from_bytes};

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

/// Writes a spec-lite file: empty primary; HDU 1 `COADD` (flux, loglam, ivar, and_mask,
/// or_mask, wdisp, sky, model); HDU 2 named `second` (`SPECOBJ` in SDSS-I/II files, `SPALL` in
/// BOSS/eBOSS ones: PLATE, MJD, FIBERID, CLASS, Z, ZWARNING, SPECOBJID as a string); HDU 3
/// `SPZLINE` (LINENAME, LINEWAVE, LINEZ, LINEAREA). `second: None` leaves HDUs 2 and 3 out.
fn write_spec(path: &Path, second: Option<&str>, z: f64, specobjid: &str) {
    let n = 3000;
    let loglam: Vec<f32> = (0..n).map(|i| (3.5523 + 1e-4 * i as f64) as f32).collect();
    let flux: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
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
    let _g = galsed_io::fits::lock();
    let mut f = FitsFile::create(path).overwrite().open().unwrap();
    let float = ColumnDataType::Float;
    let int = ColumnDataType::Int;
    let cols = [
        col("flux", float),
        col("loglam", float),
        col("ivar", float),
        col("and_mask", int),
        col("or_mask", int),
        col("wdisp", float),
        col("sky", float),
        col("model", float),
    ];
    let hdu = f.create_table("COADD", &cols).unwrap();
    hdu.write_col(&mut f, "flux", &flux).unwrap();
    hdu.write_col(&mut f, "loglam", &loglam).unwrap();
    hdu.write_col(&mut f, "ivar", &ivar).unwrap();
    hdu.write_col(&mut f, "and_mask", &mask).unwrap();
    hdu.write_col(&mut f, "or_mask", &mask).unwrap();
    for name in ["wdisp", "sky", "model"] {
        hdu.write_col(&mut f, name, &zeros).unwrap();
    }
    let Some(second) = second else {
        return;
    };
    let cols = [
        col("PLATE", int),
        col("MJD", int),
        col("FIBERID", int),
        col_rep("CLASS", ColumnDataType::String, 6),
        col("Z", float),
        col("ZWARNING", int),
        col_rep("SPECOBJID", ColumnDataType::String, 19),
    ];
    let hdu = f.create_table(second, &cols).unwrap();
    hdu.write_col(&mut f, "PLATE", &[3586i32]).unwrap();
    hdu.write_col(&mut f, "MJD", &[55181i32]).unwrap();
    hdu.write_col(&mut f, "FIBERID", &[1i32]).unwrap();
    hdu.write_col(&mut f, "CLASS", &["GALAXY".to_string()])
        .unwrap();
    hdu.write_col(&mut f, "Z", &[z as f32]).unwrap();
    hdu.write_col(&mut f, "ZWARNING", &[4i32]).unwrap();
    hdu.write_col(&mut f, "SPECOBJID", &[specobjid.to_string()])
        .unwrap();
    let cols = [
        col_rep("LINENAME", ColumnDataType::String, 13),
        col("LINEWAVE", ColumnDataType::Double),
        col("LINEZ", float),
        col("LINEAREA", float),
    ];
    let hdu = f.create_table("SPZLINE", &cols).unwrap();
    hdu.write_col(
        &mut f,
        "LINENAME",
        &["H_alpha".to_string(), "[O_III] 5007".to_string()],
    )
    .unwrap();
    hdu.write_col(&mut f, "LINEWAVE", &[6564.61f64, 5008.24])
        .unwrap();
    hdu.write_col(&mut f, "LINEZ", &[z as f32, z as f32])
        .unwrap();
    hdu.write_col(&mut f, "LINEAREA", &[12.5f32, 3.25]).unwrap();
}

fn spec_file(dir: &Path, name: &str, second: Option<&str>) -> PathBuf {
    let p = dir.join(name);
    write_spec(&p, second, 0.1234567, "4037508010138036224");
    p
}

fn without_path(s: SpecLite) -> SpecLite {
    SpecLite {
        path: PathBuf::new(),
        ..s
    }
}

#[test]
fn boss_spall_reads_as_sdss_specobj() {
    let dir = tempfile::tempdir().unwrap();
    let sdss = spec_file(dir.path(), "spec-sdss.fits", Some("SPECOBJ"));
    let boss = spec_file(dir.path(), "spec-boss.fits", Some("SPALL"));
    let a = read_spec_lite(&sdss).unwrap();
    let b = read_spec_lite(&boss).unwrap();
    assert_eq!(a.path, sdss);
    assert_eq!(b.id, 4037508010138036224);
    assert_eq!(b.z, f64::from(0.1234567f32));
    assert_eq!(b.zwarning, 4);
    assert_eq!(b.flux.len(), 3000);
    // Pixel for pixel, bit for bit, the same spectrum, redshift and id.
    assert_eq!(
        b.flux.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        a.flux.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(without_path(a), without_path(b.clone()));
    // The same bytes from memory.
    let bytes = std::fs::read(&boss).unwrap();
    assert_eq!(spec_lite_from_bytes(&bytes, &boss).unwrap(), b);
}

#[test]
fn neither_specobj_nor_spall_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = spec_file(dir.path(), "spec-other.fits", Some("SPECTRUM"));
    let e = read_spec_lite(&other).unwrap_err().to_string();
    assert!(
        e.contains("spec-other.fits")
            && e.contains("no HDU named 'SPECOBJ' or 'SPALL'")
            && e.contains("2 'SPECTRUM' (binary table)"),
        "{e}"
    );
    let bare = spec_file(dir.path(), "spec-bare.fits", None);
    let e = read_spec_lite(&bare).unwrap_err().to_string();
    assert!(e.contains("no HDU named 'SPECOBJ' or 'SPALL'"), "{e}");
}
