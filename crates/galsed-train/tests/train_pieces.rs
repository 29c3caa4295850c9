//! The pieces of training checked against independent computations: losses by hand, the
//! one-cycle schedule against PyTorch's `OneCycleLR` formula, Savitzky–Golay against scipy, and
//! the training-set layout (npz round trip, preparation, split, bad input).

use burn::prelude::*;
use galsed_train::data::{Part, Preparation, TrainingSet, keys};
use galsed_train::losses;
use galsed_train::savgol::SavGol;
use galsed_train::schedule::{OneCycle, OneCycleConfig};
use ndarray::Array2;

fn t2(rows: &[&[f32]]) -> Tensor<2> {
    let w = rows[0].len();
    let data: Vec<f32> = rows.iter().flat_map(|r| r.to_vec()).collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), w]), &Device::flex())
}

fn t1(v: &[f32]) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "[{i}] {g} vs {w} (tol {tol})"
        );
    }
}

#[test]
fn max_abs_by_hand() {
    let pred = t2(&[&[0.1, 0.5, -0.2], &[1.0, 1.0, 1.0]]);
    let target = t2(&[&[0.0, 0.2, 0.3], &[1.0, 0.25, 1.5]]);
    // Row 0: |0.1|, |0.3|, |−0.5| → 0.5; row 1: 0, 0.75, 0.5 → 0.75.
    close(&vals(losses::max_abs(pred, target)), &[0.5, 0.75], 1e-7);
}

#[test]
fn kl_trapz_by_hand() {
    // p = (0, 0.5, 1, 0.5), q = (0.25, 0.5, 0.5, 1), dx = 0.5. Integrand p·ln(p/q) =
    // (0, 0, ln 2, 0.5·ln 0.5); trapezoid = dx·(Σ − (first + last)/2).
    let p = t2(&[&[0.0, 0.5, 1.0, 0.5]]);
    let q = t2(&[&[0.25, 0.5, 0.5, 1.0]]);
    let ln2 = std::f64::consts::LN_2;
    let f = [0.0, 0.0, ln2, -0.5 * ln2];
    let want = 0.5 * (f.iter().sum::<f64>() - (f[0] + f[3]) / 2.0);
    close(&vals(losses::kl_trapz(p.clone(), q, 0.5)), &[want], 1e-6);
    // Identical shapes diverge by nothing, even with zeros in both.
    close(&vals(losses::kl_trapz(p.clone(), p, 0.5)), &[0.0], 0.0);
    // A prediction that underflows to 0 where the target is positive stays finite (floored log).
    let big = vals(losses::kl_trapz(
        t2(&[&[1.0, 1.0]]),
        t2(&[&[0.0, 1.0]]),
        1.0,
    ));
    assert!(big[0].is_finite() && big[0] > 30.0, "{big:?}");
}

#[test]
fn binary_kl_and_bce_by_hand() {
    let (p, q) = ([0.3f32, 0.0, 1.0, 0.8], [0.5f32, 0.2, 0.9, 0.8]);
    let want: Vec<f64> = p
        .iter()
        .zip(&q)
        .map(|(&p, &q)| {
            let (p, q) = (f64::from(p), f64::from(q));
            let a = if p > 0.0 { p * (p / q).ln() } else { 0.0 };
            let b = if p < 1.0 {
                (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln()
            } else {
                0.0
            };
            a + b
        })
        .collect();
    close(&vals(losses::binary_kl(t1(&p), t1(&q))), &want, 1e-6);

    let z = [2.0f32, -3.0, 0.0, 40.0, -40.0];
    let y = [1.0f32, 1.0, 0.0, 0.0, 0.0];
    let want: Vec<f64> = z
        .iter()
        .zip(&y)
        .map(|(&z, &y)| {
            let s = 1.0 / (1.0 + (-f64::from(z)).exp());
            let y = f64::from(y);
            // −[y ln s + (1−y) ln(1−s)], with ln(1−s) = −z − ln(1+e^−z) for large z.
            -(y * s.ln() + (1.0 - y) * (-f64::from(z) - (-f64::from(z)).exp().ln_1p()))
        })
        .collect();
    close(&vals(losses::bce_with_logits(t1(&z), t1(&y))), &want, 1e-6);
}

/// Values of PyTorch's `OneCycleLR.get_lr` (torch/optim/lr_scheduler.py, two phases, cosine),
/// evaluated in float64 by a transcription of its code.
#[test]
fn one_cycle_matches_pytorch_formula() {
    let s = OneCycle::new(1e-2, 100, OneCycleConfig::default()).unwrap();
    let want = [
        (0, 0.0003999999999999993),
        (1, 0.00042813780565907275),
        (5, 0.001087085554395571),
        (28, 0.009971862194340927),
        (29, 0.01),
        (30, 0.009994965352845242),
        (31, 0.009979871550490316),
        (60, 0.005892800902855287),
        (98, 5.07464715475788e-06),
        (99, 4e-08),
    ];
    for (step, lr) in want {
        assert!(
            (s.lr(step) - lr).abs() <= 1e-15 * lr.max(1e-3),
            "step {step}: {} vs {lr}",
            s.lr(step)
        );
    }
    let cfg = OneCycleConfig {
        pct_start: 0.25,
        ..OneCycleConfig::default()
    };
    let s = OneCycle::new(3e-3, 37, cfg).unwrap();
    for (step, lr) in [
        (0, 0.00011999999999999988),
        (3, 0.0009618023812772835),
        (7, 0.00283992304606309),
        (8, 0.002993479568505242),
        (20, 0.0018573924575831988),
        (36, 1.2e-08),
    ] {
        assert!(
            (s.lr(step) - lr).abs() <= 1e-15 * lr.max(1e-3),
            "step {step}: {} vs {lr}",
            s.lr(step)
        );
    }
    // As a burn scheduler: one rate per step, in order.
    use burn::lr_scheduler::LrScheduler;
    let mut sched = OneCycle::new(1e-2, 100, OneCycleConfig::default()).unwrap();
    let first: Vec<f64> = (0..3).map(|_| sched.step()).collect();
    assert_eq!(first, vec![s_lr(0), s_lr(1), s_lr(2)]);
    let mut resumed = OneCycle::new(1e-2, 100, OneCycleConfig::default()).unwrap();
    resumed.load_record(sched.to_record());
    assert_eq!(resumed.step(), sched.step());

    assert!(OneCycle::new(0.0, 100, OneCycleConfig::default()).is_err());
    assert!(OneCycle::new(1e-3, 2, OneCycleConfig::default()).is_err());
    // The shortest schedules: pct_start·total − 1 must be > 0.
    for (pct, min) in [(0.3, 4), (0.5, 3), (0.25, 5), (0.9, 2)] {
        let cfg = OneCycleConfig {
            pct_start: pct,
            ..OneCycleConfig::default()
        };
        assert_eq!(cfg.min_steps(), min, "pct_start {pct}");
        assert!(OneCycle::new(1e-3, min, cfg).is_ok(), "pct_start {pct}");
        let e = OneCycle::new(1e-3, min - 1, cfg).unwrap_err();
        assert!(e.contains(&format!("at least {min}")), "{e}");
    }
}

fn s_lr(step: usize) -> f64 {
    OneCycle::new(1e-2, 100, OneCycleConfig::default())
        .unwrap()
        .lr(step)
}

/// `scipy.signal.savgol_filter(x, window, order)` (scipy 1.17, mode 'interp').
#[test]
fn savgol_matches_scipy() {
    let x = [0.3, 1.7, 2.2, 2.9, 4.4, 3.1, 2.0, 1.1, 0.7, 0.2, -0.5, 0.4];
    let scipy_5_2 = [
        0.47714285714285665,
        1.33142857142857,
        2.242857142857141,
        3.259999999999998,
        3.8342857142857127,
        3.3571428571428554,
        1.9742857142857126,
        1.1771428571428564,
        0.6571428571428567,
        0.037142857142856894,
        -0.0514285714285716,
        0.2028571428571433,
    ];
    let scipy_7_3 = [
        0.42142857142857065,
        1.3333333333333344,
        2.4047619047619064,
        3.3190476190476215,
        3.514285714285717,
        3.1571428571428597,
        2.3000000000000016,
        1.238095238095239,
        0.48571428571428615,
        -0.0023809523809510402,
        -0.11666666666666492,
        0.25952380952381127,
    ];
    for ((w, o), want) in [((5, 2), scipy_5_2), ((7, 3), scipy_7_3)] {
        let mut y = x;
        SavGol::new(w, o).unwrap().apply(&mut y).unwrap();
        close(&y, &want, 1e-12);
    }
}

/// A small synthetic set: 6 samples, everything present.
fn small_set() -> TrainingSet {
    let lam: Vec<f64> = (0..495)
        .map(|i| 0.10111 * (0.0232831f64 * i as f64).exp())
        .collect();
    let n = 6;
    let params = Array2::from_shape_fn((n, 7), |(i, j)| ((i * 7 + j) as f64 * 0.37).sin());
    // Curves 1 mag at the blue end falling to `k100` at the red end.
    let k100 = [0.005, 0.5, 0.003, 0.04, 0.0, 0.3];
    let curve = Array2::from_shape_fn((n, 297), |(i, j)| 1.0 + (k100[i] - 1.0) * j as f64 / 296.0);
    let sfh = Array2::from_elem((n, 36), 1.0 / 36.0);
    let y = Array2::from_shape_fn((n, 495), |(i, j)| {
        (-(j as f64 - 300.0 - i as f64).powi(2) / 800.0).exp()
    });
    TrainingSet {
        lam,
        params,
        curve_disk: Some(curve.clone()),
        curve_bulge: Some(curve * 0.5),
        sfh_disk: Some(sfh.clone()),
        sfh_bulge: Some(sfh),
        frac_abs: Some(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        dust_emission: Some(y),
        valid_disk: None,
        valid_bulge: Some(vec![true, true, true, true, true, false]),
        valid_emission: None,
    }
}

#[test]
fn npz_round_trip_and_split() {
    let set = small_set();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.npz");
    set.write_npz(&path).unwrap();
    let back = TrainingSet::read_npz(&path).unwrap();
    assert_eq!(back.params, set.params);
    assert_eq!(back.lam, set.lam);
    assert_eq!(back.valid_bulge, set.valid_bulge);
    // Curves and spectra are stored as float32.
    let c = back.curve_disk.as_ref().unwrap();
    assert!(
        c.iter()
            .zip(set.curve_disk.as_ref().unwrap())
            .all(|(a, b)| *a == f64::from(*b as f32))
    );

    let (t1, v1) = set.split(1.0 / 3.0, 7).unwrap();
    let (t2, v2) = set.split(1.0 / 3.0, 7).unwrap();
    assert_eq!((t1.len(), v1.len()), (4, 2));
    assert_eq!((&t1, &v1), (&t2, &v2), "the same seed gives the same split");
    let rows = |s: &TrainingSet| s.params.column(0).to_vec();
    let mut all: Vec<f64> = rows(&t1).into_iter().chain(rows(&v1)).collect();
    all.sort_by(f64::total_cmp);
    let mut want = rows(&set);
    want.sort_by(f64::total_cmp);
    assert_eq!(all, want, "train and validation partition the set");
    assert!(set.split(0.0, 1).is_err() && set.split(0.01, 1).is_err());
}

#[test]
fn preparation_excludes_smooths_and_normalises() {
    let mut set = small_set();
    let prep = Preparation {
        smooth_curves: Some(SavGol::new(9, 2).unwrap()),
        smooth_emission: Some(SavGol::new(5, 2).unwrap()),
        max_k100: Some(0.01),
    };
    let report = set.prepare(&prep).unwrap();
    // k(100 µm) is read at the last curve point (99.5 µm): 0.5, 0.04 and 0.3 exceed 0.01 for the
    // disk; halved for the bulge, 0.25 and 0.02 do (0.15 was invalid already).
    assert_eq!(set.k100_index(), 296);
    assert_eq!(report.excluded_k100, [3, 2]);
    assert_eq!(report.invalid_before, [0, 1]);
    assert_eq!(
        set.valid(Part::Disk),
        vec![true, false, true, false, true, false]
    );
    assert_eq!(
        set.valid(Part::Bulge),
        vec![true, false, true, false, true, false]
    );
    assert_eq!(report.valid_all, 3);
    // Straight lines survive the smoothing; the emission integrates to 1 over ln λ.
    let c = set.curve_disk.as_ref().unwrap();
    assert!((c[[0, 0]] - 1.0).abs() < 1e-12 && (c[[0, 296]] - 0.005).abs() < 1e-12);
    let ln: Vec<f64> = set.lam.iter().map(|l| l.ln()).collect();
    let y = set.dust_emission.as_ref().unwrap().row(2).to_vec();
    let integral: f64 = ln
        .windows(2)
        .zip(y.windows(2))
        .map(|(x, v)| (x[1] - x[0]) * (v[0] + v[1]) / 2.0)
        .sum();
    assert!((integral - 1.0).abs() < 1e-12, "{integral}");
}

#[test]
fn bad_sets_are_refused_with_the_member_named() {
    let err = |s: TrainingSet| s.check().unwrap_err().to_string();
    let mut s = small_set();
    s.params[[2, 3]] = 1.5;
    assert!(err(s).contains("params[2, 3] = 1.5"));
    let mut s = small_set();
    s.curve_disk.as_mut().unwrap()[[1, 4]] = f64::NAN;
    assert!(err(s).contains("curve_disk[1, 4]"));
    // NaN is allowed in a row labelled invalid.
    let mut s = small_set();
    s.curve_bulge.as_mut().unwrap()[[5, 4]] = f64::NAN;
    s.check().unwrap();
    let mut s = small_set();
    s.frac_abs.as_mut().unwrap()[0] = 1.2;
    assert!(err(s).contains("frac_abs[0, 0] = 1.2"));
    let mut s = small_set();
    s.sfh_bulge = None;
    assert!(err(s).contains("sfh_bulge"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npz");
    let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&path).unwrap());
    w.add_array(keys::PARAMS, &Array2::<f64>::zeros((3, 7)))
        .unwrap();
    w.finish().unwrap();
    let e = TrainingSet::read_npz(&path).unwrap_err().to_string();
    assert!(e.contains("bad.npz") && e.contains("'lam'"), "{e}");
    let e = TrainingSet::read_npz(&dir.path().join("missing.npz"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.npz"), "{e}");
}
