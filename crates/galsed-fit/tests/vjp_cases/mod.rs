//! Cases shared by the tests of the hand-written reverse pass (`param_vjp.rs` against float32
//! autodiff, `param_vjp_f64.rs` against float64 autodiff): SSP libraries, every parametrisation
//! variant, random rows and cotangents, the autodiff gradient and the comparison.
//!
//! The SSP library: a synthetic one with the shape of the built-in library and light
//! normalisations spanning orders of magnitude; also the reference library when found (the
//! reference pack next to the repository, or the file named by `GALSED_SSP_NPZ`).
#![allow(dead_code)]

use std::sync::Mutex;

use burn::prelude::*;
use galsed_core::ssp::SspLibrary;
use galsed_fit::params::{Boundary, MhConfig, ParamConfig, Parametrization, SfhConfig};
use ndarray::{Array2, Array3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// burn-autodiff has process-wide state and must not run from parallel threads: every test
/// that uses it holds this lock.
pub static AUTODIFF: Mutex<()> = Mutex::new(());

pub fn synthetic_ssp() -> SspLibrary {
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

pub fn libraries() -> Vec<(&'static str, SspLibrary)> {
    let mut v = vec![("synthetic", synthetic_ssp())];
    let path = std::env::var_os("GALSED_SSP_NPZ").map_or_else(
        || crate::common::reference().join("ssp/ssp_library.npz"),
        std::path::PathBuf::from,
    );
    if path.exists() {
        v.push((
            "reference",
            SspLibrary::from_npz(&path).expect("SSP library"),
        ));
    } else {
        eprintln!("reference SSP library not found at {path:?}: synthetic library only");
    }
    v
}

/// Every SFH configuration: discrete (per age, merged bins with a gap, one and two bins, with
/// and without simplex), interpolated, exponential and delayed exponential (several n_sub).
pub fn sfh_configs() -> Vec<(&'static str, SfhConfig)> {
    let d = |bins: Option<Vec<[usize; 2]>>, simplex| SfhConfig::Discrete { bins, simplex };
    vec![
        ("discrete", d(None, false)),
        ("discrete simplex", d(None, true)),
        ("discrete 1 bin", d(Some(vec![[1, 4]]), false)),
        ("discrete 2 bins", d(Some(vec![[0, 2], [2, 6]]), true)),
        (
            "discrete 3 bins gap",
            d(Some(vec![[0, 2], [2, 3], [4, 6]]), false),
        ),
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
        (
            "delayed n_sub 3",
            SfhConfig::DelayedExponential { n_sub: 3 },
        ),
    ]
}

pub const BOUNDARIES: [Boundary; 4] = [
    Boundary::Clipping,
    Boundary::Reflecting,
    Boundary::Absorbing,
    Boundary::None,
];

/// All configurations tested: every SFH × MH × shared × boundary, the vanilla grid with and
/// without simplex, and configurations with fixed parameters and narrowed bounds.
pub fn configs() -> Vec<(String, ParamConfig)> {
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
                    format!(
                        "vanilla simplex {simplex}, {}, shared {shared}",
                        boundary.name()
                    ),
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
                sfh: SfhConfig::Interpolated {},
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
pub fn random_rows(
    param: &Parametrization,
    boundary: Boundary,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Array2<f64> {
    let b = param.bounds();
    let n_gp = param.galaxy_block().n_free();
    let mut a = Array2::zeros((n, b.len()));
    for r in 0..n {
        for (j, &(lo, hi)) in b.iter().enumerate() {
            let mut u = 0.02 + 0.96 * rng.random::<f64>();
            if boundary != Boundary::None && rng.random::<f64>() < 0.25 {
                let d = 0.3 * rng.random::<f64>();
                u = if rng.random::<f64>() < 0.5 {
                    -d
                } else {
                    1.0 + d
                };
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

pub fn random_vec(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n)
        .map(|_| (2.0 * rng.random::<f64>() - 1.0) as f32)
        .collect()
}

/// ∂/∂p of Σ g·(gp, sfh_disk, sfh_bulge) by burn-autodiff through `apply`, in the device's
/// float type (the caller holds `AUTODIFF`).
pub fn autodiff_grad(param: &Parametrization, p: &Array2<f64>, g: [&[f32]; 3]) -> Array2<f64> {
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
    let v = gx
        .into_data()
        .try_into_vec_as::<f64>()
        .expect("float gradient");
    Array2::from_shape_vec((n, w), v).unwrap()
}

/// How the error of a gradient is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Relative to the largest |gradient| of the parameter over the case's rows.
    Column,
    /// Relative to the largest |gradient| of the case (all rows and parameters).
    Case,
}

/// Worst error seen, relative to the scale, and where.
#[derive(Default)]
pub struct Worst {
    pub rel: f64,
    pub what: String,
    pub failures: Vec<String>,
}

/// Records |got − want| / scale for every entry; entries beyond `rtol` are failures.
pub fn compare(
    name: &str,
    param: &Parametrization,
    got: &Array2<f64>,
    want: &Array2<f64>,
    scale: Scale,
    rtol: f64,
    worst: &mut Worst,
) {
    let names = param.names();
    let absmax = |it: ndarray::iter::Iter<'_, f64, _>| it.fold(0.0f64, |m, v| m.max(v.abs()));
    let case_scale = absmax(want.iter());
    for j in 0..got.ncols() {
        let s = match scale {
            Scale::Column => want.column(j).iter().fold(0.0f64, |m, v| m.max(v.abs())),
            Scale::Case => case_scale,
        };
        for r in 0..got.nrows() {
            let (a, b) = (got[[r, j]], want[[r, j]]);
            let d = (a - b).abs();
            let rel = if d == 0.0 {
                0.0
            } else if s > 0.0 {
                d / s
            } else {
                f64::INFINITY
            };
            let what = format!(
                "{name}: d/d{} row {r}: vjp {a:e}, autodiff {b:e}, scale {s:e}, rel {rel:.2e}",
                names[j]
            );
            if !(a.is_finite() && b.is_finite()) || rel > rtol {
                worst.failures.push(what.clone());
            }
            if rel > worst.rel {
                worst.rel = rel;
                worst.what = what;
            }
        }
    }
}

/// Every configuration on every library: traced values bitwise equal to `apply_rows`, then the
/// reverse pass against autodiff for three random cotangents. Returns (number of cases, worst
/// error) after asserting that no entry exceeds `rtol`.
pub fn check_all(
    seed: u64,
    boundaries: &[Boundary],
    scale: Scale,
    rtol: f64,
    bitwise_values: bool,
) -> (usize, f64) {
    let _guard = AUTODIFF.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut count = 0;
    let mut overall = 0.0f64;
    let mut failures = Vec::new();
    for (lib, ssp) in libraries() {
        let mut worst = Worst::default();
        for (name, cfg) in configs() {
            if !boundaries.contains(&cfg.boundary) {
                continue;
            }
            let param =
                Parametrization::from_config(&cfg, &ssp).unwrap_or_else(|e| panic!("{name}: {e}"));
            let p = random_rows(&param, cfg.boundary, 6, &mut rng);
            for k in 0..3 {
                let name = format!("[{lib}] {name} (cotangent {k})");
                // The autodiff pass runs on a clone: the same absorbing draws.
                let twin = param.clone();
                let (gp, sd, sb, trace) = param.apply_rows_traced(p.view());
                if bitwise_values {
                    assert_eq!(
                        (gp.clone(), sd.clone(), sb.clone()),
                        twin.clone().apply_rows(p.view()),
                        "{name}: traced values"
                    );
                }
                let g = [
                    random_vec(gp.len(), &mut rng),
                    random_vec(sd.len(), &mut rng),
                    random_vec(sb.len(), &mut rng),
                ];
                let got = trace.vjp(&g[0], &g[1], &g[2]);
                let want = autodiff_grad(&twin, &p, [&g[0], &g[1], &g[2]]);
                compare(&name, &param, &got, &want, scale, rtol, &mut worst);
                count += 1;
            }
        }
        eprintln!(
            "[{lib}] worst |vjp − autodiff| / scale ({scale:?}) = {:.3e} at {}",
            worst.rel, worst.what
        );
        overall = overall.max(worst.rel);
        failures.extend(worst.failures);
    }
    eprintln!("{count} cases (configuration × cotangent) checked");
    for f in failures.iter().take(40) {
        eprintln!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} entries beyond the tolerance {rtol:e}",
        failures.len()
    );
    (count, overall)
}
