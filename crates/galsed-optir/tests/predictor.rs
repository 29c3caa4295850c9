//! The WISE predictors and the evaluation metrics on synthetic data with known truth.

use galsed_optir::evaluate::{
    self, MethodResult, P_HAT_PERFECT, Subset, band_stats, normal_cdf, pp_curve,
};
use galsed_optir::predictor::{Features, LinearPredictor, MlpConfig, MlpPredictor, WisePredictor};
use galsed_optir::survey::UNDETECTED_SIGMA;
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// A synthetic survey: 6 latents ~ N(0, 1), log10 norm ~ U(0, 2), z ~ U(0.02, 0.3);
/// W_b = −2.5 log10 norm + truth_b(x) + N(0, σ), σ ~ U(0.1, 0.3) per object and band;
/// W3 is undetected for ~20 % and W4 for ~60 % of the galaxies (value garbage, error 1e4).
struct Synthetic {
    features: Features,
    truth: Array2<f64>,
    wise: Array2<f64>,
    err: Array2<f64>,
}

fn nonlinear(x: &[f64], z: f64, b: usize) -> f64 {
    let a = [1.0, 0.8, 0.5, 0.3][b];
    let c = [0.6, 0.4, 0.9, 1.2][b];
    12.0 + b as f64 + a * x[0] + c * (1.5 * x[1]).tanh() + 0.4 * (x[2] - 0.5).max(0.0)
        - 0.3 * x[3] * c
        + 3.0 * z
}

fn linear(x: &[f64], z: f64, b: usize) -> f64 {
    12.0 + b as f64
        + (0..6)
            .map(|j| (j as f64 - 2.5) * 0.1 * (b + 1) as f64 * x[j])
            .sum::<f64>()
        + 2.0 * z
}

fn synthetic(
    n: usize,
    seed: u64,
    truth_fn: fn(&[f64], f64, usize) -> f64,
    noise: bool,
) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let gauss = Normal::new(0.0, 1.0).unwrap();
    let u01 = Uniform::new(0.0, 1.0).unwrap();
    let mut lat = Array2::<f32>::zeros((n, 6));
    let mut norm = Vec::new();
    let mut z = Vec::new();
    for i in 0..n {
        for j in 0..6 {
            lat[[i, j]] = gauss.sample(&mut rng) as f32;
        }
        norm.push(10f64.powf(2.0 * u01.sample(&mut rng)));
        z.push(0.02 + 0.28 * u01.sample(&mut rng));
    }
    let features = Features::from_latents(lat.view(), &norm, &z).unwrap();
    let mut truth = Array2::zeros((n, 4));
    let mut wise = Array2::zeros((n, 4));
    let mut err = Array2::zeros((n, 4));
    for i in 0..n {
        // The truth sees the inputs as the model does (float32).
        let x: Vec<f64> = (0..6).map(|j| f64::from(lat[[i, j]])).collect();
        let zi = f64::from(z[i] as f32);
        let offset = features.offset[i];
        for b in 0..4 {
            truth[[i, b]] = offset + truth_fn(&x, zi, b);
            let s = 0.1 + 0.2 * u01.sample(&mut rng);
            let detected = match b {
                2 => u01.sample(&mut rng) > 0.2,
                3 => u01.sample(&mut rng) > 0.6,
                _ => true,
            };
            if detected {
                err[[i, b]] = s;
                wise[[i, b]] = truth[[i, b]]
                    + if noise {
                        s * gauss.sample(&mut rng)
                    } else {
                        0.0
                    };
            } else {
                err[[i, b]] = UNDETECTED_SIGMA;
                wise[[i, b]] = 5.0 + 10.0 * u01.sample(&mut rng);
            }
        }
    }
    Synthetic {
        features,
        truth,
        wise,
        err,
    }
}

fn split_rows(n: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let s = galsed_optir::survey::split(n, 7);
    let pick = |w| (0..n).filter(|&i| s[i] == w).collect::<Vec<_>>();
    use galsed_optir::survey::Split::*;
    (pick(Train), pick(Validation), pick(Test))
}

fn fast_config(seed: u64, epochs: usize) -> MlpConfig {
    MlpConfig {
        epochs,
        batch_size: 128,
        learning_rate: 3e-3,
        patience: 40,
        seed,
        ..MlpConfig::default()
    }
}

#[test]
fn mlp_reaches_the_noise_floor() {
    let n = 6000;
    let d = synthetic(n, 1, nonlinear, true);
    let (train, valid, test) = split_rows(n);
    let mut epochs_seen = 0;
    let (mlp, report) = MlpPredictor::fit(
        &d.features,
        d.wise.view(),
        d.err.view(),
        &train,
        &valid,
        &fast_config(3, 400),
        &mut |_| epochs_seen += 1,
    )
    .unwrap();
    assert_eq!(epochs_seen, report.history.len());
    assert_eq!(mlp.n_parameters(), 684);
    let pred = mlp.predict(&d.features).unwrap();
    let stats = band_stats(d.wise.view(), d.err.view(), pred.view(), &test).unwrap();
    let lin = LinearPredictor::fit(&d.features, d.wise.view(), d.err.view(), &train).unwrap();
    let lin_pred = lin.predict(&d.features).unwrap();
    let lin_stats = band_stats(d.wise.view(), d.err.view(), lin_pred.view(), &test).unwrap();
    for (s, l) in stats.iter().zip(&lin_stats) {
        // χ² of N unit normals has mean 1 and sd √(2/N); p̂ has sd √(1/√3 − 1/2)/√N ≈ 0.278/√N.
        // Allow 4 sd of noise plus a small approximation error of the 684-parameter network.
        let nn = s.n as f64;
        let tol_chi2 = 4.0 * (2.0 / nn).sqrt();
        let tol_p = 4.0 * 0.278 / nn.sqrt();
        eprintln!(
            "W{}: n = {}, χ²_N = {:.3} (linear {:.3}), p̂ = {:.4}, best epoch {}",
            s.band + 1,
            s.n,
            s.chi2_n,
            l.chi2_n,
            s.p_hat,
            report.best_epoch
        );
        assert!(s.n > 150, "too few detections in W{}", s.band + 1);
        assert!(
            s.chi2_n > 1.0 - tol_chi2 && s.chi2_n < 1.0 + tol_chi2 + 0.1,
            "W{} χ²_N = {}",
            s.band + 1,
            s.chi2_n
        );
        assert!(
            (s.p_hat - P_HAT_PERFECT).abs() < tol_p + 0.02,
            "W{} p̂ = {}",
            s.band + 1,
            s.p_hat
        );
        // The truth is not linear: the linear baseline is clearly worse.
        assert!(
            l.chi2_n > s.chi2_n + 0.2,
            "linear W{} χ²_N = {} vs MLP {}",
            s.band + 1,
            l.chi2_n,
            s.chi2_n
        );
    }
    // Predictions close to the noise-free truth (RMS well below the smallest σ = 0.1).
    let rms = (test
        .iter()
        .map(|&r| (pred[[r, 0]] - d.truth[[r, 0]]).powi(2))
        .sum::<f64>()
        / test.len() as f64)
        .sqrt();
    assert!(rms < 0.05, "RMS W1 error to the truth {rms}");
}

#[test]
fn linear_model_is_exact_for_a_linear_truth() {
    let n = 500;
    let d = synthetic(n, 2, linear, false);
    let (train, _, test) = split_rows(n);
    let lin = LinearPredictor::fit(&d.features, d.wise.view(), d.err.view(), &train).unwrap();
    let pred = lin.predict(&d.features).unwrap();
    for &r in &test {
        for b in 0..4 {
            assert!(
                (pred[[r, b]] - d.truth[[r, b]]).abs() < 1e-8,
                "row {r} band {b}"
            );
        }
    }
    // With noise it still is unbiased: χ²_N ≈ 1 on the test set.
    let d = synthetic(4000, 3, linear, true);
    let (train, _, test) = split_rows(4000);
    let lin = LinearPredictor::fit(&d.features, d.wise.view(), d.err.view(), &train).unwrap();
    let pred = lin.predict(&d.features).unwrap();
    for s in band_stats(d.wise.view(), d.err.view(), pred.view(), &test).unwrap() {
        let tol = 4.0 * (2.0 / s.n as f64).sqrt() + 0.02;
        assert!(
            (s.chi2_n - 1.0).abs() < tol,
            "W{} χ²_N {}",
            s.band + 1,
            s.chi2_n
        );
    }
}

#[test]
fn undetected_values_do_not_influence_the_fits() {
    let n = 800;
    let d = synthetic(n, 4, nonlinear, true);
    let (train, valid, _) = split_rows(n);
    let mut wise2 = d.wise.clone();
    for i in 0..n {
        for b in 0..4 {
            if d.err[[i, b]] >= UNDETECTED_SIGMA {
                wise2[[i, b]] = if i % 2 == 0 { f64::NAN } else { -1e3 };
            }
        }
    }
    let l1 = LinearPredictor::fit(&d.features, d.wise.view(), d.err.view(), &train).unwrap();
    let l2 = LinearPredictor::fit(&d.features, wise2.view(), d.err.view(), &train).unwrap();
    assert_eq!(l1, l2);
    let cfg = fast_config(5, 4);
    let (m1, r1) = MlpPredictor::fit(
        &d.features,
        d.wise.view(),
        d.err.view(),
        &train,
        &valid,
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    let (m2, r2) = MlpPredictor::fit(
        &d.features,
        wise2.view(),
        d.err.view(),
        &train,
        &valid,
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(m1, m2);
    assert_eq!(r1.best_valid_nll, r2.best_valid_nll);
}

#[test]
fn mlp_is_seeded_and_saves() {
    let n = 600;
    let d = synthetic(n, 6, nonlinear, true);
    let (train, valid, _) = split_rows(n);
    let fit = |seed| {
        MlpPredictor::fit(
            &d.features,
            d.wise.view(),
            d.err.view(),
            &train,
            &valid,
            &fast_config(seed, 5),
            &mut |_| {},
        )
        .unwrap()
    };
    let (a, ra) = fit(11);
    let (b, rb) = fit(11);
    let (c, _) = fit(12);
    assert_eq!(a, b, "same seed, different weights");
    assert_eq!(
        ra.history.iter().map(|h| h.valid_nll).collect::<Vec<_>>(),
        rb.history.iter().map(|h| h.valid_nll).collect::<Vec<_>>()
    );
    assert_ne!(a.layers, c.layers);
    assert_eq!(MlpPredictor::count_parameters(8, &[20, 20]), 684);
    assert_eq!(a.n_parameters(), 684);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.json");
    a.save(&path).unwrap();
    let a2 = MlpPredictor::load(&path).unwrap();
    assert_eq!(a, a2);
    assert_eq!(
        a.predict(&d.features).unwrap(),
        a2.predict(&d.features).unwrap()
    );

    let lin = LinearPredictor::fit(&d.features, d.wise.view(), d.err.view(), &train).unwrap();
    let lpath = dir.path().join("linear.json");
    lin.save(&lpath).unwrap();
    let lin2 = LinearPredictor::load(&lpath).unwrap();
    assert_eq!(
        lin.predict(&d.features).unwrap(),
        lin2.predict(&d.features).unwrap()
    );
    // A linear model is not an MLP.
    assert!(MlpPredictor::load(&lpath).is_err());

    // Other hidden sizes.
    let cfg = MlpConfig {
        hidden: vec![7],
        ..fast_config(1, 2)
    };
    let (m, _) = MlpPredictor::fit(
        &d.features,
        d.wise.view(),
        d.err.view(),
        &train,
        &valid,
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(m.n_parameters(), 8 * 7 + 7 + 7 * 4 + 4);
}

#[test]
fn bad_inputs_are_refused() {
    let lat = Array2::<f32>::zeros((3, 6));
    let mut bad = lat.clone();
    bad[[1, 2]] = f32::NAN;
    let e = Features::from_latents(bad.view(), &[1.0; 3], &[0.1; 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("galaxy 1") && e.contains("column 2"), "{e}");
    assert!(Features::from_latents(lat.view(), &[1.0; 2], &[0.1; 3]).is_err());
    assert!(Features::from_latents(lat.view(), &[1.0, -1.0, 1.0], &[0.1; 3]).is_err());
    assert!(Features::from_ugriz(Array2::<f64>::zeros((3, 4)).view(), &[0.1; 3]).is_err());
    let ug = Features::from_ugriz(array![[18.0, 17.0, 16.5, 16.2, 16.0]].view(), &[0.1]).unwrap();
    assert_eq!(ug.offset, vec![16.5]);
    assert_eq!(ug.dim(), 6);

    let d = synthetic(200, 8, linear, true);
    let (train, valid, _) = split_rows(200);
    // Shape mismatch of the WISE arrays.
    let short = d.wise.slice(ndarray::s![..100, ..]).to_owned();
    assert!(LinearPredictor::fit(&d.features, short.view(), d.err.view(), &train).is_err());
    // A detected band with a NaN magnitude.
    let mut w = d.wise.clone();
    let r = train[0];
    w[[r, 0]] = f64::NAN;
    let e = LinearPredictor::fit(&d.features, w.view(), d.err.view(), &train)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("galaxy {r}")) && e.contains("W1"),
        "{e}"
    );
    assert!(
        MlpPredictor::fit(
            &d.features,
            w.view(),
            d.err.view(),
            &train,
            &valid,
            &fast_config(0, 1),
            &mut |_| {}
        )
        .is_err()
    );
    // No detection in W4.
    let mut e4 = d.err.clone();
    e4.column_mut(3).fill(UNDETECTED_SIGMA);
    let e = LinearPredictor::fit(&d.features, d.wise.view(), e4.view(), &train)
        .unwrap_err()
        .to_string();
    assert!(e.contains("W4"), "{e}");
    let e = MlpPredictor::fit(
        &d.features,
        d.wise.view(),
        e4.view(),
        &train,
        &valid,
        &fast_config(0, 1),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("W4"), "{e}");
    // Predicting from features of another width.
    let lin = LinearPredictor::fit(&d.features, d.wise.view(), d.err.view(), &train).unwrap();
    assert!(lin.predict(&ug).is_err());
}

#[test]
fn metrics_match_hand_computed_values() {
    let wise = array![
        [10.0, 11.0, 12.0, 13.0],
        [10.0, 11.0, 12.0, 13.0],
        [10.0, 11.0, 12.0, 13.0]
    ];
    let s = UNDETECTED_SIGMA;
    let err = array![[0.1, 0.2, s, 0.5], [0.1, 0.2, s, 0.5], [s, 0.2, s, s]];
    let pred = array![
        [10.1, 11.0, 0.0, 13.5],
        [9.8, 11.4, 99.0, 12.0],
        [f64::NAN, 11.2, f64::NAN, f64::NAN]
    ];
    let st = band_stats(wise.view(), err.view(), pred.view(), &[0, 1, 2]).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // W1: χ = 1, −2.
    assert_eq!(st[0].n, 2);
    assert!(close(st[0].chi[0], 1.0) && close(st[0].chi[1], -2.0));
    assert!(close(st[0].chi2_n, 2.5));
    assert!(close(
        st[0].p_hat,
        ((-0.5f64).exp() + (-2.0f64).exp()) / 2.0
    ));
    // W2: χ = 0, 2, 1.
    assert_eq!(st[1].n, 3);
    assert!(close(st[1].chi2_n, 5.0 / 3.0));
    assert!(close(
        st[1].p_hat,
        (1.0 + (-2.0f64).exp() + (-0.5f64).exp()) / 3.0
    ));
    // W3: nothing detected.
    assert_eq!(st[2].n, 0);
    assert!(st[2].chi2_n.is_nan());
    // W4: χ = 1, −2 on rows 0, 1.
    assert!(close(st[3].chi2_n, 2.5));
    // Subset of rows.
    let st1 = band_stats(wise.view(), err.view(), pred.view(), &[1]).unwrap();
    assert!(close(st1[0].chi2_n, 4.0) && close(st1[0].p_hat, (-2.0f64).exp()));

    // PP curve of χ = (1, −2).
    let pp = pp_curve(&st[0].chi);
    assert!((pp.u[0] - 0.022_750_13).abs() < 1e-6 && (pp.u[1] - 0.841_344_75).abs() < 1e-6);
    assert_eq!(pp.ecdf, vec![0.5, 1.0]);
    assert!((pp.max_deviation - (0.5 - 0.022_750_13)).abs() < 1e-6);
    assert!((normal_cdf(0.0) - 0.5).abs() < 1e-9);

    // A detected band with a NaN prediction, and a row out of range.
    let mut p2 = pred.clone();
    p2[[0, 1]] = f64::NAN;
    assert!(band_stats(wise.view(), err.view(), p2.view(), &[0]).is_err());
    assert!(band_stats(wise.view(), err.view(), pred.view(), &[3]).is_err());
    assert!(
        band_stats(
            wise.view(),
            err.slice(ndarray::s![.., ..3]),
            pred.view(),
            &[0]
        )
        .is_err()
    );

    // Colour–colour: only rows 0 and 1 are detected in W1–W3? No: W3 is never detected.
    let cc = evaluate::colour_colour(wise.view(), err.view(), pred.view(), &[0, 1, 2]).unwrap();
    assert!(cc.rows.is_empty());
    let err3 = array![[0.1, 0.2, 0.3, s], [s, 0.2, 0.3, s], [0.1, 0.2, 0.3, s]];
    let cc = evaluate::colour_colour(wise.view(), err3.view(), pred.view(), &[0, 1]).unwrap();
    assert_eq!(cc.rows, vec![0]);
    assert_eq!(cc.data, vec![[-1.0, -1.0]]);
    assert!(close(cc.predicted[0][0], 11.0) && close(cc.predicted[0][1], -0.9));

    // The report: long format, CSV and Markdown.
    let subsets = vec![
        Subset {
            name: "all".into(),
            description: "all".into(),
            rows: vec![0, 1, 2],
        },
        Subset {
            name: "first".into(),
            description: "row 0".into(),
            rows: vec![0],
        },
    ];
    let methods = vec![
        MethodResult {
            name: "model".into(),
            predictions: pred.clone(),
        },
        MethodResult {
            name: "truth".into(),
            predictions: wise.clone(),
        },
    ];
    let rep = evaluate::evaluate_subsets(wise.view(), err.view(), &subsets, &methods).unwrap();
    assert_eq!(rep.rows.len(), 2 * 2 * 4);
    assert!(close(rep.get("model", "all", "W1").unwrap().chi2_n, 2.5));
    assert!(close(rep.get("model", "first", "W1").unwrap().chi2_n, 1.0));
    assert!(close(rep.get("truth", "all", "W2").unwrap().p_hat, 1.0));
    assert_eq!(rep.details.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.csv");
    rep.write_csv(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("method,split,band,n,chi2_n,p_hat,pp_max_deviation\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 17);
    let md = rep.to_markdown();
    assert!(md.contains("| model | all | 2.50 / "), "{md}");
    assert_eq!(
        md.lines()
            .filter(|l| l.starts_with("| model") || l.starts_with("| truth"))
            .count(),
        4
    );
    // Predictions of the wrong shape.
    let bad = vec![MethodResult {
        name: "bad".into(),
        predictions: Array2::zeros((2, 4)),
    }];
    assert!(evaluate::evaluate_subsets(wise.view(), err.view(), &subsets, &bad).is_err());
}

#[test]
fn dn4000_separates_red_from_blue_spectra() {
    let loglam = galsed_optir::survey::sdss_loglam();
    let z = 0.1;
    // F_ν ∝ step at 3975 Å rest: ratio 2 (red) or 1.2 (blue); F_λ = F_ν / λ².
    let spec = |ratio: f64| {
        let f: Vec<f32> = loglam
            .iter()
            .map(|&l| {
                let rest = 10f64.powf(l) / (1.0 + z);
                let fnu = if rest < 3975.0 { 1.0 } else { ratio };
                (fnu / (rest * rest) * 1e7) as f32
            })
            .collect();
        ndarray::Array1::from(f)
    };
    let ivar = ndarray::Array1::<f32>::ones(loglam.len());
    let red = spec(2.0);
    let d = evaluate::dn4000(&loglam, red.view(), ivar.view(), z).unwrap();
    assert!((d - 2.0).abs() < 1e-4, "{d}");
    assert_eq!(
        evaluate::star_forming_from_spectrum(&loglam, red.view(), ivar.view(), z),
        Some(false)
    );
    let blue = spec(1.2);
    assert_eq!(
        evaluate::star_forming_from_spectrum(&loglam, blue.view(), ivar.view(), z),
        Some(true)
    );
    // Masked break: not measurable.
    let none = ndarray::Array1::<f32>::zeros(loglam.len());
    assert_eq!(evaluate::dn4000(&loglam, blue.view(), none.view(), z), None);
}
