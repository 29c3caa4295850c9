//! The reverse pass of the parametrisation, written by hand: [`Parametrization::apply_rows_traced`]
//! records per row what the derivative needs and [`ParamTrace::vjp`] gives the
//! vector–Jacobian product. Plain Rust with no global state, because burn-autodiff's graph is
//! process-wide and deadlocks when used from parallel threads (tracel-ai/burn#5573, #5193).
//!
//! The derivative is that of exactly the float32 burn formulas of [`Parametrization::apply`]
//! (module by module: boundary, fixed values, galaxy identity, vanilla grid, composite grid with
//! its SFH and metallicity models). Every branch is decided on float32 values the way the
//! forward pass decides it — the boundary masks (burn's clamp passes the gradient at equality),
//! the interpolation segments (grid points strictly below x), the truncation t = min(t_age, t₀)
//! of the analytic SFHs — while the arithmetic of the derivative runs in float64 from the
//! float32 parameter values: the result is the exact derivative of the float32 map's formulas,
//! free of the ~1e−7 relative rounding a float32 reverse pass would add. Not replayed bit for
//! bit: the closed-box metallicities (computed in float64) and the reflecting boundary's
//! float32 exponential (Rust's, perhaps not burn's to the last ulp); they can change an
//! interpolation segment only within float32 rounding of a grid node.
//!
//! The power-of-two rescaling of mass-weighted SFHs is a constant in the forward pass and every
//! map it feeds is scale invariant (normalised cumulative sums, light fractions divided by their
//! total), so the float64 pass leaves it out: float64 has the range float32 lacks.

use std::f64::consts::LN_10;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};

use super::block::{BlockKind, CompositeGrid, ParamBlock, VanillaGrid};
use super::boundary::{Boundary, CLIP_EPS};
use super::mh::{ClosedBoxMh, MhModel};
use super::sfh::{AnalyticKind, AnalyticSfh, DiscreteSfh, SfhModel};
use super::{NoRng, Parametrization};

impl Parametrization {
    /// Like [`Parametrization::apply_rows`] (bitwise the same values, the same draws from the
    /// absorbing boundary's stream), plus what the reverse pass [`ParamTrace::vjp`] needs: the
    /// gradient of a fit's objective without burn-autodiff, so callable from any thread.
    ///
    /// ```
    /// use galsed_fit::params::Parametrization;
    /// # let ssp = galsed_core::ssp::SspLibrary::new(
    /// #     vec![0.1, 1.0], vec![1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 2e-2],
    /// #     vec![3e6, 1e7, 3e7, 1e8, 1e9, 5e9], vec![1e6, 5e6, 2e7, 5e7, 3e8, 3e9, 1.4e10],
    /// #     ndarray::Array3::ones((2, 6, 6)), ndarray::Array2::ones((6, 6)),
    /// #     (0..300).map(|i| 0.1 * 1.03f64.powi(i)).collect(),
    /// # ).unwrap();
    /// // `ssp` is the SSP library (galsed_core::ssp::SspLibrary) of the model.
    /// let param = Parametrization::tutorial(&ssp);
    /// let p = ndarray::array![[0.1, 0.2, 0.3, 0.0, -0.2, 0.5, 1.4, 8.0, -1.0, 6.8, 0.0]];
    /// let (gp, sfh_disk, sfh_bulge, trace) = param.apply_rows_traced(p.view());
    /// assert_eq!((gp, sfh_disk, sfh_bulge), param.apply_rows(p.view()));
    ///
    /// // ∂/∂p of L = gp[0] + gp[6] + Σ sfh_disk + the bulge's weight of the youngest age
    /// // (SSP k = 6·i_met + i_age).
    /// let mut g_gp = [0.0f32; 7];
    /// g_gp[0] = 1.0;
    /// g_gp[6] = 1.0;
    /// let g_bulge: Vec<f32> = (0..36).map(|k| if k % 6 == 0 { 1.0 } else { 0.0 }).collect();
    /// let grad = trace.vjp(&g_gp, &[1.0; 36], &g_bulge);
    /// assert_eq!(grad.dim(), (1, 11));
    /// assert_eq!(grad[[0, 0]], 1.0); // gp is the identity inside the bounds
    /// assert_eq!(grad[[0, 6]], 0.0); // b_to_t = 1.4 is clipped
    /// assert_eq!(grad[[0, 7]], 0.0); // the disk's light fractions always sum to 1
    /// assert!(grad[[0, 9]] < 0.0); // an older bulge takes weight from the youngest SSP
    /// ```
    ///
    /// # Panics
    /// If `p` does not have [`Parametrization::n_params`] columns.
    pub fn apply_rows_traced(
        &self,
        p: ArrayView2<f64>,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>, ParamTrace) {
        if self.checked_rows(p) == 0 {
            let trace = ParamTrace::new(self, p, &mut NoRng);
            return (Vec::new(), Vec::new(), Vec::new(), trace);
        }
        let ((gp, sfh_disk, sfh_bulge), trace) = if self.absorbing() {
            // One lock for both passes: the trace replays the draws the values consumed.
            let mut rng = self.rng.lock();
            let mut replay = rng.clone();
            let values = self.apply_rows_with_rng(p, &mut *rng);
            (values, ParamTrace::new(self, p, &mut replay))
        } else {
            let values = self.apply_rows_with_rng(p, &mut NoRng);
            (values, ParamTrace::new(self, p, &mut NoRng))
        };
        (gp, sfh_disk, sfh_bulge, trace)
    }
}

/// What the reverse pass of [`Parametrization::apply_rows_traced`] needs, row by row: the
/// parameters after the boundary transform (with fixed values inserted) and the boundary's
/// derivative. Plain data (`Send + Sync`), independent of the parametrisation it came from.
#[derive(Debug, Clone)]
pub struct ParamTrace {
    n: usize,
    n_params: usize,
    gp: BlockTrace,
    disk: BlockTrace,
    /// `None`: the disk block is shared with the bulge.
    bulge: Option<BlockTrace>,
}

impl ParamTrace {
    fn new<R: Rng + ?Sized>(param: &Parametrization, p: ArrayView2<f64>, rng: &mut R) -> Self {
        // Blocks in the order `apply_with_rng` applies them (and draws for them).
        let mut col = 0;
        let gp = BlockTrace::new(&param.gp, p, &mut col, rng);
        let disk = BlockTrace::new(&param.sfh_disk, p, &mut col, rng);
        let bulge = param
            .sfh_bulge
            .as_ref()
            .map(|b| BlockTrace::new(b, p, &mut col, rng));
        Self {
            n: p.nrows(),
            n_params: p.ncols(),
            gp,
            disk,
            bulge,
        }
    }

    /// Number of rows N.
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Number of free parameters P.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// ∂/∂p of Σ g_gp·gp + Σ g_sfh_disk·sfh_disk + Σ g_sfh_bulge·sfh_bulge, row by row: (N, P).
    /// The cotangents are row-major like the values of [`Parametrization::apply_rows_traced`]
    /// (N·7, N·36, N·36). With a shared SFH the bulge's cotangent flows into the disk block's
    /// parameters too.
    ///
    /// # Panics
    /// If a cotangent does not have the length of its values.
    pub fn vjp(&self, g_gp: &[f32], g_sfh_disk: &[f32], g_sfh_bulge: &[f32]) -> Array2<f64> {
        let n = self.n;
        let (wg, ws) = (self.gp.width, self.disk.width);
        assert_eq!(g_gp.len(), n * wg, "g_gp must have N·{wg} values");
        assert_eq!(
            g_sfh_disk.len(),
            n * ws,
            "g_sfh_disk must have N·{ws} values"
        );
        assert_eq!(
            g_sfh_bulge.len(),
            n * ws,
            "g_sfh_bulge must have N·{ws} values"
        );
        let row = |g: &[f32], w: usize, r: usize| -> Vec<f64> {
            g[r * w..(r + 1) * w]
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        };
        let mut out = Array2::zeros((n, self.n_params));
        for r in 0..n {
            let mut o = out.row_mut(r);
            let o = o.as_slice_mut().expect("standard layout");
            self.gp.vjp_row(r, &row(g_gp, wg, r), o);
            match &self.bulge {
                Some(b) => {
                    self.disk.vjp_row(r, &row(g_sfh_disk, ws, r), o);
                    b.vjp_row(r, &row(g_sfh_bulge, ws, r), o);
                }
                None => {
                    let g: Vec<f64> = row(g_sfh_disk, ws, r)
                        .into_iter()
                        .zip(row(g_sfh_bulge, ws, r))
                        .map(|(a, b)| a + b)
                        .collect();
                    self.disk.vjp_row(r, &g, o);
                }
            }
        }
        out
    }
}

/// One block's part of a [`ParamTrace`].
#[derive(Debug, Clone)]
struct BlockTrace {
    kind: BlockKind,
    /// First column of the block's free parameters in p.
    col0: usize,
    /// Positions of the free parameters among all the block's parameters.
    free: Vec<usize>,
    /// Number of parameters, free and fixed.
    n_all: usize,
    /// Output width.
    width: usize,
    /// (N, n_all): parameters after the boundary, fixed values inserted (float32 values).
    values: Vec<f64>,
    /// (N, n_free): derivative of the boundary transform.
    slope: Vec<f64>,
}

impl BlockTrace {
    fn new<R: Rng + ?Sized>(
        block: &ParamBlock,
        p: ArrayView2<f64>,
        col: &mut usize,
        rng: &mut R,
    ) -> Self {
        let n = p.nrows();
        let fixed = block.fixed();
        let n_all = fixed.len();
        let free: Vec<usize> = (0..n_all).filter(|&i| fixed[i].is_none()).collect();
        let n_free = free.len();
        let col0 = *col;
        *col += n_free;
        // Fixed values enter as float32 constants (`insert_fixed`).
        let mut values: Vec<f64> = (0..n)
            .flat_map(|_| fixed.iter().map(|f| f64::from(f.unwrap_or(0.0) as f32)))
            .collect();
        let mut slope = vec![0.0; n * n_free];
        // A block without free parameters gets none and draws nothing (`apply_with_rng`).
        if n_free > 0 {
            let x: Vec<f32> = (0..n)
                .flat_map(|r| (0..n_free).map(move |j| p[[r, col0 + j]] as f32))
                .collect();
            let y = boundary_forward(block.boundary(), &x, &block.free_bounds(), &mut slope, rng);
            for r in 0..n {
                for (j, &i) in free.iter().enumerate() {
                    values[r * n_all + i] = f64::from(y[r * n_free + j]);
                }
            }
        }
        Self {
            kind: block.kind().clone(),
            col0,
            free,
            n_all,
            width: block.output_width(),
            values,
            slope,
        }
    }

    /// Adds row r's gradient for cotangent `g` (output width) to `out` (a row of (N, P)).
    fn vjp_row(&self, r: usize, g: &[f64], out: &mut [f64]) {
        let x = &self.values[r * self.n_all..(r + 1) * self.n_all];
        let g_all = match &self.kind {
            BlockKind::Galaxy => g.to_vec(),
            BlockKind::Vanilla(v) => vanilla_vjp(v, x, g),
            BlockKind::Composite(c) => composite_vjp(c, x, g),
        };
        let n_free = self.free.len();
        for (j, &i) in self.free.iter().enumerate() {
            let s = self.slope[r * n_free + j];
            // Where the boundary's derivative is 0 the gradient is 0 (burn's masks replace it).
            if s != 0.0 {
                out[self.col0 + j] += g_all[i] * s;
            }
        }
    }
}

/// The boundary transform of `boundary::apply` on row-major float32 values `x` (N, F), with its
/// derivative written to `slope`; draws exactly what `boundary::apply` draws.
fn boundary_forward<R: Rng + ?Sized>(
    boundary: Boundary,
    x: &[f32],
    bounds: &[(f64, f64)],
    slope: &mut [f64],
    rng: &mut R,
) -> Vec<f32> {
    let f = bounds.len();
    let lb = |k: usize| bounds[k % f].0 as f32;
    let ub = |k: usize| bounds[k % f].1 as f32;
    match boundary {
        Boundary::None => {
            slope.fill(1.0);
            x.to_vec()
        }
        Boundary::Clipping => {
            let lim = (1.0 - CLIP_EPS) as f32;
            x.iter()
                .enumerate()
                .map(|(k, &v)| {
                    let (l, u) = (lb(k), ub(k));
                    let (radius, centre) = (0.5 * (u - l), 0.5 * (u + l));
                    let q = (v - centre) / radius;
                    // burn's clamp masks q < −lim and q > lim only (a NaN passes).
                    slope[k] = if q < -lim || q > lim { 0.0 } else { 1.0 };
                    radius * q.clamp(-lim, lim) + centre
                })
                .collect()
        }
        Boundary::Reflecting => x
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let (l, u) = (lb(k), ub(k));
                let width = u - l;
                let q = (v - l) / width;
                // d p′/d p = width · d q′/d q / width; q < 0 on the left, q ≥ 1 on the right,
                // so the branch clamps pass the gradient.
                let q2 = if v >= u {
                    slope[k] = -(1.0 - f64::from(q)).exp();
                    (1.0 - q.max(1.0)).exp()
                } else if v < l {
                    slope[k] = -f64::from(q).exp();
                    1.0 - q.min(0.0).exp()
                } else {
                    slope[k] = 1.0;
                    q
                };
                l + width * q2
            })
            .collect(),
        Boundary::Absorbing => x
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let (l, u) = (lb(k), ub(k));
                // One draw per value, kept or not, in row-major order.
                let draw = l + (u - l) * rng.random::<f64>() as f32;
                if v >= l && v < u {
                    slope[k] = 1.0;
                    v
                } else {
                    slope[k] = 0.0;
                    draw
                }
            })
            .collect(),
    }
}

/// The reference's simplex transform y = −ln(1 − x), y / Σ y.
fn simplex_forward(x: &[f64]) -> Vec<f64> {
    let y: Vec<f64> = x.iter().map(|&v| -(1.0 - v).ln()).collect();
    let s: f64 = y.iter().sum();
    y.iter().map(|v| v / s).collect()
}

/// Vector–Jacobian product of [`simplex_forward`].
fn simplex_vjp(x: &[f64], g: &[f64]) -> Vec<f64> {
    let y: Vec<f64> = x.iter().map(|&v| -(1.0 - v).ln()).collect();
    let s: f64 = y.iter().sum();
    let gy_common = g.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>() / (s * s);
    x.iter()
        .zip(g)
        .map(|(&v, &gi)| (gi / s - gy_common) / (1.0 - v))
        .collect()
}

fn vanilla_vjp(v: &VanillaGrid, x: &[f64], g: &[f64]) -> Vec<f64> {
    if v.simplex {
        simplex_vjp(x, g)
    } else {
        g.to_vec()
    }
}

/// The segment (i − 1, i) of `tensor::interp_weights` for x, with its end points: i = the
/// number of grid points strictly below x, forced into [1, D − 1].
fn segment(x: f64, grid: &[f32]) -> (usize, f64, f64) {
    let below = grid.iter().filter(|&&g| f64::from(g) < x).count();
    let i = below.clamp(1, grid.len() - 1);
    (i, f64::from(grid[i - 1]), f64::from(grid[i]))
}

/// Interpolation weights of x on `grid` (`tensor::interp_weights`).
fn interp_forward(x: f64, grid: &[f32]) -> Vec<f64> {
    let (i, x0, x1) = segment(x, grid);
    let w0 = (x1 - x) / (x1 - x0);
    let mut w = vec![0.0; grid.len()];
    w[i - 1] = w0;
    w[i] = 1.0 - w0;
    w
}

/// d/dx of Σ g·weights(x): the weights are linear in x inside the chosen segment.
fn interp_vjp(x: f64, grid: &[f32], g: &[f64]) -> f64 {
    let (i, x0, x1) = segment(x, grid);
    (g[i] - g[i - 1]) / (x1 - x0)
}

/// d/dp of Σ g·grid for the composite grid at full parameters x (SFH then MH parameters).
fn composite_vjp(c: &CompositeGrid, x: &[f64], g: &[f64]) -> Vec<f64> {
    let (na, nm) = (c.n_age, c.n_met);
    let (p_sfh, p_mh) = x.split_at(c.sfh().param_names().len());
    let s = sfh_forward(c.sfh(), p_sfh);
    let w = mh_forward(c.mh(), p_mh, &s, nm);
    // grid[m·na + a] = s[a]·w[m·na + a], then for mass-weighted SFHs h = grid·norm, h / Σ h.
    let g_grid: Vec<f64> = if c.sfh().is_mass_weighted() {
        let norm = |k: usize| f64::from(c.light_norm[k]);
        let h: Vec<f64> = (0..nm * na).map(|k| s[k % na] * w[k] * norm(k)).collect();
        let total: f64 = h.iter().sum();
        let dot = g.iter().zip(&h).map(|(a, b)| a * b).sum::<f64>() / total;
        (0..nm * na)
            .map(|k| norm(k) * (g[k] - dot) / total)
            .collect()
    } else {
        g.to_vec()
    };
    let mut g_s = vec![0.0; na];
    let mut g_w = vec![0.0; nm * na];
    for k in 0..nm * na {
        g_s[k % na] += g_grid[k] * w[k];
        g_w[k] = g_grid[k] * s[k % na];
    }
    let g_mh = mh_vjp(c.mh(), p_mh, &s, &g_w, &mut g_s);
    let mut out = sfh_vjp(c.sfh(), p_sfh, &g_s);
    out.extend(g_mh);
    out
}

/// Age weights (n_age) of an SFH model.
fn sfh_forward(m: &SfhModel, p: &[f64]) -> Vec<f64> {
    match m {
        SfhModel::Discrete(d) => {
            let per_bin = discrete_per_bin(d, p);
            let Some(bins) = &d.bins else {
                return per_bin;
            };
            let mut s = vec![0.0; d.n_age];
            for (i, &(b, e)) in bins.iter().enumerate() {
                // A single bin is a constant row of float32 1/width in the forward pass.
                let value = if bins.len() == 1 {
                    f64::from((1.0 / (e - b) as f64) as f32)
                } else {
                    per_bin[i] / (e - b) as f64
                };
                s[b..e].fill(value);
            }
            s
        }
        SfhModel::Interpolated(m) => interp_forward(p[0], m.grid()),
        SfhModel::Analytic(a) => {
            let ev = AnalyticEval::new(a, p);
            let mut mass = vec![0.0; (a.t_age().len() - 1) / a.n_sub()];
            for k in 0..ev.t.len() - 1 {
                mass[k / a.n_sub()] += 0.5 * (ev.y[k] + ev.y[k + 1]) * (ev.t[k + 1] - ev.t[k]);
            }
            mass
        }
    }
}

/// d/dp of Σ g_s·(age weights).
fn sfh_vjp(m: &SfhModel, p: &[f64], g_s: &[f64]) -> Vec<f64> {
    match m {
        SfhModel::Discrete(d) => {
            let g_bin: Vec<f64> = match &d.bins {
                None => g_s.to_vec(),
                Some(bins) => bins
                    .iter()
                    .map(|&(b, e)| g_s[b..e].iter().sum::<f64>() / (e - b) as f64)
                    .collect(),
            };
            match (d.bins.as_ref().map(Vec::len), d.simplex) {
                (Some(1), _) => Vec::new(),
                (Some(2), _) => vec![g_bin[0] - g_bin[1]],
                (_, true) => simplex_vjp(p, &g_bin),
                (_, false) => g_bin,
            }
        }
        SfhModel::Interpolated(m) => vec![interp_vjp(p[0], m.grid(), g_s)],
        SfhModel::Analytic(a) => analytic_vjp(a, p, g_s),
    }
}

/// Per-bin weights of a discrete SFH (per age without bins), before spreading over ages.
fn discrete_per_bin(d: &DiscreteSfh, p: &[f64]) -> Vec<f64> {
    match (d.bins.as_ref().map(Vec::len), d.simplex) {
        (Some(1), _) => vec![1.0],
        (Some(2), _) => vec![p[0], 1.0 - p[0]],
        (_, true) => simplex_forward(p),
        (_, false) => p.to_vec(),
    }
}

/// The analytic SFR on the age sub-grid: t = min(t_age, t₀) and the SFR y(t).
struct AnalyticEval {
    tau: f64,
    t0: f64,
    t: Vec<f64>,
    /// Whether t_age/t₀ > 1 in float32: t = t₀ there (burn's clamp masks that case only).
    clamped: Vec<bool>,
    y: Vec<f64>,
}

impl AnalyticEval {
    fn new(a: &AnalyticSfh, p: &[f64]) -> Self {
        let tau = 10f64.powf(p[0]);
        let t0 = 10f64.powf(p[1]);
        // burn's pow10 is float32 powf on the float32 parameter; the truncation is decided on
        // the float32 ratio, as in the forward pass.
        let t0_f32 = 10f32.powf(p[1] as f32);
        let clamped: Vec<bool> = a.t_age().iter().map(|&ta| ta / t0_f32 > 1.0).collect();
        let t: Vec<f64> = a
            .t_age()
            .iter()
            .zip(&clamped)
            .map(|(&ta, &c)| if c { t0 } else { f64::from(ta) })
            .collect();
        let y = t
            .iter()
            .map(|&tj| {
                let e = (tj / tau).exp();
                match a.kind() {
                    AnalyticKind::Exponential => e,
                    AnalyticKind::DelayedExponential => (t0 - tj) * e,
                }
            })
            .collect();
        Self {
            tau,
            t0,
            t,
            clamped,
            y,
        }
    }
}

/// d/d(log10 τ, log10 t₀) of Σ g_s·(mass per bin), through the trapezoids, the SFR and t.
fn analytic_vjp(a: &AnalyticSfh, p: &[f64], g_s: &[f64]) -> Vec<f64> {
    let ev = AnalyticEval::new(a, p);
    let (tau, t0) = (ev.tau, ev.t0);
    let m = ev.t.len();
    let mut g_y = vec![0.0; m];
    let mut g_t = vec![0.0; m];
    for k in 0..m - 1 {
        let g = g_s[k / a.n_sub()];
        let half_dt = 0.5 * (ev.t[k + 1] - ev.t[k]);
        let mean_y = 0.5 * (ev.y[k] + ev.y[k + 1]);
        g_y[k] += g * half_dt;
        g_y[k + 1] += g * half_dt;
        g_t[k + 1] += g * mean_y;
        g_t[k] -= g * mean_y;
    }
    let (mut g_tau, mut g_t0) = (0.0, 0.0);
    for j in 0..m {
        let t = ev.t[j];
        let e = (t / tau).exp();
        // (∂y/∂t, ∂y/∂τ, ∂y/∂t₀ at fixed t).
        let (dy_dt, dy_dtau, dy_dt0) = match a.kind() {
            AnalyticKind::Exponential => (e / tau, -e * t / (tau * tau), 0.0),
            AnalyticKind::DelayedExponential => {
                let d = t0 - t;
                (d * e / tau - e, -d * e * t / (tau * tau), e)
            }
        };
        g_t[j] += g_y[j] * dy_dt;
        g_tau += g_y[j] * dy_dtau;
        g_t0 += g_y[j] * dy_dt0;
        // t = t₀ where clamped; elsewhere t = (t_age/t₀)·t₀ does not depend on t₀.
        if ev.clamped[j] {
            g_t0 += g_t[j];
        }
    }
    vec![g_tau * tau * LN_10, g_t0 * t0 * LN_10]
}

/// Metallicity weights (n_met·n_age, row m·n_age + a) of an MH model for SFH `s`.
fn mh_forward(m: &MhModel, p: &[f64], s: &[f64], n_met: usize) -> Vec<f64> {
    let na = s.len();
    match m {
        MhModel::Interpolated(mh) => {
            let w = interp_forward(p[0], mh.grid());
            (0..n_met * na).map(|k| w[k / na]).collect()
        }
        MhModel::ClosedBox(cb) => {
            let ev = ClosedBoxEval::new(cb, p, s);
            let mut w = vec![0.0; n_met * na];
            for (a, &met) in ev.met.iter().enumerate() {
                for (i, wi) in interp_forward(met, &cb.met).into_iter().enumerate() {
                    w[i * na + a] = wi;
                }
            }
            w
        }
    }
}

/// d/dp_mh of Σ g_w·w; adds the closed box's dependence on the SFH to `g_s`.
fn mh_vjp(m: &MhModel, p: &[f64], s: &[f64], g_w: &[f64], g_s: &mut [f64]) -> Vec<f64> {
    let na = s.len();
    match m {
        MhModel::Interpolated(mh) => {
            let n_met = mh.grid().len();
            let g: Vec<f64> = (0..n_met)
                .map(|i| g_w[i * na..(i + 1) * na].iter().sum())
                .collect();
            vec![interp_vjp(p[0], mh.grid(), &g)]
        }
        MhModel::ClosedBox(cb) => {
            let ev = ClosedBoxEval::new(cb, p, s);
            let n_met = cb.met.len();
            let (met_max, met_min, frac) = (ev.met_max, ev.met_min, ev.frac);
            let (mut g_max, mut g_min) = (0.0, 0.0);
            let mut g_cs = vec![0.0; na];
            for a in 0..na {
                let g: Vec<f64> = (0..n_met).map(|i| g_w[i * na + a]).collect();
                let g_met = interp_vjp(ev.met[a], &cb.met, &g);
                // met = met_min + (met_max − met_min)·cs.
                g_min += g_met * (1.0 - ev.cs[a]);
                g_max += g_met * ev.cs[a];
                g_cs[a] = g_met * (met_max - met_min);
            }
            // met_min = met_max − (met_max − Z₀)(1 − f).
            let z0 = f64::from(cb.met[0]);
            g_max += g_min * frac;
            let g_frac = g_min * (met_max - z0);
            // cs[a] = c[na − 1 − a] / c[na − 1], c = cumsum(s).
            let total = ev.c[na - 1];
            let mut g_c = vec![0.0; na];
            let mut g_total = 0.0;
            for a in 0..na {
                g_c[na - 1 - a] += g_cs[a] / total;
                g_total -= g_cs[a] * ev.cs[a] / total;
            }
            g_c[na - 1] += g_total;
            // Reverse cumulative sum.
            let mut acc = 0.0;
            for i in (0..na).rev() {
                acc += g_c[i];
                g_s[i] += acc;
            }
            vec![g_max * met_max * LN_10, g_frac * frac * LN_10]
        }
    }
}

/// The closed-box metallicities of each age.
struct ClosedBoxEval {
    met_max: f64,
    met_min: f64,
    frac: f64,
    /// Cumulative SFH.
    c: Vec<f64>,
    /// Reversed normalised cumulative SFH.
    cs: Vec<f64>,
    met: Vec<f64>,
}

impl ClosedBoxEval {
    fn new(cb: &ClosedBoxMh, p: &[f64], s: &[f64]) -> Self {
        let na = s.len();
        let met_max = 10f64.powf(p[0]);
        let frac = 10f64.powf(p[1]);
        let met_min = met_max - (met_max - f64::from(cb.met[0])) * (1.0 - frac);
        let c: Vec<f64> = s
            .iter()
            .scan(0.0, |acc, &v| {
                *acc += v;
                Some(*acc)
            })
            .collect();
        let cs: Vec<f64> = (0..na).map(|a| c[na - 1 - a] / c[na - 1]).collect();
        let met = cs
            .iter()
            .map(|&x| met_min + (met_max - met_min) * x)
            .collect();
        Self {
            met_max,
            met_min,
            frac,
            c,
            cs,
            met,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reverse pass against float64 central differences of the same float64 formulas (so
    //! the check is independent of float32 rounding), and those formulas against the burn
    //! forward pass.

    use super::*;
    use crate::params::{MhConfig, ParamConfig, SfhConfig};
    use galsed_core::ssp::SspLibrary;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ssp() -> SspLibrary {
        let norm = ndarray::Array2::from_shape_fn((6, 6), |(m, a)| {
            10f64.powf(1.5 - 0.8 * a as f64 + 0.07 * m as f64 - 0.02 * (m * a) as f64)
        });
        SspLibrary::new(
            vec![0.1, 1.0],
            vec![5e-5, 2e-4, 1e-3, 4e-3, 1e-2, 2.5e-2],
            vec![2.2e6, 1.5e7, 1e8, 4e8, 1.5e9, 6.3e9],
            vec![1e6, 5e6, 4e7, 2e8, 8e8, 3e9, 1.4e10],
            ndarray::Array3::ones((2, 6, 6)),
            norm,
            (0..300).map(|i| 0.1 * 1.03f64.powi(i)).collect(),
        )
        .unwrap()
    }

    /// The block's output in float64 from its full parameters.
    fn block_forward(kind: &BlockKind, x: &[f64]) -> Vec<f64> {
        match kind {
            BlockKind::Galaxy => x.to_vec(),
            BlockKind::Vanilla(v) if v.simplex => simplex_forward(x),
            BlockKind::Vanilla(_) => x.to_vec(),
            BlockKind::Composite(c) => {
                let (na, nm) = (c.n_age, c.n_met);
                let (p_sfh, p_mh) = x.split_at(c.sfh().param_names().len());
                let s = sfh_forward(c.sfh(), p_sfh);
                let w = mh_forward(c.mh(), p_mh, &s, nm);
                let mut grid: Vec<f64> = (0..nm * na).map(|k| s[k % na] * w[k]).collect();
                if c.sfh().is_mass_weighted() {
                    for (k, v) in grid.iter_mut().enumerate() {
                        *v *= f64::from(c.light_norm[k]);
                    }
                    let total: f64 = grid.iter().sum();
                    grid.iter_mut().for_each(|v| *v /= total);
                }
                grid
            }
        }
    }

    fn configs() -> Vec<ParamConfig> {
        let sfh = [
            SfhConfig::Discrete {
                bins: None,
                simplex: true,
            },
            SfhConfig::Discrete {
                bins: Some(vec![[0, 2], [2, 6]]),
                simplex: false,
            },
            SfhConfig::Discrete {
                bins: Some(vec![[0, 2], [2, 3], [4, 6]]),
                simplex: true,
            },
            SfhConfig::Interpolated {},
            SfhConfig::Exponential { n_sub: 16 },
            SfhConfig::Exponential { n_sub: 1 },
            SfhConfig::DelayedExponential { n_sub: 16 },
        ];
        let mut v = Vec::new();
        for s in sfh {
            for mh in [MhConfig::Interpolated {}, MhConfig::ClosedBox {}] {
                v.push(ParamConfig {
                    sfh: s.clone(),
                    mh: Some(mh),
                    ..Default::default()
                });
            }
        }
        v.push(ParamConfig {
            sfh: SfhConfig::Vanilla { simplex: true },
            ..Default::default()
        });
        v
    }

    #[test]
    fn vjp_matches_float64_differences() {
        let ssp = ssp();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut worst = 0.0f64;
        for cfg in configs() {
            let param = Parametrization::from_config(&cfg, &ssp).unwrap();
            let bounds = param.bounds();
            let p = ndarray::Array2::from_shape_fn((4, bounds.len()), |(_, j)| {
                let (lo, hi) = bounds[j];
                lo + (0.03 + 0.94 * rng.random::<f64>()) * (hi - lo)
            });
            let (gp, sd, sb, trace) = param.apply_rows_traced(p.view());
            let blocks = [(&trace.gp, &gp), (&trace.disk, &sd)]
                .into_iter()
                .chain(trace.bulge.as_ref().map(|b| (b, &sb)));
            for (b, values) in blocks {
                for r in 0..p.nrows() {
                    let x = &b.values[r * b.n_all..(r + 1) * b.n_all];
                    // The float64 formulas reproduce the float32 forward pass (up to its
                    // rounding: the closed box's metallicities, ~1e−7 relative, enter the
                    // weights divided by grid spacings down to 0.008).
                    let y = block_forward(&b.kind, x);
                    for (k, &v) in y.iter().enumerate() {
                        let want = f64::from(values[r * b.width + k]);
                        assert!(
                            (v - want).abs() <= 1e-5 * want.abs() + 2e-5,
                            "{cfg:?}: value {k}: {v} vs {want}"
                        );
                    }
                    let g: Vec<f64> = (0..b.width)
                        .map(|_| 2.0 * rng.random::<f64>() - 1.0)
                        .collect();
                    let got = match &b.kind {
                        BlockKind::Galaxy => g.clone(),
                        BlockKind::Vanilla(v) => vanilla_vjp(v, x, &g),
                        BlockKind::Composite(c) => composite_vjp(c, x, &g),
                    };
                    let loss = |x: &[f64]| -> f64 {
                        block_forward(&b.kind, x)
                            .iter()
                            .zip(&g)
                            .map(|(a, b)| a * b)
                            .sum()
                    };
                    let scale = got.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    for i in 0..x.len() {
                        let h = 1e-6 * x[i].abs().max(1e-2);
                        let (mut hi, mut lo) = (x.to_vec(), x.to_vec());
                        hi[i] += h;
                        lo[i] -= h;
                        let fd = (loss(&hi) - loss(&lo)) / (2.0 * h);
                        let err = (got[i] - fd).abs() / scale;
                        worst = worst.max(err);
                        assert!(
                            err < 1e-6,
                            "{cfg:?}: d/dx{i} row {r}: vjp {} vs difference {fd}",
                            got[i]
                        );
                    }
                }
            }
        }
        eprintln!("worst |vjp − difference| / scale = {worst:.2e}");
    }
}
