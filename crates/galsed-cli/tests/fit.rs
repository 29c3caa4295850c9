//! `galsed fit` end to end: a mock catalogue written by the demo, bad rows reported per galaxy,
//! bad catalogues and configurations refused with clear errors, resume after an interruption,
//! FITS and Parquet in and out, VOTable in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// GALSED_MODEL_DIR when set (worktrees sit at another depth), else the shared reference pack.
fn model_dir() -> PathBuf {
    std::env::var_os("GALSED_MODEL_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/starduster/original")
        },
        PathBuf::from,
    )
}

fn galsed(tmp: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galsed"))
        .args(args)
        .env("GALSED_MODEL_DIR", model_dir())
        .env("XDG_CACHE_HOME", tmp.join("cache"))
        .output()
        .unwrap()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "galsed failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn fails(o: Output) -> String {
    assert!(!o.status.success(), "galsed should have failed");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fast configuration: a small swarm, no sampler.
const QUICK: &str = "[optimizer]\npolish = false\n[optimizer.pso]\nn_particles = 16\nn_iterations = 20\nn_restarts = 1\n";

const BANDS: [&str; 5] = [
    "galex_FUV",
    "sdss_r0",
    "twomass_Ks",
    "wise_w3",
    "herschel_pacs_100",
];

/// Changes a band's (value, error, limit) cells: (band index, magnitude, error) → cells.
type Edit<'a> = dyn Fn(usize, &str, &str) -> (String, String, String) + 'a;

/// A catalogue: a good galaxy, then rows that must fail one by one, then a galaxy with a missing
/// band and an upper limit.
fn catalogue(dir: &Path) -> PathBuf {
    let mut text = String::from("id,redshift");
    for b in BANDS {
        text.push_str(&format!(",{b},{b}_err,{b}_limit"));
    }
    text.push('\n');
    let mags = ["17.5", "15.0", "14.2", "13.0", "11.0"];
    let row = |id: &str, z: &str, edit: &Edit<'_>| {
        let mut r = format!("{id},{z}");
        for (i, m) in mags.iter().enumerate() {
            let (v, e, l) = edit(i, m, "0.1");
            r.push_str(&format!(",{v},{e},{l}"));
        }
        r + "\n"
    };
    let same = |_: usize, m: &str, e: &str| (m.to_string(), e.to_string(), String::new());
    text.push_str(&row("good", "0.02", &same));
    text.push_str(&row("negative_error", "0.02", &|i, m, e| {
        if i == 1 {
            (m.into(), "-0.1".into(), String::new())
        } else {
            same(i, m, e)
        }
    }));
    text.push_str(&row("zero_error", "0.02", &|i, m, e| {
        if i == 2 {
            (m.into(), "0".into(), String::new())
        } else {
            same(i, m, e)
        }
    }));
    text.push_str(&row("nan_redshift", "nan", &same));
    text.push_str(&row("no_bands", "0.02", &|_, _, _| {
        ("nan".into(), "0.1".into(), String::new())
    }));
    text.push_str(&row("too_far", "1.5", &same));
    text.push_str(&row("limit", "0.02", &|i, m, e| {
        if i == 3 {
            ("nan".into(), "nan".into(), "12.0".into())
        } else if i == 0 {
            ("nan".into(), "nan".into(), String::new())
        } else {
            same(i, m, e)
        }
    }));
    let path = dir.join("cat.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// The first galaxy of [`catalogue`] alone, as `one.csv`.
fn one_galaxy(dir: &Path) -> PathBuf {
    let rows = std::fs::read_to_string(catalogue(dir)).unwrap();
    let one = dir.join("one.csv");
    std::fs::write(
        &one,
        rows.lines().take(2).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    one
}

fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn bad_rows_are_reported_per_galaxy() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let cfg = tmp.path().join("quick.toml");
    // A 30 % model error in W3 alone.
    let w3_error = 0.3;
    std::fs::write(
        &cfg,
        format!("{QUICK}[likelihood.band_model_error]\nwise_w3 = {w3_error}\n"),
    )
    .unwrap();
    let out = tmp.path().join("res.csv");
    let o = ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&cat),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
            "--threads",
            "1",
        ],
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    let rows = read_csv(&out);
    assert_eq!(rows.len(), 7, "{err}");
    let status = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap()["status"].clone();
    assert_eq!(status("good"), "ok");
    assert!(
        status("negative_error").contains("sdss_r0") && status("negative_error").contains("> 0"),
        "{}",
        status("negative_error")
    );
    assert!(
        status("zero_error").contains("twomass_Ks"),
        "{}",
        status("zero_error")
    );
    assert!(
        status("nan_redshift").contains("redshift"),
        "{}",
        status("nan_redshift")
    );
    assert!(
        status("no_bands").contains("no usable bands"),
        "{}",
        status("no_bands")
    );
    assert!(
        status("too_far").contains("galex_FUV"),
        "redshift beyond the model's coverage: {}",
        status("too_far")
    );
    assert_eq!(status("limit"), "ok");
    let limit = rows.iter().find(|r| r["id"] == "limit").unwrap();
    assert_eq!(limit["n_bands"], "4", "FUV missing, W3 an upper limit");
    let good = rows.iter().find(|r| r["id"] == "good").unwrap();
    let chi2: f64 = good["chi2"].parse().unwrap();
    assert!(chi2.is_finite() && good["m_star"].parse::<f64>().unwrap() > 0.0);
    assert!(err.contains("5 could not be fitted"), "{err}");

    // χ² by hand from the catalogue's magnitudes (errors 0.1) and the model magnitudes, with W3's
    // model error in magnitudes, 2.5/ln 10 × 0.3, added in quadrature.
    let mags = [17.5, 15.0, 14.2, 13.0, 11.0];
    let model = |r: &std::collections::HashMap<String, String>, b: &str| -> f64 {
        r[&format!("model_{b}")].parse().unwrap()
    };
    let by_hand: f64 = BANDS
        .iter()
        .zip(mags)
        .map(|(b, m)| {
            let extra = if *b == "wise_w3" {
                2.5 / std::f64::consts::LN_10 * w3_error
            } else {
                0.0
            };
            ((m - model(good, b)) / f64::hypot(0.1, extra)).powi(2)
        })
        .sum();
    assert!(
        (chi2 - by_hand).abs() <= 1e-6 * by_hand,
        "{chi2} vs {by_hand}"
    );

    // The per-band residuals of the two galaxies fitted, from the results by hand.
    let residuals = read_csv(&tmp.path().join("res.residuals.csv"));
    assert!(tmp.path().join("res.residuals.png").exists(), "{err}");
    assert_eq!(residuals.len(), BANDS.len());
    let band = |b: &str| residuals.iter().find(|r| r["band"] == b).unwrap();
    let num =
        |r: &std::collections::HashMap<String, String>, c: &str| -> f64 { r[c].parse().unwrap() };
    let r0 = band("sdss_r0");
    assert_eq!(
        (r0["n_detections"].as_str(), r0["n_limits"].as_str()),
        ("2", "0")
    );
    let want = 0.5 * ((15.0 - model(good, "sdss_r0")) + (15.0 - model(limit, "sdss_r0")));
    assert!(
        (num(r0, "median_residual_mag") - want).abs() < 1e-9,
        "{r0:?} vs {want}"
    );
    let w3 = band("wise_w3");
    assert_eq!(
        (w3["n_detections"].as_str(), w3["n_limits"].as_str()),
        ("1", "1")
    );
    let chi_w3 =
        (13.0 - model(good, "wise_w3")) / f64::hypot(0.1, 2.5 / std::f64::consts::LN_10 * w3_error);
    assert!(
        (num(w3, "median_chi") - chi_w3).abs() < 1e-9,
        "{w3:?} vs {chi_w3}"
    );
    assert_eq!(band("galex_FUV")["n_detections"], "1");
    assert!(err.contains("per-band residuals"), "{err}");
}

#[test]
fn bad_catalogues_and_configurations_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let out = tmp.path().join("res.csv");
    let run = |cfg: &str| {
        let p = tmp.path().join("c.toml");
        std::fs::write(&p, cfg).unwrap();
        fails(galsed(
            tmp.path(),
            &[
                "fit",
                "--catalog",
                s(&cat),
                "--config",
                s(&p),
                "--output",
                s(&out),
            ],
        ))
    };
    let e = run("[catalog]\nbands = [\"sdss_r0\", \"no_such_band\"]\n");
    assert!(e.contains("no_such_band"), "{e}");
    let e = run("[catalog]\nbands = [\"sdss_g0\"]\n");
    assert!(e.contains("sdss_g0"), "missing band column: {e}");
    let e = run("[optimizer]\nmethod = \"simulated_annealing\"\n");
    assert!(e.contains("simulated_annealing"), "{e}");
    let e = run("[parametrization.bounds]\ntheta = [50.0, 10.0]\n");
    assert!(e.contains("theta"), "{e}");
    let e = run("[likelihood.band_model_error]\nwise_w5 = 0.2\n");
    assert!(e.contains("wise_w5") && e.contains("not a band"), "{e}");
    let e = run("[likelihood.band_model_error]\nwise_w3 = -0.2\n");
    assert!(e.contains("wise_w3") && e.contains("≥ 0"), "{e}");
    let e = run("[catalog.calibration_floor]\nwise_w4 = 0.057\n");
    assert!(
        e.contains("[catalog.calibration_floor] wise_w4: not a band of the catalogue")
            && e.contains("sdss_r0"),
        "{e}"
    );
    let e = run("[catalog]\nflux_unit = \"furlongs\"\nquantity = \"flux\"\n");
    assert!(e.contains("furlongs"), "{e}");

    let empty = tmp.path().join("empty.csv");
    std::fs::write(&empty, "id,redshift,sdss_r0,sdss_r0_err\n").unwrap();
    let e = fails(galsed(
        tmp.path(),
        &["fit", "--catalog", s(&empty), "--output", s(&out)],
    ));
    assert!(e.contains("no rows"), "{e}");
    let nobands = tmp.path().join("nobands.csv");
    std::fs::write(&nobands, "id,redshift,flux\n1,0.1,3\n").unwrap();
    let e = fails(galsed(
        tmp.path(),
        &["fit", "--catalog", s(&nobands), "--output", s(&out)],
    ));
    assert!(e.contains("no band columns"), "{e}");
    assert!(!out.exists());
}

/// A column named almost like a band (`sdss_r` for `sdss_r0`) is refused with the right name,
/// rather than left out of the fit; other columns (`z`, `ra`) are not bands and are ignored.
#[test]
fn misspelt_band_columns_are_refused_with_a_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let text = std::fs::read_to_string(&cat).unwrap().replacen(
        "sdss_r0,sdss_r0_err,sdss_r0_limit",
        "sdss_r,sdss_r_err,sdss_r_limit",
        1,
    );
    let misspelt = tmp.path().join("misspelt.csv");
    std::fs::write(&misspelt, text.replacen("id,", "ra,", 1)).unwrap();
    let out = tmp.path().join("res.csv");
    let e = fails(galsed(
        tmp.path(),
        &["fit", "--catalog", s(&misspelt), "--output", s(&out)],
    ));
    assert!(
        e.contains("column `sdss_r` (did you mean `sdss_r0`?)") && e.contains("[catalog] bands"),
        "{e}"
    );
    assert!(!e.contains("`ra`"), "{e}");
    assert!(!out.exists());
}

/// One galaxy is "1 galaxy".
#[test]
fn one_galaxy_is_counted_in_the_singular() {
    let tmp = tempfile::tempdir().unwrap();
    let one = one_galaxy(tmp.path());
    let cfg = tmp.path().join("quick.toml");
    std::fs::write(&cfg, QUICK).unwrap();
    let out = tmp.path().join("res.csv");
    let o = ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&one),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
        ],
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fitted 1 galaxy (0 could not be fitted)"),
        "{err}"
    );
}

/// Parameters known per galaxy from catalogue columns: an inclination prior and a fixed disk
/// radius for the first galaxy; empty cells leave the second galaxy's free.
#[test]
fn parameters_known_from_the_catalogue() {
    let tmp = tempfile::tempdir().unwrap();
    let one = std::fs::read_to_string(one_galaxy(tmp.path())).unwrap();
    let mut lines = one.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    let free = row.replacen("good", "free", 1);
    let cat = tmp.path().join("known.csv");
    std::fs::write(
        &cat,
        format!("{header},incl,incl_err,rd\n{row},37.0,0.5,2.5\n{free},,,\n"),
    )
    .unwrap();
    let cfg = tmp.path().join("known.toml");
    let known = "[catalog.parameters]\ntheta = { column = \"incl\", sigma_column = \"incl_err\" }\nr_disk = { column = \"rd\" }\n";
    std::fs::write(
        &cfg,
        format!("{known}[optimizer]\nmethod = \"multistart\"\n"),
    )
    .unwrap();
    let out = tmp.path().join("res.csv");
    let o = ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&cat),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
        ],
    ));
    let rows = read_csv(&out);
    let err = String::from_utf8_lossy(&o.stderr);
    let get = |id: &str, c: &str| rows.iter().find(|r| r["id"] == id).unwrap()[c].clone();
    assert_eq!(get("good", "status"), "ok", "{err}");
    assert_eq!(get("free", "status"), "ok", "{err}");
    // Fixed: the physical radius is the catalogue's and it is no longer a free parameter.
    let r_disk: f64 = get("good", "r_disk").parse().unwrap();
    assert!((r_disk - 2.5).abs() < 1e-4, "{r_disk}");
    let par = |id: &str| get(id, "par_r_disk").parse::<f64>().unwrap_or(f64::NAN);
    assert!(par("good").is_nan() && par("free").is_finite());
    // A 0.5° prior: five bands cannot pull θ far from 37°.
    let theta: f64 = get("good", "theta").parse().unwrap();
    assert!((theta - 37.0).abs() < 1.5, "θ = {theta}");

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[catalog.parameters]\ntheta = { column = \"inclination\" }\n",
    )
    .unwrap();
    let e = fails(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&cat),
            "--config",
            s(&bad),
            "--output",
            s(&out),
        ],
    ));
    assert!(e.contains("inclination") && e.contains("theta"), "{e}");
}

#[test]
fn the_configuration_template_runs_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("fit.toml");
    ok(galsed(tmp.path(), &["fit", "--write-config", s(&template)]));
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(
        text.contains("[sampler.nested]") && text.contains("[catalog]"),
        "{text}"
    );
    // Edited as a user would: the fast optimiser, then fitted (with the short output flag).
    let edited = text.replacen("method = \"pso\"", "method = \"multistart\"", 1);
    assert_ne!(edited, text, "the template names the optimiser");
    std::fs::write(&template, edited).unwrap();
    let one = one_galaxy(tmp.path());
    let out = tmp.path().join("res.csv");
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&one),
            "--config",
            s(&template),
            "-o",
            s(&out),
        ],
    ));
    assert_eq!(read_csv(&out)[0]["status"], "ok");
    // Writing a template and fitting are separate runs.
    let err = fails(galsed(
        tmp.path(),
        &["fit", "--write-config", s(&template), "--catalog", s(&one)],
    ));
    assert!(err.contains("cannot be used with"), "{err}");
    let err = fails(galsed(tmp.path(), &["fit", "--catalog", s(&one)]));
    assert!(err.contains("--output"), "{err}");
}

#[test]
fn posterior_draws_are_written_per_galaxy() {
    let tmp = tempfile::tempdir().unwrap();
    let one = one_galaxy(tmp.path());
    let cfg = tmp.path().join("sampled.toml");
    let sampler = "[sampler]\nmethod = \"ensemble\"\nn_derived = 10\n[sampler.ensemble]\n\
                   n_walkers = 48\nn_steps = 40\nuntil_converged = false\n";
    std::fs::write(&cfg, format!("{QUICK}{sampler}")).unwrap();
    let (out, dir) = (tmp.path().join("res.csv"), tmp.path().join("draws"));
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&one),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
            "--samples",
            s(&dir),
        ],
    ));
    let res = &read_csv(&out)[0];
    let draws = read_csv(&dir.join(format!("{}_samples.csv", res["id"])));
    assert!(!draws.is_empty());
    // The draws are the ones the percentiles of the results table come from.
    let mut theta: Vec<f64> = draws
        .iter()
        .map(|d| d["par_theta"].parse().unwrap())
        .collect();
    theta.sort_by(f64::total_cmp);
    let median = theta[theta.len() / 2];
    let p50: f64 = res["par_theta_p50"].parse().unwrap();
    let (p16, p84): (f64, f64) = (
        res["par_theta_p16"].parse().unwrap(),
        res["par_theta_p84"].parse().unwrap(),
    );
    assert!(
        p16 <= median && median <= p84,
        "{median} outside [{p16}, {p84}]"
    );
    assert!(
        (median - p50).abs() <= 0.5 * (p84 - p16) + 1e-12,
        "{median} vs {p50}"
    );
}

/// Kill the run after some galaxies, run it again: every galaxy appears once, with the values an
/// uninterrupted run gives.
#[test]
fn interrupted_runs_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let cfg = tmp.path().join("slow.toml");
    std::fs::write(
        &cfg,
        QUICK.replace("n_iterations = 20", "n_iterations = 400"),
    )
    .unwrap();
    let whole = tmp.path().join("whole.csv");
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&cat),
            "--config",
            s(&cfg),
            "--output",
            s(&whole),
            "--threads",
            "1",
        ],
    ));
    assert!(
        !tmp.path().join("whole.csv.partial.jsonl").exists(),
        "the resume file is removed at the end"
    );

    let out = tmp.path().join("resumed.csv");
    let partial = tmp.path().join("resumed.csv.partial.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_galsed"))
        .args([
            "fit",
            "--catalog",
            s(&cat),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
            "--threads",
            "1",
        ])
        .env("GALSED_MODEL_DIR", model_dir())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&partial).map_or(0, |t| t.lines().count()) < 2
        && t0.elapsed().as_secs() < 300
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = std::fs::read_to_string(&partial).unwrap().lines().count();
    assert!(
        !out.exists() && (2..7).contains(&done),
        "killed after {done} galaxies"
    );
    let o = ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&cat),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
            "--threads",
            "1",
        ],
    ));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming"));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
}

/// The catalogue as a FITS binary table gives the same fits as the CSV; results also as FITS and
/// Parquet.
#[test]
fn fits_and_parquet_tables() {
    use fitsio::FitsFile;
    use fitsio::tables::{ColumnDataType, ColumnDescription};
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("quick.toml");
    std::fs::write(&cfg, QUICK).unwrap();
    let mags = [17.5, 15.0, 14.2, 13.0, 11.0];
    let csv_cat = tmp.path().join("cat.csv");
    let mut text = String::from("id,redshift");
    for b in BANDS {
        text.push_str(&format!(",{b},{b}_err"));
    }
    text.push_str("\ng1,0.02");
    for m in mags {
        text.push_str(&format!(",{m},0.1"));
    }
    std::fs::write(&csv_cat, text + "\n").unwrap();
    let fits_cat = tmp.path().join("cat.fits");
    {
        let mut f = FitsFile::create(&fits_cat).open().unwrap();
        let mut cols = vec![
            ColumnDescription::new("id")
                .with_type(ColumnDataType::String)
                .that_repeats(8)
                .create()
                .unwrap(),
            ColumnDescription::new("redshift")
                .with_type(ColumnDataType::Double)
                .create()
                .unwrap(),
        ];
        for b in BANDS {
            for name in [b.to_string(), format!("{b}_err")] {
                cols.push(
                    ColumnDescription::new(&name)
                        .with_type(ColumnDataType::Double)
                        .create()
                        .unwrap(),
                );
            }
        }
        let hdu = f.create_table("CATALOG", &cols).unwrap();
        hdu.write_col(&mut f, "id", &["g1".to_string()]).unwrap();
        hdu.write_col(&mut f, "redshift", &[0.02f64]).unwrap();
        for (b, m) in BANDS.iter().zip(mags) {
            hdu.write_col(&mut f, *b, &[m]).unwrap();
            hdu.write_col(&mut f, format!("{b}_err"), &[0.1f64])
                .unwrap();
        }
    }
    let from_csv = tmp.path().join("a.csv");
    let from_fits = tmp.path().join("b.csv");
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&csv_cat),
            "--config",
            s(&cfg),
            "--output",
            s(&from_csv),
        ],
    ));
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&fits_cat),
            "--config",
            s(&cfg),
            "--output",
            s(&from_fits),
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(&from_csv).unwrap(),
        std::fs::read_to_string(&from_fits).unwrap()
    );

    let fits = tmp.path().join("res.fits");
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&fits_cat),
            "--config",
            s(&cfg),
            "--output",
            s(&fits),
        ],
    ));
    let parquet = tmp.path().join("res.parquet");
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&fits_cat),
            "--config",
            s(&cfg),
            "--output",
            s(&parquet),
        ],
    ));
    assert!(std::fs::read(&fits).unwrap().starts_with(b"SIMPLE  ="));
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));
}

/// The catalogue as a VOTable (TABLEDATA, as IRSA returns it: units, a declared null and an
/// empty cell) gives the same fits as the CSV with empty cells.
#[test]
fn votable_catalogue() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("quick.toml");
    std::fs::write(&cfg, QUICK).unwrap();
    // wise_w3 is an empty cell in g2, herschel_pacs_100 the declared null -99 in g1.
    let rows = [
        ("g1", "0.02", ["17.5", "15.0", "14.2", "13.0", ""]),
        ("g2", "0.03", ["18.0", "15.5", "14.6", "", "11.5"]),
    ];
    let mut csv = String::from("id,redshift");
    let mut vot = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" \
         xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<RESOURCE type=\"results\">\n\
         <INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n<TABLE>\n\
         <FIELD name=\"id\" datatype=\"char\" arraysize=\"*\"/>\n\
         <FIELD name=\"redshift\" datatype=\"double\"/>\n",
    );
    for b in BANDS {
        csv.push_str(&format!(",{b},{b}_err"));
        vot.push_str(&format!(
            "<FIELD name=\"{b}\" datatype=\"double\" unit=\"mag\"><VALUES null=\"-99\"/></FIELD>\n\
             <FIELD name=\"{b}_err\" datatype=\"float\" unit=\"mag\"/>\n"
        ));
    }
    vot.push_str("<DATA><TABLEDATA>\n");
    for (id, z, mags) in rows {
        csv.push_str(&format!("\n{id},{z}"));
        vot.push_str(&format!("<TR><TD>{id}</TD><TD>{z}</TD>"));
        for m in mags {
            csv.push_str(&format!(",{m},0.1"));
            let cell = match (id, m) {
                ("g1", "") => "<TD>-99</TD>".to_string(),
                (_, "") => "<TD/>".to_string(),
                _ => format!("<TD>{m}</TD>"),
            };
            vot.push_str(&format!("{cell}<TD>0.1</TD>"));
        }
        vot.push_str("</TR>\n");
    }
    vot.push_str("</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n");
    let csv_cat = tmp.path().join("cat.csv");
    std::fs::write(&csv_cat, csv + "\n").unwrap();
    let vot_cat = tmp.path().join("cat.vot");
    std::fs::write(&vot_cat, vot).unwrap();
    let (from_csv, from_vot) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
    for (cat, out) in [(&csv_cat, &from_csv), (&vot_cat, &from_vot)] {
        ok(galsed(
            tmp.path(),
            &[
                "fit",
                "--catalog",
                s(cat),
                "--config",
                s(&cfg),
                "--output",
                s(out),
            ],
        ));
    }
    let res = std::fs::read_to_string(&from_vot).unwrap();
    assert_eq!(std::fs::read_to_string(&from_csv).unwrap(), res);
    let rows = read_csv(&from_vot);
    assert_eq!((rows.len(), rows[1]["status"].as_str()), (2, "ok"));

    // A BINARY2 VOTable is refused, naming the serialisation.
    let binary = tmp.path().join("bin.vot");
    std::fs::write(
        &binary,
        "<VOTABLE><RESOURCE><TABLE><FIELD name=\"id\" datatype=\"long\"/><DATA><BINARY2>\
         <STREAM encoding=\"base64\">AAAAAAAAAAE=</STREAM></BINARY2></DATA></TABLE></RESOURCE>\
         </VOTABLE>",
    )
    .unwrap();
    let e = fails(galsed(
        tmp.path(),
        &["fit", "--catalog", s(&binary), "--output", s(&from_vot)],
    ));
    assert!(e.contains("BINARY2") && e.contains("TABLEDATA"), "{e}");
}

/// Real catalogue conventions end to end: Vega 2MASS, a flagged band, an E(B−V) column and the
/// calibration floors; the results have `model_twomass_Ks_vega` = `model_twomass_Ks` − 1.85
/// (Blanton & Roweis 2007) and the flagged band is not fitted.
#[test]
fn real_catalogue_conventions() {
    let tmp = tempfile::tempdir().unwrap();
    let one = one_galaxy(tmp.path());
    let text = std::fs::read_to_string(&one).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    std::fs::write(&one, format!("{header},ebv,wise_w3_flag\n{row},0.05,1\n")).unwrap();
    let cfg = tmp.path().join("real.toml");
    std::fs::write(
        &cfg,
        format!(
            "[catalog]\nvega_bands = [\"twomass_Ks\"]\nebv_column = \"ebv\"\n\
             calibration = \"default\"\n{QUICK}"
        ),
    )
    .unwrap();
    let out = tmp.path().join("res.csv");
    ok(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&one),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
        ],
    ));
    let r = &read_csv(&out)[0];
    assert_eq!(r["status"], "ok");
    assert_eq!(r["n_bands"].parse::<f64>().unwrap(), 4.0, "W3 is flagged");
    let ab: f64 = r["model_twomass_Ks"].parse().unwrap();
    let vega: f64 = r["model_twomass_Ks_vega"].parse().unwrap();
    assert!((ab - vega - 1.85).abs() < 1e-9, "{ab} {vega}");
    assert!(
        !r["model_wise_w3"].parse::<f64>().is_ok_and(f64::is_finite),
        "a flagged band has no model magnitude: {}",
        r["model_wise_w3"]
    );
    // A bad curve name is refused before fitting, naming it.
    std::fs::write(&cfg, "[catalog]\nextinction_curve = \"sfd\"\n").unwrap();
    let e = fails(galsed(
        tmp.path(),
        &[
            "fit",
            "--catalog",
            s(&one),
            "--config",
            s(&cfg),
            "--output",
            s(&out),
        ],
    ));
    assert!(e.contains("sfd"), "{e}");
}
