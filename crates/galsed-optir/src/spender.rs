//! The *spender* spectrum autoencoder (Liang, Melchior et al. 2023), as Jespersen et al. 2025
//! use it to compress SDSS spectra to a few latents.
//!
//! **Encoder** (spender's `SpectrumEncoder`): three blocks of `Conv1d` (channels C1/C2/C3,
//! kernels 5/11/21, 'same' padding) → instance norm (no affine, ε = 1e-5) → PReLU (one slope per
//! channel); max-pooling after the first two blocks with kernel = stride = the block's kernel
//! (5, 11) and padding kernel/2 (3840 → 768 → 70 positions). Attention pooling: the C3 channels
//! are split in half, a softmax over positions of the second half weights the first half, giving
//! C3/2 numbers. An MLP (PReLU between layers, identity at the end) maps them to S latents.
//!
//! **Decoder** (spender's `SpectrumDecoder`): an MLP S → hidden → rest-frame spectrum with
//! spender's "speculator" activation `(γ + (1−γ)·σ(β·x))·x` after every layer (`+1` after the
//! last, so that an untrained decoder already predicts ≈ 1, the normalised level). The rest-frame
//! grid is uniform in log10 λ from `λ_obs,min/(1+z_max)` to `λ_obs,max`, so every observed pixel
//! of every galaxy with 0 ≤ z ≤ z_max falls on it. The rest-frame model is redshifted and
//! resampled onto the observed pixels by linear interpolation in log λ, written as two gathers
//! and constant weights per galaxy (so it is differentiable in the spectrum).
//!
//! **Inputs.** Normalised spectra ([`crate::survey::normalise`]) on the observed grid the model
//! was trained on. Masked pixels (ivar = 0) are set to 0 in the encoder input, as spender's SDSS
//! loader does (it zeroes the flux where the weight is zero), and carry no weight in the loss.
//!
//! **Loss.** Per galaxy, the ivar-weighted mean squared residual over its unmasked pixels
//! (χ² per pixel: ≈ 1 for a model as good as the noise), averaged over galaxies. spender writes
//! the same with a factor ½; the factor only rescales the gradient (Adam is invariant to it).
//! spender's later similarity/consistency terms (Liang et al. 2023b) are not used.
//!
//! **Training.** Adam with PyTorch's defaults and a one-cycle learning rate (as spender), batches
//! drawn in a seeded order; the weights with the lowest validation loss are kept; training stops
//! after `patience` epochs without improvement. Initial weights are drawn from a ChaCha8 stream
//! seeded by `TrainSettings::seed` (PyTorch's default distributions: U(±1/√fan_in) for
//! convolutions and linear layers, PReLU slopes 0.25, speculator β and γ ~ N(0, 1)).
//! Reproducibility: the same seed, data and settings give bitwise identical weights for the same
//! burn build and thread count (the Flex backend's reductions are deterministic for a given
//! thread count; a different thread count may change the last bits).
//!
//! **Checkpoints.** With a checkpoint directory, every epoch writes the current module and
//! optimiser state, the best module so far and `state.json` (history, settings and a fingerprint
//! of the data); a later call with the same settings and data resumes after the last finished
//! epoch, a call with other settings or data fails rather than mixing runs.

use std::path::Path;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::PaddingConfig1d;
use burn::nn::conv::Conv1d;
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{prelu, sigmoid, softmax};
use galsed_train::schedule::{OneCycle, OneCycleConfig};
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{OptirError, SpectrumEncoder, file_err, input_err};

/// Architecture of the autoencoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpenderConfig {
    /// Output channels of the three convolution blocks (C3 must be even).
    pub channels: [usize; 3],
    /// Kernel sizes of the three convolutions (odd); the first two are also the max-pool sizes.
    pub kernels: [usize; 3],
    /// Hidden widths of the encoder MLP (C3/2 → hidden → latents).
    pub encoder_hidden: Vec<usize>,
    /// Number of latents S.
    pub n_latents: usize,
    /// Hidden widths of the decoder MLP (latents → hidden → rest-frame spectrum).
    pub decoder_hidden: Vec<usize>,
    /// Highest redshift the decoder's rest-frame grid covers.
    pub z_max: f64,
    /// Observed-frame wavelength range \[Å\] the rest-frame grid must cover at every 0 ≤ z ≤ z_max.
    pub obs_lambda_min: f64,
    /// Upper end of that range \[Å\].
    pub obs_lambda_max: f64,
    /// Step of the rest-frame grid in log10 λ.
    pub rest_loglam_step: f64,
}

impl Default for SpenderConfig {
    fn default() -> Self {
        Self::cpu()
    }
}

impl SpenderConfig {
    /// Sized for two CPU cores: 8/16/32 channels, encoder MLP 16 → 64 → 32 → 16 → 6, decoder
    /// 64/128/256 onto a rest grid of step 3·10⁻⁴ in log10 λ (1661 pixels, ≈ 3 SDSS pixels;
    /// the linear interpolation onto the observed pixels restores the observed sampling).
    ///
    /// Measured with the Flex backend on the 2-core machine, batches of 64 spectra of 3840 pixels:
    /// 0.19–0.27 s per training step when busy; 70–75 s per epoch of 35,000 spectra in the
    /// default pipeline
    /// (16/32/64 channels: 0.35–0.58 s per step, 3–5 min per epoch; [`SpenderConfig::paper`]:
    /// 10–12 s per step, 90–110 min per epoch).
    pub fn cpu() -> Self {
        Self {
            channels: [8, 16, 32],
            kernels: [5, 11, 21],
            encoder_hidden: vec![64, 32, 16],
            n_latents: 6,
            decoder_hidden: vec![64, 128, 256],
            z_max: 0.3,
            obs_lambda_min: 3800.0,
            obs_lambda_max: 9200.0,
            rest_loglam_step: 3e-4,
        }
    }

    /// The paper's (spender's) sizes: 128/256/512 channels, encoder MLP 256 → 128 → 64 → 32 → S,
    /// decoder 64/256/1024 onto a rest grid at the SDSS pixel step 10⁻⁴ (4981 pixels).
    pub fn paper() -> Self {
        Self {
            channels: [128, 256, 512],
            encoder_hidden: vec![128, 64, 32],
            decoder_hidden: vec![64, 256, 1024],
            rest_loglam_step: 1e-4,
            ..Self::cpu()
        }
    }

    /// Checks the sizes.
    pub fn check(&self) -> Result<(), OptirError> {
        if self.channels.contains(&0) || !self.channels[2].is_multiple_of(2) {
            return Err(input_err(format!(
                "spender channels {:?}: all must be positive and the last even",
                self.channels
            )));
        }
        if self.kernels.iter().any(|&k| k == 0 || k % 2 == 0) {
            return Err(input_err(format!(
                "spender kernels {:?} must be odd",
                self.kernels
            )));
        }
        if self.n_latents == 0
            || self.encoder_hidden.contains(&0)
            || self.decoder_hidden.contains(&0)
        {
            return Err(input_err(
                "spender: latents and hidden widths must be positive",
            ));
        }
        if !(self.z_max.is_finite() && self.z_max >= 0.0) {
            return Err(input_err(format!(
                "spender z_max = {} must be ≥ 0",
                self.z_max
            )));
        }
        if !(self.obs_lambda_min > 0.0 && self.obs_lambda_max > self.obs_lambda_min) {
            return Err(input_err(
                "spender: need 0 < obs_lambda_min < obs_lambda_max",
            ));
        }
        if !(self.rest_loglam_step > 0.0 && self.rest_loglam_step.is_finite()) {
            return Err(input_err("spender: rest_loglam_step must be positive"));
        }
        if self.n_rest() < 2 || self.n_rest() > 1_000_000 {
            return Err(input_err(format!(
                "spender: {} rest-frame pixels",
                self.n_rest()
            )));
        }
        Ok(())
    }

    /// log10 λ of the first rest-frame pixel.
    pub fn rest_loglam_start(&self) -> f64 {
        self.obs_lambda_min.log10() - (1.0 + self.z_max).log10()
    }

    /// Number of rest-frame pixels.
    pub fn n_rest(&self) -> usize {
        let span = self.obs_lambda_max.log10() - self.rest_loglam_start();
        (span / self.rest_loglam_step - 1e-9).ceil().max(0.0) as usize + 1
    }

    /// log10 λ of the rest-frame pixels.
    pub fn rest_loglam(&self) -> Vec<f64> {
        let s = self.rest_loglam_start();
        (0..self.n_rest())
            .map(|k| s + self.rest_loglam_step * k as f64)
            .collect()
    }
}

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Spectra per optimiser step.
    pub batch_size: usize,
    /// Peak learning rate of the one-cycle schedule.
    pub learning_rate: f64,
    /// Seeds the initial weights and the batch order.
    pub seed: u64,
    /// Stop after this many epochs without a lower validation loss (`None`: never).
    pub patience: Option<usize>,
    /// Shape of the one-cycle schedule (over `epochs`).
    pub schedule: OneCycleConfig,
}

/// Defaults for [`SpenderConfig::cpu`]: 8 epochs of batches of 64 (14–19 min for 35,000
/// training spectra on two cores, less for the 24,500 of a 70 % split), peak learning rate
/// 3·10⁻³, patience 3.
impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 8,
            batch_size: 64,
            learning_rate: 3e-3,
            seed: 0,
            patience: Some(3),
            schedule: OneCycleConfig::default(),
        }
    }
}

/// One finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean loss of the epoch's training batches (weighted by batch size).
    pub train_loss: f64,
    /// Loss on the validation set after the epoch.
    pub val_loss: f64,
    /// Wall time of the epoch, validation included \[s\].
    pub seconds: f64,
}

/// What a training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// One record per epoch run.
    pub history: Vec<EpochRecord>,
    /// Epoch whose weights were kept, and its validation loss.
    pub best_epoch: usize,
    /// Validation loss of the best epoch.
    pub best_val_loss: f64,
    /// Training stopped before `epochs` (patience ran out).
    pub stopped_early: bool,
    /// Loss of the initial weights on the validation set.
    pub initial_val_loss: f64,
}

/// The network. Use [`Autoencoder`], which holds it with its configuration.
#[derive(Module, Debug)]
pub struct SpenderNet {
    conv: Vec<Conv1d>,
    conv_alpha: Vec<Param<Tensor<1>>>,
    pool: Vec<MaxPool1d>,
    enc: Vec<Linear>,
    enc_alpha: Vec<Param<Tensor<1>>>,
    dec: Vec<Linear>,
    dec_beta: Vec<Param<Tensor<1>>>,
    dec_gamma: Vec<Param<Tensor<1>>>,
}

fn tensor1(data: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

fn tensor2(data: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("float32 tensors")
}

fn uniform(n: usize, bound: f64, rng: &mut impl Rng) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
        .collect()
}

fn normal(n: usize, rng: &mut impl Rng) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) as f32)
        .collect()
}

fn linear(d_in: usize, d_out: usize, rng: &mut impl Rng, device: &Device) -> Linear {
    let bound = 1.0 / (d_in as f64).sqrt();
    // burn stores (in, out); the distribution is symmetric, so the layout does not matter.
    let w = uniform(d_in * d_out, bound, rng);
    let b = uniform(d_out, bound, rng);
    Linear {
        weight: Param::from_tensor(tensor2(w, [d_in, d_out], device)),
        bias: Some(Param::from_tensor(tensor1(b, device))),
    }
}

impl SpenderNet {
    fn init(cfg: &SpenderConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let mut conv = Vec::new();
        let mut conv_alpha = Vec::new();
        let mut c_in = 1;
        for (&c, &k) in cfg.channels.iter().zip(&cfg.kernels) {
            let bound = 1.0 / ((c_in * k) as f64).sqrt();
            let w = uniform(c * c_in * k, bound, rng);
            let b = uniform(c, bound, rng);
            conv.push(Conv1d {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(w, [c, c_in, k]),
                    device,
                )),
                bias: Some(Param::from_tensor(tensor1(b, device))),
                stride: 1,
                kernel_size: k,
                dilation: 1,
                groups: 1,
                padding: PaddingConfig1d::Same,
            });
            conv_alpha.push(Param::from_tensor(tensor1(vec![0.25; c], device)));
            c_in = c;
        }
        let pool = cfg.kernels[..2]
            .iter()
            .map(|&k| {
                MaxPool1dConfig::new(k)
                    .with_stride(k)
                    .with_padding(PaddingConfig1d::Explicit(k / 2, k / 2))
                    .init()
            })
            .collect();
        let mut enc = Vec::new();
        let mut enc_alpha = Vec::new();
        let mut d = cfg.channels[2] / 2;
        for &h in &cfg.encoder_hidden {
            enc.push(linear(d, h, rng, device));
            enc_alpha.push(Param::from_tensor(tensor1(vec![0.25; h], device)));
            d = h;
        }
        enc.push(linear(d, cfg.n_latents, rng, device));
        let mut dec = Vec::new();
        let mut dec_beta = Vec::new();
        let mut dec_gamma = Vec::new();
        let mut d = cfg.n_latents;
        for &h in cfg
            .decoder_hidden
            .iter()
            .chain(std::iter::once(&cfg.n_rest()))
        {
            dec.push(linear(d, h, rng, device));
            dec_beta.push(Param::from_tensor(tensor1(normal(h, rng), device)));
            dec_gamma.push(Param::from_tensor(tensor1(normal(h, rng), device)));
            d = h;
        }
        Self {
            conv,
            conv_alpha,
            pool,
            enc,
            enc_alpha,
            dec,
            dec_beta,
            dec_gamma,
        }
    }

    /// Latents of encoder inputs (B, n_pix) (masked pixels already zero).
    pub fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, l] = x.dims();
        let mut h = x.reshape([b, 1, l]);
        for (i, conv) in self.conv.iter().enumerate() {
            h = conv.forward(h);
            let (var, mean) = h.clone().var_mean_bias(2);
            h = (h - mean) / var.add_scalar(1e-5).sqrt();
            h = prelu(h, self.conv_alpha[i].val());
            if let Some(p) = self.pool.get(i) {
                h = p.forward(h);
            }
        }
        let c = h.dims()[1] / 2;
        let value = h.clone().narrow(1, 0, c);
        let weight = softmax(h.narrow(1, c, c), 2);
        let mut z = (value * weight).sum_dim(2).reshape([b, c]);
        let n = self.enc.len();
        for (i, lin) in self.enc.iter().enumerate() {
            z = lin.forward(z);
            if i + 1 < n {
                z = prelu(z, self.enc_alpha[i].val());
            }
        }
        z
    }

    /// Rest-frame spectra (B, n_rest) of latents (B, S).
    pub fn decode(&self, s: Tensor<2>) -> Tensor<2> {
        let n = self.dec.len();
        let mut x = s;
        for (i, lin) in self.dec.iter().enumerate() {
            x = lin.forward(x);
            let h = x.dims()[1];
            let beta = self.dec_beta[i].val().reshape([1, h]);
            let gamma = self.dec_gamma[i].val().reshape([1, h]);
            let gate = sigmoid(x.clone() * beta);
            // (γ + (1 − γ)·σ(βx))·x
            x = (gamma.clone() + (gamma.neg().add_scalar(1.0)) * gate) * x;
            if i + 1 == n {
                x = x.add_scalar(1.0);
            }
        }
        x
    }
}

/// Interpolation of the rest-frame model onto a batch's observed pixels.
struct Resample {
    lo: Tensor<2, Int>,
    hi: Tensor<2, Int>,
    w: Tensor<2>,
}

impl Resample {
    fn apply(&self, rest: Tensor<2>) -> Tensor<2> {
        let a = rest.clone().gather(1, self.lo.clone());
        let b = rest.gather(1, self.hi.clone());
        a.clone() + self.w.clone() * (b - a)
    }
}

/// Fractional rest-grid position of every observed pixel of a galaxy at redshift `z`: lower
/// index and weight of the upper neighbour.
fn interp_row(
    loglam: &[f64],
    z: f64,
    r0: f64,
    dr: f64,
    n_rest: usize,
) -> Option<(Vec<i64>, Vec<f32>)> {
    let shift = (1.0 + z).log10();
    let mut lo = Vec::with_capacity(loglam.len());
    let mut w = Vec::with_capacity(loglam.len());
    let tol = 1e-6;
    for &l in loglam {
        let t = (l - shift - r0) / dr;
        if !(t >= -tol && t <= (n_rest - 1) as f64 + tol) {
            return None;
        }
        let k = (t.floor().max(0.0) as usize).min(n_rest - 2);
        lo.push(k as i64);
        w.push((t - k as f64).clamp(0.0, 1.0) as f32);
    }
    Some((lo, w))
}

/// The trained autoencoder: configuration, the observed grid it was trained on, and weights.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    /// Architecture of the network.
    pub config: SpenderConfig,
    /// log10 λ of the observed pixels the encoder reads.
    pub obs_loglam: Vec<f64>,
    net: SpenderNet,
}

/// What `Autoencoder::save` writes beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedConfig {
    format: String,
    config: SpenderConfig,
    obs_loglam: Vec<f64>,
}

const FORMAT: &str = "galsed-optir spender v1";

/// Validated inputs on the observed grid.
struct Inputs<'a> {
    loglam: &'a [f64],
    flux: ArrayView2<'a, f32>,
    ivar: ArrayView2<'a, f32>,
    redshift: &'a [f64],
}

fn check_inputs<'a>(
    cfg: &SpenderConfig,
    loglam: &'a [f64],
    flux: ArrayView2<'a, f32>,
    ivar: ArrayView2<'a, f32>,
    redshift: &'a [f64],
) -> Result<Inputs<'a>, OptirError> {
    let (n, p) = flux.dim();
    if p != loglam.len() || ivar.dim() != (n, p) || redshift.len() != n {
        return Err(input_err(format!(
            "spender: flux ({n} × {p}), ivar ({} × {}), loglam ({}) and redshift ({}) do not match",
            ivar.nrows(),
            ivar.ncols(),
            loglam.len(),
            redshift.len()
        )));
    }
    let min_len = cfg.kernels[0] * cfg.kernels[1];
    if p < min_len {
        return Err(input_err(format!(
            "spender: spectra of {p} pixels are too short (need ≥ {min_len})"
        )));
    }
    if loglam.iter().any(|l| !l.is_finite()) || loglam.windows(2).any(|w| w[1] <= w[0]) {
        return Err(input_err("spender: loglam must be finite and increasing"));
    }
    let (r0, dr, nr) = (cfg.rest_loglam_start(), cfg.rest_loglam_step, cfg.n_rest());
    for (i, &z) in redshift.iter().enumerate() {
        if !z.is_finite() {
            return Err(input_err(format!("spender: galaxy {i} has redshift {z}")));
        }
        let lo = (loglam[0] - (1.0 + z).log10() - r0) / dr;
        let hi = (loglam[p - 1] - (1.0 + z).log10() - r0) / dr;
        if z <= -1.0 || lo < -1e-6 || hi > (nr - 1) as f64 + 1e-6 {
            return Err(input_err(format!(
                "spender: galaxy {i} at z = {z}: its pixels ({:.0}–{:.0} Å observed) leave the decoder's rest-frame range ({:.0}–{:.0} Å; the model covers {:.0}–{:.0} Å at 0 ≤ z ≤ {})",
                10f64.powf(loglam[0]),
                10f64.powf(loglam[p - 1]),
                10f64.powf(r0),
                10f64.powf(r0 + dr * (nr - 1) as f64),
                cfg.obs_lambda_min,
                cfg.obs_lambda_max,
                cfg.z_max
            )));
        }
    }
    for (((i, j), &f), &w) in flux.indexed_iter().zip(ivar.iter()) {
        if !(w.is_finite() && w >= 0.0) {
            return Err(input_err(format!(
                "spender: galaxy {i}, pixel {j}: inverse variance {w}"
            )));
        }
        if w > 0.0 && !f.is_finite() {
            return Err(input_err(format!(
                "spender: galaxy {i}, pixel {j}: flux {f} with ivar {w}"
            )));
        }
    }
    Ok(Inputs {
        loglam,
        flux,
        ivar,
        redshift,
    })
}

impl Inputs<'_> {
    fn n(&self) -> usize {
        self.flux.nrows()
    }

    /// Encoder inputs (masked pixels zeroed) of `rows`.
    fn x(&self, rows: &[usize], device: &Device) -> Tensor<2> {
        let p = self.loglam.len();
        let mut out = Vec::with_capacity(rows.len() * p);
        for &r in rows {
            out.extend(
                self.flux
                    .row(r)
                    .iter()
                    .zip(self.ivar.row(r))
                    .map(|(&f, &w)| if w > 0.0 { f } else { 0.0 }),
            );
        }
        tensor2(out, [rows.len(), p], device)
    }

    /// Inverse variances of `rows`, divided by each galaxy's number of unmasked pixels.
    fn weights(&self, rows: &[usize], device: &Device) -> Tensor<2> {
        let p = self.loglam.len();
        let mut out = Vec::with_capacity(rows.len() * p);
        for &r in rows {
            let row = self.ivar.row(r);
            let n_valid = row.iter().filter(|&&w| w > 0.0).count().max(1) as f32;
            out.extend(row.iter().map(|&w| w / n_valid));
        }
        tensor2(out, [rows.len(), p], device)
    }

    fn resample(&self, cfg: &SpenderConfig, rows: &[usize], device: &Device) -> Resample {
        let p = self.loglam.len();
        let (r0, dr, nr) = (cfg.rest_loglam_start(), cfg.rest_loglam_step, cfg.n_rest());
        let mut lo = Vec::with_capacity(rows.len() * p);
        let mut w = Vec::with_capacity(rows.len() * p);
        for &r in rows {
            let (l, ww) = interp_row(self.loglam, self.redshift[r], r0, dr, nr)
                .expect("redshifts were checked against the rest-frame grid");
            lo.extend(l);
            w.extend(ww);
        }
        let hi: Vec<i64> = lo.iter().map(|&k| k + 1).collect();
        let shape = [rows.len(), p];
        Resample {
            lo: Tensor::from_data(TensorData::new(lo, shape), device),
            hi: Tensor::from_data(TensorData::new(hi, shape), device),
            w: tensor2(w, shape, device),
        }
    }

    /// Per-galaxy loss (χ² per unmasked pixel) of `rows`, shape (B).
    fn losses(
        &self,
        net: &SpenderNet,
        cfg: &SpenderConfig,
        rows: &[usize],
        device: &Device,
    ) -> Tensor<1> {
        let x = self.x(rows, device);
        let wt = self.weights(rows, device);
        let model = self
            .resample(cfg, rows, device)
            .apply(net.decode(net.encode(x.clone())));
        let r = x - model;
        (r.clone() * r * wt).sum_dim(1).reshape([rows.len()])
    }
}

fn mean_loss(
    inp: &Inputs,
    net: &SpenderNet,
    cfg: &SpenderConfig,
    rows: &[usize],
    batch: usize,
) -> f64 {
    if rows.is_empty() {
        return f64::NAN;
    }
    let device = Device::flex();
    let sum: f64 = rows
        .chunks(batch.max(1))
        .map(|c| f64::from(inp.losses(net, cfg, c, &device).sum().into_scalar::<f32>()))
        .sum();
    sum / rows.len() as f64
}

/// Reads module weights saved with `save_file`, onto a freshly built network.
fn load_net(cfg: &SpenderConfig, path: &Path, device: &Device) -> Result<SpenderNet, OptirError> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let net = SpenderNet::init(cfg, &mut rng, device);
    net.try_load_file(path).map_err(|e| file_err(path, e))
}

impl Autoencoder {
    /// A freshly initialised autoencoder (weights drawn from `seed`).
    pub fn new(config: SpenderConfig, obs_loglam: Vec<f64>, seed: u64) -> Result<Self, OptirError> {
        config.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(init_seed(seed));
        let net = SpenderNet::init(&config, &mut rng, &Device::flex());
        Ok(Self {
            config,
            obs_loglam,
            net,
        })
    }

    /// The network (plain device).
    pub fn net(&self) -> &SpenderNet {
        &self.net
    }

    /// All weights, flattened in module order (for comparisons).
    pub fn flat_weights(&self) -> Vec<f32> {
        let record = self.net.clone();
        let mut out = Vec::new();
        for (c, a) in record.conv.iter().zip(&record.conv_alpha) {
            out.extend(to_vec(c.weight.val()));
            if let Some(b) = &c.bias {
                out.extend(to_vec(b.val()));
            }
            out.extend(to_vec(a.val()));
        }
        for l in record.enc.iter().chain(&record.dec) {
            out.extend(to_vec(l.weight.val()));
            if let Some(b) = &l.bias {
                out.extend(to_vec(b.val()));
            }
        }
        for p in record
            .enc_alpha
            .iter()
            .chain(&record.dec_beta)
            .chain(&record.dec_gamma)
        {
            out.extend(to_vec(p.val()));
        }
        out
    }

    fn check_grid(&self, loglam: &[f64]) -> Result<(), OptirError> {
        let same = loglam.len() == self.obs_loglam.len()
            && loglam
                .iter()
                .zip(&self.obs_loglam)
                .all(|(a, b)| (a - b).abs() < 1e-7);
        if same {
            Ok(())
        } else {
            Err(input_err(format!(
                "spender: spectra on {} pixels from log10 λ = {:?}, the model was trained on {} pixels from {:?}",
                loglam.len(),
                loglam.first(),
                self.obs_loglam.len(),
                self.obs_loglam.first()
            )))
        }
    }

    /// Mean loss (χ² per unmasked pixel, averaged over galaxies) of normalised spectra.
    pub fn loss(
        &self,
        loglam: &[f64],
        flux: ArrayView2<f32>,
        ivar: ArrayView2<f32>,
        redshift: &[f64],
    ) -> Result<f64, OptirError> {
        self.check_grid(loglam)?;
        let inp = check_inputs(&self.config, loglam, flux, ivar, redshift)?;
        let rows: Vec<usize> = (0..inp.n()).collect();
        Ok(mean_loss(&inp, &self.net, &self.config, &rows, 256))
    }

    /// Decoded spectra on the observed pixels (n, n_pix): encode, decode, redshift, resample.
    pub fn reconstruct(
        &self,
        loglam: &[f64],
        flux: ArrayView2<f32>,
        ivar: ArrayView2<f32>,
        redshift: &[f64],
    ) -> Result<Array2<f32>, OptirError> {
        self.check_grid(loglam)?;
        let inp = check_inputs(&self.config, loglam, flux, ivar, redshift)?;
        let device = Device::flex();
        let (n, p) = flux.dim();
        let mut out = Vec::with_capacity(n * p);
        let rows: Vec<usize> = (0..n).collect();
        for c in rows.chunks(256) {
            let s = self.net.encode(inp.x(c, &device));
            let m = inp
                .resample(&self.config, c, &device)
                .apply(self.net.decode(s));
            out.extend(to_vec(m));
        }
        Ok(Array2::from_shape_vec((n, p), out).expect("n × n_pix values"))
    }

    /// Rest-frame spectra (n, n_rest) on [`SpenderConfig::rest_loglam`] of latents (n, S).
    pub fn decode(&self, latents: ArrayView2<f32>) -> Result<Array2<f32>, OptirError> {
        let (n, s) = latents.dim();
        if s != self.config.n_latents {
            return Err(input_err(format!(
                "spender: {s} latents given, the model has {}",
                self.config.n_latents
            )));
        }
        let device = Device::flex();
        let nr = self.config.n_rest();
        let mut out = Vec::with_capacity(n * nr);
        let flat: Vec<f32> = latents.iter().copied().collect();
        for c in flat.chunks(256 * s) {
            let t = tensor2(c.to_vec(), [c.len() / s, s], &device);
            out.extend(to_vec(self.net.decode(t)));
        }
        Ok(Array2::from_shape_vec((n, nr), out).expect("n × n_rest values"))
    }

    /// Writes `dir/spender.json` (configuration and grid) and `dir/spender.bpk` (weights).
    pub fn save(&self, dir: &Path) -> Result<(), OptirError> {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        let cfg = SavedConfig {
            format: FORMAT.into(),
            config: self.config.clone(),
            obs_loglam: self.obs_loglam.clone(),
        };
        let jpath = dir.join("spender.json");
        let text = serde_json::to_vec_pretty(&cfg).map_err(|e| file_err(&jpath, e))?;
        std::fs::write(&jpath, text).map_err(|e| file_err(&jpath, e))?;
        let wpath = dir.join("spender.bpk");
        self.net
            .clone()
            .save_file(&wpath)
            .map_err(|e| file_err(&wpath, e))
    }

    /// Reads what [`Autoencoder::save`] wrote.
    pub fn load(dir: &Path) -> Result<Self, OptirError> {
        let jpath = dir.join("spender.json");
        let text = std::fs::read(&jpath).map_err(|e| file_err(&jpath, e))?;
        let saved: SavedConfig = serde_json::from_slice(&text).map_err(|e| file_err(&jpath, e))?;
        if saved.format != FORMAT {
            return Err(file_err(
                &jpath,
                format!("format '{}', expected '{FORMAT}'", saved.format),
            ));
        }
        saved.config.check()?;
        let net = load_net(&saved.config, &dir.join("spender.bpk"), &Device::flex())?;
        Ok(Self {
            config: saved.config,
            obs_loglam: saved.obs_loglam,
            net,
        })
    }
}

impl SpectrumEncoder for Autoencoder {
    fn n_latents(&self) -> usize {
        self.config.n_latents
    }

    fn encode(
        &self,
        loglam: &[f64],
        flux: ArrayView2<f32>,
        ivar: ArrayView2<f32>,
        redshift: &[f64],
    ) -> Result<Array2<f32>, OptirError> {
        self.check_grid(loglam)?;
        let inp = check_inputs(&self.config, loglam, flux, ivar, redshift)?;
        let device = Device::flex();
        let n = inp.n();
        let s = self.config.n_latents;
        let mut out = Vec::with_capacity(n * s);
        let rows: Vec<usize> = (0..n).collect();
        for c in rows.chunks(256) {
            out.extend(to_vec(self.net.encode(inp.x(c, &device))));
        }
        Ok(Array2::from_shape_vec((n, s), out).expect("n × S latents"))
    }
}

/// splitmix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn init_seed(seed: u64) -> u64 {
    mix(mix(seed) ^ 0x5bd1_e995)
}

fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    mix(mix(seed) ^ ((epoch as u64 + 1) << 8))
}

/// Checkpoint state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    fingerprint: String,
    history: Vec<EpochRecord>,
    best_epoch: Option<usize>,
    best_val_loss: f64,
    initial_val_loss: f64,
    stopped_early: bool,
}

fn fingerprint(
    cfg: &SpenderConfig,
    settings: &TrainSettings,
    inp: &Inputs,
    train: &[usize],
    val: &[usize],
) -> String {
    // FNV-1a over 32-bit words: the data, the redshifts and the split.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u32| h = (h ^ u64::from(v)).wrapping_mul(0x100_0000_01b3);
    for &r in train.iter().chain(val) {
        eat(r as u32);
        let z = inp.redshift[r].to_bits();
        eat(z as u32);
        eat((z >> 32) as u32);
        for (&f, &w) in inp.flux.row(r).iter().zip(inp.ivar.row(r)) {
            eat(f.to_bits());
            eat(w.to_bits());
        }
    }
    for &l in inp.loglam {
        eat(l.to_bits() as u32);
    }
    serde_json::json!({
        "config": cfg,
        "settings": settings,
        "n_train": train.len(),
        "n_val": val.len(),
        "data": format!("{h:016x}"),
    })
    .to_string()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OptirError> {
    galsed_io::atomic_write_bytes(path, bytes).map_err(|e| file_err(path, e))
}

/// Trains an autoencoder on normalised spectra (`flux`, `ivar` from [`crate::survey::normalise`])
/// of the galaxies `train_idx`, keeping the weights with the lowest loss on `val_idx`.
///
/// `progress` is called after every epoch. With `checkpoint_dir`, training resumes from and
/// writes checkpoints there (see the module documentation).
#[allow(clippy::too_many_arguments)]
pub fn train(
    loglam: &[f64],
    flux: ArrayView2<f32>,
    ivar: ArrayView2<f32>,
    redshift: &[f64],
    train_idx: &[usize],
    val_idx: &[usize],
    cfg: &SpenderConfig,
    settings: &TrainSettings,
    progress: &mut dyn FnMut(&EpochRecord),
    checkpoint_dir: Option<&Path>,
) -> Result<(Autoencoder, TrainReport), OptirError> {
    cfg.check()?;
    if settings.epochs == 0 || settings.batch_size == 0 {
        return Err(input_err(
            "spender: epochs and batch size must be at least 1",
        ));
    }
    if !(settings.learning_rate > 0.0 && settings.learning_rate.is_finite()) {
        return Err(input_err(format!(
            "spender: learning rate {}",
            settings.learning_rate
        )));
    }
    let inp = check_inputs(cfg, loglam, flux, ivar, redshift)?;
    let n = inp.n();
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(input_err(
            "spender: need at least one training and one validation galaxy",
        ));
    }
    if let Some(&bad) = train_idx.iter().chain(val_idx).find(|&&i| i >= n) {
        return Err(input_err(format!(
            "spender: galaxy index {bad} out of range (n = {n})"
        )));
    }
    for &i in train_idx.iter().chain(val_idx) {
        if !inp.ivar.row(i).iter().any(|&w| w > 0.0) {
            return Err(input_err(format!(
                "spender: galaxy {i} has no unmasked pixel"
            )));
        }
    }
    let steps = train_idx.len().div_ceil(settings.batch_size);
    let schedule = OneCycle::new(
        settings.learning_rate,
        settings.epochs * steps,
        settings.schedule,
    )
    .map_err(input_err)?;

    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(init_seed(settings.seed));
    let mut net = SpenderNet::init(cfg, &mut rng, &device);
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let mut best: SpenderNet = net.valid();

    let fp = fingerprint(cfg, settings, &inp, train_idx, val_idx);
    let mut state = State {
        fingerprint: fp.clone(),
        history: Vec::new(),
        best_epoch: None,
        best_val_loss: f64::INFINITY,
        initial_val_loss: f64::NAN,
        stopped_early: false,
    };
    let paths = checkpoint_dir.map(|d| {
        (
            d.to_path_buf(),
            d.join("state.json"),
            d.join("last.bpk"),
            d.join("optim.bpk"),
            d.join("best.bpk"),
        )
    });
    let mut resumed = false;
    if let Some((dir, spath, lpath, opath, bpath)) = &paths {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        if spath.is_file() {
            let text = std::fs::read(spath).map_err(|e| file_err(spath, e))?;
            let saved: State = serde_json::from_slice(&text).map_err(|e| file_err(spath, e))?;
            if saved.fingerprint != fp {
                return Err(file_err(
                    spath,
                    "checkpoint made with other settings or data; remove the directory to start afresh",
                ));
            }
            if !saved.history.is_empty() {
                net = net.try_load_file(lpath).map_err(|e| file_err(lpath, e))?;
                optim = optim.load(opath).map_err(|e| file_err(opath, e))?;
                best = load_net(cfg, bpath, &Device::flex())?;
            }
            state = saved;
            resumed = true;
        }
    }
    if !resumed {
        state.initial_val_loss = mean_loss(&inp, &net.valid(), cfg, val_idx, 256);
        if !state.initial_val_loss.is_finite() {
            return Err(input_err(
                "spender: the initial validation loss is not finite (are the spectra normalised?)",
            ));
        }
    }

    let mut order: Vec<usize> = train_idx.to_vec();
    while state.history.len() < settings.epochs && !state.stopped_early {
        let epoch = state.history.len();
        let start = Instant::now();
        order.copy_from_slice(train_idx);
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed(
            settings.seed,
            epoch,
        )));
        let mut sum = 0.0;
        for (b, rows) in order.chunks(settings.batch_size).enumerate() {
            let loss = inp.losses(&net, cfg, rows, &device).mean();
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(input_err(format!(
                    "spender: the training loss became {value} at epoch {epoch}, batch {b} (try a smaller learning rate)"
                )));
            }
            sum += value * rows.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(schedule.lr(epoch * steps + b), net, grads);
        }
        let plain = net.valid();
        let val_loss = mean_loss(&inp, &plain, cfg, val_idx, 256);
        let record = EpochRecord {
            epoch,
            train_loss: sum / train_idx.len() as f64,
            val_loss,
            seconds: start.elapsed().as_secs_f64(),
        };
        if val_loss < state.best_val_loss {
            state.best_val_loss = val_loss;
            state.best_epoch = Some(epoch);
            best = plain;
        }
        state.history.push(record.clone());
        if let (Some(p), Some(b)) = (settings.patience, state.best_epoch)
            && epoch >= b + p
        {
            state.stopped_early = true;
        }
        if let Some((_, spath, lpath, opath, bpath)) = &paths {
            net.clone()
                .save_file(lpath)
                .map_err(|e| file_err(lpath, e))?;
            optim.save(opath).map_err(|e| file_err(opath, e))?;
            if state.best_epoch == Some(epoch) {
                best.clone()
                    .save_file(bpath)
                    .map_err(|e| file_err(bpath, e))?;
            }
            let text = serde_json::to_vec_pretty(&state).map_err(|e| file_err(spath, e))?;
            write_atomic(spath, &text)?;
        }
        progress(&record);
    }
    let Some(best_epoch) = state.best_epoch else {
        return Err(input_err(
            "spender: the validation loss never became finite",
        ));
    };
    Ok((
        Autoencoder {
            config: cfg.clone(),
            obs_loglam: loglam.to_vec(),
            net: best,
        },
        TrainReport {
            history: state.history,
            best_epoch,
            best_val_loss: state.best_val_loss,
            stopped_early: state.stopped_early,
            initial_val_loss: state.initial_val_loss,
        },
    ))
}
