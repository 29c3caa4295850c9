//! The hand-written reverse pass of the parametrisations (`ParamTrace::vjp`) against
//! burn-autodiff through `Parametrization::apply`, for every boundary, block kind, SFH model,
//! metallicity model, fixed parameters and the shared SFH; the traced values against
//! `apply_rows` (bitwise) and the absorbing boundary's random stream.
//!
//! Tolerance: for each case (a parametrisation, random rows, one random cotangent) and each
//! parameter j, |vjp − autodiff| ≤ 1e−4 · s_j with s_j = max over the rows of |autodiff_j| (the
//! gradient's scale for that parameter), and exact agreement where s_j = 0. The autodiff pass
//! runs in float32, so its own rounding is ~1e−7 relative to the terms it sums; 1e−4 leaves
//! room for cancellations among those terms (the normalisations of the SFH grids) and nothing
//! more.
//!
//! burn-autodiff has process-wide state and must not run from parallel threads: every test
//! that uses it holds `AUTODIFF`.
//!
//! The SSP library: a synthetic one with the shape of the built-in library and light
//! normalisations spanning orders of magnitude; also the reference library when found (the
//! reference pack next to the repository, or the file named by `GALSED_SSP_NPZ`).

mod common;

use std::sync::Mutex;

use burn::prelude::*;
use galsed_core::ssp::SspLibrary;
use galsed_fit::params::{
    Boundary, MhConfig, ParamConfig, ParamTrace, Parametrization, SfhConfig,
};
use ndarray::{Array2, Array3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

static AUTODIFF: Mutex<()> = Mutex::new(());

/// Relative tolerance of the comparison with autodiff (see the module docs).
const RTOL: f64 = 1e-4;

fn synthetic_ssp() -> SspLibrary {
    let met = vec![5e-5, 2e-4, 1e-3, 4e-3, 1e-2, 2.5e-2];
    let tau = vec![2.2e6, 1.5e7, 1e8, 4e8, 1.5e9, 6.3e9];
    let edges = vec![1e6, 5e6, 4e7, 2e8, 8e8, 3e9, 1.4e10];
    // L/M falls by ~4 orders of magnitude with age and varies with metallicity.
    let norm = Array2::from_shape_fn((6, 6), |(m, a)| {
        10f64.powf(1.5 - 0.8 * a as f64 + 0.07 * m as f64 - 0.02 * (m * a) as f64)
    });
    SspLibrary::new(
        vec![0.1, 1.0],
        met,
        tau,
        edges,
        Array3::ones((2, 6, 6)),
        norm,
        (0..300).map(|i| 0.1 * 1.03f64.powi(i)).collect(),
    )
    .expect("synthetic library")
}

fn libraries() -> Vec<(&'static str, SspLibrary)> {
    let mut v = vec![("synthetic", synthetic_ssp())];
    let path = std::env::var_os("GALSED_SSP_NPZ").map_or_else(
        || common::reference().join("ssp/ssp_library.npz"),
        std::path::PathBuf::from,
    );
    if path.exists() {
        v.push(("reference", SspLibrary::from_npz(&path).expect("SSP library")));
    } else {
        eprintln!("reference SSP library not found at {path:?}: synthetic library only");
    }
    v
}

/// Every SFH configuration: discrete (per age, merged bins with a gap, one and two bins, with
/// and without simplex), interpolated, exponential and delayed exponential (several n_sub).
fn sfh_configs() -> Vec<(&'static str, SfhConfig)> {
    let d = |bins: Option<Vec<[usize; 2]>>, simplex| SfhConfig::Discrete { bins, simplex };
    vec![
        ("discrete", d(None, false)),
        ("discrete simplex", d(None, true)),
        ("discrete 1 bin", d(Some(vec![[1, 4]]), false)),
        ("discrete 2 bins", d(Some(vec![[0, 2], [2, 6]]), true)),
        ("discrete 3 bins gap", d(Some(vec![[0, 2], [2, 3], [4, 6]]), false)),
        (
            "discrete 4 bins simplex",
            d(Some(vec![[0, 1], [1, 3], [3, 5], [5, 6]]), true),
        ),
        ("interpolated", SfhConfig::Interpolated {}),
        ("exponential n_sub 16", SfhConfig::Exponential { n_sub: 16 }),
        ("exponential n_sub 1", SfhConfig::Exponential { n_sub: 1 }),
        (
            "delayed n_sub 16",
            SfhConfig::DelayedExponential { n_sub: 16 },
        ),
        ("delayed n_sub 3", SfhConfig::DelayedExponential { n_sub: 3 }),
    ]
}

const BOUNDARIES: [Boundary; 4] = [
    Boundary::Clipping,
    Boundary::Reflecting,
    Boundary::Absorbing,
    Boundary::None,
];

/// All configurations tested: every SFH × MH × shared × boundary, the vanilla grid with and
/// without simplex, and configurations with fixed parameters and narrowed bounds.
fn configs() -> Vec<(String, ParamConfig)> {
    let mut v = Vec::new();
    for boundary in BOUNDARIES {
        for shared in [false, true] {
            for (sname, sfh) in sfh_configs() {
                for (mname, mh) in [
                    ("interp mh", MhConfig::Interpolated {}),
                    ("closed box", MhConfig::ClosedBox {}),
                ] {
                    v.push((
                        format!("{sname} + {mname}, {}, shared {shared}", boundary.name()),
                        ParamConfig {
                            boundary,
                            shared_sfh: shared,
                            sfh: sfh.clone(),
                            mh: Some(mh),
                            seed: 11,
                            ..Default::default()
                        },
                    ));
                }
            }
            for simplex in [false, true] {
                v.push((
                    format!("vanilla simplex {simplex}, {}, shared {shared}", boundary.name()),
                    ParamConfig {
                        boundary,
                        shared_sfh: shared,
                        sfh: SfhConfig::Vanilla { simplex },
                        seed: 5,
                        ..Default::default()
                    },
                ));
            }
        }
        // Fixed parameters (galaxy, SFH and MH, disk and bulge) and narrowed bounds.
        v.push((
            format!("fixed, delayed + closed box, {}", boundary.name()),
            ParamConfig {
                boundary,
                sfh: SfhConfig::DelayedExponential { n_sub: 16 },
                mh: Some(MhConfig::ClosedBox {}),
                fixed: [
                    ("theta".to_string(), 40.0),
                    ("r_bulge".to_string(), 1.0),
                    ("log10_frac_disk".to_string(), -1.0),
                    ("log10_tau_bulge".to_string(), 9.5),
                ]
                .into(),
                bounds: [
                    ("l_norm".to_string(), [1e8, 1e11]),
                    ("log10_t0_disk".to_string(), [8.0, 10.0]),
                    ("log10_met_max_bulge".to_string(), [-1.0, 0.0]),
                ]
                .into(),
                ..Default::default()
            },
        ));
        v.push((
            format!("fixed, discrete simplex + interp mh, {}", boundary.name()),
            ParamConfig {
                boundary,
                sfh: SfhConfig::Discrete {
                    bins: Some(vec![[0, 2], [2, 3], [3, 6]]),
                    simplex: true,
                },
                fixed: [
                    ("b_to_t".to_string(), 0.3),
                    ("c_1_disk".to_string(), 0.4),
                    ("log_met_bulge".to_string(), -0.5),
                ]
                .into(),
                bounds: [("theta".to_string(), [10.0, 60.0])].into(),
                ..Default::default()
            },
        ));
        v.push((
            format!("fixed, interpolated shared, {}", boundary.name()),
            ParamConfig {
                boundary,
                shared_sfh: true,
                fixed: [("log_tau".to_string(), 8.3)].into(),
                bounds: [("log_met".to_string(), [-1.5, 0.0])].into(),
                ..Default::default()
            },
        ));
    }
    v
}

/// `n` random rows: inside the bounds, and (unless the boundary is `None`) about a quarter of
/// the values outside them by up to 30 % of the width; the last two rows put the galaxy
/// parameters exactly on their lower and upper bounds (the boundaries' tie rules).
fn random_rows(param: &Parametrization, boundary: Boundary, n: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let b = param.bounds();
    let n_gp = param.galaxy_block().n_free();
    let mut a = Array2::zeros((n, b.len()));
    for r in 0..n {
        for (j, &(lo, hi)) in b.iter().enumerate() {
            let mut u = 0.02 + 0.96 * rng.random::<f64>();
            if boundary != Boundary::None && rng.random::<f64>() < 0.25 {
                let d = 0.3 * rng.random::<f64>();
                u = if rng.random::<f64>() < 0.5 { -d } else { 1.0 + d };
            }
            a[[r, j]] = lo + u * (hi - lo);
        }
    }
    if boundary != Boundary::None && n >= 2 {
        for j in 0..n_gp {
            a[[n - 2, j]] = b[j].0;
            a[[n - 1, j]] = b[j].1;
        }
    }
    a
}

fn random_vec(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| (2.0 * rng.random::<f64>() - 1.0) as f32).collect()
}

/// ∂/∂p of Σ g·(gp, sfh_disk, sfh_bulge) by burn-autodiff through `apply` (the caller holds
/// `AUTODIFF`).
fn autodiff_grad(param: &Parametrization, p: &Array2<f64>, g: [&[f32]; 3]) -> Array2<f64> {
    let device = Device::flex().autodiff();
    let (n, w) = p.dim();
    let v: Vec<f32> = p.iter().map(|&x| x as f32).collect();
    let x = Tensor::<2>::from_data(TensorData::new(v, [n, w]), &device).require_grad();
    let out = param.apply(x.clone());
    let t = |g: &[f32], like: &Tensor<2>| {
        Tensor::<2>::from_data(TensorData::new(g.to_vec(), like.dims()), &device)
    };
    let loss = (out.gp.clone() * t(g[0], &out.gp)).sum()
        + (out.sfh_disk.clone() * t(g[1], &out.sfh_disk)).sum()
        + (out.sfh_bulge.clone() * t(g[2], &out.sfh_bulge)).sum();
    let grads = loss.backward();
    let gx = x.grad(&grads).expect("gradient of the parameters");
    let v = gx.into_data().try_into_vec::<f32>().expect("f32");
    Array2::from_shape_vec((n, w), v.into_iter().map(f64::from).collect()).unwrap()
}

/// Worst error over a case, as a fraction of the tolerance, with where it occurred.
#[derive(Default)]
struct Worst {
    ratio: f64,
    rel: f64,
    what: String,
}

/// Compares `vjp` with autodiff column by column (see the module docs); returns the worst
/// |vjp − autodiff| / s_j.
fn compare(name: &str, param: &Parametrization, got: &Array2<f64>, want: &Array2<f64>, worst: &mut Worst) {
    let names = param.names();
    for j in 0..got.ncols() {
        let scale = want.column(j).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for r in 0..got.nrows() {
            let (a, b) = (got[[r, j]], want[[r, j]]);
            assert!(
                a.is_finite() && b.is_finite(),
                "{name}: d/d{} row {r}: vjp {a}, autodiff {b}",
                names[j]
            );
            let d = (a - b).abs();
            let rel = if scale > 0.0 { d / scale } else if d == 0.0 { 0.0 } else { f64::INFINITY };
            if rel > worst.rel {
                worst.rel = rel;
                worst.ratio = rel / RTOL;
                worst.what = format!("{name}: d/d{} row {r}: vjp {a:e}, autodiff {b:e}, scale {scale:e}", names[j]);
            }
            assert!(
                rel <= RTOL,
                "{name}: d/d{} row {r}: vjp {a:e} vs autodiff {b:e} (scale {scale:e}, rel {rel:e})",
                names[j]
            );
        }
    }
}

fn check_config(lib: &str, ssp: &SspLibrary, name: &str, cfg: &ParamConfig, rng: &mut ChaCha8Rng, worst: &mut Worst) {
    let param = Parametrization::from_config(cfg, ssp)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let n = 6;
    let p = random_rows(&param, cfg.boundary, n, rng);
    for k in 0..3 {
        let name = format!("[{lib}] {name} (cotangent {k})");
        // The autodiff pass runs on a clone: the same absorbing draws.
        let twin = param.clone();
        let (gp, sd, sb, trace) = param.apply_rows_traced(p.view());
        assert_eq!(
            (gp.clone(), sd.clone(), sb.clone()),
            twin.clone().apply_rows(p.view()),
            "{name}: traced values"
        );
        let g = [
            random_vec(gp.len(), rng),
            random_vec(sd.len(), rng),
            random_vec(sb.len(), rng),
        ];
        let got = trace.vjp(&g[0], &g[1], &g[2]);
        let want = autodiff_grad(&twin, &p, [&g[0], &g[1], &g[2]]);
        compare(&name, &param, &got, &want, worst);
    }
}

#[test]
fn vjp_matches_autodiff() {
    let _guard = AUTODIFF.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut count = 0;
    for (lib, ssp) in libraries() {
        let mut worst = Worst::default();
        for (name, cfg) in configs() {
            check_config(lib, &ssp, &name, &cfg, &mut rng, &mut worst);
            count += 1;
        }
        eprintln!(
            "[{lib}] worst |vjp − autodiff| / scale = {:.3e} ({:.3} of the tolerance) at {}",
            worst.rel, worst.ratio, worst.what
        );
    }
    eprintln!("{count} configurations checked");
}

/// The clipping, reflecting and absorbing derivatives by hand on the galaxy block (the
/// identity), including the tie rules at the bounds.
#[test]
fn boundary_derivatives() {
    let ssp = synthetic_ssp();
    let g: Vec<f32> = (1..=7).map(|k| k as f32).collect();
    let zeros = vec![0.0f32; 36];
    for boundary in BOUNDARIES {
        let cfg = ParamConfig {
            boundary,
            ..Default::default()
        };
        let param = Parametrization::from_config(&cfg, &ssp).unwrap();
        let mut p = Array2::zeros((1, param.n_params()));
        p[[0, 7]] = 8.0;
        p[[0, 9]] = 8.0;
        // theta inside, den_dust below, r_dust_to_rd above, r_disk on lb, r_bulge on ub.
        p[[0, 0]] = 0.3;
        p[[0, 1]] = -1.5;
        p[[0, 2]] = 1.2;
        p[[0, 3]] = -1.0;
        p[[0, 4]] = 1.0;
        let (_, _, _, trace) = param.apply_rows_traced(p.view());
        let d = trace.vjp(&g, &zeros, &zeros);
        let slope: Vec<f64> = (0..5).map(|j| d[[0, j]] / f64::from(g[j])).collect();
        let want: Vec<f64> = match boundary {
            Boundary::None => vec![1.0; 5],
            // Clamped beyond ±(1 − 1e−6) of the half-width.
            Boundary::Clipping => vec![1.0, 0.0, 0.0, 0.0, 0.0],
            // p′ = lb + w(1 − e^q) left, lb + w·e^(1−q) from ub on (q = (p − lb)/w, w = 2).
            Boundary::Reflecting => vec![
                1.0,
                -(-0.25f64).exp(),
                -(-0.1f64).exp(),
                1.0,
                -1.0,
            ],
            // Kept in [lb, ub): the lower bound is kept, the upper one replaced.
            Boundary::Absorbing => vec![1.0, 0.0, 0.0, 1.0, 0.0],
        };
        for j in 0..5 {
            assert!(
                (slope[j] - want[j]).abs() < 1e-6,
                "{}: parameter {j}: slope {} want {}",
                boundary.name(),
                slope[j],
                want[j]
            );
        }
    }
}

/// apply_rows_traced consumes the absorbing stream exactly like apply_rows, and its values are
/// bitwise those of apply_rows, for every boundary.
#[test]
fn traced_values_and_stream() {
    let ssp = synthetic_ssp();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (name, cfg) in configs() {
        let a = Parametrization::from_config(&cfg, &ssp).unwrap();
        let b = a.clone();
        let p1 = random_rows(&a, cfg.boundary, 5, &mut rng);
        let p2 = random_rows(&a, cfg.boundary, 3, &mut rng);
        let (gp, sd, sb, trace) = a.apply_rows_traced(p1.view());
        assert_eq!(trace.n_rows(), 5);
        assert_eq!(trace.n_params(), a.n_params());
        assert_eq!((gp, sd, sb), b.apply_rows(p1.view()), "{name}: first call");
        assert_eq!(
            a.apply_rows(p2.view()),
            b.apply_rows(p2.view()),
            "{name}: the stream after the traced call"
        );
        // Empty batches draw nothing.
        let empty = Array2::<f64>::zeros((0, a.n_params()));
        let (gp, _, _, trace) = a.apply_rows_traced(empty.view());
        assert!(gp.is_empty());
        assert_eq!(trace.vjp(&[], &[], &[]).dim(), (0, a.n_params()));
        assert_eq!(a.apply_rows(p2.view()), b.apply_rows(p2.view()), "{name}: empty");
    }
}

/// The trace is plain data: usable from many threads at once, same results as on one.
#[test]
fn trace_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ParamTrace>();
    let ssp = synthetic_ssp();
    let cfg = ParamConfig {
        sfh: SfhConfig::DelayedExponential { n_sub: 16 },
        mh: Some(MhConfig::ClosedBox {}),
        boundary: Boundary::Absorbing,
        ..Default::default()
    };
    let param = Parametrization::from_config(&cfg, &ssp).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let p = random_rows(&param, cfg.boundary, 8, &mut rng);
    let (gp, sd, sb, trace) = param.apply_rows_traced(p.view());
    let g = [
        random_vec(gp.len(), &mut rng),
        random_vec(sd.len(), &mut rng),
        random_vec(sb.len(), &mut rng),
    ];
    let want = trace.vjp(&g[0], &g[1], &g[2]);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| trace.vjp(&g[0], &g[1], &g[2])))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), want);
        }
    });
}
