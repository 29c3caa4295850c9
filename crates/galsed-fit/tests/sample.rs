//! Samplers on analytic densities with known moments / evidence.
//!
//! Statistical tolerances are stated in units of the Monte-Carlo error the run itself implies
//! (from τ for MCMC, from H for nested sampling); with fixed seeds the tests are deterministic,
//! and a correct sampler would fail a 4σ check with probability ~1e-4 per quantity for a new seed.

use std::sync::atomic::{AtomicUsize, Ordering};

use galsed_fit::optim::{Objective, OptimError};
use galsed_fit::sample::{
    EnsembleSampler, NestedSampler, NutsSampler, Start, Summary, integrated_time,
    integrated_time_1d,
};
use ndarray::{Array2, Array3, ArrayView2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Multivariate normal −ln p (normalised) over a box, counting batch calls.
struct Gaussian {
    mean: Vec<f64>,
    prec: Vec<Vec<f64>>,
    log_norm: f64,
    bounds: Vec<(f64, f64)>,
    calls: AtomicUsize,
    max_rows: AtomicUsize,
}

impl Gaussian {
    fn new(mean: Vec<f64>, cov: &[Vec<f64>], bounds: Vec<(f64, f64)>) -> Self {
        let d = mean.len();
        let (prec, log_det) = invert(cov);
        Self {
            mean,
            prec,
            log_norm: 0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det),
            bounds,
            calls: AtomicUsize::new(0),
            max_rows: AtomicUsize::new(0),
        }
    }
    fn f(&self, x: &[f64]) -> f64 {
        let r: Vec<f64> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let mut q = 0.0;
        for i in 0..r.len() {
            for j in 0..r.len() {
                q += r[i] * self.prec[i][j] * r[j];
            }
        }
        0.5 * q + self.log_norm
    }
}

impl Objective for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn bounds(&self) -> Vec<(f64, f64)> {
        self.bounds.clone()
    }
    fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.max_rows.fetch_max(x.nrows(), Ordering::Relaxed);
        x.rows()
            .into_iter()
            .map(|r| {
                let r = r.to_vec();
                // Outside the box is invalid (the samplers must not even ask).
                assert!(
                    r.iter()
                        .zip(&self.bounds)
                        .all(|(v, (lo, hi))| v >= lo && v <= hi)
                );
                self.f(&r)
            })
            .collect()
    }
    fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
        let r: Vec<f64> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let g = self
            .prec
            .iter()
            .map(|row| row.iter().zip(&r).map(|(p, v)| p * v).sum())
            .collect();
        (self.f(x), g)
    }
}

/// Gauss–Jordan inverse and ln det of a small SPD matrix.
fn invert(a: &[Vec<f64>]) -> (Vec<Vec<f64>>, f64) {
    let n = a.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = r.clone();
            row.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
            row
        })
        .collect();
    let mut log_det = 0.0;
    for c in 0..n {
        let p = m[c][c];
        log_det += p.ln();
        for v in m[c].iter_mut() {
            *v /= p;
        }
        for r in 0..n {
            if r != c {
                let f = m[r][c];
                let pivot = m[c].clone();
                for (v, pv) in m[r].iter_mut().zip(pivot) {
                    *v -= f * pv;
                }
            }
        }
    }
    (m.into_iter().map(|r| r[n..].to_vec()).collect(), log_det)
}

fn mean_cov(s: ArrayView2<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = s.nrows() as f64;
    let d = s.ncols();
    let mean: Vec<f64> = (0..d).map(|j| s.column(j).sum() / n).collect();
    let cov = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    s.rows()
                        .into_iter()
                        .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
                        .sum::<f64>()
                        / n
                })
                .collect()
        })
        .collect();
    (mean, cov)
}

/// Check mean and covariance of an ensemble run against the truth, in units of the MC error.
fn check_moments(res: &galsed_fit::sample::EnsembleResult, mean: &[f64], cov: &[Vec<f64>]) {
    let (discard, _) = res.burn_in_and_thin();
    let s = res.flat_samples(discard, 1);
    let n = s.nrows() as f64;
    let (m, c) = mean_cov(s.view());
    let err = res.mean_std_error(discard);
    eprintln!(
        "ensemble: {} steps, discard {discard}, τ = {:?}, acc = {:.3}, N_eff = {:.0}",
        res.n_steps(),
        res.tau,
        res.mean_acceptance(),
        n / res.tau.iter().copied().fold(0.0, f64::max)
    );
    for i in 0..mean.len() {
        eprintln!(
            "  mean[{i}] off by {:+.2} MC σ, var ratio {:.4}",
            (m[i] - mean[i]) / err[i],
            c[i][i] / cov[i][i]
        );
    }
    let tau_max = res.tau.iter().copied().fold(0.0, f64::max);
    let n_eff = n / tau_max;
    for i in 0..mean.len() {
        // Mean: 4 MC standard errors σ√(τ/N).
        assert!(
            (m[i] - mean[i]).abs() < 4.0 * err[i],
            "mean[{i}] {} vs {} (err {})",
            m[i],
            mean[i],
            err[i]
        );
        // Variance: sd(s²)/σ² ≈ √(2/N_eff) for a Gaussian; allow 4 of those (τ of x² ≤ τ_max
        // here, so N_eff from τ_max is conservative).
        let rel = (c[i][i] / cov[i][i] - 1.0).abs();
        assert!(
            rel < 4.0 * (2.0 / n_eff).sqrt(),
            "var[{i}] {} vs {} (N_eff {n_eff})",
            c[i][i],
            cov[i][i]
        );
        for j in 0..i {
            // Correlation: sd(r) ≈ (1 − ρ²)/√N_eff.
            let rho = cov[i][j] / (cov[i][i] * cov[j][j]).sqrt();
            let r = c[i][j] / (c[i][i] * c[j][j]).sqrt();
            assert!(
                (r - rho).abs() < 4.0 * (1.0 - rho * rho).max(0.1) / n_eff.sqrt(),
                "corr[{i}{j}] {r} vs {rho} (N_eff {n_eff})"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Ensemble sampler.
// ------------------------------------------------------------------------------------------

#[test]
fn ensemble_recovers_correlated_2d_gaussian() {
    // σ = (1, 0.5), ρ = 0.8; box ±10 is ≥ 9σ from the mean (truncation ≪ 1e-15).
    let cov = vec![vec![1.0, 0.4], vec![0.4, 0.25]];
    let mean = vec![0.5, -1.0];
    let obj = Gaussian::new(mean.clone(), &cov, vec![(-10.0, 10.0); 2]);
    // The stretch move alone (emcee's default), whose τ and acceptance are known.
    let sampler = EnsembleSampler {
        n_walkers: Some(32),
        n_steps: 4000,
        seed: 3,
        de_weight: 0.0,
        ..Default::default()
    };
    let mut last = (0, 0);
    let res = sampler
        .run_with_progress(&obj, Start::Point(&[1.0, -0.5]), &mut |i, n| last = (i, n))
        .unwrap();
    assert_eq!(last, (4000, 4000));
    assert_eq!(res.chain.dim(), (4000, 32, 2));
    assert_eq!(res.log_prob.dim(), (4000, 32));
    // One call for the start, then one per half-ensemble, never more than 16 rows.
    assert_eq!(obj.calls.load(Ordering::Relaxed), 1 + 2 * 4000);
    assert!(obj.max_rows.load(Ordering::Relaxed) <= 32);
    // Stretch move on a 2-D Gaussian accepts ~0.6–0.7 (emcee); require a sensible 0.3–0.9 and
    // no stuck walker.
    let acc = res.mean_acceptance();
    assert!((0.3..0.9).contains(&acc), "acceptance {acc}");
    assert!(res.acceptance.iter().all(|&a| a > 0.2));
    // τ for this problem is ~30 steps (measured 27–35 over 20 seeds): 4000 steps pass emcee's
    // 50τ rule. The flag also needs τ stable to 1 % between the estimates at 3900 and 4000
    // steps, which holds for about two thirds of the seeds: check the flag's logic instead.
    assert!(
        res.tau.iter().all(|t| (10.0..60.0).contains(t)),
        "tau {:?}",
        res.tau
    );
    let [(s0, t0), (s1, t1)] = &res.tau_history[..] else {
        panic!("two τ estimates expected")
    };
    assert_eq!((*s0, *s1), (3900, 4000));
    assert_eq!(t1, &res.tau);
    let stable = t0.iter().zip(t1).all(|(a, b)| ((b - a) / b).abs() < 0.01);
    assert_eq!(
        res.converged,
        stable && 4000.0 > 50.0 * t1.iter().copied().fold(0.0, f64::max)
    );
    check_moments(&res, &mean, &cov);
    // The best sample is near the mode and its ln p is consistent with the chain.
    let (x, lp) = res.max_log_prob();
    assert!((lp + obj.f(&x)).abs() < 1e-12);
    assert!(lp <= -obj.log_norm + 1e-12);
}

/// Two separated Gaussians: −ln p of ½N((−3, 0), 0.5²I) + ½N((3, 0), 0.5²I) in a box.
struct TwoModes;

impl Objective for TwoModes {
    fn dim(&self) -> usize {
        2
    }
    fn bounds(&self) -> Vec<(f64, f64)> {
        vec![(-10.0, 10.0); 2]
    }
    fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|r| {
                let q = |c: f64| -((r[0] - c).powi(2) + r[1].powi(2)) / (2.0 * 0.25);
                -(0.5 * q(-3.0).exp() + 0.5 * q(3.0).exp()).ln()
            })
            .collect()
    }
    fn value_grad(&self, _: &[f64]) -> (f64, Vec<f64>) {
        unreachable!("samplers use values only")
    }
}

#[test]
fn differential_evolution_mixes_faster_and_hops_between_modes() {
    // On the 2-D Gaussian of the test above the default mixture (80 % differential evolution)
    // has a shorter τ than the stretch move alone, and still the right moments.
    let cov = vec![vec![1.0, 0.4], vec![0.4, 0.25]];
    let mean = vec![0.5, -1.0];
    let obj = Gaussian::new(mean.clone(), &cov, vec![(-10.0, 10.0); 2]);
    let run = |de_weight: f64| {
        let s = EnsembleSampler {
            n_walkers: Some(32),
            n_steps: 4000,
            seed: 3,
            de_weight,
            ..Default::default()
        };
        s.run(&obj, Start::Point(&[1.0, -0.5])).unwrap()
    };
    let (stretch, mixed) = (run(0.0), run(0.8));
    let tau_max =
        |r: &galsed_fit::sample::EnsembleResult| r.tau.iter().copied().fold(0.0, f64::max);
    assert!(
        tau_max(&mixed) < 0.5 * tau_max(&stretch),
        "τ {} vs stretch {}",
        tau_max(&mixed),
        tau_max(&stretch)
    );
    check_moments(&mixed, &mean, &cov);

    // Modes 12σ apart, walkers started unevenly: 24 in the left mode, 8 in the right. Within-mode
    // moves never cross; the γ = 1 jumps must move walkers until both modes hold half the mass.
    // The fraction on the right has a Monte-Carlo error √(var·τ/N) with τ the integrated time of
    // the per-step fraction; require 0.5 within 4 such errors (measured: 0.5015 ± 0.0034, while
    // the stretch move alone stays at 0.30 with τ ≈ 2400).
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let start = Array2::from_shape_fn((32, 2), |(k, i)| {
        let centre = if i == 1 {
            0.0
        } else if k % 4 == 0 {
            3.0
        } else {
            -3.0
        };
        centre + 0.5 * rng.sample::<f64, _>(StandardNormal)
    });
    let s = EnsembleSampler {
        n_steps: 20_000,
        seed: 11,
        ..Default::default()
    };
    let r = s.run(&TwoModes, Start::Walkers(start.view())).unwrap();
    let burn = 2000;
    let (steps, nw, _) = r.chain.dim();
    let mut right_per_step = Vec::with_capacity(steps - burn);
    for t in burn..steps {
        right_per_step
            .push((0..nw).filter(|&k| r.chain[[t, k, 0]] > 0.0).count() as f64 / nw as f64);
    }
    let frac = right_per_step.iter().sum::<f64>() / right_per_step.len() as f64;
    let tau = integrated_time_1d(&right_per_step, 5.0);
    let err = (right_per_step
        .iter()
        .map(|v| (v - frac).powi(2))
        .sum::<f64>()
        / right_per_step.len() as f64
        * tau
        / right_per_step.len() as f64)
        .sqrt();
    assert!(
        (frac - 0.5).abs() < 4.0 * err.max(0.005),
        "fraction in the right mode {frac} ± {err} (τ {tau})"
    );
    // Inside each mode the spread is the mode's σ.
    let right: Vec<f64> = (burn..steps)
        .flat_map(|t| (0..nw).map(move |k| (t, k)))
        .filter(|&(t, k)| r.chain[[t, k, 0]] > 0.0)
        .map(|(t, k)| r.chain[[t, k, 1]])
        .collect();
    let sd = (right.iter().map(|v| v * v).sum::<f64>() / right.len() as f64).sqrt();
    assert!((sd - 0.5).abs() < 0.05, "σ_y in the right mode {sd}");
}

/// p(x, y) ∝ e^{−x/0.3}·N(y; 0, 1) on [0, 5] × [−10, 10]: the mass piles against x = 0.
struct AgainstTheWall;

impl Objective for AgainstTheWall {
    fn dim(&self) -> usize {
        2
    }
    fn bounds(&self) -> Vec<(f64, f64)> {
        vec![(0.0, 5.0), (-10.0, 10.0)]
    }
    fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|r| r[0] / 0.3 + 0.5 * r[1] * r[1])
            .collect()
    }
    fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
        (x[0] / 0.3 + 0.5 * x[1] * x[1], vec![1.0 / 0.3, x[1]])
    }
}

#[test]
fn convergence_checks_skip_needless_estimates() {
    // The stretch move on the 2-D Gaussian has τ ≈ 30 steps: a 1000-step run cannot be 50τ long.
    // Of the 100 checks (every 10 steps) only those once the run could be 40τ̂ long estimate τ.
    let cov = vec![vec![1.0, 0.4], vec![0.4, 0.25]];
    let obj = Gaussian::new(vec![0.5, -1.0], &cov, vec![(-10.0, 10.0); 2]);
    let s = EnsembleSampler {
        n_steps: 1000,
        until_converged: true,
        check_every: 10,
        de_weight: 0.0,
        seed: 3,
        ..Default::default()
    };
    let r = s.run(&obj, Start::Point(&[1.0, -0.5])).unwrap();
    assert!(!r.converged);
    assert_eq!(r.n_steps(), 1000);
    assert!(
        r.tau_history.len() <= 25,
        "{} τ estimates in 100 checks",
        r.tau_history.len()
    );
    assert_eq!(r.tau_history.last().unwrap().0, 1000);
}

#[test]
fn reflected_proposals_keep_a_density_against_a_bound() {
    // Truncated exponential: mean 0.3 (the e^{−5/0.3} truncation is 6e-8), P(x < 0.1) = 1 − e^{−1/3}.
    let s = EnsembleSampler {
        n_steps: 6000,
        seed: 21,
        ..Default::default()
    };
    let r = s.run(&AgainstTheWall, Start::Point(&[0.3, 0.0])).unwrap();
    let tau = r.tau[0].max(r.tau[1]);
    let flat = r.flat_samples(500, 1);
    let n_eff = flat.nrows() as f64 / tau;
    let x = flat.column(0);
    let mean = x.mean().unwrap();
    assert!(
        (mean - 0.3).abs() < 4.0 * 0.3 / n_eff.sqrt(),
        "mean {mean} (N_eff {n_eff})"
    );
    let p = 1.0 - (-1.0f64 / 3.0).exp();
    let below = x.iter().filter(|&&v| v < 0.1).count() as f64 / flat.nrows() as f64;
    assert!(
        (below - p).abs() < 4.0 * (p * (1.0 - p) / n_eff).sqrt(),
        "P(x < 0.1) {below} vs {p}"
    );
    assert!(
        r.mean_acceptance() > 0.3,
        "acceptance {}",
        r.mean_acceptance()
    );
}

#[test]
fn ensemble_recovers_correlated_5d_gaussian_until_converged() {
    let (obj, mean, cov) = correlated_5d();
    let sd: Vec<f64> = (0..5).map(|i| cov[i][i].sqrt()).collect();
    let sampler = EnsembleSampler {
        n_walkers: Some(40),
        n_steps: 20_000,
        until_converged: true,
        check_every: 250,
        seed: 5,
        ..Default::default()
    };
    let res = sampler.run(&obj, Start::Point(&mean)).unwrap();
    assert!(res.converged);
    let steps = res.n_steps();
    assert!(
        steps < 20_000 && steps.is_multiple_of(250),
        "stopped at a check before the maximum: {steps}"
    );
    let tau_max = res.tau.iter().copied().fold(0.0, f64::max);
    assert!(steps as f64 > 50.0 * tau_max);
    let [.., (s0, _), (s1, _)] = &res.tau_history[..] else {
        panic!("two τ estimates expected")
    };
    assert_eq!(
        s1 - s0,
        250,
        "the stability test compares estimates check_every apart"
    );
    let acc = res.mean_acceptance();
    assert!((0.2..0.8).contains(&acc), "acceptance {acc}");
    check_moments(&res, &mean, &cov);
    // Flat samples: step-major with thinning.
    let flat = res.flat_samples(100, 7);
    assert_eq!(flat.nrows(), (100..steps).step_by(7).count() * 40);
    assert_eq!(
        flat.row(41).to_vec(),
        res.chain.slice(ndarray::s![107, 1, ..]).to_vec()
    );
    assert_eq!(res.flat_log_prob(100, 7).len(), flat.nrows());
    let summary = res.summary(100, 1).unwrap();
    for i in 0..5 {
        assert!((summary.median[i] - mean[i]).abs() < 0.1 * sd[i]);
        assert!((summary.p84[i] - summary.p16[i] - 2.0 * sd[i]).abs() < 0.1 * sd[i]);
    }
}

#[test]
fn ensemble_is_reproducible_and_starts_from_walkers() {
    let obj = Gaussian::new(
        vec![0.0, 0.0],
        &[vec![1.0, 0.0], vec![0.0, 1.0]],
        vec![(-5.0, 5.0); 2],
    );
    let s = EnsembleSampler {
        n_walkers: Some(8),
        n_steps: 300,
        seed: 9,
        ..Default::default()
    };
    let a = s.run(&obj, Start::Point(&[0.1, 0.2])).unwrap();
    let b = s.run(&obj, Start::Point(&[0.1, 0.2])).unwrap();
    assert_eq!(a, b);
    let c = EnsembleSampler {
        seed: 10,
        ..s.clone()
    }
    .run(&obj, Start::Point(&[0.1, 0.2]))
    .unwrap();
    assert_ne!(a.chain, c.chain);
    // Too short to be converged (300 steps, check every 100: τ not yet stable / < 50τ).
    assert!(!a.converged || a.n_steps() as f64 > 50.0 * a.tau.iter().copied().fold(0.0, f64::max));

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let walkers = Array2::from_shape_fn((6, 2), |_| rng.random_range(-1.0..1.0));
    let s = EnsembleSampler {
        n_walkers: None,
        n_steps: 10,
        ..Default::default()
    };
    let r = s.run(&obj, Start::Walkers(walkers.view())).unwrap();
    assert_eq!(r.chain.dim(), (10, 6, 2));
}

#[test]
fn ensemble_rejects_bad_input() {
    let obj = Gaussian::new(
        vec![0.0, 0.0],
        &[vec![1.0, 0.0], vec![0.0, 1.0]],
        vec![(-5.0, 5.0); 2],
    );
    let run = |s: EnsembleSampler, x: &[f64]| s.run(&obj, Start::Point(x)).unwrap_err();
    assert!(matches!(
        run(
            EnsembleSampler {
                n_walkers: Some(3),
                ..Default::default()
            },
            &[0.0, 0.0]
        ),
        OptimError::Config(_)
    ));
    assert!(matches!(
        run(
            EnsembleSampler {
                stretch: 1.0,
                ..Default::default()
            },
            &[0.0, 0.0]
        ),
        OptimError::Config(_)
    ));
    assert!(matches!(
        run(
            EnsembleSampler {
                n_steps: 0,
                ..Default::default()
            },
            &[0.0, 0.0]
        ),
        OptimError::Config(_)
    ));
    assert!(matches!(
        run(EnsembleSampler::default(), &[0.0]),
        OptimError::Dimension { .. }
    ));
    assert!(matches!(
        run(EnsembleSampler::default(), &[f64::NAN, 0.0]),
        OptimError::Start(_)
    ));
    let outside = Array2::from_elem((4, 2), 6.0);
    let s = EnsembleSampler {
        n_steps: 5,
        ..Default::default()
    };
    assert!(matches!(
        s.run(&obj, Start::Walkers(outside.view())).unwrap_err(),
        OptimError::Start(_)
    ));
    let inside = Array2::zeros((4, 2));
    let s = EnsembleSampler {
        n_walkers: Some(6),
        n_steps: 5,
        ..Default::default()
    };
    assert!(matches!(
        s.run(&obj, Start::Walkers(inside.view())).unwrap_err(),
        OptimError::Dimension { .. }
    ));
    assert!(serde_json::from_str::<EnsembleSampler>(r#"{"walkers": 3}"#).is_err());
    assert_eq!(
        serde_json::from_str::<EnsembleSampler>("{}").unwrap(),
        EnsembleSampler::default()
    );
}

// ------------------------------------------------------------------------------------------
// Autocorrelation time.
// ------------------------------------------------------------------------------------------

#[test]
fn autocorrelation_time_of_ar1_series() {
    // AR(1) x_t = φ x_{t−1} + √(1−φ²) ε_t has ρ(k) = φ^k and τ = (1+φ)/(1−φ).
    // Sokal's variance of τ̂ is ≈ 2(2M+1)/N τ² per series (M ≈ 5τ the window); over 32 series
    // of 20 000 steps that is 2.3 % for φ = 0.9 (τ = 19) and 1.0 % for φ = 0.5 (τ = 3).
    // Truncation bias 2φ^{M+1}/(1−φ) < 0.1 %. Tolerance 10 % (> 4σ).
    for (phi, seed) in [(0.9, 1u64), (0.5, 2)] {
        let (n, walkers) = (20_000, 32);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut chain = Array3::zeros((n, walkers, 1));
        for k in 0..walkers {
            let mut x: f64 = rng.sample(StandardNormal);
            for t in 0..n {
                let e: f64 = rng.sample(StandardNormal);
                x = phi * x + (1.0 - phi * phi).sqrt() * e;
                chain[[t, k, 0]] = x;
            }
        }
        let tau = integrated_time(chain.view(), 5.0)[0];
        let truth = (1.0 + phi) / (1.0 - phi);
        eprintln!("AR(1) φ = {phi}: τ̂ = {tau:.3} vs {truth}");
        assert!(
            (tau / truth - 1.0).abs() < 0.1,
            "φ = {phi}: τ = {tau} vs {truth}"
        );
    }
    // White noise: τ = 1 (single series of 50 000: sd ≈ √(22/50 000) ≈ 2 %).
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f64> = (0..50_000).map(|_| rng.sample(StandardNormal)).collect();
    let tau = integrated_time_1d(&x, 5.0);
    eprintln!("white noise τ̂ = {tau:.4}");
    assert!((tau - 1.0).abs() < 0.1, "white noise τ = {tau}");
    // A constant series has no finite τ.
    assert_eq!(integrated_time_1d(&[1.0; 100], 5.0), f64::INFINITY);
}

// ------------------------------------------------------------------------------------------
// Nested sampling.
// ------------------------------------------------------------------------------------------

fn nested_gaussian() -> (Gaussian, Vec<f64>, Vec<f64>) {
    // Normalised Gaussian likelihood with σ = (0.3, 0.5, 0.4) in the box [−5, 5]³: the mass
    // outside the box is < 1e-13, so Z = 1/V = 10⁻³ (ln Z = −3 ln 10 = −6.9078) and
    // H = E_post[ln L] − ln Z = −Σ ln(σ_i √(2πe)) + 3 ln 10 (= 5.46).
    let mean = vec![0.5, -1.0, 2.0];
    let sd = vec![0.3, 0.5, 0.4];
    let cov: Vec<Vec<f64>> = (0..3)
        .map(|i| {
            (0..3)
                .map(|j| if i == j { sd[i] * sd[i] } else { 0.0 })
                .collect()
        })
        .collect();
    (
        Gaussian::new(mean.clone(), &cov, vec![(-5.0, 5.0); 3]),
        mean,
        sd,
    )
}

#[test]
fn nested_sampling_evidence_of_gaussian_in_box() {
    let (obj, mean, sd) = nested_gaussian();
    let ns = NestedSampler {
        n_live: 400,
        seed: 1,
        ..Default::default()
    };
    let mut last = (0, 0);
    let r = ns
        .run_with_progress(&obj, &mut |i, n| last = (i, n))
        .unwrap();
    eprintln!(
        "nested: ln Z = {:.4} ± {:.4} (true {:.4}), H = {:.3}, {} it, {} rows, acc {:.3}, ESS {:.0}",
        r.log_z,
        r.log_z_err,
        -3.0 * 10f64.ln(),
        r.information,
        r.n_iterations,
        r.n_evaluations,
        r.acceptance,
        r.effective_sample_size()
    );
    let log_z_true = -3.0 * 10f64.ln();
    let h_true: f64 = 3.0 * 10f64.ln()
        - sd.iter()
            .map(|s| (s * (2.0 * std::f64::consts::PI * std::f64::consts::E).sqrt()).ln())
            .sum::<f64>();
    assert!(r.converged);
    assert_eq!(last.0, r.n_iterations);
    assert!(last.1 >= last.0);
    // ln Z within 3 reported σ (σ = √(H/n_live) ≈ 0.13).
    assert!(
        (r.log_z_err - (h_true / 400.0).sqrt()).abs() < 0.02,
        "err {}",
        r.log_z_err
    );
    assert!(
        (r.log_z - log_z_true).abs() < 3.0 * r.log_z_err,
        "ln Z {} ± {} vs {log_z_true}",
        r.log_z,
        r.log_z_err
    );
    // H is a posterior average of ln L: its scatter is ~ σ_lnZ-sized; 0.5 nats is ~4σ.
    assert!(
        (r.information - h_true).abs() < 0.5,
        "H {} vs {h_true}",
        r.information
    );
    // Iterations ≈ n_live·(H + a few) for dlogz = 0.01.
    assert!(
        r.n_iterations > 400 * 6 && r.n_iterations < 400 * 15,
        "{}",
        r.n_iterations
    );
    // Random walks batched: one call per walk step of the queue (≤ 32 rows) + the live points.
    assert!(obj.max_rows.load(Ordering::Relaxed) <= 400);
    assert!(
        (0.2..0.8).contains(&r.acceptance),
        "acceptance {}",
        r.acceptance
    );
    assert!(r.log_weights.len() == r.samples.nrows() && r.samples.nrows() == r.n_iterations + 400);
    let wsum: f64 = r.weights().iter().sum();
    assert!((wsum - 1.0).abs() < 1e-9);

    // Posterior moments: the weighted samples have an effective size of ~1000+;
    // mean within 4σ/√ESS, std within 10 % (4/√(2·ESS) ≈ 9 % at ESS = 1000).
    let s = r.summary().unwrap();
    let ess = r.effective_sample_size();
    assert!(ess > 800.0, "ESS {ess}");
    for i in 0..3 {
        assert!(
            (s.mean[i] - mean[i]).abs() < 4.0 * sd[i] / ess.sqrt(),
            "mean[{i}] {}",
            s.mean[i]
        );
        assert!(
            (s.std[i] / sd[i] - 1.0).abs() < 0.1,
            "std[{i}] {}",
            s.std[i]
        );
        // Gaussian: p16/p84 at ∓1σ.
        assert!((s.p84[i] - s.p16[i] - 2.0 * sd[i]).abs() < 0.2 * sd[i]);
    }
    // Equal-weight resampling: ESS-many samples with the same moments.
    assert_eq!(r.equal_weight_samples.nrows(), ess.round() as usize);
    let e = Summary::from_samples(r.equal_weight_samples.view()).unwrap();
    for i in 0..3 {
        assert!((e.mean[i] - mean[i]).abs() < 5.0 * sd[i] / ess.sqrt());
        assert!((e.std[i] / sd[i] - 1.0).abs() < 0.12);
    }
    assert_eq!(r.resample_equal(500, 3).nrows(), 500);
}

#[test]
fn nested_sampling_is_reproducible() {
    let (obj, _, _) = nested_gaussian();
    let ns = NestedSampler {
        n_live: 60,
        walks: 10,
        queue_size: 8,
        dlogz: 0.5,
        seed: 4,
        ..Default::default()
    };
    let a = ns.run(&obj).unwrap();
    let b = ns.run(&obj).unwrap();
    assert_eq!(a, b);
    let c = NestedSampler {
        seed: 5,
        ..ns.clone()
    }
    .run(&obj)
    .unwrap();
    assert_ne!(a.log_z, c.log_z);
    // max_iterations stops the run unconverged.
    let short = NestedSampler {
        max_iterations: 50,
        ..ns
    }
    .run(&obj)
    .unwrap();
    assert!(!short.converged);
    assert_eq!(short.n_iterations, 50);
    assert_eq!(short.samples.nrows(), 50 + 60);
}

#[test]
fn nested_sampling_rejects_bad_config() {
    let (obj, _, _) = nested_gaussian();
    for bad in [
        NestedSampler {
            n_live: 1,
            ..Default::default()
        },
        NestedSampler {
            dlogz: 0.0,
            ..Default::default()
        },
        NestedSampler {
            walks: 0,
            ..Default::default()
        },
        NestedSampler {
            queue_size: 0,
            ..Default::default()
        },
    ] {
        assert!(matches!(bad.run(&obj).unwrap_err(), OptimError::Config(_)));
    }
    assert_eq!(
        serde_json::from_str::<NestedSampler>("{}").unwrap(),
        NestedSampler::default()
    );
}

// ------------------------------------------------------------------------------------------
// Summary.
// ------------------------------------------------------------------------------------------

#[test]
fn summary_of_known_samples() {
    // 0, 1, …, 100 and its negative: percentiles by linear interpolation are exact integers.
    let s = Array2::from_shape_fn(
        (101, 2),
        |(i, j)| if j == 0 { i as f64 } else { -(i as f64) },
    );
    let sum = Summary::from_samples(s.view()).unwrap();
    assert_eq!(sum.median, vec![50.0, -50.0]);
    assert_eq!(sum.p16, vec![16.0, -84.0]);
    assert_eq!(sum.p84, vec![84.0, -16.0]);
    assert_eq!(sum.mean, vec![50.0, -50.0]);
    let sd = ((101.0f64 * 101.0 - 1.0) / 12.0).sqrt();
    assert!((sum.std[0] - sd).abs() < 1e-12);

    // Weighted: weights 1, 2, 1 on 0, 1, 2 → mean 1, std √½.
    let x = Array2::from_shape_vec((3, 1), vec![2.0, 0.0, 1.0]).unwrap();
    let w = Summary::from_weighted(x.view(), &[1.0, 1.0, 2.0]).unwrap();
    assert!((w.mean[0] - 1.0).abs() < 1e-15);
    assert!((w.std[0] - 0.5f64.sqrt()).abs() < 1e-15);
    assert!((w.n_effective - 16.0 / 6.0).abs() < 1e-12);
    // CDF is (0.25, 0.75, 1) at (0, 1, 2), linearly interpolated (corner/dynesty):
    // q = 0.16 → 0 (clamped), q = 0.5 → 0.5, q = 0.84 → 1 + 0.09/0.25.
    assert!((w.median[0] - 0.5).abs() < 1e-15);
    assert_eq!(w.p16[0], 0.0);
    assert!((w.p84[0] - 1.36).abs() < 1e-12);
    // Zero weight drops a sample.
    let z = Summary::from_weighted(x.view(), &[0.0, 1.0, 1.0]).unwrap();
    assert!((z.mean[0] - 0.5).abs() < 1e-15);

    assert!(Summary::from_samples(Array2::<f64>::zeros((0, 2)).view()).is_err());
    assert!(matches!(
        Summary::from_weighted(x.view(), &[1.0]).unwrap_err(),
        OptimError::Dimension { .. }
    ));
    assert!(Summary::from_weighted(x.view(), &[0.0; 3]).is_err());
    assert!(Summary::from_weighted(x.view(), &[-1.0, 1.0, 1.0]).is_err());
}

// ------------------------------------------------------------------------------------------
// No-U-turn Hamiltonian Monte Carlo.
// ------------------------------------------------------------------------------------------

/// The 5-D Gaussian of the ensemble test, in a box of ±12 σ.
fn correlated_5d() -> (Gaussian, Vec<f64>, Vec<Vec<f64>>) {
    let l = [
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [0.3, 0.4, 0.0, 0.0, 0.0],
        [-0.6, 0.5, 1.8, 0.0, 0.0],
        [0.0, 0.2, -0.15, 0.2, 0.0],
        [0.3, 0.0, 0.5, 0.4, 1.3],
    ];
    let cov: Vec<Vec<f64>> = (0..5)
        .map(|i| {
            (0..5)
                .map(|j| (0..5).map(|k| l[i][k] * l[j][k]).sum())
                .collect()
        })
        .collect();
    let mean = vec![1.0, -2.0, 0.0, 0.5, 3.0];
    let bounds = mean
        .iter()
        .zip(&cov)
        .enumerate()
        .map(|(i, (m, row))| (m - 12.0 * row[i].sqrt(), m + 12.0 * row[i].sqrt()))
        .collect();
    (Gaussian::new(mean.clone(), &cov, bounds), mean, cov)
}

#[test]
fn nuts_recovers_correlated_5d_gaussian() {
    let (obj, mean, cov) = correlated_5d();
    let res = NutsSampler {
        seed: 3,
        ..Default::default()
    }
    .run(&obj, &[0.0, 0.0, 0.0, 0.0, 0.0])
    .unwrap();
    let ess_min = res.ess.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "nuts: {} draws × {} chains, R̂ {:?}, ESS {:?}, steps/draw {:.1}, divergences {}",
        res.chain.dim().0,
        res.chain.dim().1,
        res.rhat,
        res.ess,
        res.mean_steps,
        res.divergences
    );
    assert!(res.converged, "R̂ {:?}, ESS {:?}", res.rhat, res.ess);
    assert!(res.rhat.iter().all(|&r| r <= 1.01) && ess_min >= 400.0);
    assert_eq!(res.divergences, 0);
    let s = res.flat_samples();
    let (m, c) = mean_cov(s.view());
    for i in 0..5 {
        let err = (cov[i][i] / res.ess[i]).sqrt();
        assert!(
            (m[i] - mean[i]).abs() < 4.0 * err,
            "mean[{i}] {} vs {} (MC error {err})",
            m[i],
            mean[i]
        );
        let rel = (c[i][i] / cov[i][i] - 1.0).abs();
        assert!(
            rel < 4.0 * (2.0 / ess_min).sqrt(),
            "var[{i}] {} vs {}",
            c[i][i],
            cov[i][i]
        );
    }
    // ln p of the draws is the objective's.
    let (x, lp) = res.max_log_prob();
    assert!((lp + obj.f(&x)).abs() < 1e-9);
}

#[test]
fn nuts_keeps_a_density_against_a_bound() {
    // The logit map's Jacobian must leave the truncated exponential as it is: mean 0.3,
    // P(x < 0.1) = 1 − e^{−1/3}.
    let res = NutsSampler {
        seed: 8,
        ..Default::default()
    }
    .run(&AgainstTheWall, &[0.3, 0.0])
    .unwrap();
    assert!(res.converged, "R̂ {:?}, ESS {:?}", res.rhat, res.ess);
    let s = res.flat_samples();
    let x = s.column(0);
    let n_eff = res.ess[0];
    let mean = x.mean().unwrap();
    assert!(
        (mean - 0.3).abs() < 4.0 * 0.3 / n_eff.sqrt(),
        "mean {mean} (N_eff {n_eff})"
    );
    let p = 1.0 - (-1.0f64 / 3.0).exp();
    let below = x.iter().filter(|&&v| v < 0.1).count() as f64 / s.nrows() as f64;
    assert!(
        (below - p).abs() < 4.0 * (p * (1.0 - p) / n_eff).sqrt(),
        "P(x < 0.1) {below} vs {p}"
    );
}

#[test]
fn nuts_is_reproducible() {
    let (obj, _, _) = correlated_5d();
    let sampler = NutsSampler {
        until_converged: false,
        n_tune: 100,
        n_draws: 50,
        seed: 11,
        ..Default::default()
    };
    let a = sampler.run(&obj, &[1.0, -2.0, 0.0, 0.5, 3.0]).unwrap();
    let b = sampler.run(&obj, &[1.0, -2.0, 0.0, 0.5, 3.0]).unwrap();
    assert_eq!(a.chain, b.chain);
    assert_eq!(a.chain.dim(), (50, 4, 5));
}

#[test]
fn nuts_rejects_bad_input() {
    let (obj, _, _) = correlated_5d();
    let s = NutsSampler::default();
    assert!(matches!(
        s.run(&obj, &[0.0; 3]),
        Err(OptimError::Dimension { .. })
    ));
    assert!(matches!(
        s.run(&obj, &[0.0, f64::NAN, 0.0, 0.0, 0.0]),
        Err(OptimError::Start(_))
    ));
    assert!(matches!(
        NutsSampler {
            n_chains: 1,
            ..Default::default()
        }
        .run(&obj, &[0.0; 5]),
        Err(OptimError::Config(_))
    ));
}

/// −ln p of a unit Gaussian, +∞ on the bounds of the box (as the fitting posteriors are).
struct InfiniteOnTheBounds;

impl Objective for InfiniteOnTheBounds {
    fn dim(&self) -> usize {
        6
    }
    fn bounds(&self) -> Vec<(f64, f64)> {
        vec![(-1.0, 1.0); 6]
    }
    fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|r| {
                if r.iter().any(|v| v.abs() >= 1.0) {
                    f64::INFINITY
                } else {
                    0.5 * r.dot(&r)
                }
            })
            .collect()
    }
    fn value_grad(&self, _: &[f64]) -> (f64, Vec<f64>) {
        unreachable!("samplers use values only")
    }
}

#[test]
fn walkers_started_at_a_corner_stay_inside_the_open_box() {
    // A best fit on the bounds of every parameter (a face-on galaxy, empty age bins): walkers
    // clamped onto the bounds would all be +∞ and the sampler could not start.
    let s = EnsembleSampler {
        n_steps: 50,
        seed: 3,
        ..Default::default()
    };
    let r = s
        .run(&InfiniteOnTheBounds, Start::Point(&[1.0; 6]))
        .unwrap();
    assert!(r.log_prob.iter().all(|v| v.is_finite()));
    assert!(r.chain.iter().all(|v| v.abs() < 1.0));
}
