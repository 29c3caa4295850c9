//! The hand-written reverse pass of the parametrisations (`ParamTrace::vjp`) against
//! burn-autodiff in float32 through `Parametrization::apply` — the gradients fits used so far —
//! for every boundary, block kind, SFH model, metallicity model, fixed parameters and the
//! shared SFH (`vjp_cases`); the traced values against `apply_rows` (bitwise) and the absorbing
//! boundary's random stream.
//!
//! Tolerance: |vjp − autodiff| ≤ 1e−4 · s with s the largest |autodiff| of the case (the
//! gradient's scale). The float32 reverse pass rounds at ~1e−7 relative to the terms it sums;
//! where those terms cancel (the derivative of light fractions normalised to 1 with respect to
//! a parameter that mostly rescales them) its error relative to that one small derivative is
//! larger: up to 1.5e−2 for a derivative 1e−8 of the gradient's scale (printed below, not
//! checked), while the worst error relative to the gradient's scale is 2e−5.
//! `param_vjp_f64.rs` checks every derivative on its own scale against float64 autodiff (to
//! 1e−9): the float32 pass's rounding is the whole difference.

mod common;
mod vjp_cases;

use galsed_fit::params::{Boundary, MhConfig, ParamConfig, ParamTrace, Parametrization, SfhConfig};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use vjp_cases::{BOUNDARIES, Scale, check_all, configs, random_rows, random_vec, synthetic_ssp};

#[test]
fn vjp_matches_float32_autodiff() {
    let (n, worst) = check_all(2024, &BOUNDARIES, Scale::Case, 1e-4, true);
    eprintln!("{n} cases, worst {worst:.2e}");
    // The same cases on each derivative's own scale, for the record.
    let _ = check_all(2024, &BOUNDARIES, Scale::Column, f64::INFINITY, true);
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
            Boundary::Reflecting => vec![1.0, -(-0.25f64).exp(), -(-0.1f64).exp(), 1.0, -1.0],
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
        assert_eq!(
            a.apply_rows(p2.view()),
            b.apply_rows(p2.view()),
            "{name}: empty"
        );
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
