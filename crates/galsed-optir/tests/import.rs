//! Importing at scale: the main-galaxy-sample cuts on a specObj catalogue, the join with
//! spec-lite files by their names, and chunked reading that resumes after an interruption with
//! the same result as an uninterrupted read.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use fitsio::tables::ColumnDataType;
use galsed_io::sdss::{
    SpecObjCatalogue, TARGET_GALAXY, TARGET_GALAXY_BIG, TARGET_GALAXY_BRIGHT_CORE,
    TARGET_GALAXY_RED,
};
use galsed_optir::import::{
    CutReport, CutTable, JoinReport, SampleCuts, SpectrumSource, join_catalogue,
    read_spectra_resumable, remove_work_dir, select_main_sample, spec_lite_files,
};
use galsed_optir::pipeline::Silent;
use galsed_optir::readers::read_spectra;
use galsed_optir::survey::LOGLAM_START;

mod common;
use common::col;

/// A catalogue with one row for each cut, in SDSS's layout (padded CLASS strings, 20-digit ids).
fn catalogue() -> SpecObjCatalogue {
    // (bits, class, zwarning, z)
    let rows: [(i64, &str, i64, f64); 9] = [
        (TARGET_GALAXY, "GALAXY", 0, 0.08),                         // kept
        (TARGET_GALAXY_RED, "GALAXY", 0, 0.25),                     // LRG only: target
        (TARGET_GALAXY, "STAR  ", 0, 0.0001),                       // class
        (TARGET_GALAXY_BIG, "QSO   ", 0, 0.2),                      // class
        (TARGET_GALAXY, "GALAXY", 4, 0.1),                          // zwarning
        (TARGET_GALAXY | TARGET_GALAXY_RED, "GALAXY", 0, 0.45),     // z too high
        (TARGET_GALAXY, "GALAXY", 0, 0.005),                        // z too low
        (TARGET_GALAXY_BIG, "galaxy", 0, 0.3),                      // kept (z_max inclusive)
        (TARGET_GALAXY_BRIGHT_CORE | 0x1, "GALAXY  ", 0, f64::NAN), // null z: redshift
    ];
    let n = rows.len();
    SpecObjCatalogue {
        specobjid: (0..n)
            .map(|i| (10378442837036398592u64 + i as u64) as i64)
            .collect(),
        z: rows.iter().map(|r| r.3).collect(),
        zwarning: rows.iter().map(|r| r.2).collect(),
        class: rows.iter().map(|r| r.1.trim().to_owned()).collect(),
        plate: vec![266; n],
        mjd: vec![51630; n],
        fiberid: (1..=n as i64).collect(),
        target_bits: rows.iter().map(|r| r.0).collect(),
        target_column: "LEGACY_TARGET1".into(),
    }
}

#[test]
fn each_cut_removes_its_rows() {
    let cat = catalogue();
    let cuts = SampleCuts::default();
    assert_eq!((cuts.z_min, cuts.z_max), (0.01, 0.3));
    let (selected, report) = select_main_sample(&cat, &cuts).unwrap();
    assert_eq!(selected, [0, 7]);
    assert_eq!(
        report,
        CutReport {
            rows: 9,
            target: 1,
            class: 2,
            zwarning: 1,
            redshift: 3,
            selected: 2,
        }
    );
    let table = CutTable {
        report: &report,
        cuts: &cuts,
        target_column: &cat.target_column,
    }
    .to_string();
    assert!(table.contains("LEGACY_TARGET1 & 0x1c0"), "{table}");
    let last = table.lines().last().unwrap();
    assert!(
        last.contains("0.01 <= Z <= 0.3") && last.ends_with(" 3          2"),
        "{table}"
    );
    // A wider range keeps the high-redshift galaxy too.
    let wide = SampleCuts {
        z_min: 0.0,
        z_max: 0.5,
    };
    let (selected, _) = select_main_sample(&cat, &wide).unwrap();
    assert_eq!(selected, [0, 5, 6, 7]);
    for bad in [(0.3, 0.1), (-0.1, 0.2), (0.0, f64::NAN), (0.1, 0.1)] {
        let cuts = SampleCuts {
            z_min: bad.0,
            z_max: bad.1,
        };
        let e = select_main_sample(&cat, &cuts).unwrap_err().to_string();
        assert!(e.contains("redshift range"), "{e}");
    }
}

#[test]
fn the_join_goes_by_file_name() {
    let cat = catalogue();
    let (selected, _) = select_main_sample(&cat, &SampleCuts::default()).unwrap();
    let paths: Vec<PathBuf> = ["spec-0266-51630-0008.fits", "spec-0266-51630-0002.fits"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let (sources, report) = join_catalogue(&paths, &cat, &selected).unwrap();
    assert_eq!(
        sources,
        [SpectrumSource {
            path: paths[0].clone(),
            catalogue: Some((cat.specobjid[7], 0.3)),
        }]
    );
    assert_eq!(
        report,
        JoinReport {
            matched: 1,
            not_selected: 1,
            without_file: 1,
        }
    );
    let e = join_catalogue(&[PathBuf::from("spectrum.fits")], &cat, &selected)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spectrum.fits") && e.contains("spec-PLATE-MJD-FIBER"),
        "{e}"
    );
    let twice = [
        PathBuf::from("a/spec-266-51630-1.fits"),
        PathBuf::from("b/spec-0266-51630-0001.fits.gz"),
    ];
    let e = join_catalogue(&twice, &cat, &selected)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the same spectrum as a/spec-266-51630-1.fits"),
        "{e}"
    );
}

/// Writes a small spec-lite file (COADD and SPECOBJ, as SDSS does) whose flux encodes `k`.
fn write_spec(path: &Path, k: usize, z: f32, specobjid: u64) {
    let _g = galsed_io::fits::lock();
    let n = 400;
    let mut f = FitsFile::create(path).overwrite().open().unwrap();
    let float = ColumnDataType::Float;
    let cols = [
        col("flux", float, 1),
        col("loglam", float, 1),
        col("ivar", float, 1),
        col("and_mask", ColumnDataType::Int, 1),
    ];
    let hdu = f.create_table("COADD", &cols).unwrap();
    let start = 50 + k;
    let loglam: Vec<f32> = (0..n)
        .map(|i| (LOGLAM_START + 1e-4 * (start + i) as f64) as f32)
        .collect();
    let flux: Vec<f32> = (0..n).map(|i| (k * 1000 + i) as f32).collect();
    hdu.write_col(&mut f, "flux", &flux).unwrap();
    hdu.write_col(&mut f, "loglam", &loglam).unwrap();
    hdu.write_col(&mut f, "ivar", &vec![2f32; n]).unwrap();
    hdu.write_col(&mut f, "and_mask", &vec![k as i32; n])
        .unwrap();
    let cols = [
        col("Z", float, 1),
        col("ZWARNING", ColumnDataType::Int, 1),
        col("SPECOBJID", ColumnDataType::String, 20),
    ];
    let hdu = f.create_table("SPECOBJ", &cols).unwrap();
    hdu.write_col(&mut f, "Z", &[z]).unwrap();
    hdu.write_col(&mut f, "ZWARNING", &[0i32]).unwrap();
    hdu.write_col(&mut f, "SPECOBJID", &[specobjid.to_string()])
        .unwrap();
}

fn spectra(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let sub = dir.join(format!("{:04}", 266 + k / 4));
            std::fs::create_dir_all(&sub).unwrap();
            let p = sub.join(format!("spec-{:04}-51630-{:04}.fits", 266 + k / 4, k + 1));
            write_spec(&p, k, 0.05 + 0.01 * k as f32, 1000 + k as u64);
            p
        })
        .collect()
}

#[test]
fn an_interrupted_read_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let paths = spectra(&data, 7);
    // Directories are searched recursively, in name order.
    assert_eq!(spec_lite_files(std::slice::from_ref(&data)).unwrap(), paths);
    let sources: Vec<SpectrumSource> = paths
        .iter()
        .enumerate()
        .map(|(k, p)| SpectrumSource {
            path: p.clone(),
            // The catalogue disagrees with the file about the redshift of spectrum 2.
            catalogue: Some((
                -(k as i64),
                f64::from(0.05 + 0.01 * k as f32) + if k == 2 { 0.01 } else { 0.0 },
            )),
        })
        .collect();
    let work = dir.path().join("work");
    let whole = read_spectra_resumable(&sources, &work, 3, &Silent).unwrap();
    assert_eq!((whole.chunks, whole.resumed_chunks), (3, 0));
    assert_eq!(whole.ids, [0, -1, -2, -3, -4, -5, -6]);
    assert_eq!(whole.z_disagreements, [-2]);
    // The pixels are the files', as the one-shot reader places them.
    let (direct, own_z, own_ids) = read_spectra(&paths).unwrap();
    assert_eq!(whole.spectra, direct);
    assert_eq!(own_ids, (1000..1007).collect::<Vec<i64>>());
    assert_eq!(whole.z[3], own_z[3]);
    remove_work_dir(&work).unwrap();
    assert!(!work.exists());

    // A bad file in the second chunk stops the read after the first chunk is saved.
    let saved = std::fs::read(&paths[4]).unwrap();
    std::fs::write(&paths[4], b"SIMPLE  = broken").unwrap();
    let e = read_spectra_resumable(&sources, &work, 3, &Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("spec-0267-51630-0005.fits"), "{e}");
    std::fs::write(&paths[4], saved).unwrap();
    // The first chunk's files are not read again: gone, the rerun still succeeds.
    for p in &paths[..3] {
        std::fs::remove_file(p).unwrap();
    }
    let resumed = read_spectra_resumable(&sources, &work, 3, &Silent).unwrap();
    assert_eq!(resumed.resumed_chunks, 1);
    assert_eq!(
        (
            resumed.spectra,
            resumed.z,
            resumed.ids,
            resumed.z_disagreements
        ),
        (whole.spectra, whole.z, whole.ids, whole.z_disagreements)
    );
    // Another chunk size is another import: its chunks are not reused.
    let other = read_spectra_resumable(&sources[3..], &work, 3, &Silent).unwrap();
    assert_eq!(other.resumed_chunks, 0);
}

#[test]
fn bad_settings_and_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sources = SpectrumSource::from_files(&[dir.path().join("spec-1-2-3.fits")]);
    let work = dir.path().join("w");
    let e = read_spectra_resumable(&sources, &work, 0, &Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("chunk size"), "{e}");
    let e = read_spectra_resumable(&[], &work, 5, &Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no spectra"), "{e}");
    let e = read_spectra_resumable(&sources, &work, 5, &Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("spec-1-2-3.fits"), "{e}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = spec_lite_files(&[empty]).unwrap_err().to_string();
    assert!(
        e.contains("empty") && e.contains("no spec-PLATE-MJD-FIBER"),
        "{e}"
    );
}
