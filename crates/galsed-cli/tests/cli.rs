//! End-to-end tests of the `galsed` binary against the reference pack (spec §7), at the
//! tolerances of spec §6.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use galsed_core::params::unit_to_physical;
use ndarray::{Array2, ArrayD, Ix2, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter};

mod common;
use common::{s, text};

/// Spectra: |a−b| ≤ 1e−4·|b| + 1e−6·max_row|b|.
const SPEC_RTOL: f64 = 1e-4;
const SPEC_ATOL_ROW: f64 = 1e-6;
const MAG_TOL: f64 = 1e-4;
const ATT_TOL: f64 = 1e-5;
const LOGP_TOL: f64 = 1e-5;
const DISTMOD_Z005: &str = "36.80751187885012";

/// The 20 filters of the golden photometry, in order.
const FILTERS20: &str = "galex_FUV,galex_NUV,sdss_u0,sdss_g0,sdss_r0,sdss_i0,sdss_z0,twomass_J,\
twomass_H,twomass_Ks,wise_w1,wise_w2,wise_w3,wise_w4,herschel_pacs_70,herschel_pacs_100,\
herschel_pacs_160,herschel_spire_250,herschel_spire_350,herschel_spire_500";

/// The reference pack: in `../shared` beside the repository, or under `GALSED_SHARED` (as for
/// `bench/compare.sh`, e.g. from a git worktree that has no `shared/` beside it).
fn reference() -> PathBuf {
    std::env::var_os("GALSED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("reference/starduster")
}

fn original() -> PathBuf {
    reference().join("original")
}

fn golden_inputs() -> PathBuf {
    reference().join("golden/inputs.npz")
}

/// `galsed sed` on the golden inputs (clipped, as the reference) with the 20 reference filters,
/// writing `out`, plus `extra` options.
fn sed_golden(tmp: &Path, out: &Path, extra: &[&str]) {
    let inputs = golden_inputs();
    let mut args = vec![
        "sed",
        "--input",
        s(&inputs),
        "--output",
        s(out),
        "--clip-inputs",
    ];
    args.extend_from_slice(&["--filters", FILTERS20]);
    args.extend_from_slice(extra);
    ok(galsed(tmp, &args));
}

/// Runs galsed with the published model from GALSED_MODEL_DIR and an empty user cache.
fn galsed_in(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galsed"))
        .args(args)
        .env("GALSED_MODEL_DIR", original())
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .output()
        .expect("run galsed")
}

fn galsed(tmp: &Path, args: &[&str]) -> Output {
    galsed_in(&tmp.join("cache"), args)
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "galsed failed:\n{}", text(&o));
    o
}

/// Runs galsed expecting failure with an error (not a panic) that says so; returns stderr.
fn fails(o: Output) -> String {
    let err = common::fails(o);
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// Numeric members of an npz file as float64.
fn npz(path: &Path) -> HashMap<String, ArrayD<f64>> {
    let mut r =
        NpzReader::new(File::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))).unwrap();
    let mut out = HashMap::new();
    for name in r.names().unwrap() {
        let a: ArrayD<f64> = if let Ok(a) = r.by_name::<OwnedRepr<f32>, _>(&name) {
            a.mapv(f64::from)
        } else if let Ok(a) = r.by_name::<OwnedRepr<f64>, _>(&name) {
            a
        } else {
            continue;
        };
        out.insert(name, a);
    }
    out
}

fn get2(m: &HashMap<String, ArrayD<f64>>, key: &str) -> Array2<f64> {
    m.get(key)
        .unwrap_or_else(|| panic!("missing {key}"))
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap()
}

fn get1(m: &HashMap<String, ArrayD<f64>>, key: &str) -> Vec<f64> {
    m.get(key)
        .unwrap_or_else(|| panic!("missing {key}"))
        .iter()
        .copied()
        .collect()
}

/// Spectrum tolerance; returns the worst |a−b| / (rtol|b| + atol·max_row|b|).
fn check_spectra(name: &str, a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "{name}: shape");
    let mut worst: f64 = 0.0;
    for (ra, rb) in a.rows().into_iter().zip(b.rows()) {
        let rmax = rb.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in ra.iter().zip(rb.iter()) {
            let tol = SPEC_RTOL * y.abs() + SPEC_ATOL_ROW * rmax;
            let q = if tol > 0.0 {
                (x - y).abs() / tol
            } else if x == y {
                0.0
            } else {
                f64::INFINITY
            };
            worst = worst.max(q);
        }
    }
    assert!(worst <= 1.0, "{name}: worst error is {worst} × tolerance");
    worst
}

/// Max |a−b| (infinities must match exactly).
fn check_abs(name: &str, a: &[f64], b: &[f64], tol: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "{name}: length");
    let mut worst: f64 = 0.0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x.is_infinite() || y.is_infinite() {
            assert_eq!(x, y, "{name}[{i}]");
            continue;
        }
        let d = (x - y).abs();
        assert!(d <= tol, "{name}[{i}]: {x} vs {y} (|Δ| = {d} > {tol})");
        worst = worst.max(d);
    }
    worst
}

fn check_rel(name: &str, a: &[f64], b: &[f64], tol: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "{name}: length");
    let mut worst: f64 = 0.0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = (x - y).abs() / y.abs().max(1e-300);
        assert!(d <= tol, "{name}[{i}]: {x} vs {y} (rel {d} > {tol})");
        worst = worst.max(d);
    }
    worst
}

#[test]
fn golden_inputs_npz_with_clipping() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.npz");
    sed_golden(
        tmp.path(),
        &out,
        &[
            "--component",
            "combine,dust_free",
            "--outputs",
            "spectrum,photometry,absorption,selectors,attenuation",
        ],
    );
    let got = npz(&out);
    let gold = npz(&reference().join("golden/sed_base_f32.npz"));
    let w = check_spectra(
        "spectrum",
        &get2(&got, "spectrum"),
        &get2(&gold, "sed_combine_lum"),
    );
    let wf = check_spectra(
        "spectrum_dust_free",
        &get2(&got, "spectrum_dust_free"),
        &get2(&gold, "sed_dust_free_lum"),
    );
    let m = check_abs(
        "photometry",
        &get1(&got, "photometry"),
        &get1(&gold, "phot_ab_z0"),
        MAG_TOL,
    );
    let mf = check_abs(
        "photometry_dust_free",
        &get1(&got, "photometry_dust_free"),
        &get1(&gold, "phot_ab_z0_dust_free"),
        MAG_TOL,
    );
    check_rel(
        "frac_abs",
        &get1(&got, "frac_abs"),
        &get1(&gold, "frac_abs"),
        1e-5,
    );
    check_rel("L_IR", &get1(&got, "L_IR"), &get1(&gold, "L_IR"), 1e-5);
    check_abs(
        "log_p_in_disk",
        &get1(&got, "log_p_in_disk"),
        &get1(&gold, "log_p_in_disk"),
        LOGP_TOL,
    );
    check_abs(
        "log_p_in_bulge",
        &get1(&got, "log_p_in_bulge"),
        &get1(&gold, "log_p_in_bulge"),
        LOGP_TOL,
    );
    check_abs(
        "att_curve",
        &get1(&got, "att_curve"),
        &get1(&gold, "att_curve_lt1um"),
        ATT_TOL,
    );
    check_abs(
        "att_curve_lam_um",
        &get1(&got, "att_curve_lam_um"),
        &get1(&gold, "att_curve_lam_um"),
        0.0,
    );
    check_abs(
        "att_V",
        &get1(&got, "att_V"),
        &get1(&gold, "att_V_5450_5550"),
        ATT_TOL,
    );
    let lam: Vec<f64> = get1(&got, "lam_um")
        .iter()
        .map(|&l| f64::from(l as f32))
        .collect();
    check_abs("lam_um", &lam, &get1(&gold, "lam_um"), 0.0);
    assert_eq!(get1(&got, "filter_pivot_um").len(), 20);
    eprintln!("worst spectrum error {w:.3}/{wf:.3} × tol; magnitudes {m:.2e}/{mf:.2e} mag");

    // The string members are there (numpy reads them as '<U' arrays).
    let zip = std::fs::read(&out).unwrap();
    let has = |k: &[u8]| zip.windows(k.len()).any(|w| w == k);
    assert!(has(b"filters.npy") && has(b"spectrum_units.npy") && has(b"photometry_units.npy"));
}

#[test]
fn sed_gives_the_same_numbers_on_one_thread_and_two() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one.npz"), tmp.path().join("two.npz"));
    sed_golden(tmp.path(), &one, &["--threads", "1", "--chunk-size", "7"]);
    sed_golden(tmp.path(), &two, &["--threads", "2", "--chunk-size", "7"]);
    let (a, b) = (npz(&one), npz(&two));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let err = fails(galsed(
        tmp.path(),
        &[
            "sed",
            "--input",
            s(&golden_inputs()),
            "--output",
            s(&one),
            "--threads",
            "0",
        ],
    ));
    assert!(err.contains("--threads"), "{err}");
}

#[test]
fn out_of_range_inputs_are_refused_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.npz");
    let err = fails(galsed(
        tmp.path(),
        &["sed", "--input", s(&golden_inputs()), "--output", s(&out)],
    ));
    assert!(err.contains("row 71"), "{err}");
    assert!(err.contains("--clip-inputs"), "{err}");
    assert!(
        err.contains("outside [-1, 1]") && err.contains("theta"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn redshift_and_distance_modulus() {
    let tmp = tempfile::tempdir().unwrap();
    let gold = npz(&reference().join("golden/sed_base_f32.npz"));
    for (tag, extra) in [
        ("explicit", vec!["--distmod", DISTMOD_Z005]),
        ("planck18", vec![]),
    ] {
        let out = tmp.path().join(format!("{tag}.npz"));
        let mut args = vec!["--redshift", "0.05", "--units", "fnu"];
        args.extend(extra);
        sed_golden(tmp.path(), &out, &args);
        let got = npz(&out);
        check_abs(
            tag,
            &get1(&got, "photometry"),
            &get1(&gold, "phot_ab_z0.05"),
            MAG_TOL,
        );
        check_spectra(
            tag,
            &get2(&got, "spectrum"),
            &get2(&gold, "sed_combine_fnu_z0.05"),
        );
        check_abs(
            "lam_obs_um",
            &get1(&got, "lam_obs_um"),
            &get1(&gold, "lam_um_z0.05"),
            0.0,
        );
        let mu = get1(&got, "distmod")[0];
        assert!((mu - 36.80751187885012).abs() < 1e-8, "{tag}: distmod {mu}");
    }
    // Fluxes instead of magnitudes.
    let out = tmp.path().join("flux.npz");
    sed_golden(
        tmp.path(),
        &out,
        &["--mag", "flux", "--outputs", "photometry"],
    );
    let got = get1(&npz(&out), "photometry");
    check_rel("phot_fnu_z0", &got, &get1(&gold, "phot_fnu_z0"), MAG_TOL);
}

/// Golden rows 0–63 (all inside the domain) written as a physical-units CSV.
fn physical_csv(path: &Path, rows: usize) {
    let inp = npz(&golden_inputs());
    let (gp, sd, sb) = (
        get2(&inp, "gp"),
        get2(&inp, "sfh_disk"),
        get2(&inp, "sfh_bulge"),
    );
    let mut text = String::from("# golden rows in physical units\nid,");
    let mut cols: Vec<String> = [
        "theta",
        "den_dust",
        "r_dust_to_rd",
        "r_disk",
        "r_bulge",
        "l_norm",
        "b_to_t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cols.extend((0..36).map(|k| format!("sfh_disk_{k}")));
    cols.extend((0..36).map(|k| format!("sfh_bulge_{k}")));
    // Columns in a shuffled order: bulge SFH first.
    let order: Vec<usize> = (79 - 36..79).chain(0..79 - 36).collect();
    text.push_str(
        &order
            .iter()
            .map(|&i| cols[i].as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    text.push('\n');
    for i in 0..rows {
        let u: [f64; 7] = std::array::from_fn(|j| gp[[i, j]]);
        let x = unit_to_physical(&u);
        let mut vals: Vec<String> = x.iter().map(|v| format!("{v:e}")).collect();
        vals.extend(sd.row(i).iter().map(|v| format!("{v:e}")));
        vals.extend(sb.row(i).iter().map(|v| format!("{v:e}")));
        text.push_str(&format!("gal{i},"));
        text.push_str(
            &order
                .iter()
                .map(|&j| vals[j].as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The numeric columns of a CSV file (all but `id`): header and rows.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep = |i: &usize| names[*i] != "id";
    let header = (0..names.len())
        .filter(keep)
        .map(|i| names[i].to_owned())
        .collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| keep(i))
                .map(|(_, v)| {
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.parse().unwrap()
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn physical_csv_round_trip_and_csv_parquet_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("galaxies.csv");
    physical_csv(&input, 64);
    let gold = npz(&reference().join("golden/sed_base_f32.npz"));
    let out = tmp.path().join("out.csv");
    let o = ok(galsed(
        tmp.path(),
        &[
            "sed",
            "--input",
            s(&input),
            "--output",
            s(&out),
            "--filters",
            FILTERS20,
            "--outputs",
            "spectrum,photometry,absorption,attenuation",
        ],
    ));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("out_spectrum.csv"), "{stderr}");

    // The input's ids, beside the row numbers.
    let text = std::fs::read_to_string(&out).unwrap();
    let ids: Vec<&str> = text.lines().map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(ids[..3], ["id", "gal0", "gal1"]);
    assert_eq!(ids.len(), 65);
    let (header, rows) = read_csv(&out);
    assert_eq!(header[0], "row");
    assert_eq!(header[1], "galex_FUV");
    assert_eq!(header[20], "herschel_spire_500");
    assert_eq!(&header[21..], ["frac_abs", "L_IR", "att_V"]);
    assert_eq!(rows.len(), 64);
    let phot_gold = get2(&gold, "phot_ab_z0");
    let mut worst: f64 = 0.0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i as f64);
        let gold_row: Vec<f64> = phot_gold.row(i).to_vec();
        worst = worst.max(check_abs("csv photometry", &r[1..21], &gold_row, MAG_TOL));
    }
    let frac: Vec<f64> = rows.iter().map(|r| r[21]).collect();
    check_rel("csv frac_abs", &frac, &get1(&gold, "frac_abs")[..64], 1e-5);
    eprintln!("CSV (physical units) photometry: worst |Δm| = {worst:.2e} mag");

    // Long-format spectra: row, lam_um, lam_obs_um, spectrum, att_curve.
    let (header, rows) = read_csv(&tmp.path().join("out_spectrum.csv"));
    assert_eq!(
        header,
        ["row", "lam_um", "lam_obs_um", "spectrum", "att_curve"]
    );
    assert_eq!(rows.len(), 64 * 495);
    let spec = Array2::from_shape_vec((64, 495), rows.iter().map(|r| r[3]).collect()).unwrap();
    let sed_gold = get2(&gold, "sed_combine_lum")
        .slice(ndarray::s![..64, ..])
        .to_owned();
    check_spectra("csv spectrum", &spec, &sed_gold);
    let att: Vec<f64> = rows
        .iter()
        .filter(|r| !r[4].is_nan())
        .map(|r| r[4])
        .collect();
    let att_gold = get2(&gold, "att_curve_lt1um")
        .slice(ndarray::s![..64, ..])
        .to_owned();
    check_abs("csv att_curve", &att, att_gold.as_slice().unwrap(), ATT_TOL);

    // The same input as parquet: spectra as fixed-size list columns, grid in the metadata.
    let pq = tmp.path().join("out.parquet");
    ok(galsed(
        tmp.path(),
        &[
            "sed",
            "--input",
            s(&input),
            "--output",
            s(&pq),
            "--filters",
            "sdss_r0,wise_w1",
        ],
    ));
    let file = File::open(&pq).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let meta = reader.schema().metadata().clone();
    let lam: Vec<f64> = serde_json::from_str(&meta["galsed.lam_um"]).unwrap();
    assert_eq!(lam.len(), 495);
    assert_eq!(meta["galsed.filters"], r#"["sdss_r0","wise_w1"]"#);
    let batches: Vec<_> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 64);
    let b = &batches[0];
    let ids = b.column_by_name("id").unwrap();
    let ids = ids
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(ids.value(5), "gal5");
    let r0 = b.column_by_name("sdss_r0").unwrap();
    let r0 = r0
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    check_abs(
        "parquet sdss_r0",
        &[r0.value(0)],
        &[phot_gold[[0, 4]]],
        MAG_TOL,
    );
    let spec = b.column_by_name("spectrum").unwrap();
    let spec = spec
        .as_any()
        .downcast_ref::<arrow_array::FixedSizeListArray>()
        .unwrap();
    assert_eq!(spec.value_length(), 495);
    let first = spec.value(0);
    let first = first
        .as_any()
        .downcast_ref::<arrow_array::Float32Array>()
        .unwrap();
    let a = Array2::from_shape_vec(
        (1, 495),
        first.values().iter().map(|&v| f64::from(v)).collect(),
    )
    .unwrap();
    check_spectra(
        "parquet spectrum",
        &a,
        &sed_gold.slice(ndarray::s![..1, ..]).to_owned(),
    );
}

#[test]
fn unit_space_csv_and_all_components() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = npz(&golden_inputs());
    let (gp, sd, sb) = (
        get2(&inp, "gp"),
        get2(&inp, "sfh_disk"),
        get2(&inp, "sfh_bulge"),
    );
    let mut text = String::from("theta,den_dust,r_dust_to_rd,r_disk,r_bulge,l_norm,b_to_t");
    for c in ["disk", "bulge"] {
        for k in 0..36 {
            text.push_str(&format!(",sfh_{c}_{k}"));
        }
    }
    text.push('\n');
    for i in 0..4 {
        let row: Vec<String> = gp
            .row(i)
            .iter()
            .chain(sd.row(i))
            .chain(sb.row(i))
            .map(|v| v.to_string())
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    let input = tmp.path().join("unit.csv");
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out.npz");
    ok(galsed(
        tmp.path(),
        &[
            "sed",
            "--input",
            s(&input),
            "--input-space",
            "unit",
            "--output",
            s(&out),
            "--component",
            "all",
        ],
    ));
    let got = npz(&out);
    let gold = npz(&reference().join("golden/sed_base_f32.npz"));
    for comp in ["combine", "dust_free", "dust_attenuation", "dust_emission"] {
        let key = if comp == "combine" {
            "spectrum".to_owned()
        } else {
            format!("spectrum_{comp}")
        };
        let g = get2(&gold, &format!("sed_{comp}_lum"))
            .slice(ndarray::s![..4, ..])
            .to_owned();
        check_spectra(&key, &get2(&got, &key), &g);
    }
    assert!(!got.contains_key("photometry"));
}

fn write_npz(path: &Path, gp: Array2<f64>, sd: Array2<f64>, sb: Array2<f64>) {
    let mut w = NpzWriter::new(File::create(path).unwrap());
    w.add_array("gp", &gp).unwrap();
    w.add_array("sfh_disk", &sd).unwrap();
    w.add_array("sfh_bulge", &sb).unwrap();
    w.finish().unwrap();
}

fn uniform(n: usize) -> Array2<f64> {
    Array2::from_elem((n, 36), 1.0 / 36.0)
}

#[test]
fn bad_inputs_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out.npz");
    let run = |input: &Path, extra: &[&str]| {
        let mut args = vec!["sed", "--input", s(input), "--output", s(&out)];
        args.extend_from_slice(extra);
        fails(galsed(t, &args))
    };

    let nan = t.join("nan.npz");
    let mut gp = Array2::zeros((3, 7));
    gp[[2, 3]] = f64::NAN;
    write_npz(&nan, gp, uniform(3), uniform(3));
    let e = run(&nan, &["--clip-inputs"]);
    assert!(
        e.contains("row 2") && e.contains("r_disk") && e.contains("NaN"),
        "{e}"
    );

    let narrow = t.join("narrow.npz");
    write_npz(&narrow, Array2::zeros((3, 6)), uniform(3), uniform(3));
    let e = run(&narrow, &[]);
    assert!(
        e.contains("'gp'") && e.contains("(3, 6)") && e.contains("7 columns"),
        "{e}"
    );

    let rows = t.join("rows.npz");
    write_npz(&rows, Array2::zeros((3, 7)), uniform(2), uniform(3));
    let e = run(&rows, &[]);
    assert!(e.contains("sfh_disk") && e.contains("2 rows"), "{e}");

    let neg = t.join("neg.npz");
    let mut sd = uniform(2);
    sd[[1, 4]] = -0.01;
    write_npz(&neg, Array2::zeros((2, 7)), sd, uniform(2));
    let e = run(&neg, &[]);
    assert!(
        e.contains("row 1") && e.contains("sfh_disk[4] = -0.01"),
        "{e}"
    );

    let good = t.join("good.npz");
    write_npz(&good, Array2::zeros((2, 7)), uniform(2), uniform(2));
    let e = run(&good, &["--filters", "sdss_x0"]);
    assert!(e.contains("sdss_x0"), "{e}");

    let far_uv = t.join("far_uv.dat");
    std::fs::write(
        &far_uv,
        "# wavelength [A] transmission\n90 0\n100 1\n110 1\n120 0\n",
    )
    .unwrap();
    let e = run(&good, &["--filters", &format!("sdss_r0,{}", s(&far_uv))]);
    assert!(
        e.contains("far_uv") && e.contains("does not overlap"),
        "{e}"
    );

    let e = run(&good, &["--model", s(&t.join("no-such-dir"))]);
    assert!(
        e.contains("no-such-dir") && e.contains("does not exist"),
        "{e}"
    );

    let e = run(&good, &["--grid", "medium"]);
    assert!(e.contains("--grid"), "{e}");

    // CSV: a row with a missing field, a non-number, a missing column, an unphysical value.
    let csv = t.join("bad.csv");
    let header = {
        let mut c = vec![
            "theta",
            "den_dust",
            "r_dust_to_rd",
            "r_disk",
            "r_bulge",
            "l_norm",
            "b_to_t",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        c.extend((0..36).map(|k| format!("sfh_disk_{k}")));
        c.extend((0..36).map(|k| format!("sfh_bulge_{k}")));
        c.join(",")
    };
    let sfh = vec!["0.02777777777777778"; 72].join(",");
    let good_row = format!("30,1e5,1,3,1,1e10,0.2,{sfh}");
    std::fs::write(
        &csv,
        format!("{header}\n{good_row}\n30,1e5,1,3,1,1e10,{sfh}\n"),
    )
    .unwrap();
    let e = run(&csv, &[]);
    assert!(
        e.contains("line 3") && e.contains("78 fields") && e.contains("79 columns"),
        "{e}"
    );

    std::fs::write(
        &csv,
        format!("{header}\n{good_row}\n30,1e5,one,3,1,1e10,0.2,{sfh}\n"),
    )
    .unwrap();
    let e = run(&csv, &[]);
    assert!(
        e.contains("line 3") && e.contains("r_dust_to_rd") && e.contains("\"one\""),
        "{e}"
    );

    std::fs::write(&csv, format!("{}\n", header.replace("sfh_bulge_7,", ""))).unwrap();
    let e = run(&csv, &[]);
    assert!(
        e.contains("missing column") && e.contains("sfh_bulge_7"),
        "{e}"
    );

    std::fs::write(
        &csv,
        format!("{header}\n{good_row}\n30,1e5,1,-3,1,1e10,0.2,{sfh}\n"),
    )
    .unwrap();
    let e = run(&csv, &["--clip-inputs"]);
    assert!(
        e.contains("row 1 (line 3)") && e.contains("r_disk = -3"),
        "{e}"
    );

    std::fs::write(
        &csv,
        format!("{header}\n{good_row}\n30,1e5,1,500,1,1e10,0.2,{sfh}\n"),
    )
    .unwrap();
    let e = run(&csv, &[]);
    assert!(
        e.contains("r_disk = 500 kpc is outside the model's range"),
        "{e}"
    );

    // No model anywhere: GALSED_MODEL_DIR unset and an empty cache.
    let o = Command::new(env!("CARGO_BIN_EXE_galsed"))
        .args(["sed", "--input", s(&good), "--output", s(&out)])
        .env_remove("GALSED_MODEL_DIR")
        .env("XDG_CACHE_HOME", t.join("empty-cache"))
        .env("HOME", t.join("empty-home"))
        .output()
        .unwrap();
    let e = fails(o);
    assert!(
        e.contains("no model files found") && e.contains("galsed model fetch"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn demo_fits_ngc628_from_the_shipped_photometry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = ok(galsed(tmp.path(), &["demo", "--out", s(&dir)]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for f in ["NGC_0628.png", "NGC_0628_corner.png"] {
        assert!(stdout.contains(f), "{stdout}");
        let png = std::fs::read(dir.join(f)).unwrap();
        assert!(
            png.len() > 10_000 && png.starts_with(b"\x89PNG"),
            "{f}: {} bytes",
            png.len()
        );
    }
    assert!(stdout.contains("obs−model [mag]") && stdout.contains("spitzer_mips_24"));
    // Residuals are signed with the true minus sign, as the headings and plots are.
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("(o−m)/σ"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        rows.len() > 10 && rows.iter().any(|l| l.contains('−')),
        "{stdout}"
    );
    assert!(rows.iter().all(|l| !l.contains('-')), "{stdout}");
    // The demo's copy of the galaxy is the shipped row (embedded in the binary), with its licence.
    let shipped = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/kingfish/kingfish.csv"),
    )
    .unwrap();
    let copy = std::fs::read_to_string(dir.join("ngc628_catalog.csv")).unwrap();
    let mut lines = copy.lines();
    assert_eq!(lines.next(), shipped.lines().next());
    let row = lines.next().unwrap();
    assert!(row.starts_with("NGC_0628,") && shipped.lines().any(|l| l == row));
    let notice = std::fs::read_to_string(dir.join("ngc628_catalog.LICENSE")).unwrap();
    assert!(notice.contains("Dale et al. 2017") && notice.contains("MIT License"));

    let res = csv_rows(&std::fs::read_to_string(dir.join("demo_fit.csv")).unwrap());
    assert_eq!(res[0]["status"], "ok");
    assert_eq!(res[0]["n_bands"], "24");
    let get = |k: &str| -> f64 { res[0][k].parse().unwrap() };
    // A good fit of 24 bands with 15 parameters: χ² ≈ 24 was measured; 3× the band count is a failure.
    assert!(get("chi2") < 72.0, "χ² = {}", get("chi2"));
    // Loose ranges around the measured fit (m_star 1.7e10 M_sun, SFR 1.2 M_sun/yr, L_dust 7e9 L_sun).
    assert!((1e9..1e11).contains(&get("m_star")), "{}", get("m_star"));
    assert!((0.05..10.0).contains(&get("sfr")), "{}", get("sfr"));
    assert!((1e9..1e11).contains(&get("l_ir")), "{}", get("l_ir"));
    for k in ["m_star", "sfr", "l_ir", "att_v", "theta"] {
        assert!(get(&format!("{k}_p16")) <= get(&format!("{k}_p84")), "{k}");
    }
}

#[test]
fn demo_fits_a_mock_galaxy_reproducibly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = ok(galsed(tmp.path(), &["demo", "--mock", "--out", s(&dir)]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("mock.png") && stdout.contains("mock_corner.png"),
        "{stdout}"
    );
    for f in ["mock.png", "mock_corner.png"] {
        let png = std::fs::read(dir.join(f)).unwrap();
        assert!(
            png.len() > 10_000 && png.starts_with(b"\x89PNG"),
            "{f}: {} bytes",
            png.len()
        );
    }
    let catalog = csv_rows(&std::fs::read_to_string(dir.join("mock_catalog.csv")).unwrap());
    assert_eq!(catalog.len(), 1);
    assert!(catalog[0].contains_key("wise_w3_err"));
    let first = std::fs::read_to_string(dir.join("demo_fit.csv")).unwrap();
    let res = csv_rows(&first);
    assert_eq!(res[0]["status"], "ok");
    let chi2: f64 = res[0]["chi2"].parse().unwrap();
    // 19 bands with 0.1 mag noise: χ² of a good fit is ≈ 19 − 11; 3× the band count means failure.
    assert!(chi2.is_finite() && chi2 < 57.0, "χ² = {chi2}");
    // The luminosity is the best-constrained parameter: the truth lies within 0.05 of the fit.
    let truth: f64 = catalog[0]["truth_l_norm"].parse().unwrap();
    let fit: f64 = res[0]["par_l_norm"].parse().unwrap();
    assert!(
        (fit - truth).abs() < 0.05,
        "l_norm: fit {fit}, truth {truth}"
    );

    // Same seed, SVG plots: identical numbers.
    ok(galsed(
        tmp.path(),
        &["demo", "--mock", "--out", s(&dir), "--format", "svg"],
    ));
    let second = std::fs::read_to_string(dir.join("demo_fit.csv")).unwrap();
    assert_eq!(first, second, "the demo is not reproducible from its seed");
    let svg = std::fs::read_to_string(dir.join("mock.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("dust emission"));
}

/// Rows of a CSV text as maps from column name to cell.
fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
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
fn fetch_import_and_native_model_give_identical_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let fetched = t.join("fetched");
    let o = ok(galsed(
        t,
        &[
            "model",
            "fetch",
            "--from",
            s(&original()),
            "--dest",
            s(&fetched),
        ],
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verified"));
    // Second fetch: nothing to do.
    ok(galsed(
        t,
        &[
            "model",
            "fetch",
            "--from",
            s(&original()),
            "--dest",
            s(&fetched),
        ],
    ));

    let native = t.join("native");
    ok(galsed(
        t,
        &[
            "model",
            "import",
            "--model",
            s(&fetched),
            "--to",
            s(&native),
        ],
    ));
    let e = fails(galsed(
        t,
        &[
            "model",
            "import",
            "--model",
            s(&fetched),
            "--to",
            s(&native),
        ],
    ));
    assert!(e.contains("already holds a model"), "{e}");

    let info = ok(galsed(t, &["model", "info", "--model", s(&native)]));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("galsed native") && info.contains("--model") && info.contains("2086"),
        "{info}"
    );
    let info = ok(galsed(t, &["model", "info"]));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("GALSED_MODEL_DIR") && info.contains("sha256"),
        "{info}"
    );

    let run = |model: &Path, out: &Path| {
        ok(galsed(
            t,
            &[
                "sed",
                "--input",
                s(&golden_inputs()),
                "--output",
                s(out),
                "--clip-inputs",
                "--model",
                s(model),
                "--filters",
                "default19",
                "--grid",
                "auto",
                "--outputs",
                "all",
            ],
        ));
        npz(out)
    };
    let a = run(&original(), &t.join("a.npz"));
    let b = run(&native, &t.join("b.npz"));
    assert_eq!(a.len(), b.len());
    for (k, v) in &a {
        let w = &b[k];
        assert!(
            v.iter()
                .zip(w.iter())
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan())),
            "{k} differs between the published and the native model"
        );
    }
    assert_eq!(a["spectrum"].shape(), &[72, 2086]);
}

#[test]
fn filters_list_and_show() {
    let tmp = tempfile::tempdir().unwrap();
    let o = ok(galsed(tmp.path(), &["filters", "list"]));
    let list = String::from_utf8_lossy(&o.stdout);
    let line = list
        .lines()
        .find(|l| l.starts_with("sdss_r0 "))
        .expect("sdss_r0 listed");
    let pivot: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((pivot - 0.617499).abs() < 1e-4, "{line}");

    let o = ok(galsed(tmp.path(), &["filters", "show", "wise_w1"]));
    let show = String::from_utf8_lossy(&o.stdout);
    assert!(show.contains("# filter: wise_w1") && show.contains("pivot wavelength"));
    let e = fails(galsed(tmp.path(), &["filters", "show", "wise_w9"]));
    assert!(e.contains("wise_w9"), "{e}");
}

/// `galsed bench` names the CPU, prints no ratio of its own, and divides by the PyTorch timings of
/// `--torch` (the median of several rows of one case), for the forward model and the posterior.
#[test]
fn bench_cpu_header_and_ratios_only_from_torch_file() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("bench.csv");
    let fwd = [
        "bench",
        "--grid",
        "base",
        "--output",
        "photometry",
        "--threads",
        "1",
        "--batch",
        "1",
        "--reps",
        "2",
        "--csv",
    ];
    let mut args = fwd.to_vec();
    args.push(s(&csv));
    let o = ok(galsed(tmp.path(), &args));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("# CPU: "), "{out}");
    assert!(out.contains("of peak") && !out.contains("ratio"), "{out}");
    let table = std::fs::read_to_string(&csv).unwrap();
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("cpu_model,isa,lanes,fma_pipes,mhz,grid,output"));
    assert!(!header.contains("ratio"), "{header}");
    assert_eq!(table.lines().count(), 2);

    let torch = tmp.path().join("torch.csv");
    std::fs::write(
        &torch,
        "tag,grid,output,threads,batch,median_s
         round=1,base,photometry19,1,1,0.02
         round=2,base,photometry19,1,1,0.01
         round=3,base,photometry19,1,1,0.005
         round=1,base,nlp_forward_b1,1,1,0.004
",
    )
    .unwrap();
    args.extend(["--torch", s(&torch)]);
    let o = ok(galsed(tmp.path(), &args));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ratio"));
    let table = std::fs::read_to_string(&csv).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let torch_rate: f64 = row[col("torch_seds_per_s")].parse().unwrap();
    assert!((torch_rate - 100.0).abs() < 1e-9, "{torch_rate}");
    let rate: f64 = row[col("seds_per_s")].parse().unwrap();
    let ratio: f64 = row[col("ratio")].parse().unwrap();
    assert!((ratio - rate / 100.0).abs() < 1e-9 * ratio);

    let fit = tmp.path().join("fit.csv");
    let o = ok(galsed(
        tmp.path(),
        &[
            "bench",
            "--fit",
            "--fit-tasks",
            "posterior",
            "--grid",
            "base",
            "--torch",
            s(&torch),
            "--csv",
            s(&fit),
        ],
    ));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[nlp_forward_b32]"), "{out}");
    let table = std::fs::read_to_string(&fit).unwrap();
    let b1 = table
        .lines()
        .find(|l| l.contains(",nlp_forward_b1,"))
        .expect("the one-vector posterior");
    let ratio: f64 = b1.rsplit(',').next().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{b1}");
    let b32 = table
        .lines()
        .find(|l| l.contains(",nlp_forward_b32,"))
        .unwrap();
    assert!(b32.ends_with(",,"), "no PyTorch row, no ratio: {b32}");

    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "grid,output,batch
base,spectrum,1
",
    )
    .unwrap();
    let e = fails(galsed(tmp.path(), &["bench", "--torch", s(&bad)]));
    assert!(e.contains("threads"), "{e}");
}

/// A small valid npz input (two galaxies at the centre of the unit space).
fn good_npz(dir: &Path) -> PathBuf {
    let good = dir.join("good.npz");
    write_npz(&good, Array2::zeros((2, 7)), uniform(2), uniform(2));
    good
}

/// A negative redshift reaches galsed's own check (not clap's "unexpected argument '-0'").
#[test]
fn negative_redshifts_are_refused_by_our_check() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let good = good_npz(t);
    let out = t.join("out.npz");
    let e = fails(galsed(
        t,
        &[
            "sed",
            "--input",
            s(&good),
            "--output",
            s(&out),
            "--redshift",
            "-0.1",
        ],
    ));
    assert!(
        e.contains("--redshift") && e.contains("must be finite and ≥ 0, got -0.1"),
        "{e}"
    );
}

/// Beyond z = 1 the model's assumptions fail: `sed` still runs, with a warning; below, silently.
#[test]
fn high_redshifts_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let good = good_npz(t);
    let out = t.join("out.npz");
    let run = |z: &str| {
        let o = ok(galsed(
            t,
            &[
                "sed",
                "--input",
                s(&good),
                "--output",
                s(&out),
                "--redshift",
                z,
            ],
        ));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run("25");
    assert!(
        e.contains("warning: --redshift 25 is beyond z = 1") && e.contains("intergalactic"),
        "{e}"
    );
    let e = run("0.5");
    assert!(!e.contains("warning"), "{e}");
}

/// A missing source: one error, said once, and no empty destination left behind.
#[test]
fn fetch_from_a_missing_directory_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let dest = t.join("X");
    let missing = t.join("nonexistent");
    let o = galsed(
        t,
        &["model", "fetch", "--from", s(&missing), "--dest", s(&dest)],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        e.matches("nonexistent").count(),
        2,
        "the source and the error: {e}"
    );
    assert!(
        e.contains("nonexistent") && e.contains("is not a directory"),
        "{e}"
    );
    assert!(!dest.exists(), "{e}");
}

/// A truncated npz names the problem once, not once per link of the error chain.
#[test]
fn truncated_npz_errors_do_not_repeat_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bytes = std::fs::read(golden_inputs()).unwrap();
    let cut = t.join("cut.npz");
    std::fs::write(&cut, &bytes[..3000]).unwrap();
    let e = fails(galsed(
        t,
        &["sed", "--input", s(&cut), "--output", s(&t.join("o.npz"))],
    ));
    assert!(e.contains("not a valid .npz archive"), "{e}");
    assert_eq!(e.matches("invalid Zip archive").count(), 1, "{e}");
}
