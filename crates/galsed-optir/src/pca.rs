//! The linear baseline of the autoencoder: principal components of normalised spectra.
//!
//! Kept deliberately simple: PCA in the **observed frame** of normalised spectra
//! ([`crate::survey::normalise`]) on the survey grid. Masked pixels (ivar = 0) are replaced by
//! the training mean of that pixel (the mean over the galaxies where it is unmasked), so they
//! contribute nothing after centring; inverse variances play no other role. The top-k
//! components come from a randomized SVD (Halko, Martinsson & Tropp 2011: a Gaussian sketch
//! with oversampling 10, subspace iterations with re-orthonormalisation, then an exact
//! eigen-decomposition of the small projected problem by Jacobi rotations), streamed over
//! blocks of rows so the centred data matrix is never held in memory. A 24,500 × 3840 matrix
//! takes seconds.
//!
//! Latents are the projections of the centred, mean-filled spectra onto the components.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{OptirError, SpectrumEncoder, file_err, input_err};

/// Rows per block of the streamed products.
const BLOCK: usize = 2048;
/// Extra sketch columns beyond the components asked for.
const OVERSAMPLE: usize = 10;

/// Settings of the randomized SVD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PcaSettings {
    /// Subspace (power) iterations.
    pub iterations: usize,
    /// Seeds the Gaussian sketch.
    pub seed: u64,
}

impl Default for PcaSettings {
    fn default() -> Self {
        Self {
            iterations: 4,
            seed: 0,
        }
    }
}

/// A fitted PCA encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// log10 λ of the pixels.
    pub loglam: Vec<f64>,
    /// Training mean of each pixel (over unmasked values), (n_pix).
    pub mean: Vec<f32>,
    /// Orthonormal components, (k, n_pix), by decreasing variance. Each component's entry of
    /// largest magnitude is positive.
    pub components: Array2<f32>,
    /// Variance of the training spectra along each component (eigenvalue of the covariance,
    /// denominator n − 1).
    pub explained_variance: Vec<f64>,
    /// Total variance (trace of the covariance) of the mean-filled training spectra.
    pub total_variance: f64,
}

fn check(loglam: &[f64], flux: ArrayView2<f32>, ivar: ArrayView2<f32>) -> Result<(), OptirError> {
    let (n, p) = flux.dim();
    if p != loglam.len() || ivar.dim() != (n, p) {
        return Err(input_err(format!(
            "pca: flux ({n} × {p}), ivar ({} × {}) and loglam ({}) do not match",
            ivar.nrows(),
            ivar.ncols(),
            loglam.len()
        )));
    }
    for (((i, j), &f), &w) in flux.indexed_iter().zip(ivar.iter()) {
        if !(w.is_finite() && w >= 0.0) {
            return Err(input_err(format!(
                "pca: galaxy {i}, pixel {j}: inverse variance {w}"
            )));
        }
        if w > 0.0 && !f.is_finite() {
            return Err(input_err(format!(
                "pca: galaxy {i}, pixel {j}: flux {f} with ivar {w}"
            )));
        }
    }
    Ok(())
}

/// Centred, mean-filled rows `rows` (f32, (rows, n_pix)).
fn centred(
    flux: ArrayView2<f32>,
    ivar: ArrayView2<f32>,
    mean: &[f32],
    rows: &[usize],
) -> Array2<f32> {
    let p = mean.len();
    let mut out = Array2::<f32>::zeros((rows.len(), p));
    for (k, &r) in rows.iter().enumerate() {
        let mut o = out.row_mut(k);
        for (j, ((&f, &w), &m)) in flux.row(r).iter().zip(ivar.row(r)).zip(mean).enumerate() {
            o[j] = if w > 0.0 { f - m } else { 0.0 };
        }
    }
    out
}

/// Orthonormalises the columns of `a` in place (modified Gram–Schmidt, twice for stability);
/// columns that vanish are replaced by zeros.
fn orthonormalise(a: &mut Array2<f64>) {
    let l = a.ncols();
    for _ in 0..2 {
        for j in 0..l {
            for i in 0..j {
                let d = a.column(i).dot(&a.column(j));
                let ci = a.column(i).to_owned();
                a.column_mut(j).scaled_add(-d, &ci);
            }
            let norm = a.column(j).dot(&a.column(j)).sqrt();
            if norm > 1e-300 {
                a.column_mut(j).mapv_inplace(|v| v / norm);
            } else {
                a.column_mut(j).fill(0.0);
            }
        }
    }
}

/// Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations: eigenvalues in
/// decreasing order and the eigenvectors as columns.
fn jacobi_eigh(mut a: Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut v = Array2::<f64>::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]].powi(2))
            .sum();
        let diag: f64 = (0..n).map(|i| a[[i, i]].powi(2)).sum();
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[[p, q]];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[[k, p]], a[[k, q]]);
                    a[[k, p]] = c * akp - sn * akq;
                    a[[k, q]] = sn * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - sn * aqk;
                    a[[q, k]] = sn * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - sn * vkq;
                    v[[k, q]] = sn * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[[j, j]].total_cmp(&a[[i, i]]));
    let vals = order.iter().map(|&i| a[[i, i]]).collect();
    let vecs = Array2::from_shape_fn((n, n), |(r, c)| v[[r, order[c]]]);
    (vals, vecs)
}

impl Pca {
    /// Fits `n_components` components to the normalised spectra `rows` (the training set).
    pub fn fit(
        loglam: &[f64],
        flux: ArrayView2<f32>,
        ivar: ArrayView2<f32>,
        rows: &[usize],
        n_components: usize,
        settings: PcaSettings,
    ) -> Result<Self, OptirError> {
        check(loglam, flux, ivar)?;
        let (n_all, p) = flux.dim();
        let n = rows.len();
        if let Some(&bad) = rows.iter().find(|&&r| r >= n_all) {
            return Err(input_err(format!(
                "pca: galaxy index {bad} out of range (n = {n_all})"
            )));
        }
        if n < 2 {
            return Err(input_err("pca: need at least two training spectra"));
        }
        if n_components == 0 || n_components > n.min(p) {
            return Err(input_err(format!(
                "pca: {n_components} components asked from {n} spectra of {p} pixels"
            )));
        }
        // Per-pixel means over unmasked values.
        let mut sum = vec![0f64; p];
        let mut cnt = vec![0usize; p];
        for &r in rows {
            for (j, (&f, &w)) in flux.row(r).iter().zip(ivar.row(r)).enumerate() {
                if w > 0.0 {
                    sum[j] += f64::from(f);
                    cnt[j] += 1;
                }
            }
        }
        let mean: Vec<f32> = sum
            .iter()
            .zip(&cnt)
            .map(|(&s, &c)| if c > 0 { (s / c as f64) as f32 } else { 0.0 })
            .collect();

        let l = (n_components + OVERSAMPLE).min(n).min(p);
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let omega = Array2::<f64>::from_shape_fn((p, l), |_| {
            rng.sample::<f64, _>(rand_distr::StandardNormal)
        });
        let blocks: Vec<&[usize]> = rows.chunks(BLOCK).collect();
        let xb = |b: &[usize]| centred(flux, ivar, &mean, b);
        // The large products run in f32 (sgemm); the thin factors are kept in f64.
        // Q = X Ω
        let times = |m: &Array2<f64>| -> Array2<f64> {
            let m32 = m.mapv(|v| v as f32);
            let mut out = Array2::<f64>::zeros((n, m.ncols()));
            let mut start = 0;
            for b in &blocks {
                let y = xb(b).dot(&m32);
                out.slice_mut(s![start..start + b.len(), ..])
                    .assign(&y.mapv(f64::from));
                start += b.len();
            }
            out
        };
        // Xᵀ Q
        let times_t = |q: &Array2<f64>| -> Array2<f64> {
            let mut out = Array2::<f64>::zeros((p, q.ncols()));
            let mut start = 0;
            for b in &blocks {
                let q32 = q.slice(s![start..start + b.len(), ..]).mapv(|v| v as f32);
                out += &xb(b).t().dot(&q32).mapv(f64::from);
                start += b.len();
            }
            out
        };
        let mut q = times(&omega);
        orthonormalise(&mut q);
        for _ in 0..settings.iterations {
            let mut w = times_t(&q);
            orthonormalise(&mut w);
            q = times(&w);
            orthonormalise(&mut q);
        }
        // B = Qᵀ X (l × p); B Bᵀ = U Σ² Uᵀ; right singular vectors V = Bᵀ U Σ⁻¹.
        let bt = times_t(&q); // (p, l) = Bᵀ
        let bbt = bt.t().dot(&bt);
        let (vals, u) = jacobi_eigh(bbt);
        let mut components = Array2::<f32>::zeros((n_components, p));
        let mut explained = Vec::with_capacity(n_components);
        for (c, &val) in vals.iter().enumerate().take(n_components) {
            let sigma = val.max(0.0).sqrt();
            let mut v: Array1<f64> = bt.dot(&u.column(c));
            if sigma > 0.0 {
                v /= sigma;
            }
            let imax = v
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map_or(0, |(i, _)| i);
            if v[imax] < 0.0 {
                v.mapv_inplace(|x| -x);
            }
            components.row_mut(c).assign(&v.mapv(|x| x as f32));
            explained.push(val.max(0.0) / (n - 1) as f64);
        }
        let mut total = 0.0;
        for b in &blocks {
            total += xb(b).iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        }
        Ok(Self {
            loglam: loglam.to_vec(),
            mean,
            components,
            explained_variance: explained,
            total_variance: total / (n - 1) as f64,
        })
    }

    /// Fraction of the total variance captured by each component.
    pub fn explained_variance_ratio(&self) -> Vec<f64> {
        self.explained_variance
            .iter()
            .map(|v| v / self.total_variance)
            .collect()
    }

    /// Mean + Σ latents·components on the observed grid, (n, n_pix).
    pub fn reconstruct(&self, latents: ArrayView2<f32>) -> Result<Array2<f32>, OptirError> {
        if latents.ncols() != self.components.nrows() {
            return Err(input_err(format!(
                "pca: {} latents given, the model has {}",
                latents.ncols(),
                self.components.nrows()
            )));
        }
        let mut out = latents.dot(&self.components);
        let mean = Array1::from(self.mean.clone());
        out += &mean.insert_axis(Axis(0));
        Ok(out)
    }

    /// Writes the model as JSON (floats round-trip exactly).
    pub fn save(&self, path: &Path) -> Result<(), OptirError> {
        let saved = SavedPca {
            format: FORMAT.into(),
            loglam: self.loglam.clone(),
            mean: self.mean.clone(),
            n_components: self.components.nrows(),
            components: self.components.iter().copied().collect(),
            explained_variance: self.explained_variance.clone(),
            total_variance: self.total_variance,
        };
        let text = serde_json::to_vec(&saved).map_err(|e| file_err(path, e))?;
        std::fs::write(path, text).map_err(|e| file_err(path, e))
    }

    /// Reads what [`Pca::save`] wrote.
    pub fn load(path: &Path) -> Result<Self, OptirError> {
        let text = std::fs::read(path).map_err(|e| file_err(path, e))?;
        let s: SavedPca = serde_json::from_slice(&text).map_err(|e| file_err(path, e))?;
        if s.format != FORMAT {
            return Err(file_err(
                path,
                format!("format '{}', expected '{FORMAT}'", s.format),
            ));
        }
        let p = s.loglam.len();
        if s.mean.len() != p
            || s.components.len() != s.n_components * p
            || s.explained_variance.len() != s.n_components
        {
            return Err(file_err(path, "inconsistent PCA sizes"));
        }
        Ok(Self {
            loglam: s.loglam,
            mean: s.mean,
            components: Array2::from_shape_vec((s.n_components, p), s.components)
                .map_err(|e| file_err(path, e))?,
            explained_variance: s.explained_variance,
            total_variance: s.total_variance,
        })
    }
}

const FORMAT: &str = "galsed-optir pca v1";

#[derive(Serialize, Deserialize)]
struct SavedPca {
    format: String,
    loglam: Vec<f64>,
    mean: Vec<f32>,
    n_components: usize,
    /// Row-major (n_components, n_pix).
    components: Vec<f32>,
    explained_variance: Vec<f64>,
    total_variance: f64,
}

impl SpectrumEncoder for Pca {
    fn n_latents(&self) -> usize {
        self.components.nrows()
    }

    fn encode(
        &self,
        loglam: &[f64],
        flux: ArrayView2<f32>,
        ivar: ArrayView2<f32>,
        redshift: &[f64],
    ) -> Result<Array2<f32>, OptirError> {
        check(loglam, flux, ivar)?;
        if redshift.len() != flux.nrows() {
            return Err(input_err(format!(
                "pca: {} redshifts for {} spectra",
                redshift.len(),
                flux.nrows()
            )));
        }
        let same = loglam.len() == self.loglam.len()
            && loglam
                .iter()
                .zip(&self.loglam)
                .all(|(a, b)| (a - b).abs() < 1e-7);
        if !same {
            return Err(input_err(format!(
                "pca: spectra on {} pixels, the model was fitted on {} (other grid)",
                loglam.len(),
                self.loglam.len()
            )));
        }
        let n = flux.nrows();
        let k = self.components.nrows();
        let mut out = Array2::<f32>::zeros((n, k));
        let rows: Vec<usize> = (0..n).collect();
        let mut start = 0;
        for b in rows.chunks(BLOCK) {
            let x = centred(flux, ivar, &self.mean, b);
            out.slice_mut(s![start..start + b.len(), ..])
                .assign(&x.dot(&self.components.t()));
            start += b.len();
        }
        Ok(out)
    }
}
