//! The WISE predictor of Jespersen et al. (2025) and its baselines.
//!
//! Every predictor maps per-galaxy [`Features`] to W1–W4 Vega magnitudes. A feature set carries
//! a per-galaxy magnitude `offset` that is added to every output: for the spectrum latents it is
//! −2.5 log10(norm), the paper's "normalisation applied again after the output layer", so the
//! models learn a normalisation-free, colour-like quantity.
//!
//! * [`MlpPredictor`] — the paper's network: inputs standardised, hidden layers with ReLU
//!   (8 → 20 → 20 → 4, 684 parameters by default), trained with Adam on the Gaussian negative
//!   log-likelihood ½ ln σ² + ½ ((y − ŷ)/σ)² with σ the WISE errors, minibatches, early stopping
//!   on the validation likelihood, seeded.
//! * [`LinearPredictor`] — weighted least squares per band (weights 1/σ²), closed form.
//!
//! Undetected bands (error ≥ [`UNDETECTED_SIGMA`]) carry their 1e4 mag error in the paper, i.e.
//! a weight of 1e-8; here they are masked exactly (weight 0), so their values, even NaN, never
//! change a fit. Both models also standardise their targets internally (mean and scale of
//! y − offset over the detected training rows); this is a fixed affine map, not a parameter.

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::survey::UNDETECTED_SIGMA;
use crate::{OptirError, file_err, input_err};

/// Number of predicted bands (W1–W4).
pub const N_BANDS: usize = 4;

/// Inputs of a predictor: one row per galaxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Input values, (n, d).
    pub x: Array2<f32>,
    /// Per-galaxy magnitude added to every predicted band (0 if the features have none).
    pub offset: Vec<f64>,
    /// Names of the d columns (for reports).
    pub names: Vec<String>,
}

impl Features {
    /// Features with zero offsets; fails on non-finite values.
    pub fn new(x: Array2<f32>, offset: Vec<f64>, names: Vec<String>) -> Result<Self, OptirError> {
        let f = Self { x, offset, names };
        f.check()?;
        Ok(f)
    }

    /// Number of galaxies.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// True if there is no galaxy.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// Number of inputs per galaxy.
    pub fn dim(&self) -> usize {
        self.x.ncols()
    }

    /// Checks shapes and finiteness, naming the first bad galaxy and column.
    pub fn check(&self) -> Result<(), OptirError> {
        if self.offset.len() != self.x.nrows() {
            return Err(input_err(format!(
                "features: {} rows but {} offsets",
                self.x.nrows(),
                self.offset.len()
            )));
        }
        if self.names.len() != self.x.ncols() {
            return Err(input_err(format!(
                "features: {} columns but {} names",
                self.x.ncols(),
                self.names.len()
            )));
        }
        for (i, row) in self.x.outer_iter().enumerate() {
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err(input_err(format!(
                    "features: galaxy {i} has a non-finite value ({}) in column {j} ({})",
                    row[j], self.names[j]
                )));
            }
            if !self.offset[i].is_finite() {
                return Err(input_err(format!(
                    "features: galaxy {i} has a non-finite offset ({})",
                    self.offset[i]
                )));
            }
        }
        Ok(())
    }

    /// The paper's inputs: the latents of the normalised spectrum, log10 of the normalisation
    /// (median flux in rest 5300–5850 Å, [`crate::survey::normalisation`]) and the redshift;
    /// offset −2.5 log10(norm). With 6 latents, d = 8.
    pub fn from_latents(
        latents: ArrayView2<f32>,
        norm: &[f64],
        redshift: &[f64],
    ) -> Result<Self, OptirError> {
        let (n, k) = latents.dim();
        if norm.len() != n || redshift.len() != n {
            return Err(input_err(format!(
                "features: {n} latent rows but {} normalisations and {} redshifts",
                norm.len(),
                redshift.len()
            )));
        }
        if let Some(i) = norm.iter().position(|&v| !(v > 0.0 && v.is_finite())) {
            return Err(input_err(format!(
                "features: galaxy {i} has normalisation {}, which is not positive and finite",
                norm[i]
            )));
        }
        let mut x = Array2::<f32>::zeros((n, k + 2));
        x.slice_mut(ndarray::s![.., ..k]).assign(&latents);
        for i in 0..n {
            x[[i, k]] = norm[i].log10() as f32;
            x[[i, k + 1]] = redshift[i] as f32;
        }
        let offset = norm.iter().map(|v| -2.5 * v.log10()).collect();
        let mut names: Vec<String> = (0..k).map(|j| format!("latent{j}")).collect();
        names.push("log10_norm".into());
        names.push("redshift".into());
        Self::new(x, offset, names)
    }

    /// The ugriz baseline: inputs u−g, g−r, r−i, i−z, r and redshift (AB magnitudes); offset the
    /// r magnitude, so the models predict the optical–infrared colours W − r.
    pub fn from_ugriz(ugriz: ArrayView2<f64>, redshift: &[f64]) -> Result<Self, OptirError> {
        let (n, m) = ugriz.dim();
        if m != 5 || redshift.len() != n {
            return Err(input_err(format!(
                "features: ugriz must be (n, 5) with n redshifts; got ({n}, {m}) and {} redshifts",
                redshift.len()
            )));
        }
        let mut x = Array2::<f32>::zeros((n, 6));
        let mut offset = Vec::with_capacity(n);
        for i in 0..n {
            let u = ugriz.row(i);
            for c in 0..4 {
                x[[i, c]] = (u[c] - u[c + 1]) as f32;
            }
            x[[i, 4]] = u[2] as f32;
            x[[i, 5]] = redshift[i] as f32;
            offset.push(u[2]);
        }
        let names = ["u-g", "g-r", "r-i", "i-z", "r", "redshift"]
            .map(String::from)
            .to_vec();
        Self::new(x, offset, names)
    }
}

/// Detected bands of a WISE row: error below [`UNDETECTED_SIGMA`].
pub fn is_detected(err: f64) -> bool {
    err < UNDETECTED_SIGMA
}

/// Checks the WISE arrays against the features and `rows`: shapes, indices, and finite values
/// with positive errors wherever a band is detected.
fn check_targets(
    f: &Features,
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    rows: &[usize],
    what: &str,
) -> Result<(), OptirError> {
    f.check()?;
    if wise.dim() != (f.len(), N_BANDS) || err.dim() != (f.len(), N_BANDS) {
        return Err(input_err(format!(
            "WISE magnitudes {:?} and errors {:?} must be ({}, {N_BANDS}) like the features",
            wise.dim(),
            err.dim(),
            f.len()
        )));
    }
    for &r in rows {
        if r >= f.len() {
            return Err(input_err(format!(
                "{what} row {r} is beyond the {} galaxies",
                f.len()
            )));
        }
        for b in 0..N_BANDS {
            let (y, s) = (wise[[r, b]], err[[r, b]]);
            if s.is_nan() {
                return Err(input_err(format!(
                    "galaxy {r}: WISE band {} has a NaN error",
                    b + 1
                )));
            }
            if is_detected(s) && !(y.is_finite() && s > 0.0) {
                return Err(input_err(format!(
                    "galaxy {r}: detected WISE band W{} has magnitude {y} and error {s} (need finite, error > 0)",
                    b + 1
                )));
            }
        }
    }
    Ok(())
}

/// Mean and standard deviation of each input column over `rows` (standard deviation 1 where a
/// column is constant).
fn standardisation(f: &Features, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let d = f.dim();
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for &r in rows {
        for (m, &v) in mean.iter_mut().zip(f.x.row(r)) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; d];
    for &r in rows {
        for j in 0..d {
            var[j] += (f64::from(f.x[[r, j]]) - mean[j]).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|v| (v / n).sqrt())
        .map(|s| if s > 1e-12 { s } else { 1.0 })
        .collect();
    (mean, std)
}

/// Mean and scale of y − offset over the detected rows of each band; fails for a band without
/// detections.
fn target_scaling(
    f: &Features,
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    rows: &[usize],
) -> Result<([f64; N_BANDS], [f64; N_BANDS]), OptirError> {
    let mut mean = [0.0; N_BANDS];
    let mut scale = [1.0; N_BANDS];
    for b in 0..N_BANDS {
        let t: Vec<f64> = rows
            .iter()
            .filter(|&&r| is_detected(err[[r, b]]))
            .map(|&r| wise[[r, b]] - f.offset[r])
            .collect();
        if t.is_empty() {
            return Err(input_err(format!(
                "no training galaxy is detected in W{}",
                b + 1
            )));
        }
        let m = t.iter().sum::<f64>() / t.len() as f64;
        let s = (t.iter().map(|v| (v - m).powi(2)).sum::<f64>() / t.len() as f64).sqrt();
        mean[b] = m;
        scale[b] = if s > 1e-6 { s } else { 1.0 };
    }
    Ok((mean, scale))
}

/// Anything that predicts W1–W4 from features.
pub trait WisePredictor {
    /// Number of inputs per galaxy.
    fn n_inputs(&self) -> usize;
    /// Predicted W1–W4 Vega magnitudes, (n, 4).
    fn predict(&self, features: &Features) -> Result<Array2<f64>, OptirError>;
}

fn check_dim(f: &Features, d: usize) -> Result<(), OptirError> {
    f.check()?;
    if f.dim() != d {
        return Err(input_err(format!(
            "the model takes {d} inputs but the features have {}",
            f.dim()
        )));
    }
    Ok(())
}

/// The paper's Gaussian negative log-likelihood per galaxy (½ ln σ² + ½ ((y − ŷ)/σ)² summed over
/// the detected bands), averaged over `rows`; the constant ½ ln 2π per band is left out.
pub fn gaussian_nll(
    pred: ArrayView2<f64>,
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    rows: &[usize],
) -> f64 {
    let mut sum = 0.0;
    for &r in rows {
        for b in 0..N_BANDS {
            let s = err[[r, b]];
            if is_detected(s) {
                sum += s.ln() + 0.5 * ((wise[[r, b]] - pred[[r, b]]) / s).powi(2);
            }
        }
    }
    sum / rows.len().max(1) as f64
}

// ---------------------------------------------------------------------------------------------
// MLP

/// Settings of the MLP and its training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Hidden-layer widths (the paper: [20, 20]).
    pub hidden: Vec<usize>,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Galaxies per optimiser step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Stop when the validation NLL has not improved for this many epochs; the best epoch's
    /// weights are kept.
    pub patience: usize,
    /// Seeds the initial weights and the batch order.
    pub seed: u64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![20, 20],
            epochs: 500,
            batch_size: 256,
            learning_rate: 1e-3,
            patience: 30,
            seed: 0,
        }
    }
}

/// One dense layer: `weight` row-major (d_out, d_in) as in PyTorch, `bias` (d_out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Weights, row-major (d_out, d_in).
    pub weight: Vec<f32>,
    /// Biases (d_out).
    pub bias: Vec<f32>,
}

/// The trained network with its fixed input and output maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpPredictor {
    /// Input standardisation from the training rows: x' = (x − mean)/std.
    pub x_mean: Vec<f64>,
    /// Standard deviation of each input over the training rows.
    pub x_std: Vec<f64>,
    /// Output map: W_b = offset + y_mean\[b\] + y_scale\[b\]·net_b(x').
    pub y_mean: [f64; N_BANDS],
    /// Output scale per band.
    pub y_scale: [f64; N_BANDS],
    /// Dense layers, ReLU after all but the last.
    pub layers: Vec<Dense>,
    /// The settings it was trained with.
    pub config: MlpConfig,
}

/// One epoch of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss (½ χ² over detected bands, per galaxy) over the epoch's batches.
    pub train_loss: f64,
    /// Validation [`gaussian_nll`] after the epoch.
    pub valid_nll: f64,
    /// Best epoch so far.
    pub best_epoch: usize,
    /// Wall time of the epoch \[s\].
    pub seconds: f64,
}

/// What a training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpReport {
    /// Number of training galaxies.
    pub n_train: usize,
    /// Number of validation galaxies.
    pub n_valid: usize,
    /// One record per epoch run.
    pub history: Vec<MlpEpoch>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Validation NLL of the best epoch.
    pub best_valid_nll: f64,
    /// Stopped before `epochs` because the validation NLL stopped improving.
    pub stopped_early: bool,
}

#[derive(Module, Debug)]
struct Net {
    layers: Vec<Linear>,
}

impl Net {
    fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(x);
            if i < last {
                x = relu(x);
            }
        }
        x
    }

    fn from_dense(layers: &[Dense], device: &Device) -> Self {
        let layers = layers
            .iter()
            .map(|l| {
                // burn stores (d_in, d_out).
                let mut wt = vec![0f32; l.d_in * l.d_out];
                for o in 0..l.d_out {
                    for i in 0..l.d_in {
                        wt[i * l.d_out + o] = l.weight[o * l.d_in + i];
                    }
                }
                Linear {
                    weight: Param::from_tensor(Tensor::from_data(
                        TensorData::new(wt, [l.d_in, l.d_out]),
                        device,
                    )),
                    bias: Some(Param::from_tensor(Tensor::from_data(
                        TensorData::new(l.bias.clone(), [l.d_out]),
                        device,
                    ))),
                }
            })
            .collect();
        Self { layers }
    }

    fn to_dense(&self) -> Vec<Dense> {
        self.layers
            .iter()
            .map(|l| {
                let [d_in, d_out] = l.weight.dims();
                let wt = to_f32s(l.weight.val());
                let mut weight = vec![0f32; d_in * d_out];
                for o in 0..d_out {
                    for i in 0..d_in {
                        weight[o * d_in + i] = wt[i * d_out + o];
                    }
                }
                let bias = l
                    .bias
                    .as_ref()
                    .map_or_else(|| vec![0.0; d_out], |b| to_f32s(b.val()));
                Dense {
                    d_in,
                    d_out,
                    weight,
                    bias,
                }
            })
            .collect()
    }
}

fn to_f32s<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("galsed tensors are float32")
}

/// PyTorch's `nn.Linear` default initialisation: weight and bias ~ U(−1/√d_in, 1/√d_in).
fn init_layers(d: usize, hidden: &[usize], rng: &mut ChaCha8Rng) -> Vec<Dense> {
    let mut sizes = vec![d];
    sizes.extend_from_slice(hidden);
    sizes.push(N_BANDS);
    sizes
        .windows(2)
        .map(|w| {
            let (d_in, d_out) = (w[0], w[1]);
            let bound = 1.0 / (d_in as f64).sqrt();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                    .collect()
            };
            let weight = draw(d_in * d_out);
            let bias = draw(d_out);
            Dense {
                d_in,
                d_out,
                weight,
                bias,
            }
        })
        .collect()
}

/// Network outputs (standardised targets) of standardised inputs, in f64.
fn forward_dense(layers: &[Dense], x: &[f64]) -> Vec<f64> {
    let mut h = x.to_vec();
    let last = layers.len() - 1;
    for (k, l) in layers.iter().enumerate() {
        let mut out = l.bias.iter().map(|&b| f64::from(b)).collect::<Vec<_>>();
        for (o, v) in out.iter_mut().enumerate() {
            let w = &l.weight[o * l.d_in..(o + 1) * l.d_in];
            *v += w
                .iter()
                .zip(&h)
                .map(|(&a, &b)| f64::from(a) * b)
                .sum::<f64>();
            if k < last {
                *v = v.max(0.0);
            }
        }
        h = out;
    }
    h
}

/// Splitmix64, to derive independent seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl MlpPredictor {
    /// Number of trainable parameters (684 for 8 inputs and the default [20, 20]).
    pub fn n_parameters(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum()
    }

    /// Parameters of a network with `d` inputs and `hidden` layers.
    pub fn count_parameters(d: usize, hidden: &[usize]) -> usize {
        let mut sizes = vec![d];
        sizes.extend_from_slice(hidden);
        sizes.push(N_BANDS);
        sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// An untrained network (seeded initial weights; standardisation from `rows`).
    pub fn init(
        features: &Features,
        wise: ArrayView2<f64>,
        wise_err: ArrayView2<f64>,
        rows: &[usize],
        config: &MlpConfig,
    ) -> Result<Self, OptirError> {
        check_targets(features, wise, wise_err, rows, "training")?;
        if rows.is_empty() {
            return Err(input_err("no training galaxies"));
        }
        if config.hidden.contains(&0) {
            return Err(input_err("hidden layers must have non-zero width"));
        }
        let (x_mean, x_std) = standardisation(features, rows);
        let (y_mean, y_scale) = target_scaling(features, wise, wise_err, rows)?;
        let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed));
        let layers = init_layers(features.dim(), &config.hidden, &mut rng);
        Ok(Self {
            x_mean,
            x_std,
            y_mean,
            y_scale,
            layers,
            config: config.clone(),
        })
    }

    /// Standardised inputs of `rows`, row-major f32.
    fn inputs(&self, f: &Features, rows: &[usize]) -> Vec<f32> {
        let d = f.dim();
        let mut out = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            out.extend(
                (0..d).map(|j| ((f64::from(f.x[[r, j]]) - self.x_mean[j]) / self.x_std[j]) as f32),
            );
        }
        out
    }

    /// Trains on `train_rows` with early stopping on `valid_rows`; `progress` is called after
    /// every epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        features: &Features,
        wise: ArrayView2<f64>,
        wise_err: ArrayView2<f64>,
        train_rows: &[usize],
        valid_rows: &[usize],
        config: &MlpConfig,
        progress: &mut dyn FnMut(&MlpEpoch),
    ) -> Result<(Self, MlpReport), OptirError> {
        if config.epochs == 0 || config.batch_size == 0 {
            return Err(input_err("epochs and batch size must be at least 1"));
        }
        if !(config.learning_rate > 0.0 && config.learning_rate.is_finite()) {
            return Err(input_err(format!(
                "learning rate {} must be positive",
                config.learning_rate
            )));
        }
        if valid_rows.is_empty() {
            return Err(input_err("no validation galaxies"));
        }
        check_targets(features, wise, wise_err, valid_rows, "validation")?;
        let mut model = Self::init(features, wise, wise_err, train_rows, config)?;
        let d = features.dim();
        let n = train_rows.len();

        // Training data: standardised inputs, targets and weights 1/σ'² (0 if undetected).
        let x_all = model.inputs(features, train_rows);
        let mut t_all = vec![0f32; n * N_BANDS];
        let mut w_all = vec![0f32; n * N_BANDS];
        for (k, &r) in train_rows.iter().enumerate() {
            for b in 0..N_BANDS {
                let s = wise_err[[r, b]];
                if is_detected(s) {
                    let t =
                        (wise[[r, b]] - features.offset[r] - model.y_mean[b]) / model.y_scale[b];
                    t_all[k * N_BANDS + b] = t as f32;
                    w_all[k * N_BANDS + b] = (model.y_scale[b] / s).powi(2) as f32;
                }
            }
        }
        let gather = |data: &[f32], w: usize, rows: &[usize], device: &Device| -> Tensor<2> {
            let mut out = Vec::with_capacity(rows.len() * w);
            for &r in rows {
                out.extend_from_slice(&data[r * w..(r + 1) * w]);
            }
            Tensor::from_data(TensorData::new(out, [rows.len(), w]), device)
        };

        let device = Device::flex().autodiff();
        let mut net = Net::from_dense(&model.layers, &device);
        let mut optim: ModuleOptimizer = AdamConfig::new().init();
        let mut best = (f64::INFINITY, 0usize, model.layers.clone());
        let mut history = Vec::new();
        let mut stopped_early = false;
        let mut order: Vec<usize> = (0..n).collect();
        for epoch in 0..config.epochs {
            let start = std::time::Instant::now();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(
                mix(config.seed) ^ (epoch as u64 + 1)
            )));
            let mut sum = 0.0;
            for rows in order.chunks(config.batch_size) {
                let x = gather(&x_all, d, rows, &device);
                let t = gather(&t_all, N_BANDS, rows, &device);
                let w = gather(&w_all, N_BANDS, rows, &device);
                let diff = net.forward(x) - t;
                let loss = (diff.clone() * diff * w).sum_dim(1).mul_scalar(0.5).mean();
                let value = f64::from(loss.clone().into_scalar::<f32>());
                if !value.is_finite() {
                    return Err(input_err(format!(
                        "training diverged in epoch {epoch} (loss {value}); try a smaller learning rate"
                    )));
                }
                sum += value * rows.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(config.learning_rate, net, grads);
            }
            model.layers = net.to_dense();
            let pred = model.predict_rows(features, valid_rows);
            let valid_nll = gaussian_nll(pred.view(), wise, wise_err, valid_rows);
            if valid_nll < best.0 {
                best = (valid_nll, epoch, model.layers.clone());
            }
            let rec = MlpEpoch {
                epoch,
                train_loss: sum / n as f64,
                valid_nll,
                best_epoch: best.1,
                seconds: start.elapsed().as_secs_f64(),
            };
            progress(&rec);
            history.push(rec);
            if epoch - best.1 >= config.patience && epoch + 1 < config.epochs {
                stopped_early = true;
                break;
            }
        }
        model.layers = best.2;
        let report = MlpReport {
            n_train: n,
            n_valid: valid_rows.len(),
            history,
            best_epoch: best.1,
            best_valid_nll: best.0,
            stopped_early,
        };
        Ok((model, report))
    }

    /// Predictions of `rows` only, as rows of a full (n, 4) array (other rows NaN); no checks.
    fn predict_rows(&self, f: &Features, rows: &[usize]) -> Array2<f64> {
        let mut out = Array2::from_elem((f.len(), N_BANDS), f64::NAN);
        let d = f.dim();
        let mut x = vec![0.0; d];
        for &r in rows {
            for (j, v) in x.iter_mut().enumerate() {
                *v = (f64::from(f.x[[r, j]]) - self.x_mean[j]) / self.x_std[j];
            }
            let t = forward_dense(&self.layers, &x);
            for b in 0..N_BANDS {
                out[[r, b]] = f.offset[r] + self.y_mean[b] + self.y_scale[b] * t[b];
            }
        }
        out
    }

    /// Writes the model as JSON.
    pub fn save(&self, path: &Path) -> Result<(), OptirError> {
        save_json(self, path)
    }

    /// Reads a model written by [`MlpPredictor::save`].
    pub fn load(path: &Path) -> Result<Self, OptirError> {
        let m: Self = load_json(path)?;
        let mut d_in = m.x_mean.len();
        if m.x_std.len() != d_in || m.layers.is_empty() {
            return Err(file_err(
                path,
                "inconsistent MLP: standardisation or layers missing",
            ));
        }
        for l in &m.layers {
            if l.d_in != d_in || l.weight.len() != l.d_in * l.d_out || l.bias.len() != l.d_out {
                return Err(file_err(path, "inconsistent MLP layer shapes"));
            }
            d_in = l.d_out;
        }
        if d_in != N_BANDS {
            return Err(file_err(
                path,
                format!("the MLP predicts {d_in} values, not {N_BANDS}"),
            ));
        }
        Ok(m)
    }
}

impl WisePredictor for MlpPredictor {
    fn n_inputs(&self) -> usize {
        self.x_mean.len()
    }
    fn predict(&self, features: &Features) -> Result<Array2<f64>, OptirError> {
        check_dim(features, self.n_inputs())?;
        let rows: Vec<usize> = (0..features.len()).collect();
        Ok(self.predict_rows(features, &rows))
    }
}

fn save_json<T: Serialize>(v: &T, path: &Path) -> Result<(), OptirError> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| file_err(path, e))?;
    std::fs::write(path, text).map_err(|e| file_err(path, e))
}

fn load_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, OptirError> {
    let text = std::fs::read(path).map_err(|e| file_err(path, e))?;
    serde_json::from_slice(&text).map_err(|e| file_err(path, e))
}

// ---------------------------------------------------------------------------------------------
// Linear

/// Weighted least squares per band: W_b = offset + c_b0 + Σ_j c_bj x'_j on standardised inputs,
/// weights 1/σ² over the detected training rows, solved from the normal equations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearPredictor {
    /// Mean of each input over the training rows.
    pub x_mean: Vec<f64>,
    /// Standard deviation of each input over the training rows.
    pub x_std: Vec<f64>,
    /// Per band: intercept then one coefficient per standardised input, (4, d + 1).
    pub coef: Vec<Vec<f64>>,
}

/// Solves A x = b for a symmetric positive definite A (n × n, row-major) by Cholesky; `None`
/// if A is not (numerically) positive definite.
pub fn cholesky_solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    assert_eq!(
        a.len(),
        n * n,
        "cholesky_solve: matrix and vector sizes differ"
    );
    let scale = (0..n).map(|i| a[i * n + i].abs()).fold(0.0f64, f64::max);
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            if i == j {
                if !(s > 1e-13 * scale && s.is_finite()) {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    Some(x)
}

impl LinearPredictor {
    /// Fits each band on its detected `rows`; fails for a band with fewer detections than
    /// coefficients or with degenerate inputs.
    pub fn fit(
        features: &Features,
        wise: ArrayView2<f64>,
        wise_err: ArrayView2<f64>,
        rows: &[usize],
    ) -> Result<Self, OptirError> {
        check_targets(features, wise, wise_err, rows, "training")?;
        if rows.is_empty() {
            return Err(input_err("no training galaxies"));
        }
        let (x_mean, x_std) = standardisation(features, rows);
        let d = features.dim();
        let p = d + 1;
        let mut coef = Vec::with_capacity(N_BANDS);
        let mut a = vec![0.0; p];
        for b in 0..N_BANDS {
            let mut ata = vec![0.0; p * p];
            let mut atb = vec![0.0; p];
            let mut n_det = 0;
            for &r in rows {
                let s = wise_err[[r, b]];
                if !is_detected(s) {
                    continue;
                }
                n_det += 1;
                let w = 1.0 / (s * s);
                a[0] = 1.0;
                for j in 0..d {
                    a[j + 1] = (f64::from(features.x[[r, j]]) - x_mean[j]) / x_std[j];
                }
                let t = wise[[r, b]] - features.offset[r];
                for i in 0..p {
                    atb[i] += w * a[i] * t;
                    for j in 0..=i {
                        ata[i * p + j] += w * a[i] * a[j];
                    }
                }
            }
            if n_det == 0 {
                return Err(input_err(format!(
                    "no training galaxy is detected in W{}",
                    b + 1
                )));
            }
            if n_det < p {
                return Err(input_err(format!(
                    "W{}: {n_det} detected training galaxies for {p} coefficients",
                    b + 1
                )));
            }
            for i in 0..p {
                for j in i + 1..p {
                    ata[i * p + j] = ata[j * p + i];
                }
            }
            let c = cholesky_solve(&ata, &atb).ok_or_else(|| {
                input_err(format!(
                    "W{}: the normal equations are singular (degenerate inputs)",
                    b + 1
                ))
            })?;
            coef.push(c);
        }
        Ok(Self {
            x_mean,
            x_std,
            coef,
        })
    }

    /// Writes the model as JSON.
    pub fn save(&self, path: &Path) -> Result<(), OptirError> {
        save_json(self, path)
    }

    /// Reads a model written by [`LinearPredictor::save`].
    pub fn load(path: &Path) -> Result<Self, OptirError> {
        let m: Self = load_json(path)?;
        let d = m.x_mean.len();
        if m.x_std.len() != d || m.coef.len() != N_BANDS || m.coef.iter().any(|c| c.len() != d + 1)
        {
            return Err(file_err(path, "inconsistent linear model shapes"));
        }
        Ok(m)
    }
}

impl WisePredictor for LinearPredictor {
    fn n_inputs(&self) -> usize {
        self.x_mean.len()
    }
    fn predict(&self, features: &Features) -> Result<Array2<f64>, OptirError> {
        let d = self.n_inputs();
        check_dim(features, d)?;
        let mut out = Array2::zeros((features.len(), N_BANDS));
        for r in 0..features.len() {
            for b in 0..N_BANDS {
                let c = &self.coef[b];
                let mut v = features.offset[r] + c[0];
                for j in 0..d {
                    v +=
                        c[j + 1] * (f64::from(features.x[[r, j]]) - self.x_mean[j]) / self.x_std[j];
                }
                out[[r, b]] = v;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&a, &[2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12);
        assert!(cholesky_solve(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0]).is_none());
    }

    #[test]
    fn paper_network_has_684_parameters() {
        assert_eq!(MlpPredictor::count_parameters(8, &[20, 20]), 684);
    }
}
