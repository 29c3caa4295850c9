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
    std::fs::write(tmp.path().join("empty.csv"), "id,w1mpro\n").unwrap();
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
