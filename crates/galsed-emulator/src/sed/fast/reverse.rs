//! The reverse pass of the fast forward model, written by hand: the gradient of a scalar with
//! respect to the model inputs (gp, disk SFH, bulge SFH) for a batch, at the cost of about two
//! forward passes and with no state shared between threads (burn-autodiff keeps its graph in
//! global state, which concurrent fits cannot use safely: tracel-ai/burn#5573, #5193).
//!
//! Each function is the adjoint of its forward counterpart in `fast.rs`: it takes the gradient
//! of the outputs and returns the gradient of the inputs. The forward values needed are kept on
//! a tape ([`CombineTape`]); small per-row intermediates (the monotonic halves of a curve, the
//! Planck mixture) are recomputed. The burn tensor path, differentiated by burn-autodiff, is the
//! test oracle (tests/gradient.rs).

use super::{
    Dense, FastCurve, FastEmission, FastForward, FastMap, FastMlp, FastModel, FastRegrid, dot,
    emission_inputs, monotonic, row_dots, smooth_into, trapz_dx, unimodal,
};
use crate::config::Activation;
use crate::sed::Component;
use crate::sed::vmath::{self, Kernel, simd};

impl Dense {
    /// x̄ = ȳ·Wᵀ (the bias has no input gradient). One dot product per row and input, whatever
    /// the batch, so that a row's gradient does not depend on the rows evaluated with it.
    fn backward(&self, g_y: &[f32]) -> Vec<f32> {
        struct Run<'a>(&'a Dense, &'a [f32]);
        impl Kernel for Run<'_> {
            type Output = Vec<f32>;
            #[inline(always)]
            fn run(self) -> Vec<f32> {
                self.0.backward_rows(self.1)
            }
        }
        simd(Run(self, g_y))
    }

    // Plain loops, no closures: only code inlined into the dispatched kernel gets FMA and wide
    // vectors (a closure stays out of line and calls `fmaf` per element).
    #[inline(always)]
    fn backward_rows(&self, g_y: &[f32]) -> Vec<f32> {
        let n = g_y.len() / self.n_out;
        let mut g_x = vec![0f32; n * self.n_in];
        for (gy, gx) in g_y
            .chunks_exact(self.n_out)
            .zip(g_x.chunks_exact_mut(self.n_in))
        {
            for (k, v) in gx.iter_mut().enumerate() {
                *v = dot(gy, &self.w[k * self.n_pad..][..self.n_out]);
            }
        }
        g_x
    }
}

impl FastMlp {
    /// Input gradient from the layer outputs of [`FastMlp::forward_layers`] on input `x`.
    fn backward(&self, outs: &[Vec<f32>], g_out: &[f32]) -> Vec<f32> {
        let mut g = g_out.to_vec();
        for ((layer, act), out) in self.layers.iter().zip(outs).rev() {
            match act {
                Activation::Tanh => g.iter_mut().zip(out).for_each(|(g, h)| *g *= 1.0 - h * h),
                Activation::Sigmoid => g.iter_mut().zip(out).for_each(|(g, h)| *g *= h * (1.0 - h)),
                Activation::None => {}
            }
            g = layer.backward(&g);
        }
        g
    }
}

/// Adjoint of [`monotonic`]: increasing c_i = Σ_{1≤m≤i} v_m/n, decreasing c_i = Σ_{m>i} v_m/n.
#[inline(always)]
fn monotonic_adjoint(g: &[f32], increasing: bool, g_v: &mut [f32]) {
    let n = g.len() as f32;
    let mut acc = 0f32;
    if increasing {
        for m in (1..g.len()).rev() {
            acc += g[m];
            g_v[m] += acc / n;
        }
    } else {
        for m in 1..g.len() {
            acc += g[m - 1];
            g_v[m] += acc / n;
        }
    }
}

/// Adjoint of [`smooth_into`]: x̄[j + t] += sign/k · ḡ_j.
#[inline(always)]
fn smooth_adjoint(g_out: &[f32], k: usize, sign: f32, g_x: &mut [f32]) {
    let w = sign / k as f32;
    for t in 0..k {
        for (gx, &g) in g_x[t..t + g_out.len()].iter_mut().zip(g_out) {
            *gx += g * w;
        }
    }
}

/// Adjoint of a trapezoid integral with step dx: ∂/∂y_l = dx (½ at both ends).
#[inline(always)]
fn trapz_adjoint(g: f32, dx: f32, g_y: &mut [f32]) {
    let last = g_y.len() - 1;
    for (l, gy) in g_y.iter_mut().enumerate() {
        *gy += if l == 0 || l == last { 0.5 } else { 1.0 } * g * dx;
    }
}

/// d softplus(x)/dx = σ(x) (1 above PyTorch's threshold 20, where softplus is the identity).
#[inline(always)]
fn softplus_grad(x: f32) -> f32 {
    if x > 20.0 { 1.0 } else { vmath::sigmoid(x) }
}

/// The forward values of one MLP-fed network on a batch.
struct NetTape {
    /// Every trunk layer's output.
    outs: Vec<Vec<f32>>,
    /// The head layer's outputs (before any element-wise function).
    heads: Vec<f32>,
}

impl NetTape {
    fn new(mlp: &FastMlp, heads: &Dense, x: &[f32]) -> Self {
        let outs = mlp.forward_layers(x);
        let heads = heads.forward(outs.last().map_or(x, Vec::as_slice));
        Self { outs, heads }
    }

    /// Input gradient from the head outputs' gradient.
    fn backward(&self, mlp: &FastMlp, heads: &Dense, g_heads: &[f32]) -> Vec<f32> {
        let g = heads.backward(g_heads);
        if self.outs.is_empty() {
            return g;
        }
        mlp.backward(&self.outs, &g)
    }
}

impl FastCurve {
    /// Head-output gradient of Σ ḡ ⊙ T for transmissions T (n × output_size) computed from
    /// the head outputs `h`.
    fn backward_heads(&self, h: &[f32], t: &[f32], g_t: &[f32]) -> Vec<f32> {
        struct Run<'a>(&'a FastCurve, [&'a [f32]; 3]);
        impl Kernel for Run<'_> {
            type Output = Vec<f32>;
            #[inline(always)]
            fn run(self) -> Vec<f32> {
                let [h, t, g_t] = self.1;
                self.0.backward_heads_rows(h, t, g_t)
            }
        }
        simd(Run(self, [h, t, g_t]))
    }

    #[inline(always)]
    fn backward_heads_rows(&self, h: &[f32], t: &[f32], g_t: &[f32]) -> Vec<f32> {
        let l = &self.layout;
        let width = self.heads.n_out;
        let n_out = l.output_size;
        let k = (-0.4 * std::f64::consts::LN_10) as f32;
        let mut g_h = vec![0f32; h.len()];
        let (mut inc, mut dec, mut acc) = (Vec::new(), Vec::new(), Vec::new());
        let mut y = vec![0f32; n_out];
        let mut g_y = vec![0f32; n_out];
        let mut g_half = Vec::new();
        for (((h, gh), t), gt) in h
            .chunks_exact(width)
            .zip(g_h.chunks_exact_mut(width))
            .zip(t.chunks_exact(n_out))
            .zip(g_t.chunks_exact(n_out))
        {
            let mut s = vec![0f32; width];
            for (sv, &hv) in s.iter_mut().zip(h) {
                *sv = vmath::softplus(hv);
            }
            let mut g_s = vec![0f32; width];
            // Recompute the curve before normalisation (as in `transmission_of_heads`).
            y.fill(0.0);
            monotonic(&s[l.baseline.start..][..l.baseline.len], false, &mut dec);
            smooth_into(&dec, l.baseline_kernel, &mut y, 1.0, &mut acc);
            for &((b, e), up, down) in &l.bumps {
                unimodal(&s, up, down, &mut inc, &mut dec);
                smooth_into(&inc, l.bump_kernel, &mut y[b..e], 1.0, &mut acc);
            }
            let ((b, e), up, down) = l.trough;
            unimodal(&s, up, down, &mut inc, &mut dec);
            smooth_into(&inc, l.baseline_kernel, &mut y[b..e], -1.0, &mut acc);
            let mean = y.iter().sum::<f32>() / n_out as f32 + l.norm_fix as f32;
            let norm = s[l.norm_col];
            // T = exp(k·A), A = y·norm/mean.
            let g_a: Vec<f32> = gt.iter().zip(t).map(|(g, t)| g * k * t).collect();
            let gay: f32 = g_a.iter().zip(&y).map(|(g, y)| g * y).sum();
            g_s[l.norm_col] += gay / mean;
            let g_mean = -gay * norm / (mean * mean);
            for (gy, ga) in g_y.iter_mut().zip(&g_a) {
                *gy = ga * norm / mean + g_mean / n_out as f32;
            }
            // Baseline: smooth(decreasing(s[baseline])).
            g_half.clear();
            g_half.resize(l.baseline.len, 0.0);
            smooth_adjoint(&g_y, l.baseline_kernel, 1.0, &mut g_half);
            let mut g_seg = vec![0f32; l.baseline.len];
            monotonic_adjoint(&g_half, false, &mut g_seg);
            for (gs, g) in g_s[l.baseline.start..].iter_mut().zip(&g_seg) {
                *gs += g;
            }
            // Bumps (+) and trough (−): smooth(increasing(up) ⊙ decreasing(down)).
            let parts = l
                .bumps
                .iter()
                .map(|&(r, up, down)| (r, up, down, l.bump_kernel, 1.0))
                .chain(std::iter::once((
                    l.trough.0,
                    l.trough.1,
                    l.trough.2,
                    l.baseline_kernel,
                    -1.0,
                )));
            for ((b, e), up, down, kernel, sign) in parts {
                // The two monotonic halves whose product `unimodal` smooths.
                monotonic(&s[up.start..][..up.len], true, &mut inc);
                monotonic(&s[down.start..][..down.len], false, &mut dec);
                g_half.clear();
                g_half.resize(inc.len(), 0.0);
                smooth_adjoint(&g_y[b..e], kernel, sign, &mut g_half);
                let g_up: Vec<f32> = g_half.iter().zip(&dec).map(|(g, d)| g * d).collect();
                let g_down: Vec<f32> = g_half.iter().zip(&inc).map(|(g, u)| g * u).collect();
                let mut g_seg = vec![0f32; up.len];
                monotonic_adjoint(&g_up, true, &mut g_seg);
                for (gs, g) in g_s[up.start..].iter_mut().zip(&g_seg) {
                    *gs += g;
                }
                let mut g_seg = vec![0f32; down.len];
                monotonic_adjoint(&g_down, false, &mut g_seg);
                for (gs, g) in g_s[down.start..].iter_mut().zip(&g_seg) {
                    *gs += g;
                }
            }
            for ((o, g), &hv) in gh.iter_mut().zip(&g_s).zip(h) {
                *o = g * softplus_grad(hv);
            }
        }
        g_h
    }
}

impl FastEmission {
    /// Head-output gradient of Σ ḡ ⊙ y₁ (spec §4.3: Planck mixture and transfer).
    fn backward_heads(&self, heads: &[f32], g_y1: &[f32]) -> Vec<f32> {
        struct Run<'a>(&'a FastEmission, [&'a [f32]; 2]);
        impl Kernel for Run<'_> {
            type Output = Vec<f32>;
            #[inline(always)]
            fn run(self) -> Vec<f32> {
                let [heads, g_y1] = self.1;
                self.0.backward_heads_rows(heads, g_y1)
            }
        }
        simd(Run(self, [heads, g_y1]))
    }

    #[inline(always)]
    fn backward_heads_rows(&self, heads: &[f32], g_y1: &[f32]) -> Vec<f32> {
        let (nm, nl) = (self.n_mix, self.x_inv.len());
        let width = self.heads.n_out;
        let dx = self.dx;
        let mut g_h = vec![0f32; heads.len()];
        let mut basis = vec![0f32; nm * nl];
        for ((h, gh), g1) in heads
            .chunks_exact(width)
            .zip(g_h.chunks_exact_mut(width))
            .zip(g_y1.chunks_exact(nl))
        {
            // Forward, as in `EmissionKernel`.
            let mut e = vec![0f32; nm];
            for (ev, &v) in e.iter_mut().zip(&h[..nm]) {
                *ev = vmath::exp(v);
            }
            let mut mu = vec![0f32; nm];
            let mut acc = 0f32;
            for (m, &ev) in mu.iter_mut().zip(&e) {
                acc += ev;
                *m = acc;
            }
            let lw = &h[nm..2 * nm];
            let max = lw.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let mut w = vec![0f32; nm];
            for (wv, &v) in w.iter_mut().zip(lw) {
                *wv = vmath::exp(v - max);
            }
            let total: f32 = w.iter().sum();
            for wv in w.iter_mut() {
                *wv /= total;
            }
            let coef: Vec<f32> = w.iter().zip(&mu).map(|(w, m)| w * m.powi(4)).collect();
            let mut raw = vec![0f32; nl];
            for (m, (&c, &mv)) in coef.iter().zip(&mu).enumerate() {
                for ((r, b), &xi) in raw
                    .iter_mut()
                    .zip(&mut basis[m * nl..][..nl])
                    .zip(&self.x_inv)
                {
                    let t = mv * xi;
                    *b = if t < 87.0 {
                        1.0 / (vmath::exp(t) - 1.0)
                    } else {
                        0.0
                    };
                    *r += c * *b;
                }
            }
            raw.iter_mut()
                .zip(&self.planck_x4)
                .for_each(|(r, p)| *r *= p);
            let norm = trapz_dx(&raw, dx);
            let y0: Vec<f32> = raw.iter().map(|r| r / norm).collect();
            let pos = &h[2 * nm..2 * nm + nl];
            let neg = &h[2 * nm + nl..2 * nm + 2 * nl];
            let (mut zp, mut sg) = (vec![0f32; nl], vec![0f32; nl]);
            for l in 0..nl {
                zp[l] = vmath::softplus(pos[l]);
                sg[l] = vmath::sigmoid(neg[l]);
            }
            let zn: Vec<f32> = sg.iter().zip(&y0).map(|(s, y)| s * y).collect();
            let (a, b) = (trapz_dx(&zn, dx), trapz_dx(&zp, dx));
            let scale = a / b;

            // Transfer: y₁ = y₀ + z⁺·A/B − z⁻.
            let mut g_y0 = g1.to_vec();
            let mut g_zp: Vec<f32> = g1.iter().map(|g| g * scale).collect();
            let mut g_zn: Vec<f32> = g1.iter().map(|g| -g).collect();
            let g_scale: f32 = g1.iter().zip(&zp).map(|(g, z)| g * z).sum();
            trapz_adjoint(g_scale / b, dx, &mut g_zn);
            trapz_adjoint(-g_scale * a / (b * b), dx, &mut g_zp);
            for l in 0..nl {
                gh[2 * nm + l] = g_zp[l] * softplus_grad(pos[l]);
                gh[2 * nm + nl + l] = g_zn[l] * y0[l] * sg[l] * (1.0 - sg[l]);
                g_y0[l] += g_zn[l] * sg[l];
            }
            // Normalisation y₀ = raw/trapz(raw).
            let g_norm = -g_y0.iter().zip(&raw).map(|(g, r)| g * r).sum::<f32>() / (norm * norm);
            let mut g_raw: Vec<f32> = g_y0.iter().map(|g| g / norm).collect();
            trapz_adjoint(g_norm, dx, &mut g_raw);
            g_raw
                .iter_mut()
                .zip(&self.planck_x4)
                .for_each(|(g, p)| *g *= p);
            // Mixture Σ_m c_m·b_m(λ), b = 1/(e^{μx} − 1), db/dμ = −x(b² + b).
            let mut g_mu = vec![0f32; nm];
            let mut g_w = vec![0f32; nm];
            for m in 0..nm {
                let bm = &basis[m * nl..][..nl];
                let g_c: f32 = g_raw.iter().zip(bm).map(|(g, b)| g * b).sum();
                let g_b: f32 = g_raw
                    .iter()
                    .zip(bm)
                    .zip(&self.x_inv)
                    .map(|((g, b), x)| -g * x * (b * b + b))
                    .sum();
                g_mu[m] = g_b * coef[m] + g_c * w[m] * 4.0 * mu[m].powi(3);
                g_w[m] = g_c * mu[m].powi(4);
            }
            // Softmax weights and cumulative sums of exponentials.
            let gw_w: f32 = g_w.iter().zip(&w).map(|(g, w)| g * w).sum();
            for m in 0..nm {
                gh[nm + m] = w[m] * (g_w[m] - gw_w);
            }
            let mut acc = 0f32;
            for m in (0..nm).rev() {
                acc += g_mu[m];
                gh[m] = acc * e[m];
            }
        }
        g_h
    }
}

impl FastRegrid {
    /// Adjoint of [`FastRegrid::apply`]: the gradient on the source grid (each `width` wide).
    fn adjoint(&self, g: &[f32], width: usize) -> Vec<f32> {
        let n_out = self.hi.len();
        let mut out = vec![0f32; g.len() / n_out * width];
        for (gr, o) in g.chunks_exact(n_out).zip(out.chunks_exact_mut(width)) {
            for (((&i, &w), &m), &gv) in self.hi.iter().zip(&self.w).zip(&self.inside).zip(gr) {
                o[i - 1] += gv * m * (1.0 - w);
                o[i] += gv * m * w;
            }
        }
        out
    }
}

/// The forward values of [`FastModel::forward`] for [`Component::Combine`] that its reverse
/// pass needs, and the result λL_λ \[L_sun\] (n × n_λ).
pub(crate) struct CombineTape {
    n: usize,
    gp: Vec<f32>,
    fwd: FastForward,
    curves: [(NetTape, Vec<f32>); 2],
    /// Segment luminosities of the disk and bulge SFHs, and the absorption networks.
    fracs: [(Vec<f32>, Vec<Vec<f32>>); 2],
    fd: Vec<f32>,
    fb: Vec<f32>,
    emission: NetTape,
    /// Dust emission y₁ on the evaluation grid (before the absorbed fraction).
    y1: Vec<f32>,
    /// λL_λ \[L_sun\], bitwise equal to `forward(…, Combine).component(Combine)`.
    pub(crate) lum: Vec<f32>,
}

impl FastModel {
    /// [`FastModel::forward`] for [`Component::Combine`], keeping what the reverse pass needs.
    pub(crate) fn combine_with_tape(&self, gp: &[f32], sd: &[f32], sb: &[f32]) -> CombineTape {
        let n = gp.len() / crate::N_GP;
        let mut fwd = self.forward(gp, sd, sb, Component::DustFree);
        let curve = |c: &FastCurve| {
            let tape = NetTape::new(&c.mlp, &c.heads, gp);
            let t = c.transmission_of_heads(tape.heads.clone());
            (tape, t)
        };
        let curves = [curve(&self.curve_disk), curve(&self.curve_bulge)];
        fwd.trans = Some((
            self.transmission_map(&self.curve_disk, &curves[0].1),
            self.transmission_map(&self.curve_bulge, &curves[1].1),
        ));
        let n_seg = self.big_l_ssp.n_out;
        let frac = |mlp: &FastMlp, sfh: &[f32]| {
            let seg = self.big_l_ssp.forward(sfh);
            let outs = mlp.forward_layers(gp);
            (seg, outs)
        };
        let fracs = [frac(&self.frac_disk, sd), frac(&self.frac_bulge, sb)];
        let dots = |(seg, outs): &(Vec<f32>, Vec<Vec<f32>>)| {
            row_dots(
                seg,
                outs.last().expect("absorption network has layers"),
                n_seg,
            )
        };
        let (fd, fb) = (dots(&fracs[0]), dots(&fracs[1]));
        let emission = NetTape::new(
            &self.distri.mlp,
            &self.distri.heads,
            &emission_inputs(gp, &fd, &fb),
        );
        let y1 = self.emission_map(self.distri.forward_of_heads(&emission.heads));
        fwd.l_dust = Some(self.dust_light(y1.clone(), &fd, &fb, &fwd.b_to_t));
        let lum = fwd.component(Component::Combine);
        CombineTape {
            n,
            gp: gp.to_vec(),
            fwd,
            curves,
            fracs,
            fd,
            fb,
            emission,
            y1,
            lum,
        }
    }

    /// Gradients (gp, disk SFH, bulge SFH) of Σ ḡ ⊙ λL_λ for the batch on `tape`.
    pub(crate) fn combine_backward(
        &self,
        tape: &CombineTape,
        g_lum: &[f32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let n_gp = crate::N_GP;
        let nl = self.n_lam();
        let f = &tape.fwd;
        let (td, tb) = f.trans.as_ref().expect("combine tape has transmissions");
        let mut g_gp = vec![0f32; tape.gp.len()];
        let mut g_td = vec![0f32; td.len()];
        let mut g_tb = vec![0f32; tb.len()];
        let mut g_ld = vec![0f32; f.l_disk.len()];
        let mut g_lb = vec![0f32; f.l_bulge.len()];
        let mut g_y1 = vec![0f32; tape.y1.len()];
        let (mut g_fd, mut g_fb) = (vec![0f32; tape.n], vec![0f32; tape.n]);
        let ln10 = std::f64::consts::LN_10 as f32;
        for r in 0..tape.n {
            let span = r * nl..(r + 1) * nl;
            let (ld, lb, tdr, tbr) = (
                &f.l_disk[span.clone()],
                &f.l_bulge[span.clone()],
                &td[span.clone()],
                &tb[span.clone()],
            );
            let y1 = &tape.y1[span.clone()];
            let g = &g_lum[span.clone()];
            let (bt, l_norm) = (f.b_to_t[r], f.l_norm[r]);
            let (fd, fb) = (tape.fd[r], tape.fb[r]);
            let frac = fd * (1.0 - bt) + fb * bt;
            // λL_λ = l_norm·((1−b)·T_d·L_d + b·T_b·L_b + frac·y₁).
            let mut g_lnorm = 0f32;
            let (mut g_bt, mut g_frac) = (0f32, 0f32);
            for i in 0..nl {
                let per_l = ld[i] * tdr[i] * (1.0 - bt) + lb[i] * tbr[i] * bt + y1[i] * frac;
                g_lnorm += g[i] * per_l;
                let gi = g[i] * l_norm;
                g_td[r * nl + i] = gi * ld[i] * (1.0 - bt);
                g_ld[r * nl + i] = gi * tdr[i] * (1.0 - bt);
                g_tb[r * nl + i] = gi * lb[i] * bt;
                g_lb[r * nl + i] = gi * tbr[i] * bt;
                g_bt += gi * (lb[i] * tbr[i] - ld[i] * tdr[i]);
                g_frac += gi * y1[i];
                g_y1[r * nl + i] = gi * frac;
            }
            g_fd[r] = g_frac * (1.0 - bt);
            g_fb[r] = g_frac * bt;
            g_bt += g_frac * (fb - fd);
            let gp = &mut g_gp[r * n_gp..][..n_gp];
            // l_norm = 10^(4(u₅+1)+6), b = (u₆+1)/2.
            gp[5] += g_lnorm * l_norm * 4.0 * ln10;
            gp[6] += 0.5 * g_bt;
        }
        // Dust emission network.
        let g_y1 = match &self.map {
            FastMap::Native => g_y1,
            FastMap::Interpolated { emission, .. } => {
                emission.adjoint(&g_y1, self.distri.x_inv.len())
            }
        };
        let g_heads = self.distri.backward_heads(&tape.emission.heads, &g_y1);
        let g_x = tape
            .emission
            .backward(&self.distri.mlp, &self.distri.heads, &g_heads);
        for (r, gx) in g_x.chunks_exact(n_gp + 2).enumerate() {
            for (a, b) in g_gp[r * n_gp..][..n_gp].iter_mut().zip(gx) {
                *a += b;
            }
            g_fd[r] += gx[n_gp];
            g_fb[r] += gx[n_gp + 1];
        }
        // Absorbed fractions f = Σ_s L_s(sfh)·F_s(gp).
        let n_seg = self.big_l_ssp.n_out;
        let mut g_sfh = [Vec::new(), Vec::new()];
        for (k, (mlp, g_f)) in [(&self.frac_disk, &g_fd), (&self.frac_bulge, &g_fb)]
            .into_iter()
            .enumerate()
        {
            let (seg, outs) = &tape.fracs[k];
            let net = outs.last().expect("absorption network has layers");
            let mut g_seg = vec![0f32; seg.len()];
            let mut g_net = vec![0f32; net.len()];
            for r in 0..tape.n {
                for s in 0..n_seg {
                    g_seg[r * n_seg + s] = g_f[r] * net[r * n_seg + s];
                    g_net[r * n_seg + s] = g_f[r] * seg[r * n_seg + s];
                }
            }
            let g_in = mlp.backward(outs, &g_net);
            g_gp.iter_mut().zip(&g_in).for_each(|(a, b)| *a += b);
            g_sfh[k] = self.big_l_ssp.backward(&g_seg);
        }
        // Stellar light of the SFHs.
        let [mut g_sd, mut g_sb] = g_sfh;
        g_sd.iter_mut()
            .zip(self.l_ssp.backward(&g_ld))
            .for_each(|(a, b)| *a += b);
        g_sb.iter_mut()
            .zip(self.l_ssp.backward(&g_lb))
            .for_each(|(a, b)| *a += b);
        // Attenuation curves.
        for (k, (curve, g_t)) in [(&self.curve_disk, g_td), (&self.curve_bulge, g_tb)]
            .into_iter()
            .enumerate()
        {
            let (net, t) = &tape.curves[k];
            let m = curve.layout.output_size;
            let g_t = match &self.map {
                FastMap::Native => {
                    let mut out = vec![0f32; tape.n * m];
                    let k = m.min(nl);
                    for (o, r) in out.chunks_exact_mut(m).zip(g_t.chunks_exact(nl)) {
                        o[..k].copy_from_slice(&r[..k]);
                    }
                    out
                }
                FastMap::Interpolated { att, .. } => att.adjoint(&g_t, m),
            };
            let g_h = curve.backward_heads(&net.heads, t, &g_t);
            let g_in = net.backward(&curve.mlp, &curve.heads, &g_h);
            g_gp.iter_mut().zip(&g_in).for_each(|(a, b)| *a += b);
        }
        (g_gp, g_sd, g_sb)
    }

    /// Selector logits of (disk, bulge) with every layer's output kept.
    pub(crate) fn selectors_with_tape(&self, gp: &[f32]) -> [Vec<Vec<f32>>; 2] {
        [
            self.selector_disk.forward_layers(gp),
            self.selector_bulge.forward_layers(gp),
        ]
    }

    /// Gradient with respect to gp of Σ ḡ_disk·logit_disk + Σ ḡ_bulge·logit_bulge.
    pub(crate) fn selectors_backward(
        &self,
        tape: &[Vec<Vec<f32>>; 2],
        g_disk: &[f32],
        g_bulge: &[f32],
    ) -> Vec<f32> {
        let mut g = self.selector_disk.backward(&tape[0], g_disk);
        g.iter_mut()
            .zip(self.selector_bulge.backward(&tape[1], g_bulge))
            .for_each(|(a, b)| *a += b);
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of a scalar function of a slice.
    fn numeric(f: &dyn Fn(&[f32]) -> f64, x: &[f32], h: f32) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let (mut a, mut b) = (x.to_vec(), x.to_vec());
                a[i] += h;
                b[i] -= h;
                (f(&a) - f(&b)) / (2.0 * f64::from(h))
            })
            .collect()
    }

    #[test]
    fn monotonic_and_smooth_adjoints_match_differences() {
        let v = [0.3f32, 1.2, 0.7, 2.0, 0.1, 0.9];
        let g = [0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5];
        for increasing in [true, false] {
            let f = |x: &[f32]| {
                let mut out = Vec::new();
                monotonic(x, increasing, &mut out);
                out.iter().zip(&g).map(|(o, g)| f64::from(o * g)).sum()
            };
            let mut got = vec![0f32; v.len()];
            monotonic_adjoint(&g, increasing, &mut got);
            for (a, b) in got.iter().zip(numeric(&f, &v, 1e-2)) {
                assert!((f64::from(*a) - b).abs() < 1e-4, "{got:?}");
            }
        }
        let gs = [1.0f32, -2.0, 0.5, 3.0];
        let f = |x: &[f32]| {
            let mut out = vec![0f32; 4];
            smooth_into(x, 3, &mut out, -1.0, &mut Vec::new());
            out.iter().zip(&gs).map(|(o, g)| f64::from(o * g)).sum()
        };
        let mut got = vec![0f32; v.len()];
        smooth_adjoint(&gs, 3, -1.0, &mut got);
        for (a, b) in got.iter().zip(numeric(&f, &v, 1e-2)) {
            assert!((f64::from(*a) - b).abs() < 1e-4, "{got:?}");
        }
    }

    #[test]
    fn dense_backward_is_the_transposed_product() {
        let w: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin()).collect();
        let d = Dense::new(&w, 3, 5, None);
        for n in [1, 9] {
            let g: Vec<f32> = (0..n * 5).map(|i| (i as f32 * 0.11).cos()).collect();
            let got = d.backward(&g);
            for r in 0..n {
                for k in 0..3 {
                    let want: f32 = (0..5).map(|j| g[r * 5 + j] * w[k * 5 + j]).sum();
                    assert!((got[r * 3 + k] - want).abs() < 1e-5);
                }
            }
        }
    }
}
