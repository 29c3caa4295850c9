//! Savitzky–Golay smoothing of noisy curves, as `scipy.signal.savgol_filter(y, window, order)`
//! computes it (mode `interp`): each interior point is replaced by the value at the window centre
//! of the least-squares polynomial through its window; the first and last window/2 points take the
//! values of the polynomial fitted to the first and last window.

use serde::{Deserialize, Serialize};

/// A Savitzky–Golay filter: odd window length and polynomial order < window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavGol {
    /// Window length (odd).
    pub window: usize,
    /// Order of the fitted polynomial (< window).
    pub order: usize,
}

/// The weights of a fitted polynomial's value at each window position: row `t` holds the weights
/// that, applied to the window's `w` samples, give the fit's value at position `t`.
#[derive(Debug, Clone)]
pub struct SavGolWeights {
    w: usize,
    rows: Vec<f64>,
}

impl SavGol {
    /// Checks the settings: odd window ≥ 3, order < window.
    pub fn new(window: usize, order: usize) -> Result<Self, String> {
        if window < 3 || window.is_multiple_of(2) {
            return Err(format!(
                "the Savitzky–Golay window must be odd and ≥ 3, got {window}"
            ));
        }
        if order >= window {
            return Err(format!(
                "the Savitzky–Golay order ({order}) must be smaller than the window ({window})"
            ));
        }
        Ok(Self { window, order })
    }

    /// The least-squares weights of this filter.
    pub fn weights(&self) -> SavGolWeights {
        let (w, p) = (self.window, self.order + 1);
        let half = (w / 2) as f64;
        // Positions scaled to [−1, 1] keep the normal equations well conditioned.
        let x: Vec<f64> = (0..w).map(|i| (i as f64 - half) / half).collect();
        let a = |i: usize, j: usize| x[i].powi(j as i32);
        // Normal matrix AᵀA (p × p), inverted by Gauss–Jordan elimination with partial pivoting.
        let mut m = vec![0.0; p * 2 * p];
        for r in 0..p {
            for c in 0..p {
                m[r * 2 * p + c] = (0..w).map(|i| a(i, r) * a(i, c)).sum();
            }
            m[r * 2 * p + p + r] = 1.0;
        }
        for col in 0..p {
            let piv = (col..p)
                .max_by(|&r1, &r2| {
                    m[r1 * 2 * p + col]
                        .abs()
                        .total_cmp(&m[r2 * 2 * p + col].abs())
                })
                .unwrap_or(col);
            for k in 0..2 * p {
                m.swap(col * 2 * p + k, piv * 2 * p + k);
            }
            let d = m[col * 2 * p + col];
            for k in 0..2 * p {
                m[col * 2 * p + k] /= d;
            }
            for r in 0..p {
                if r != col {
                    let f = m[r * 2 * p + col];
                    for k in 0..2 * p {
                        m[r * 2 * p + k] -= f * m[col * 2 * p + k];
                    }
                }
            }
        }
        let inv = |r: usize, c: usize| m[r * 2 * p + p + c];
        // Value at position t of the fit = Σ_i [Σ_jk a(t,j)·inv(j,k)·a(i,k)]·y_i.
        let mut rows = vec![0.0; w * w];
        for t in 0..w {
            for i in 0..w {
                let mut s = 0.0;
                for j in 0..p {
                    for k in 0..p {
                        s += a(t, j) * inv(j, k) * a(i, k);
                    }
                }
                rows[t * w + i] = s;
            }
        }
        SavGolWeights { w, rows }
    }

    /// Smooths `y` in place; errors when `y` is shorter than the window.
    pub fn apply(&self, y: &mut [f64]) -> Result<(), String> {
        self.weights().apply(y)
    }
}

impl SavGolWeights {
    /// The weights giving the fit's value at window position `t`.
    pub fn row(&self, t: usize) -> &[f64] {
        &self.rows[t * self.w..(t + 1) * self.w]
    }

    /// Smooths `y` in place (mode `interp`); errors when `y` is shorter than the window.
    pub fn apply(&self, y: &mut [f64]) -> Result<(), String> {
        let (w, n) = (self.w, y.len());
        if n < w {
            return Err(format!(
                "a curve of {n} points is shorter than the Savitzky–Golay window ({w})"
            ));
        }
        let half = w / 2;
        let dot = |row: &[f64], start: usize| -> f64 {
            row.iter()
                .zip(&y[start..start + w])
                .map(|(c, v)| c * v)
                .sum()
        };
        let mut out = vec![0.0; n];
        for (t, o) in out.iter_mut().enumerate().take(half) {
            *o = dot(self.row(t), 0);
        }
        for (j, o) in out.iter_mut().enumerate().take(n - half).skip(half) {
            *o = dot(self.row(half), j - half);
        }
        for t in 0..half {
            out[n - half + t] = dot(self.row(half + 1 + t), n - w);
        }
        y.copy_from_slice(&out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic tabulated coefficients (Savitzky & Golay 1964).
    #[test]
    fn centre_weights_match_the_tables() {
        let c = SavGol::new(5, 2).unwrap().weights();
        let want = [-3.0, 12.0, 17.0, 12.0, -3.0].map(|v| v / 35.0);
        for (a, b) in c.row(2).iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        let c = SavGol::new(7, 3).unwrap().weights();
        let want = [-2.0, 3.0, 6.0, 7.0, 6.0, 3.0, -2.0].map(|v| v / 21.0);
        for (a, b) in c.row(3).iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
    }

    /// A polynomial of degree ≤ order passes unchanged, edges included.
    #[test]
    fn polynomials_are_preserved() {
        let f = SavGol::new(9, 3).unwrap();
        let mut y: Vec<f64> = (0..30)
            .map(|i| {
                let x = i as f64 * 0.1;
                1.0 - 2.0 * x + 0.5 * x * x - 0.3 * x * x * x
            })
            .collect();
        let orig = y.clone();
        f.apply(&mut y).unwrap();
        for (a, b) in y.iter().zip(&orig) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(SavGol::new(4, 2).is_err());
        assert!(SavGol::new(5, 5).is_err());
        assert!(SavGol::new(7, 2).unwrap().apply(&mut [0.0; 5]).is_err());
    }
}
