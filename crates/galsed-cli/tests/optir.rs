//! `galsed optir` end to end on the reduced configuration (`--preset quick`): every step writes
//! what the next reads, the tables hold every method, the plots are images, training is
//! reproducible from the seed, and bad input fails with a clear message.

use std::path::Path;
use std::process::Output;

mod common;
use common::{command, fails, ok, text};

fn galsed(tmp: &Path, args: &[&str]) -> Output {
    galsed_with(tmp, args, &[])
}

/// `galsed` with extra environment variables.
fn galsed_with(tmp: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    command(tmp, args)
        .envs(envs.iter().copied())
        .output()
        .expect("run galsed")
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

/// (method, split, band) → (n, χ²_N, p̂) of an evaluation table.
fn read_table(path: &Path) -> Vec<(String, String, String, usize, f64, f64)> {
    let mut r = csv::Reader::from_path(path).expect("table");
    let h = r.headers().unwrap().clone();
    let col = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("column {name} in {h:?}"))
    };
    let (m, s, b, n, c, p) = (
        col("method"),
        col("split"),
        col("band"),
        col("n"),
        col("chi2_n"),
        col("p_hat"),
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[m].to_string(),
                rec[s].to_string(),
                rec[b].to_string(),
                rec[n].parse().unwrap(),
                rec[c].parse().unwrap(),
                rec[p].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_quick_pipeline_runs_end_to_end_and_trains_reproducibly() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = ok(galsed(
        tmp.path(),
        &[
            "optir",
            "run",
            "--preset",
            "quick",
            "-o",
            run.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("pipeline finished"), "{out}");

    // The learned methods on the whole test split, with every subset and band.
    let test = read_table(&run.join("evaluation/test.csv"));
    let methods = [
        "mlp_autoencoder",
        "mlp_pca",
        "linear_autoencoder",
        "mlp_ugriz",
    ];
    let splits = [
        "all",
        "z_low",
        "z_mid",
        "z_high",
        "r_bright",
        "r_faint",
        "star_forming",
        "quiescent",
    ];
    for m in methods {
        for s in splits {
            for b in ["W1", "W2", "W3", "W4"] {
                let row = test.iter().find(|r| r.0 == m && r.1 == s && r.2 == b);
                assert!(row.is_some(), "no row for {m} {s} {b}");
            }
        }
    }
    // 20 % of 1500 galaxies are tested; W1 is detected in all of them.
    let all_w1 = test
        .iter()
        .find(|r| r.0 == "mlp_autoencoder" && r.1 == "all" && r.2 == "W1")
        .unwrap();
    assert_eq!(all_w1.3, 300);
    assert!(
        all_w1.4.is_finite() && all_w1.4 > 0.0 && (0.0..=1.0).contains(&all_w1.5),
        "{all_w1:?}"
    );

    // The SED-fitting baselines side by side with the others on the fitted galaxies.
    let fits = read_table(&run.join("evaluation/sedfit_sample.csv"));
    for m in methods.iter().chain(&["sedfit_full", "sedfit_separable"]) {
        assert!(
            fits.iter().any(|r| &r.0 == m && r.2 == "W1" && r.3 > 0),
            "no SED-sample row for {m}"
        );
    }
    for png in [
        "evaluation/test_pp.png",
        "evaluation/test_chi.png",
        "evaluation/test_colours.png",
        "occlusion/attribution.png",
    ] {
        assert!(is_png(&run.join(png)), "{png} is not a PNG");
    }
    let attribution = std::fs::read_to_string(run.join("occlusion/attribution.csv")).unwrap();
    let finite = attribution
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .nth(3)
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v.is_finite() && v > 0.0)
        })
        .count();
    assert!(finite > 1000, "only {finite} attributed pixels");
    let timings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("timings.json")).unwrap()).unwrap();
    assert_eq!(timings["galaxies"], 1500);

    // Latents of every galaxy as a table.
    let latents = tmp.path().join("latents.csv");
    ok(galsed(
        tmp.path(),
        &[
            "optir",
            "encode",
            "--survey",
            run.join("survey.h5").to_str().unwrap(),
            "--models",
            run.join("models").to_str().unwrap(),
            "-o",
            latents.to_str().unwrap(),
        ],
    ));
    let table = std::fs::read_to_string(&latents).unwrap();
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("ae_latent5") && header.contains("pca_latent0") && header.contains("split"),
        "{header}"
    );
    assert_eq!(table.lines().count(), 1501);

    // The SED fits again, on one thread and on eight (more than the cores): identical results,
    // and no hang. Their gradients share no state between threads (burn-autodiff's global graph
    // once hung here, tracel-ai/burn#5193).
    let sedfits = |threads: &str| {
        let out = tmp.path().join(format!("sedfit_{threads}"));
        ok(galsed_with(
            tmp.path(),
            &[
                "optir",
                "evaluate",
                "--survey",
                run.join("survey.h5").to_str().unwrap(),
                "--models",
                run.join("models").to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--sed-fits",
                "8",
            ],
            &[("RAYON_NUM_THREADS", threads)],
        ));
        std::fs::read_to_string(out.join("sedfit_sample.csv")).expect("SED-fit table")
    };
    let one = sedfits("1");
    assert!(
        one.contains("sedfit_full") && one.contains("sedfit_separable"),
        "{one}"
    );
    assert_eq!(one, sedfits("8"), "SED fits changed with the thread count");

    // A survey without ugriz (as imported SDSS spectra are) trains and evaluates without the ugriz
    // baseline and without the r-magnitude subsets.
    let mut no_ugriz = galsed_optir::survey_io::read_survey(run.join("survey.h5")).unwrap();
    no_ugriz.ugriz.fill(f64::NAN);
    no_ugriz.ugriz_err.fill(f64::NAN);
    let no_ugriz_path = tmp.path().join("no_ugriz.h5");
    galsed_optir::survey_io::write_survey(&no_ugriz_path, &no_ugriz).unwrap();
    let models = tmp.path().join("no_ugriz_models");
    let eval = tmp.path().join("no_ugriz_eval");
    let err = galsed(
        tmp.path(),
        &[
            "optir",
            "train",
            "--survey",
            no_ugriz_path.to_str().unwrap(),
            "-o",
            models.to_str().unwrap(),
            "--epochs",
            "1",
        ],
    );
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("ugriz baseline is left out"),
        "{}",
        text(&err)
    );
    ok(err);
    ok(galsed(
        tmp.path(),
        &[
            "optir",
            "evaluate",
            "--survey",
            no_ugriz_path.to_str().unwrap(),
            "--models",
            models.to_str().unwrap(),
            "-o",
            eval.to_str().unwrap(),
            "--sed-fits",
            "0",
        ],
    ));
    let table = read_table(&eval.join("test.csv"));
    assert!(table.iter().any(|r| r.0 == "mlp_autoencoder"));
    assert!(
        !table
            .iter()
            .any(|r| r.0 == "mlp_ugriz" || r.1.starts_with("r_"))
    );

    // Training again from the same survey and seed gives the same models: the autoencoder's
    // weights bit for bit (its file also holds burn's random parameter ids), the rest byte for byte.
    let again = tmp.path().join("again");
    let survey = run.join("survey.h5");
    ok(galsed(
        tmp.path(),
        &[
            "optir",
            "train",
            "--survey",
            survey.to_str().unwrap(),
            "-o",
            again.to_str().unwrap(),
            "--epochs",
            "2",
        ],
    ));
    let weights = |dir: &Path| {
        galsed_optir::spender::Autoencoder::load(dir)
            .unwrap()
            .flat_weights()
    };
    let (a, b) = (
        weights(&run.join("models/spender")),
        weights(&again.join("spender")),
    );
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len(),
        "autoencoder weights differ"
    );
    for f in [
        "pca.json",
        "mlp_autoencoder.json",
        "mlp_pca.json",
        "linear_autoencoder.json",
        "mlp_ugriz.json",
    ] {
        let a = std::fs::read(run.join("models").join(f)).unwrap();
        let b = std::fs::read(again.join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs between two trainings with the same seed"
        );
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.h5");
    let e = fails(galsed(
        tmp.path(),
        &[
            "optir",
            "train",
            "--survey",
            missing.to_str().unwrap(),
            "-o",
            "x",
        ],
    ));
    assert!(e.contains("missing.h5"), "{e}");
    let e = fails(galsed(
        tmp.path(),
        &[
            "optir",
            "simulate",
            "-o",
            tmp.path().join("s.txt").to_str().unwrap(),
            "-n",
            "10",
        ],
    ));
    assert!(e.contains("s.txt") || e.contains("extension"), "{e}");
    // A readable (empty) WISE catalogue: it is read first, so the bad spectrum is what fails.
    std::fs::write(
        tmp.path().join("empty.csv"),
        "specobjid,w1mpro,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,w4mpro,w4sigmpro\n",
    )
    .unwrap();
    let spec = tmp.path().join("spec.fits");
    std::fs::write(&spec, b"SIMPLE  = not really a FITS file").unwrap();
    let e = fails(galsed(
        tmp.path(),
        &[
            "optir",
            "import",
            "-o",
            tmp.path().join("o.h5").to_str().unwrap(),
            "--wise",
            tmp.path().join("empty.csv").to_str().unwrap(),
            spec.to_str().unwrap(),
        ],
    ));
    assert!(e.contains("spec.fits"), "{e}");
}

// ---- optir import at scale: specObj catalogue, cuts, AllWISE flags, kill and resume ------------

/// Spec-lite files, specObj rows and AllWISE rows of the import test.
const IMPORT_FILES: usize = 300;
/// SDSS SPECOBJIDs above i64::MAX, one per file.
const FIRST_SPECOBJID: u64 = 10378442837036398592;

fn fits_col(
    name: &str,
    t: fitsio::tables::ColumnDataType,
    repeat: usize,
) -> fitsio::tables::ConcreteColumnDescription {
    fitsio::tables::ColumnDescription::new(name)
        .with_type(t)
        .that_repeats(repeat)
        .create()
        .unwrap()
}

/// The redshift of file `k` in the catalogue.
fn import_z(k: usize) -> f32 {
    if k % 10 == 9 {
        0.4
    } else {
        0.02 + 0.0005 * k as f32
    }
}

/// A spec-lite file in the DR8+ layout (COADD, SPECOBJ with a 20-character SPECOBJID); file 0
/// states a redshift 0.01 above the catalogue's.
fn write_import_spec(path: &Path, k: usize) {
    use fitsio::tables::ColumnDataType as T;
    let n = 500;
    let mut f = fitsio::FitsFile::create(path).overwrite().open().unwrap();
    let cols = [
        fits_col("flux", T::Float, 1),
        fits_col("loglam", T::Float, 1),
        fits_col("ivar", T::Float, 1),
        fits_col("and_mask", T::Int, 1),
    ];
    let hdu = f.create_table("COADD", &cols).unwrap();
    let loglam: Vec<f32> = (0..n)
        .map(|i| (3.5798 + 1e-4 * (k + 100 + i) as f64) as f32)
        .collect();
    let flux: Vec<f32> = (0..n).map(|i| (k + i) as f32 * 0.25).collect();
    hdu.write_col(&mut f, "flux", &flux).unwrap();
    hdu.write_col(&mut f, "loglam", &loglam).unwrap();
    hdu.write_col(&mut f, "ivar", &vec![4f32; n]).unwrap();
    hdu.write_col(&mut f, "and_mask", &vec![0i32; n]).unwrap();
    let cols = [
        fits_col("PLATE", T::Int, 1),
        fits_col("MJD", T::Int, 1),
        fits_col("FIBERID", T::Int, 1),
        fits_col("CLASS", T::String, 6),
        fits_col("Z", T::Float, 1),
        fits_col("ZWARNING", T::Int, 1),
        fits_col("SPECOBJID", T::String, 20),
    ];
    let hdu = f.create_table("SPECOBJ", &cols).unwrap();
    let (plate, fiber) = import_plate_fiber(k);
    hdu.write_col(&mut f, "PLATE", &[plate]).unwrap();
    hdu.write_col(&mut f, "MJD", &[51630i32]).unwrap();
    hdu.write_col(&mut f, "FIBERID", &[fiber]).unwrap();
    hdu.write_col(&mut f, "CLASS", &["GALAXY".to_string()])
        .unwrap();
    let z = import_z(k) + if k == 0 { 0.01 } else { 0.0 };
    hdu.write_col(&mut f, "Z", &[z]).unwrap();
    hdu.write_col(&mut f, "ZWARNING", &[0i32]).unwrap();
    let id = (FIRST_SPECOBJID + k as u64).to_string();
    hdu.write_col(&mut f, "SPECOBJID", &[id]).unwrap();
}

fn import_plate_fiber(k: usize) -> (i32, i32) {
    (266 + (k / 100) as i32, (k % 100) as i32 + 1)
}

/// A specObj catalogue (specObj-dr16 layout, HDU 1, columns the reader ignores among those it
/// reads): a row per file, every tenth removed by each cut in turn (ZWARNING = 4 at k ≡ 3, a
/// STAR at 5, only GALAXY_RED at 7, z = 0.4 at 9), and 5 main-sample rows without a file.
fn write_import_specobj(path: &Path) {
    use fitsio::tables::ColumnDataType as T;
    let n = IMPORT_FILES + 5;
    let mut f = fitsio::FitsFile::create(path).overwrite().open().unwrap();
    let cols = [
        fits_col("SPECOBJID", T::String, 20),
        fits_col("PLATE", T::Int, 1),
        fits_col("MJD", T::Int, 1),
        fits_col("FIBERID", T::Int, 1),
        fits_col("RA", T::Double, 1),
        fits_col("CLASS", T::String, 6),
        fits_col("SUBCLASS", T::String, 21),
        fits_col("Z", T::Float, 1),
        fits_col("ZWARNING", T::Int, 1),
        fits_col("LEGACY_TARGET1", T::LongLong, 1),
    ];
    let hdu = f.create_table("", &cols).unwrap();
    let ids: Vec<String> = (0..n)
        .map(|k| (FIRST_SPECOBJID + k as u64).to_string())
        .collect();
    let (plate, fiber): (Vec<i32>, Vec<i32>) = (0..n)
        .map(|k| {
            if k < IMPORT_FILES {
                import_plate_fiber(k)
            } else {
                (999, k as i32)
            }
        })
        .unzip();
    let class: Vec<String> = (0..n)
        .map(|k| if k % 10 == 5 { "STAR  " } else { "GALAXY" }.to_string())
        .collect();
    let z: Vec<f32> = (0..n).map(import_z).collect();
    let zwarning: Vec<i32> = (0..n)
        .map(|k| {
            if k % 10 == 3 && k < IMPORT_FILES {
                4
            } else {
                0
            }
        })
        .collect();
    let bits: Vec<i64> = (0..n)
        .map(|k| match k % 10 {
            7 => 0x20,
            1 => 0x80 | 0x20,
            _ => 0x40,
        })
        .collect();
    hdu.write_col(&mut f, "SPECOBJID", &ids).unwrap();
    hdu.write_col(&mut f, "PLATE", &plate).unwrap();
    hdu.write_col(&mut f, "MJD", &vec![51630i32; n]).unwrap();
    hdu.write_col(&mut f, "FIBERID", &fiber).unwrap();
    hdu.write_col(&mut f, "RA", &vec![147.5f64; n]).unwrap();
    hdu.write_col(&mut f, "CLASS", &class).unwrap();
    hdu.write_col(&mut f, "SUBCLASS", &vec![String::new(); n])
        .unwrap();
    hdu.write_col(&mut f, "Z", &z).unwrap();
    hdu.write_col(&mut f, "ZWARNING", &zwarning).unwrap();
    hdu.write_col(&mut f, "LEGACY_TARGET1", &bits).unwrap();
}

/// An AllWISE cross-match as IRSA delivers it: every file's SPECOBJID, null w4sigmpro (upper
/// limits) for every fourth, cc_flags `00D0`, `0000` or `hh00`, ext_flg 0 or 1.
fn write_import_wise(path: &Path) {
    let mut text = String::from(
        "cntr_u,dist_x,specobjid,designation,w1mpro,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,\
         w4mpro,w4sigmpro,cc_flags,ext_flg\n",
    );
    for k in 0..IMPORT_FILES {
        let sig4 = if k % 4 == 0 { "" } else { "0.3" };
        let cc = ["00D0", "0000", "hh00"][k % 3];
        text.push_str(&format!(
            "{},0.5,{},J0950{k:04},14.1,0.03,13.9,0.04,10.2,0.1,8.1,{sig4},{cc},{}\n",
            k + 1,
            FIRST_SPECOBJID + k as u64,
            k % 2
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn chunk_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("chunk-") && n.ends_with(".bin"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn import_with_a_specobj_catalogue_resumes_after_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("sdss");
    for k in 0..IMPORT_FILES {
        let (plate, fiber) = import_plate_fiber(k);
        let dir = data.join(plate.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        write_import_spec(
            &dir.join(format!("spec-{plate:04}-51630-{fiber:04}.fits")),
            k,
        );
    }
    let (specobj, wise) = (t.join("specObj-dr16.fits"), t.join("allwise.csv"));
    write_import_specobj(&specobj);
    write_import_wise(&wise);
    let import = |out: &Path| {
        let mut cmd = command(
            t,
            &[
                "optir",
                "import",
                "-o",
                common::s(out),
                "--wise",
                common::s(&wise),
                "--specobj",
                common::s(&specobj),
                "--chunk-size",
                "2",
                common::s(&data),
            ],
        );
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    let reference = t.join("reference.parquet");
    let o = import(&reference).output().unwrap();
    let stdout = ok(o.clone());
    let stderr = String::from_utf8_lossy(&o.stderr);
    // 305 rows; 30 removed by each cut; 185 left, of which 180 have files.
    let cut_rows: Vec<Vec<String>> = stdout
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let removed_left = |starts: &str| -> (String, String) {
        let row = cut_rows
            .iter()
            .find(|r| r.first().is_some_and(|c| c.starts_with(starts)))
            .unwrap_or_else(|| panic!("no '{starts}' row in:\n{stdout}"));
        (row[row.len() - 2].clone(), row[row.len() - 1].clone())
    };
    assert_eq!(
        removed_left("LEGACY_TARGET1"),
        ("30".into(), "275".into()),
        "{stdout}"
    );
    assert_eq!(removed_left("CLASS"), ("30".into(), "245".into()));
    assert_eq!(removed_left("ZWARNING"), ("30".into(), "215".into()));
    assert_eq!(removed_left("0.01"), ("30".into(), "185".into()));
    assert!(
        stdout.contains(
            "spectra: 180 in the sample, 120 not in it (not read); 5 sample rows without a file"
        ),
        "{stdout}"
    );
    // 00D0 on every third catalogue row: W3 dropped in 100 of the 300.
    assert!(
        stdout.contains("catalogue rows: W1 0, W2 0, W3 100, W4 0"),
        "{stdout}"
    );
    assert!(stdout.contains("(180 galaxies)"), "{stdout}");
    assert!(
        stderr.contains("1 spectra have a Z that differs")
            && stderr.contains("10378442837036398592"),
        "{stderr}"
    );
    let survey = galsed_optir::survey_io::read_survey(&reference).unwrap();
    assert_eq!(survey.id[0], FIRST_SPECOBJID as i64);
    // The catalogue's redshift, not the file's.
    assert_eq!(survey.redshift[0], f64::from(import_z(0)));
    assert_eq!(
        survey.wise_err[[0, 2]],
        galsed_optir::survey::UNDETECTED_SIGMA
    );
    assert_eq!(survey.wise_err[[1, 2]], 0.1);
    assert!(!t.join(".reference.parquet.import").exists());

    // Killed once some chunks are saved, then rerun: the saved chunks are read back, and the
    // survey is the uninterrupted one, byte for byte.
    let killed = t.join("killed.parquet");
    let work = t.join(".killed.parquet.import");
    let mut child = import(&killed).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while chunk_files(&work).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "no chunk written");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = chunk_files(&work);
    assert!(!killed.exists(), "the import finished before the kill");
    assert!(
        at_kill.len() < 90,
        "{} of 90 chunks at the kill",
        at_kill.len()
    );
    let stdout = ok(import(&killed).output().unwrap());
    let resumed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("resumed: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'resumed:' line in:\n{stdout}"));
    assert!(
        resumed >= at_kill.len() && resumed < 90,
        "{resumed} chunks resumed, {} at the kill",
        at_kill.len()
    );
    assert!(
        std::fs::read(&killed).unwrap() == std::fs::read(&reference).unwrap(),
        "the resumed import differs from the uninterrupted one"
    );
    assert!(!work.exists());
}
