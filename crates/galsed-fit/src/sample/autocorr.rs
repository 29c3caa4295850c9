//! Integrated autocorrelation time (emcee's estimator).

use ndarray::ArrayView3;
use rustfft::{FftPlanner, num_complex::Complex};

/// Normalised autocorrelation function of a series (FFT, zero-padded to twice the next power
/// of two, as emcee's `function_1d`); `None` for a constant series.
fn autocorr_function(x: &[f64], planner: &mut FftPlanner<f64>) -> Option<Vec<f64>> {
    let n = x.len();
    if n == 0 {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let size = 2 * n.next_power_of_two();
    let mut buf: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v - mean, 0.0)).collect();
    buf.resize(size, Complex::new(0.0, 0.0));
    planner.plan_fft_forward(size).process(&mut buf);
    for c in &mut buf {
        *c = Complex::new(c.norm_sqr(), 0.0);
    }
    planner.plan_fft_inverse(size).process(&mut buf);
    let acf0 = buf[0].re;
    if acf0 <= 0.0 || !acf0.is_finite() {
        return None;
    }
    Some(buf[..n].iter().map(|c| c.re / acf0).collect())
}

/// τ from a walker-averaged autocorrelation function with Sokal's automatic window:
/// `τ(M) = 1 + 2 Σ_{k=1}^{M} ρ(k)`, the smallest `M` with `M ≥ c·τ(M)` (emcee's `auto_window`).
fn tau_from_acf(f: &[f64], c: f64) -> f64 {
    let mut cum = 0.0;
    let mut last = f64::NAN;
    for (m, &r) in f.iter().enumerate() {
        cum += r;
        let tau = 2.0 * cum - 1.0;
        if (m as f64) >= c * tau {
            return tau;
        }
        last = tau;
    }
    last
}

/// Integrated autocorrelation time of each parameter of a chain (steps × walkers × dim), with
/// emcee's estimator (`emcee.autocorr.integrated_time`): the normalised autocorrelation
/// functions of the walkers are averaged, `τ(M) = 2 Σ_{k=0}^{M} ρ(k) − 1`, and the window is
/// the smallest `M ≥ c·τ(M)` (Sokal's automatic window; emcee's default `c = 5`). A parameter
/// that some walker never changes gets `τ = ∞`. No "chain too short" check is made here (see
/// [`EnsembleResult::converged`](super::EnsembleResult::converged)).
pub fn integrated_time(chain: ArrayView3<f64>, c: f64) -> Vec<f64> {
    let (n, m, d) = chain.dim();
    let mut planner = FftPlanner::new();
    (0..d)
        .map(|j| {
            let mut f = vec![0.0; n];
            for k in 0..m {
                let series: Vec<f64> = chain.slice(ndarray::s![.., k, j]).to_vec();
                match autocorr_function(&series, &mut planner) {
                    Some(acf) => f.iter_mut().zip(&acf).for_each(|(a, b)| *a += b),
                    None => return f64::INFINITY,
                }
            }
            if m == 0 || n == 0 {
                return f64::NAN;
            }
            f.iter_mut().for_each(|a| *a /= m as f64);
            tau_from_acf(&f, c)
        })
        .collect()
}

/// [`integrated_time`] of a single series.
pub fn integrated_time_1d(x: &[f64], c: f64) -> f64 {
    let view = ArrayView3::from_shape((x.len(), 1, 1), x).expect("n × 1 × 1");
    integrated_time(view, c)[0]
}
