//! The forward model on plain float32 slices, used by the batch predictions (which never need
//! gradients). It computes the same formulas as the burn tensor path but without one allocation
//! and one scalar libm call per element and op: dense layers are a register-blocked kernel and the
//! element-wise functions are vectorised polynomials ([`super::vmath`]), both compiled for the
//! running CPU through `pulp`'s dispatch. The tensor path stays the reference and the only
//! differentiable one; tests check that both agree.

mod reverse;

pub(crate) use reverse::CombineTape;

use super::vmath::{self, Func, Kernel, simd};
use crate::config::Activation;
use crate::networks::{AttenuationCurve, CurveLayout, EmissionDistribution, Mlp, Segment};
use crate::sed::Component;
use crate::weights::to_vec;
use burn::nn::Linear;
use ndarray::{Array2, ArrayView2};

/// Below this many rows a dense layer accumulates weight rows instead of calling the matrix product.
const FEW_ROWS: usize = 8;
/// Column granularity (one AVX-512 register); outputs are padded to a multiple of it.
const NARROW: usize = 16;

/// A dense layer y = x·W + b with W stored (in, out) and padded to a multiple of [`NARROW`]
/// output columns.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    n_in: usize,
    n_out: usize,
    n_pad: usize,
}

impl Dense {
    /// From a row-major (n_in, n_out) matrix and an optional bias.
    pub(crate) fn new(w: &[f32], n_in: usize, n_out: usize, bias: Option<&[f32]>) -> Self {
        let n_pad = n_out.div_ceil(NARROW) * NARROW;
        let mut wp = vec![0f32; n_in * n_pad];
        for (dst, src) in wp.chunks_exact_mut(n_pad).zip(w.chunks_exact(n_out)) {
            dst[..n_out].copy_from_slice(src);
        }
        let mut b = vec![0f32; n_pad];
        if let Some(bias) = bias {
            b[..n_out].copy_from_slice(bias);
        }
        Self {
            w: wp,
            b,
            n_in,
            n_out,
            n_pad,
        }
    }

    fn from_linear(l: &Linear) -> Self {
        let [n_in, n_out] = l.weight.val().dims();
        let w = to_vec(l.weight.val());
        let b = l.bias.as_ref().map(|b| to_vec(b.val()));
        Self::new(&w, n_in, n_out, b.as_deref())
    }

    /// Stacks layers reading the same input side by side (their outputs are concatenated).
    fn concat(parts: &[Dense]) -> Self {
        let n_in = parts[0].n_in;
        let n_out: usize = parts.iter().map(|p| p.n_out).sum();
        let mut w = vec![0f32; n_in * n_out];
        let mut b = Vec::with_capacity(n_out);
        let mut col = 0;
        for p in parts {
            for k in 0..n_in {
                w[k * n_out + col..][..p.n_out].copy_from_slice(&p.w[k * p.n_pad..][..p.n_out]);
            }
            b.extend_from_slice(&p.b[..p.n_out]);
            col += p.n_out;
        }
        Self::new(&w, n_in, n_out, Some(&b))
    }

    /// y (n × n_out) = x (n × n_in)·W + b, with ndarray's matrix product (matrixmultiply).
    pub(crate) fn forward(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.n_in;
        let accumulate = n < FEW_ROWS || mostly_zero(x);
        let x = ArrayView2::from_shape((n, self.n_in), x).expect("input rows of n_in values");
        let w = ArrayView2::from_shape((self.n_in, self.n_pad), &self.w).expect("padded weights");
        let w = w.slice(ndarray::s![.., ..self.n_out]);
        let mut y = Array2::from_shape_fn((n, self.n_out), |(_, j)| self.b[j]);
        if accumulate {
            // matrixmultiply packs the whole weight matrix on every call: for a few rows,
            // accumulating the weight rows is several times faster. The accumulation follows
            // matrixmultiply's FMA kernels exactly, so a galaxy's result does not depend on the
            // batch it is evaluated in.
            let (x, y) = (
                x.as_slice().expect("standard layout"),
                y.as_slice_mut().expect("standard layout"),
            );
            simd(FewRows {
                x,
                w: &self.w,
                y,
                n_in: self.n_in,
                n_out: self.n_out,
                n_pad: self.n_pad,
            });
        } else {
            ndarray::linalg::general_mat_mul(1.0, &x, &w, 1.0, &mut y);
        }
        y.into_raw_vec_and_offset().0
    }
}

/// More than three quarters of `x` is zero (SSP weights of single-age or few-bin star-formation
/// histories): accumulating only the non-zero inputs' weight rows beats the dense product.
fn mostly_zero(x: &[f32]) -> bool {
    4 * x.iter().filter(|&&v| v == 0.0).count() > 3 * x.len()
}

/// matrixmultiply's sgemm block depth (`S_KC`): its kernels sum k in blocks of this many terms.
const GEMM_KC: usize = 256;

/// y += x·W for a few rows, rounding exactly as matrixmultiply's FMA kernels (AVX2+FMA, AVX-512):
/// per block of [`GEMM_KC`] inputs the products are summed by a chain of FMAs from zero, in input
/// order, and each block's sum is then added to y (which starts as the bias).
struct FewRows<'a> {
    x: &'a [f32],
    w: &'a [f32],
    y: &'a mut [f32],
    n_in: usize,
    n_out: usize,
    n_pad: usize,
}

impl Kernel for FewRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let mut acc = vec![0f32; self.n_pad];
        for (xr, yr) in self
            .x
            .chunks_exact(self.n_in)
            .zip(self.y.chunks_exact_mut(self.n_out))
        {
            for k0 in (0..self.n_in).step_by(GEMM_KC) {
                acc.fill(0.0);
                for (k, &xk) in xr.iter().enumerate().skip(k0).take(GEMM_KC) {
                    // fma(0, w, a) = a for finite w: skipping zero inputs changes no bit.
                    if xk == 0.0 {
                        continue;
                    }
                    let wk = &self.w[k * self.n_pad..][..self.n_pad];
                    for (a, &wv) in acc.iter_mut().zip(wk) {
                        *a = xk.mul_add(wv, *a);
                    }
                }
                for (v, a) in yr.iter_mut().zip(&acc) {
                    *v += a;
                }
            }
        }
    }
}

/// Σ a_i·b_i with 16 partial sums (vectorisable).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; NARROW];
    let (ca, cb) = (a.chunks_exact(NARROW), b.chunks_exact(NARROW));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..NARROW {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ a_i (vectorisable).
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; NARROW];
    let c = a.chunks_exact(NARROW);
    let tail: f32 = c.remainder().iter().sum();
    for x in c {
        for i in 0..NARROW {
            acc[i] += x[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// trapz(y, dx) = dx·(Σy − (y₀ + y_last)/2).
#[inline(always)]
fn trapz_dx(y: &[f32], dx: f32) -> f32 {
    (sum(y) - (y[0] + y[y.len() - 1]) * 0.5) * dx
}

/// Rows of `a` and `b` dotted pairwise: out\[i\] = a_i · b_i (each `width` wide).
pub(crate) fn row_dots(a: &[f32], b: &[f32], width: usize) -> Vec<f32> {
    struct RowDots<'a>(&'a [f32], &'a [f32], usize);
    impl Kernel for RowDots<'_> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn run(self) -> Vec<f32> {
            let RowDots(a, b, w) = self;
            a.chunks_exact(w)
                .zip(b.chunks_exact(w))
                .map(|(x, y)| dot(x, y))
                .collect()
        }
    }
    simd(RowDots(a, b, width))
}

/// x (n × k) times the rows of `mt` (m × k): out (n × m) = x·mtᵀ (for narrow outputs such as
/// band fluxes, where a dot product per output beats a padded dense layer).
pub(crate) fn matmul_transposed(x: &[f32], mt: &[f32], k: usize) -> Vec<f32> {
    struct MatmulT<'a>(&'a [f32], &'a [f32], usize);
    impl Kernel for MatmulT<'_> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn run(self) -> Vec<f32> {
            let MatmulT(x, mt, k) = self;
            let mut out = Vec::with_capacity(x.len() / k * (mt.len() / k));
            for row in x.chunks_exact(k) {
                for m in mt.chunks_exact(k) {
                    out.push(dot(row, m));
                }
            }
            out
        }
    }
    simd(MatmulT(x, mt, k))
}

fn activate(v: &mut [f32], act: Activation) {
    match act {
        Activation::Tanh => vmath::map_inplace(v, Func::Tanh),
        Activation::Sigmoid => vmath::map_inplace(v, Func::Sigmoid),
        Activation::None => {}
    }
}

/// An MLP as dense layers and activations.
#[derive(Debug, Clone)]
pub(crate) struct FastMlp {
    layers: Vec<(Dense, Activation)>,
}

impl FastMlp {
    pub(crate) fn new(m: &Mlp) -> Self {
        let layers = m
            .layers
            .iter()
            .map(Dense::from_linear)
            .zip(m.activations.iter().copied())
            .collect();
        Self { layers }
    }

    pub(crate) fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut h = x.to_vec();
        for (layer, act) in &self.layers {
            h = layer.forward(&h);
            activate(&mut h, *act);
        }
        h
    }

    /// The output of every layer (the last is [`FastMlp::forward`]'s), for the reverse pass.
    pub(crate) fn forward_layers(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut outs: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for (layer, act) in &self.layers {
            let mut h = layer.forward(outs.last().map_or(x, Vec::as_slice));
            activate(&mut h, *act);
            outs.push(h);
        }
        outs
    }
}

/// Attenuation-curve network (spec §4.1).
#[derive(Debug, Clone)]
pub(crate) struct FastCurve {
    mlp: FastMlp,
    heads: Dense,
    layout: CurveLayout,
}

impl FastCurve {
    pub(crate) fn new(c: &AttenuationCurve) -> Self {
        Self {
            mlp: FastMlp::new(&c.mlp),
            heads: Dense::from_linear(&c.heads),
            layout: c.layout.clone(),
        }
    }

    /// Transmissions 10^(−0.4 A), (n × output_size).
    pub(crate) fn transmission(&self, gp: &[f32]) -> Vec<f32> {
        self.transmission_of_heads(self.heads.forward(&self.mlp.forward(gp)))
    }

    /// Transmissions from the head layer's outputs (before their softplus).
    pub(crate) fn transmission_of_heads(&self, mut s: Vec<f32>) -> Vec<f32> {
        let l = &self.layout;
        vmath::map_inplace(&mut s, Func::Softplus);
        let width = self.heads.n_out;
        let n_out = l.output_size;
        let mut out = vec![0f32; s.len() / width * n_out];
        let mut inc = Vec::new();
        let mut dec = Vec::new();
        let mut acc = Vec::new();
        for (s, y) in s.chunks_exact(width).zip(out.chunks_exact_mut(n_out)) {
            monotonic(&s[l.baseline.start..][..l.baseline.len], false, &mut dec);
            smooth_into(&dec, l.baseline_kernel, y, 1.0, &mut acc);
            for &((b, e), up, down) in &l.bumps {
                unimodal(s, up, down, &mut inc, &mut dec);
                smooth_into(&inc, l.bump_kernel, &mut y[b..e], 1.0, &mut acc);
            }
            let ((b, e), up, down) = l.trough;
            unimodal(s, up, down, &mut inc, &mut dec);
            smooth_into(&inc, l.baseline_kernel, &mut y[b..e], -1.0, &mut acc);
            let mean = y.iter().sum::<f32>() / n_out as f32 + l.norm_fix as f32;
            let norm = s[l.norm_col];
            for v in y.iter_mut() {
                *v = *v * norm / mean;
            }
        }
        vmath::map_inplace(&mut out, Func::Transmission);
        out
    }
}

/// Monotonic(v) of spec §4.1 on softplus values: c = cumsum(v)/n; increasing c − c₀,
/// decreasing c_last − c.
fn monotonic(v: &[f32], increasing: bool, out: &mut Vec<f32>) {
    out.clear();
    let mut acc = 0f32;
    out.extend(v.iter().map(|&x| {
        acc += x;
        acc
    }));
    let n = v.len() as f32;
    let (first, last) = (out[0], out[out.len() - 1]);
    for c in out.iter_mut() {
        *c = if increasing {
            (*c - first) / n
        } else {
            (last - *c) / n
        };
    }
}

/// Unimodal(h) = Monotonic(up, increasing) ⊙ Monotonic(down, decreasing), left in `inc`.
fn unimodal(s: &[f32], up: Segment, down: Segment, inc: &mut Vec<f32>, dec: &mut Vec<f32>) {
    monotonic(&s[up.start..][..up.len], true, inc);
    monotonic(&s[down.start..][..down.len], false, dec);
    for (a, b) in inc.iter_mut().zip(dec.iter()) {
        *a *= *b;
    }
}

/// out_j (+)= sign · mean(x[j..j+k]) (valid moving average); overwrites when `sign` is 1 and
/// `out` is the baseline (callers pass fresh zeros there).
///
/// Each output sums its window in order from −0.0, exactly as `iter().sum()` would, but the loop
/// runs over the outputs innermost so that it vectorises instead of waiting on one add chain.
fn smooth_into(x: &[f32], k: usize, out: &mut [f32], sign: f32, acc: &mut Vec<f32>) {
    let w = sign / k as f32;
    let n = out.len();
    acc.clear();
    acc.resize(n, -0.0);
    for t in 0..k {
        for (a, &v) in acc.iter_mut().zip(&x[t..t + n]) {
            *a += v * w;
        }
    }
    for (o, a) in out.iter_mut().zip(acc.iter()) {
        *o += a;
    }
}

/// Dust-emission distribution (spec §4.3).
#[derive(Debug, Clone)]
pub(crate) struct FastEmission {
    mlp: FastMlp,
    /// lin_mu, lin_w, lin_pos, lin_neg fused side by side.
    heads: Dense,
    n_mix: usize,
    x_inv: Vec<f32>,
    planck_x4: Vec<f32>,
    dx: f32,
}

impl FastEmission {
    pub(crate) fn new(e: &EmissionDistribution) -> Self {
        let heads = Dense::concat(&[
            Dense::from_linear(&e.lin_mu),
            Dense::from_linear(&e.lin_w),
            Dense::from_linear(&e.lin_pos),
            Dense::from_linear(&e.lin_neg),
        ]);
        Self {
            mlp: FastMlp::new(&e.mlp),
            heads,
            n_mix: e.lin_mu.weight.val().dims()[1],
            x_inv: to_vec(e.x_inv.clone()),
            planck_x4: to_vec(e.planck_x4.clone()),
            dx: e.dx as f32,
        }
    }

    /// y₁ (n × n_λ) for inputs [gp, frac_disk, frac_bulge] (n × 9).
    pub(crate) fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.forward_of_heads(&self.heads.forward(&self.mlp.forward(x)))
    }

    /// y₁ from the fused head outputs.
    pub(crate) fn forward_of_heads(&self, heads: &[f32]) -> Vec<f32> {
        let mut y1 = vec![0f32; heads.len() / self.heads.n_out * self.x_inv.len()];
        simd(EmissionKernel(self, heads, &mut y1));
        y1
    }
}

struct EmissionKernel<'a>(&'a FastEmission, &'a [f32], &'a mut [f32]);

impl Kernel for EmissionKernel<'_> {
    type Output = ();
    /// Per row: the Planck mixture y₀ and the transfer to y₁ from the fused head outputs.
    #[inline(always)]
    fn run(self) {
        let EmissionKernel(em, heads, y1) = self;
        let (nm, nl) = (em.n_mix, em.x_inv.len());
        let width = em.heads.n_out;
        let mut coef = vec![0f32; nm];
        let mut mu = vec![0f32; nm];
        let (mut zpos, mut zneg) = (vec![0f32; nl], vec![0f32; nl]);
        for (h, y) in heads.chunks_exact(width).zip(y1.chunks_exact_mut(nl)) {
            // μ = cumsum(exp(·)), w = softmax(·), coefficient w·μ⁴ of each black body.
            let mut acc = 0f32;
            for (m, &v) in mu.iter_mut().zip(&h[..nm]) {
                acc += vmath::exp(v);
                *m = acc;
            }
            let lw = &h[nm..2 * nm];
            let max = lw.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let total: f32 = lw.iter().map(|&v| vmath::exp(v - max)).sum();
            for ((c, &v), &m) in coef.iter_mut().zip(lw).zip(&mu) {
                *c = vmath::exp(v - max) / total * (m * m * m * m);
            }
            // Planck mixture Σ_m c_m/(e^{μ_m/λ} − 1), then the λ factor (15/π⁴)x⁴.
            y.fill(0.0);
            for (&c, &m) in coef.iter().zip(&mu) {
                for (o, &xi) in y.iter_mut().zip(&em.x_inv) {
                    let t = m * xi;
                    // Beyond e^87 the term is below 1e−37: skip it (and its denormals).
                    let term = c / (vmath::exp(t) - 1.0);
                    *o += if t < 87.0 { term } else { 0.0 };
                }
            }
            for (o, &p) in y.iter_mut().zip(&em.planck_x4) {
                *o *= p;
            }
            let norm = trapz_dx(y, em.dx);
            for o in y.iter_mut() {
                *o /= norm;
            }
            // Transfer: y₁ = y₀ + trapz(z⁻)·z⁺/trapz(z⁺) − z⁻.
            let pos = &h[2 * nm..2 * nm + nl];
            let neg = &h[2 * nm + nl..2 * nm + 2 * nl];
            for (((zp, zn), (&p, &g)), &y0) in zpos
                .iter_mut()
                .zip(zneg.iter_mut())
                .zip(pos.iter().zip(neg))
                .zip(y.iter())
            {
                *zp = vmath::softplus(p);
                *zn = vmath::sigmoid(g) * y0;
            }
            let scale = trapz_dx(&zneg, em.dx) / trapz_dx(&zpos, em.dx);
            for ((o, &zp), &zn) in y.iter_mut().zip(&zpos).zip(&zneg) {
                *o = *o + zp * scale - zn;
            }
        }
    }
}

/// Fixed linear interpolation onto the model grid (spec §3.4): y[i−1] + w·(y\[i\] − y[i−1]),
/// `fill` outside the source range.
#[derive(Debug, Clone)]
pub(crate) struct FastRegrid {
    hi: Vec<usize>,
    w: Vec<f32>,
    inside: Vec<f32>,
    outside_fill: Vec<f32>,
}

impl FastRegrid {
    pub(crate) fn new(r: &galsed_core::ssp::Regrid) -> Self {
        let inside: Vec<f32> = r.mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
        Self {
            hi: r.inds.clone(),
            w: r.weights.clone(),
            outside_fill: inside.iter().map(|m| (1.0 - m) * r.fill).collect(),
            inside,
        }
    }

    /// Rows of `y` (each `width` wide) mapped onto the target grid.
    fn apply(&self, y: &[f32], width: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(y.len() / width * self.hi.len());
        for row in y.chunks_exact(width) {
            out.extend(
                self.hi
                    .iter()
                    .zip(&self.w)
                    .zip(self.inside.iter().zip(&self.outside_fill))
                    .map(|((&i, &w), (&m, &f))| {
                        let lo = row[i - 1];
                        (lo + w * (row[i] - lo)) * m + f
                    }),
            );
        }
        out
    }
}

/// How network outputs reach the evaluation grid (see `GridMap`).
#[derive(Debug, Clone)]
pub(crate) enum FastMap {
    Native,
    Interpolated {
        att: FastRegrid,
        emission: FastRegrid,
    },
}

/// All networks and tables of a [`crate::Starduster`], on plain slices.
#[derive(Debug, Clone)]
pub(crate) struct FastModel {
    pub(crate) curve_disk: FastCurve,
    pub(crate) curve_bulge: FastCurve,
    pub(crate) frac_disk: FastMlp,
    pub(crate) frac_bulge: FastMlp,
    pub(crate) distri: FastEmission,
    pub(crate) selector_disk: FastMlp,
    pub(crate) selector_bulge: FastMlp,
    /// SSP spectra (36 × n_λ) and segment luminosities (36 × n_seg) as dense layers.
    pub(crate) l_ssp: Dense,
    pub(crate) big_l_ssp: Dense,
    pub(crate) map: FastMap,
}

/// The pieces of the SED for a batch (as `crate::Forward`), row-major.
pub(crate) struct FastForward {
    n_lam: usize,
    l_norm: Vec<f32>,
    b_to_t: Vec<f32>,
    l_disk: Vec<f32>,
    l_bulge: Vec<f32>,
    trans: Option<(Vec<f32>, Vec<f32>)>,
    l_dust: Option<Vec<f32>>,
}

impl FastModel {
    fn n_lam(&self) -> usize {
        self.l_ssp.n_out
    }

    /// Transmission of one curve on the grid (1 beyond the curve on the `base` grid).
    fn transmission(&self, curve: &FastCurve, gp: &[f32]) -> Vec<f32> {
        self.transmission_map(curve, &curve.transmission(gp))
    }

    /// A curve's transmissions (n × output_size) mapped onto the grid.
    fn transmission_map(&self, curve: &FastCurve, t: &[f32]) -> Vec<f32> {
        let m = curve.layout.output_size;
        match &self.map {
            FastMap::Native => {
                let n_lam = self.n_lam();
                let mut out = vec![1f32; t.len() / m * n_lam];
                let k = m.min(n_lam);
                for (o, r) in out.chunks_exact_mut(n_lam).zip(t.chunks_exact(m)) {
                    o[..k].copy_from_slice(&r[..k]);
                }
                out
            }
            FastMap::Interpolated { att, .. } => att.apply(t, m),
        }
    }

    /// Absorbed fractions of disk and bulge light (spec §4.2).
    pub(crate) fn absorption(&self, gp: &[f32], sd: &[f32], sb: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n_seg = self.big_l_ssp.n_out;
        let frac = |mlp: &FastMlp, sfh: &[f32]| {
            row_dots(&self.big_l_ssp.forward(sfh), &mlp.forward(gp), n_seg)
        };
        (frac(&self.frac_disk, sd), frac(&self.frac_bulge, sb))
    }

    /// Selector logits (disk, bulge).
    pub(crate) fn selector_logits(&self, gp: &[f32]) -> (Vec<f32>, Vec<f32>) {
        (
            self.selector_disk.forward(gp),
            self.selector_bulge.forward(gp),
        )
    }

    /// Runs the networks needed for `component` on clipped inputs (gp: n × 7, SFHs n × 36).
    pub(crate) fn forward(
        &self,
        gp: &[f32],
        sd: &[f32],
        sb: &[f32],
        component: Component,
    ) -> FastForward {
        let n_gp = crate::N_GP;
        let b_to_t: Vec<f32> = gp.chunks_exact(n_gp).map(|g| (g[6] + 1.0) * 0.5).collect();
        let ln10 = std::f64::consts::LN_10 as f32;
        let l_norm = gp
            .chunks_exact(n_gp)
            .map(|g| (((g[5] + 1.0) * 4.0 + 6.0) * ln10).exp())
            .collect();
        let trans =
            matches!(component, Component::Combine | Component::DustAttenuation).then(|| {
                (
                    self.transmission(&self.curve_disk, gp),
                    self.transmission(&self.curve_bulge, gp),
                )
            });
        let l_dust = matches!(component, Component::Combine | Component::DustEmission).then(|| {
            let (fd, fb) = self.absorption(gp, sd, sb);
            let y1 = self.distri.forward(&emission_inputs(gp, &fd, &fb));
            self.dust_light(self.emission_map(y1), &fd, &fb, &b_to_t)
        });
        FastForward {
            n_lam: self.n_lam(),
            l_norm,
            b_to_t,
            l_disk: self.l_ssp.forward(sd),
            l_bulge: self.l_ssp.forward(sb),
            trans,
            l_dust,
        }
    }
}

/// Inputs of the emission network: [gp, frac_disk, frac_bulge] per row.
fn emission_inputs(gp: &[f32], fd: &[f32], fb: &[f32]) -> Vec<f32> {
    let mut x = Vec::with_capacity(fd.len() * (crate::N_GP + 2));
    for ((g, d), b) in gp.chunks_exact(crate::N_GP).zip(fd).zip(fb) {
        x.extend_from_slice(g);
        x.extend_from_slice(&[*d, *b]);
    }
    x
}

impl FastModel {
    /// The emission network's y₁ on the evaluation grid.
    fn emission_map(&self, y1: Vec<f32>) -> Vec<f32> {
        match &self.map {
            FastMap::Native => y1,
            FastMap::Interpolated { emission, .. } => emission.apply(&y1, self.distri.x_inv.len()),
        }
    }

    /// Dust light per unit l_norm: y₁ times the absorbed fraction (1−b)·f_disk + b·f_bulge.
    fn dust_light(&self, mut y1: Vec<f32>, fd: &[f32], fb: &[f32], b_to_t: &[f32]) -> Vec<f32> {
        let width = y1.len() / fd.len();
        for (((row, d), b), bt) in y1.chunks_exact_mut(width).zip(fd).zip(fb).zip(b_to_t) {
            let frac = d * (1.0 - bt) + b * bt;
            row.iter_mut().for_each(|v| *v *= frac);
        }
        y1
    }
}

impl FastForward {
    /// Stellar light per unit l_norm: (1−b)·T_d·I_d + b·T_b·I_b (T = 1 when not attenuated).
    pub(crate) fn l_main(&self, attenuated: bool) -> Vec<f32> {
        let nl = self.n_lam;
        let mut out = vec![0f32; self.l_disk.len()];
        let trans = self.trans.as_ref().filter(|_| attenuated);
        for (r, o) in out.chunks_exact_mut(nl).enumerate() {
            let (d, b) = (&self.l_disk[r * nl..][..nl], &self.l_bulge[r * nl..][..nl]);
            let bt = self.b_to_t[r];
            match trans {
                Some((td, tb)) => {
                    let (td, tb) = (&td[r * nl..][..nl], &tb[r * nl..][..nl]);
                    for i in 0..nl {
                        o[i] = d[i] * td[i] * (1.0 - bt) + b[i] * tb[i] * bt;
                    }
                }
                None => {
                    for i in 0..nl {
                        o[i] = d[i] * (1.0 - bt) + b[i] * bt;
                    }
                }
            }
        }
        out
    }

    /// λL_λ \[L_sun\] of a component (which this forward pass was run for, or `DustFree`).
    pub(crate) fn component(&self, component: Component) -> Vec<f32> {
        let mut per_l = match component {
            Component::DustEmission => self
                .l_dust
                .clone()
                .unwrap_or_else(|| vec![0f32; self.l_disk.len()]),
            _ => self.l_main(component != Component::DustFree),
        };
        if component == Component::Combine
            && let Some(dust) = &self.l_dust
        {
            per_l.iter_mut().zip(dust).for_each(|(v, d)| *v += d);
        }
        for (row, l) in per_l.chunks_exact_mut(self.n_lam).zip(&self.l_norm) {
            row.iter_mut().for_each(|v| *v *= l);
        }
        per_l
    }
}
