//! The Starduster networks (spec §4): attenuation curves, absorption fractions, dust-emission
//! distribution and selectors.
//!
//! Every network works row-wise on a batch `(N, inputs)` and is built from burn tensor operations
//! only, so the same code runs for inference and, on an autodiff device, for gradients.

use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax, softplus, tanh};
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;

use crate::ModelError;
use crate::config::{Activation, AttenuationCurveConfig, EmissionConfig, MlpConfig};
use crate::weights::{Weights, export_linear, tensor1, to_vec};
use galsed_io::checkpoint::TensorF32;
use std::collections::BTreeMap;

/// Largest argument of a float32 exponential that stays finite, rounded down.
const MAX_EXP_ARG: f64 = 88.0;

/// PyTorch's softplus (linear above x = 20).
pub(crate) fn softplus_torch<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    softplus(x, 1.0)
}

/// Which columns of a wider input a network reads.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumns {
    /// Indices of the columns read, in order.
    pub columns: Vec<usize>,
    /// Width of the wider input.
    pub width: usize,
}

impl InputColumns {
    /// All `width` columns.
    pub fn all(width: usize) -> Self {
        Self {
            columns: (0..width).collect(),
            width,
        }
    }
}

/// Linear layers, each followed by its activation.
#[derive(Module, Debug)]
pub struct Mlp {
    pub(crate) layers: Vec<Linear>,
    #[module(skip)]
    pub(crate) activations: Vec<Activation>,
}

impl Mlp {
    /// Reads `{prefix}.{0,2,4,…}` (PyTorch `nn.Sequential` numbering: odd entries are activations).
    /// The network reads `input.columns` of an input `n_inputs` wide.
    pub fn from_weights(
        w: &Weights,
        prefix: &str,
        cfg: &MlpConfig,
        input: &InputColumns,
        device: &Device,
    ) -> Result<Self, ModelError> {
        if input.columns.len() != cfg.input_size {
            return Err(ModelError::Config(format!(
                "{prefix}: input size {} but {} input columns",
                cfg.input_size,
                input.columns.len()
            )));
        }
        let mut layers = Vec::with_capacity(cfg.hidden_sizes.len());
        let mut d_in = cfg.input_size;
        for (i, &d_out) in cfg.hidden_sizes.iter().enumerate() {
            let name = format!("{prefix}.{}", 2 * i);
            layers.push(if i == 0 {
                w.linear_on_columns(&name, &input.columns, input.width, d_out, device)?
            } else {
                w.linear(&name, d_in, d_out, device)?
            });
            d_in = d_out;
        }
        if cfg.activations.len() != layers.len() {
            return Err(ModelError::Config(format!(
                "{prefix}: {} layers but {} activations",
                layers.len(),
                cfg.activations.len()
            )));
        }
        Ok(Self {
            layers,
            activations: cfg.activations.clone(),
        })
    }

    /// The layers as PyTorch state-dict entries `{prefix}.{0,2,4,…}.{weight,bias}`, the inverse of
    /// [`Mlp::from_weights`] with the same `input` (a trained network is written back into a model
    /// file with this).
    pub fn to_weights(&self, prefix: &str, input: &InputColumns) -> Result<Weights, ModelError> {
        let mut out = BTreeMap::new();
        self.export(&mut out, prefix, input)?;
        Ok(Weights::new(out))
    }

    fn export(
        &self,
        out: &mut BTreeMap<String, TensorF32>,
        prefix: &str,
        input: &InputColumns,
    ) -> Result<(), ModelError> {
        for (i, layer) in self.layers.iter().enumerate() {
            let name = format!("{prefix}.{}", 2 * i);
            if i == 0 {
                export_linear(out, &name, layer, &input.columns)?;
            } else {
                let all: Vec<usize> = (0..layer.weight.dims()[0]).collect();
                export_linear(out, &name, layer, &all)?;
            }
        }
        Ok(())
    }

    /// Width of the output.
    pub fn output_size(&self) -> usize {
        self.layers.last().map_or(0, |l| l.weight.dims()[1])
    }

    /// Applies every layer; `hidden` receives each activation output (for layer-by-layer checks).
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for (layer, act) in self.layers.iter().zip(&self.activations) {
            x = act.apply(layer.forward(x));
        }
        x
    }

    /// Like [`Mlp::forward`] but also returns every intermediate activation.
    pub fn forward_trace(&self, mut x: Tensor<2>) -> (Tensor<2>, Vec<Tensor<2>>) {
        let mut trace = Vec::with_capacity(self.layers.len());
        for (layer, act) in self.layers.iter().zip(&self.activations) {
            x = act.apply(layer.forward(x));
            trace.push(x.clone());
        }
        (x, trace)
    }
}

impl Activation {
    fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Tanh => tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::None => x,
        }
    }
}

/// Moving average of width `k`, stride 1, no padding (PyTorch `avg_pool1d`), as a convolution
/// with a constant kernel (burn's CPU convolution is several times faster than its pooling).
fn smooth(x: Tensor<2>, k: usize) -> Tensor<2> {
    let [n, m] = x.dims();
    let kernel = Tensor::full([1, 1, k], 1.0 / k as f64, &x.device());
    let out = conv1d(
        x.reshape([n, 1, m]),
        kernel,
        None,
        ConvOptions::new([1], [0], [1], 1),
    );
    out.reshape([n, m + 1 - k])
}

/// One head of the curve: where its outputs start in the fused head layer and how wide it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// Attenuation-curve network (spec §4.1): inputs → A(λ) in magnitudes on `output_size` points.
///
/// All heads that feed a softplus (baseline, the bumps' and the trough's two monotonic halves, and
/// the normalisation) are fused into a single linear layer, so one matmul and one softplus serve
/// them all.
#[derive(Module, Debug)]
pub struct AttenuationCurve {
    pub(crate) mlp: Mlp,
    pub(crate) heads: Linear,
    #[module(skip)]
    pub(crate) layout: CurveLayout,
}

#[derive(Debug, Clone)]
pub(crate) struct CurveLayout {
    pub(crate) output_size: usize,
    pub(crate) baseline: Segment,
    /// (range in the output, increasing half, decreasing half) for each bump.
    pub(crate) bumps: Vec<((usize, usize), Segment, Segment)>,
    pub(crate) trough: ((usize, usize), Segment, Segment),
    pub(crate) norm_col: usize,
    pub(crate) baseline_kernel: usize,
    pub(crate) bump_kernel: usize,
    pub(crate) norm_fix: f64,
}

/// Layer-by-layer values of an attenuation curve (for testing against the reference).
pub struct CurveTrace {
    /// Output of each layer of the trunk.
    pub hidden: Vec<Tensor<2>>,
    /// Decreasing baseline after smoothing, (N, output_size).
    pub baseline_smoothed: Tensor<2>,
    /// Each bump after smoothing, on its own index range.
    pub bumps: Vec<Tensor<2>>,
    /// The trough after smoothing, on its own index range.
    pub trough: Tensor<2>,
    /// Baseline plus bumps minus trough, before normalisation, (N, output_size).
    pub y_unnormalised: Tensor<2>,
    /// Normalisation head (after softplus), (N, 1).
    pub norm: Tensor<2>,
    /// The curve A(λ) \[mag\], (N, output_size).
    pub a_mag: Tensor<2>,
}

impl AttenuationCurve {
    /// Builds the network from its state dict and hyper-parameters.
    pub fn from_weights(
        w: &Weights,
        cfg: &AttenuationCurveConfig,
        input: &InputColumns,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mlp = Mlp::from_weights(w, "mlp", &cfg.mlp, input, device)?;
        let hidden = *cfg.mlp.hidden_sizes.last().unwrap_or(&cfg.mlp.input_size);
        let out = cfg.output_size;
        let base_len = out + cfg.baseline_kernel_size - 1;

        // Fused head: rows of (out, hidden) PyTorch weights stacked in this order.
        let mut names: Vec<(String, usize)> = vec![("baseline.0".into(), base_len)];
        let mut bump_lens = Vec::new();
        for (q, &(b, e)) in cfg.bump_inds.iter().enumerate() {
            let width = e - b + cfg.bump_kernel_size - 1;
            names.push((format!("bump{q}.0.lin1"), width));
            names.push((format!("bump{q}.0.lin2"), width));
            bump_lens.push(width);
        }
        let (tb, te) = cfg.trough_ind;
        let trough_len = te - tb + cfg.baseline_kernel_size - 1;
        names.push(("trough.0.lin1".into(), trough_len));
        names.push(("trough.0.lin2".into(), trough_len));
        names.push(("norm.0".into(), 1));

        let total: usize = names.iter().map(|(_, n)| n).sum();
        let mut wt = vec![0f32; hidden * total];
        let mut bias = Vec::with_capacity(total);
        let mut col = 0;
        for (name, len) in &names {
            let wi = w.get(&format!("{name}.weight"), &[*len, hidden])?;
            let bi = w.get(&format!("{name}.bias"), &[*len])?;
            for o in 0..*len {
                for i in 0..hidden {
                    wt[i * total + col + o] = wi.data[o * hidden + i];
                }
            }
            bias.extend_from_slice(&bi.data);
            col += len;
        }
        let heads = Linear {
            weight: burn::module::Param::from_tensor(crate::weights::tensor2(
                wt,
                [hidden, total],
                device,
            )),
            bias: Some(burn::module::Param::from_tensor(tensor1(bias, device))),
        };

        let mut start = base_len;
        let mut seg = |len: usize| {
            let s = Segment { start, len };
            start += len;
            s
        };
        let baseline = Segment {
            start: 0,
            len: base_len,
        };
        let bumps = cfg
            .bump_inds
            .iter()
            .zip(&bump_lens)
            .map(|(&(b, e), &len)| ((b, e), seg(len), seg(len)))
            .collect();
        let trough = ((tb, te), seg(trough_len), seg(trough_len));
        let norm_col = start;
        for &(b, e) in cfg.bump_inds.iter().chain(std::iter::once(&cfg.trough_ind)) {
            if b >= e || e > out {
                return Err(ModelError::Config(format!(
                    "attenuation curve: range [{b}, {e}) outside the {out} output points"
                )));
            }
        }
        Ok(Self {
            mlp,
            heads,
            layout: CurveLayout {
                output_size: out,
                baseline,
                bumps,
                trough,
                norm_col,
                baseline_kernel: cfg.baseline_kernel_size,
                bump_kernel: cfg.bump_kernel_size,
                norm_fix: cfg.norm_fix,
            },
        })
    }

    /// The network as its PyTorch state dict (`mlp.*`, `baseline.0`, `bump{q}.0.lin1/lin2`,
    /// `trough.0.lin1/lin2`, `norm.0`): the inverse of [`AttenuationCurve::from_weights`] with the
    /// same `input`. The fused head layer is split back into its heads.
    pub fn to_weights(&self, input: &InputColumns) -> Result<Weights, ModelError> {
        let mut out = BTreeMap::new();
        self.mlp.export(&mut out, "mlp", input)?;
        let l = &self.layout;
        let [hidden, total] = self.heads.weight.dims();
        let wt = to_vec(self.heads.weight.val());
        let bias = match &self.heads.bias {
            Some(b) => to_vec(b.val()),
            None => return Err(ModelError::MissingTensor("heads.bias".into())),
        };
        let mut head = |name: String, seg: Segment| {
            let mut w = vec![0f32; seg.len * hidden];
            for o in 0..seg.len {
                for i in 0..hidden {
                    w[o * hidden + i] = wt[i * total + seg.start + o];
                }
            }
            out.insert(
                format!("{name}.weight"),
                TensorF32 {
                    shape: vec![seg.len, hidden],
                    data: w,
                },
            );
            let b = bias[seg.start..seg.start + seg.len].to_vec();
            out.insert(
                format!("{name}.bias"),
                TensorF32 {
                    shape: vec![seg.len],
                    data: b,
                },
            );
        };
        head("baseline.0".into(), l.baseline);
        for (q, &(_, inc, dec)) in l.bumps.iter().enumerate() {
            head(format!("bump{q}.0.lin1"), inc);
            head(format!("bump{q}.0.lin2"), dec);
        }
        let (_, inc, dec) = l.trough;
        head("trough.0.lin1".into(), inc);
        head("trough.0.lin2".into(), dec);
        head(
            "norm.0".into(),
            Segment {
                start: l.norm_col,
                len: 1,
            },
        );
        Ok(Weights::new(out))
    }

    /// A(λ) \[mag\], shape (N, output_size).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.trace(x).a_mag
    }

    /// Forward pass keeping the intermediate values.
    pub fn trace(&self, x: Tensor<2>) -> CurveTrace {
        let l = &self.layout;
        let (h, hidden) = self.mlp.forward_trace(x);
        let [n, _] = h.dims();
        let s = softplus_torch(self.heads.forward(h));

        // Monotonic(v): c_j = cumsum(softplus(v))_j / len; increasing c_j − c_0, decreasing
        // c_last − c_j. Each head gets its own cumsum: differences of one long cumsum over all
        // heads would lose float32 precision.
        let cumsum = |seg: Segment| s.clone().narrow(1, seg.start, seg.len).cumsum(1);
        let increasing = |seg: Segment| {
            let part = cumsum(seg);
            let first = part.clone().narrow(1, 0, 1);
            (part - first).div_scalar(seg.len as f64)
        };
        let decreasing = |seg: Segment| {
            let part = cumsum(seg);
            let last = part.clone().narrow(1, seg.len - 1, 1);
            (last - part).div_scalar(seg.len as f64)
        };
        let unimodal = |inc: Segment, dec: Segment| increasing(inc) * decreasing(dec);

        let baseline_smoothed = smooth(decreasing(l.baseline), l.baseline_kernel);
        let mut y = baseline_smoothed.clone();
        let device = y.device();
        let place = |part: Tensor<2>, (b, e): (usize, usize)| {
            let mut pieces = Vec::with_capacity(3);
            if b > 0 {
                pieces.push(Tensor::zeros([n, b], &device));
            }
            pieces.push(part);
            if e < l.output_size {
                pieces.push(Tensor::zeros([n, l.output_size - e], &device));
            }
            Tensor::cat(pieces, 1)
        };
        let mut bumps = Vec::with_capacity(l.bumps.len());
        for &(range, inc, dec) in &l.bumps {
            let bump = smooth(unimodal(inc, dec), l.bump_kernel);
            y = y + place(bump.clone(), range);
            bumps.push(bump);
        }
        let (range, inc, dec) = l.trough;
        let trough = smooth(unimodal(inc, dec), l.baseline_kernel);
        y = y - place(trough.clone(), range);

        let norm = s.narrow(1, l.norm_col, 1);
        let mean = y.clone().mean_dim(1).add_scalar(l.norm_fix);
        let a_mag = y.clone() * norm.clone() / mean;
        CurveTrace {
            hidden,
            baseline_smoothed,
            bumps,
            trough,
            y_unnormalised: y,
            norm,
            a_mag,
        }
    }
}

/// Dust-emission distribution (spec §4.3): a Planck mixture reshaped by a transfer module.
#[derive(Module, Debug)]
pub struct EmissionDistribution {
    pub(crate) mlp: Mlp,
    pub(crate) lin_mu: Linear,
    pub(crate) lin_w: Linear,
    pub(crate) lin_pos: Linear,
    pub(crate) lin_neg: Linear,
    /// 1/λ [µm⁻¹] on the emission grid (the checkpoint's buffer), shape (1, 1, n).
    pub(crate) x_inv: Tensor<3>,
    /// (15/π⁴)·x⁴, shape (1, n): the λ-only factor of the normalised black body.
    pub(crate) planck_x4: Tensor<2>,
    #[module(skip)]
    pub(crate) dx: f64,
}

/// Layer-by-layer values of the emission network.
pub struct EmissionTrace {
    /// Output of each layer of the trunk.
    pub hidden: Vec<Tensor<2>>,
    /// Increasing black-body scales μ_m \[µm\] (y = μ_m/λ), (N, n_mix).
    pub mu: Tensor<2>,
    /// Mixture weights (softmax), (N, n_mix).
    pub w: Tensor<2>,
    /// Planck mixture normalised to unit integral over ln λ, (N, n).
    pub y0: Tensor<2>,
    /// The mixture reshaped by the transfer module (the output), (N, n).
    pub y1: Tensor<2>,
}

/// trapz(y, dx) along dim 1 = dx·(Σy − (y₀ + y_last)/2), shape (N, 1).
fn trapz_dx(y: Tensor<2>, dx: f64) -> Tensor<2> {
    let [_, m] = y.dims();
    let ends = y.clone().narrow(1, 0, 1) + y.clone().narrow(1, m - 1, 1);
    (y.sum_dim(1) - ends.mul_scalar(0.5)).mul_scalar(dx)
}

impl EmissionDistribution {
    /// Builds the network from the `distri.` part of the dust-emission state dict.
    pub fn from_weights(
        w: &Weights,
        cfg: &EmissionConfig,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mlp = Mlp::from_weights(
            w,
            "mlp",
            &cfg.mlp,
            &InputColumns::all(cfg.mlp.input_size),
            device,
        )?;
        let hidden = *cfg.mlp.hidden_sizes.last().unwrap_or(&cfg.mlp.input_size);
        let n = cfg.output_size;
        let x_inv = w.get("base.x_inv", &[n])?.data.clone();
        if x_inv.iter().any(|&v| v <= 0.0) {
            return Err(ModelError::Config(
                "distri.base.x_inv must be positive".into(),
            ));
        }
        let k = 15.0 / std::f64::consts::PI.powi(4);
        let planck_x4 = x_inv
            .iter()
            .map(|&x| (k * f64::from(x).powi(4)) as f32)
            .collect();
        Ok(Self {
            lin_mu: w.linear("base.lin_mu", hidden, cfg.n_mix, device)?,
            lin_w: w.linear("base.lin_w", hidden, cfg.n_mix, device)?,
            lin_pos: w.linear("transfer.lin_pos", hidden, n, device)?,
            lin_neg: w.linear("transfer.lin_neg", hidden, n, device)?,
            mlp,
            x_inv: tensor1(x_inv, device).reshape([1, 1, n]),
            planck_x4: tensor1(planck_x4, device).reshape([1, n]),
            dx: cfg.dx,
        })
    }

    /// The network as the `distri.` part of the dust-emission state dict (`mlp.*`, `base.lin_mu`,
    /// `base.lin_w`, `base.x_inv`, `transfer.lin_pos`, `transfer.lin_neg`; without the prefix): the
    /// inverse of [`EmissionDistribution::from_weights`].
    pub fn to_weights(&self) -> Result<Weights, ModelError> {
        let mut out = BTreeMap::new();
        let d_in = self.mlp.layers.first().map_or(0, |l| l.weight.dims()[0]);
        self.mlp.export(&mut out, "mlp", &InputColumns::all(d_in))?;
        let hidden = self.lin_mu.weight.dims()[0];
        let all: Vec<usize> = (0..hidden).collect();
        for (name, layer) in [
            ("base.lin_mu", &self.lin_mu),
            ("base.lin_w", &self.lin_w),
            ("transfer.lin_pos", &self.lin_pos),
            ("transfer.lin_neg", &self.lin_neg),
        ] {
            export_linear(&mut out, name, layer, &all)?;
        }
        let x_inv = to_vec(self.x_inv.clone());
        out.insert(
            "base.x_inv".into(),
            TensorF32 {
                shape: vec![x_inv.len()],
                data: x_inv,
            },
        );
        Ok(Weights::new(out))
    }

    /// y₁: dust-emission shape per unit dust luminosity per unit ln λ, shape (N, n).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.trace(x).y1
    }

    /// Forward pass keeping the intermediate values.
    pub fn trace(&self, x: Tensor<2>) -> EmissionTrace {
        let (z, hidden) = self.mlp.forward_trace(x);
        let mu = self.lin_mu.forward(z.clone()).exp().cumsum(1);
        let w = softmax(self.lin_w.forward(z.clone()), 1);

        // P_m(λ) = (15/π⁴)·y⁴·e^{−y}/(1 − e^{−y}) with y = μ_m/λ, written as
        // (15/π⁴)x⁴ · μ_m⁴/(e^{μ_m x} − 1) so that the mixture over m is one batched matmul.
        let [n_batch, n_mix] = mu.dims();
        let y = mu.clone().reshape([n_batch, n_mix, 1]) * self.x_inv.clone();
        // Capping y keeps exp finite (e^88 < f32::MAX); the term is < 1e−36 there anyway.
        let inv_expm1 = y.clamp_max(MAX_EXP_ARG).exp().sub_scalar(1.0).recip();
        let wmu4 = (w.clone() * mu.clone().powi_scalar(4)).reshape([n_batch, 1, n_mix]);
        let mixture: Tensor<2> = wmu4.matmul(inv_expm1).squeeze_dim(1) * self.planck_x4.clone();
        let y0 = mixture.clone() / trapz_dx(mixture, self.dx);

        let z_pos = softplus_torch(self.lin_pos.forward(z.clone()));
        let z_pos = z_pos.clone() / trapz_dx(z_pos, self.dx);
        let z_neg = sigmoid(self.lin_neg.forward(z)) * y0.clone();
        let y1 = y0.clone() + z_pos * trapz_dx(z_neg.clone(), self.dx) - z_neg;
        EmissionTrace {
            hidden,
            mu,
            w,
            y0,
            y1,
        }
    }
}
