//! Training the Starduster networks (Qiu & Kang 2022, §2.3) with burn: Adam, batches of 256,
//! a one-cycle learning rate, several maximum learning rates with the best kept, per-epoch
//! checkpoints that a later call resumes, and seeds that make a run reproducible bit for bit.
//!
//! | network | inputs | target | loss per sample |
//! |---|---|---|---|
//! | `curve_disk`, `curve_bulge` | params[:, 0:4] / \[0:5\] | A(λ) on 297 points | max_λ \|Â − A\| |
//! | `dust_emission` (frac_disk, frac_bulge, distri) | params, SFHs | frac_abs, dust_emission | KL_trapz(y‖ŷ) + binary KL(f‖f̂) |
//! | `selector_disk`, `selector_bulge` | params[:, 0:4] / \[0:5\] | valid label | binary cross-entropy |
//!
//! Each curve network learns from the samples labelled valid for its component, the emission
//! networks from the samples valid for both components and the emission run, the selectors from
//! all samples (see [`crate::data`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use galsed_core::ssp::{DerivedSsp, WavelengthGrid};
use galsed_emulator::config::{
    Activation, AttenuationCurveConfig, EmissionConfig, Inputs, MlpConfig, ModelConfig,
};
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::networks::{AttenuationCurve, EmissionDistribution, InputColumns, Mlp};
use galsed_emulator::weights::Weights;
use galsed_emulator::{N_GP, N_SSP};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{Part, TrainingSet};
use crate::init;
use crate::losses;
use crate::schedule::{OneCycle, OneCycleConfig};

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Settings that cannot work together, or data that cannot train what was asked.
    #[error("{0}")]
    Config(String),
    /// Building a network or a batch failed.
    #[error(transparent)]
    Model(#[from] galsed_emulator::ModelError),
    /// The training set is malformed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The SSP tables of the base model are unusable.
    #[error(transparent)]
    Ssp(#[from] galsed_core::ssp::SspError),
    /// A checkpoint cannot be read, written or used.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn config_err(message: impl Into<String>) -> TrainError {
    TrainError::Config(message.into())
}

/// The five trainable networks, named as in the model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Attenuation curve of the disk.
    CurveDisk,
    /// Attenuation curve of the bulge.
    CurveBulge,
    /// Dust emission, with the absorbed fractions.
    DustEmission,
    /// Selector of the disk.
    SelectorDisk,
    /// Selector of the bulge.
    SelectorBulge,
}

impl Network {
    /// Every network, in training order.
    pub const ALL: [Network; 5] = [
        Network::CurveDisk,
        Network::CurveBulge,
        Network::DustEmission,
        Network::SelectorDisk,
        Network::SelectorBulge,
    ];

    /// The name used in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Network::CurveDisk => "curve_disk",
            Network::CurveBulge => "curve_bulge",
            Network::DustEmission => "dust_emission",
            Network::SelectorDisk => "selector_disk",
            Network::SelectorBulge => "selector_bulge",
        }
    }

    /// Whether `set` holds what this network learns from.
    pub fn trainable_from(self, set: &TrainingSet) -> bool {
        match self {
            Network::CurveDisk => set.curve_disk.is_some(),
            Network::CurveBulge => set.curve_bulge.is_some(),
            Network::DustEmission => set.has_emission(),
            Network::SelectorDisk | Network::SelectorBulge => true,
        }
    }
}

impl std::str::FromStr for Network {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL.into_iter().find(|n| n.name() == s).ok_or_else(|| {
            config_err(format!(
                "unknown network '{s}' (expected curve_disk, curve_bulge, dust_emission, selector_disk or selector_bulge)"
            ))
        })
    }
}

/// Hidden-layer widths of the networks (the published model: 128·3, 128·2, 128·3, 32; 16 black
/// bodies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sizes {
    /// Hidden layers of the attenuation-curve MLPs.
    pub curve_hidden: Vec<usize>,
    /// Hidden layers of the absorption-fraction MLPs (their output is the 283 segments).
    pub frac_hidden: Vec<usize>,
    /// Hidden layers of the emission-distribution MLP.
    pub distri_hidden: Vec<usize>,
    /// Hidden layers of the selectors (their output is one logit).
    pub selector_hidden: Vec<usize>,
    /// Black bodies of the Planck mixture.
    pub n_mix: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            curve_hidden: vec![128; 3],
            frac_hidden: vec![128; 2],
            distri_hidden: vec![128; 3],
            selector_hidden: vec![32],
            n_mix: 16,
        }
    }
}

/// Optimiser and schedule settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs of each run.
    pub epochs: usize,
    /// Samples per optimiser step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Each network is trained once per maximum learning rate, from the same initial weights;
    /// the run with the lowest final validation loss is kept.
    pub max_lrs: Vec<f64>,
    /// Shape of the one-cycle schedule.
    pub schedule: OneCycleConfig,
    /// Seeds the initial weights and the order of the batches.
    pub seed: u64,
    /// Adam's β₁, β₂ and ε (PyTorch's defaults).
    pub adam_beta1: f64,
    /// Adam's β₂.
    pub adam_beta2: f64,
    /// Adam's ε.
    pub adam_epsilon: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 256,
            max_lrs: vec![1e-3, 3e-3, 1e-2],
            schedule: OneCycleConfig::default(),
            seed: 0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
        }
    }
}

/// Where checkpoints go and how an existing checkpoint is treated.
#[derive(Debug, Clone, Default)]
pub struct Checkpointing {
    /// Directory of the checkpoints (none: no checkpoints).
    pub dir: Option<PathBuf>,
    /// Discard existing checkpoints instead of resuming from them.
    pub restart: bool,
    /// Stop (after checkpointing) once this many epochs have run in this call; a later call
    /// resumes. Bounds the time of one call; `None` runs to the end.
    pub max_epochs_this_call: Option<usize>,
}

/// One epoch of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean per-sample training loss over the epoch's batches.
    pub train_loss: f64,
    /// Mean per-sample loss on the validation set after the epoch.
    pub valid_loss: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch, validation included \[s\].
    pub seconds: f64,
}

/// One maximum learning rate of one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Peak learning rate of the run.
    pub max_lr: f64,
    /// One record per finished epoch.
    pub history: Vec<EpochRecord>,
    /// The loss became NaN or infinite; the run was abandoned.
    pub diverged: bool,
}

impl RunReport {
    /// Validation loss after the last epoch (+∞ for a diverged or empty run).
    pub fn final_valid_loss(&self) -> f64 {
        match (self.diverged, self.history.last()) {
            (false, Some(r)) => r.valid_loss,
            _ => f64::INFINITY,
        }
    }

    /// Training wall time \[s\].
    pub fn seconds(&self) -> f64 {
        self.history.iter().map(|r| r.seconds).sum()
    }
}

/// All runs of one network and the one kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkReport {
    /// The network trained.
    pub network: Network,
    /// Samples the network learnt from and was validated on.
    pub n_train: usize,
    /// Number of validation samples.
    pub n_valid: usize,
    /// One run per maximum learning rate, in the order given.
    pub runs: Vec<RunReport>,
    /// Index of the kept run.
    pub best: usize,
}

/// What `train` did: the settings and every network's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The settings used.
    pub config: TrainConfig,
    /// Hidden-layer widths of the networks.
    pub sizes: Sizes,
    /// The trained networks, in training order.
    pub networks: Vec<NetworkReport>,
}

/// The outcome of a call: a finished model, or a stop requested by
/// [`Checkpointing::max_epochs_this_call`].
#[derive(Debug)]
pub enum Outcome {
    /// The model and what happened.
    Finished(Box<Trained>),
    /// The epoch budget ran out; checkpoints hold the progress.
    Interrupted,
}

/// A finished training.
#[derive(Debug)]
pub struct Trained {
    /// The trained networks plus the base model's others.
    pub model: ModelFiles,
    /// The settings and every network's runs.
    pub report: TrainReport,
}

/// Progress after each optimiser step (and, with the validation loss, after each epoch).
#[derive(Debug, Clone)]
pub struct Progress {
    /// The network being trained.
    pub network: Network,
    /// 0-based index of the run (maximum learning rate) and their number.
    pub run: usize,
    /// Number of runs.
    pub runs: usize,
    /// Maximum learning rate of this run.
    pub max_lr: f64,
    /// 0-based epoch and step within it.
    pub epoch: usize,
    /// Number of epochs.
    pub epochs: usize,
    /// 0-based step within the epoch.
    pub step: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Mean training loss of the epoch so far.
    pub train_loss: f64,
    /// Set at the end of an epoch.
    pub valid_loss: Option<f64>,
}

/// Which part of the data a loss is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Train,
    Valid,
}

/// Row-major f32 rows, gathered into batches.
#[derive(Debug, Clone)]
struct Rows {
    data: Vec<f32>,
    width: usize,
}

impl Rows {
    fn new(data: Vec<f32>, width: usize) -> Self {
        Self { data, width }
    }

    fn len(&self) -> usize {
        self.data.len() / self.width.max(1)
    }

    fn gather(&self, rows: &[usize], device: &Device) -> Tensor<2> {
        let w = self.width;
        let mut out = Vec::with_capacity(rows.len() * w);
        for &r in rows {
            out.extend_from_slice(&self.data[r * w..(r + 1) * w]);
        }
        Tensor::from_data(TensorData::new(out, [rows.len(), w]), device)
    }

    fn gather1(&self, rows: &[usize], device: &Device) -> Tensor<1> {
        let n = rows.len();
        self.gather(rows, device).reshape([n])
    }

    /// FNV-1a hash of the values, to recognise the data a checkpoint was made with.
    fn hash(&self, mut h: u64) -> u64 {
        for v in &self.data {
            for b in v.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }
}

/// What a network learns from, and how.
trait Task {
    type Net: Module;
    fn init(&self, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self::Net, TrainError>;
    fn n(&self, split: Split) -> usize;
    /// Per-sample losses of `rows` of `split`, on `device` (the network's).
    fn losses(&self, net: &Self::Net, split: Split, rows: &[usize], device: &Device) -> Tensor<1>;
    fn export(&self, net: &Self::Net) -> Result<Weights, TrainError>;
    /// Fingerprint of the data.
    fn data_hash(&self) -> u64;
}

/// Input columns of `params` and clipped values, as the model sees them.
fn clipped_params(set: &TrainingSet) -> Result<Vec<f32>, TrainError> {
    let gp: Vec<f64> = set.params.iter().copied().collect();
    let n = set.len();
    let (sd, sb) = match (&set.sfh_disk, &set.sfh_bulge) {
        (Some(d), Some(b)) => (d.iter().copied().collect(), b.iter().copied().collect()),
        // The galaxy parameters are clipped on their own; the SFHs only fill the batch.
        _ => (
            vec![1.0 / N_SSP as f64; n * N_SSP],
            vec![1.0 / N_SSP as f64; n * N_SSP],
        ),
    };
    let batch = Batch::new(gp, sd, sb, OutOfRange::Error)?;
    Ok(batch.gp().to_vec())
}

fn columns_of(gp: &[f32], rows: &[usize], cols: &[usize]) -> Rows {
    let mut out = Vec::with_capacity(rows.len() * cols.len());
    for &r in rows {
        out.extend(cols.iter().map(|&c| gp[r * N_GP + c]));
    }
    Rows::new(out, cols.len())
}

fn f32_rows(a: &ndarray::Array2<f64>, rows: &[usize]) -> Rows {
    let w = a.ncols();
    let mut out = Vec::with_capacity(rows.len() * w);
    for &r in rows {
        out.extend(a.row(r).iter().map(|&v| v as f32));
    }
    Rows::new(out, w)
}

/// Train and validation versions of the same data.
#[derive(Debug, Clone)]
struct Pair<T> {
    train: T,
    valid: T,
}

impl<T> Pair<T> {
    fn get(&self, split: Split) -> &T {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
        }
    }
}

struct CurveTask {
    cfg: AttenuationCurveConfig,
    x: Pair<Rows>,
    y: Pair<Rows>,
}

impl Task for CurveTask {
    type Net = AttenuationCurve;
    fn init(&self, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self::Net, TrainError> {
        let w = init::curve(&self.cfg, rng);
        Ok(AttenuationCurve::from_weights(
            &w,
            &self.cfg,
            &InputColumns::all(self.cfg.mlp.input_size),
            device,
        )?)
    }
    fn n(&self, split: Split) -> usize {
        self.x.get(split).len()
    }
    fn losses(&self, net: &Self::Net, split: Split, rows: &[usize], device: &Device) -> Tensor<1> {
        let x = self.x.get(split).gather(rows, device);
        let y = self.y.get(split).gather(rows, device);
        losses::max_abs(net.forward(x), y)
    }
    fn export(&self, net: &Self::Net) -> Result<Weights, TrainError> {
        Ok(net.to_weights(&InputColumns::all(self.cfg.mlp.input_size))?)
    }
    fn data_hash(&self) -> u64 {
        [&self.x.train, &self.x.valid, &self.y.train, &self.y.valid]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325, |h, r| r.hash(h))
    }
}

struct SelectorTask {
    cfg: MlpConfig,
    x: Pair<Rows>,
    label: Pair<Rows>,
}

impl Task for SelectorTask {
    type Net = Mlp;
    fn init(&self, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self::Net, TrainError> {
        let w = init::mlp("mlp", &self.cfg, rng);
        Ok(Mlp::from_weights(
            &w,
            "mlp",
            &self.cfg,
            &InputColumns::all(self.cfg.input_size),
            device,
        )?)
    }
    fn n(&self, split: Split) -> usize {
        self.x.get(split).len()
    }
    fn losses(&self, net: &Self::Net, split: Split, rows: &[usize], device: &Device) -> Tensor<1> {
        let x = self.x.get(split).gather(rows, device);
        let label = self.label.get(split).gather1(rows, device);
        losses::bce_with_logits(net.forward(x).reshape([rows.len()]), label)
    }
    fn export(&self, net: &Self::Net) -> Result<Weights, TrainError> {
        Ok(net.to_weights("mlp", &InputColumns::all(self.cfg.input_size))?)
    }
    fn data_hash(&self) -> u64 {
        [
            &self.x.train,
            &self.x.valid,
            &self.label.train,
            &self.label.valid,
        ]
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, r| r.hash(h))
    }
}

/// The dust-emission model of the published `dust_emission_v1`: two absorption-fraction MLPs and
/// the emission-distribution network, trained together.
#[derive(Module, Debug)]
pub struct EmissionNet {
    /// Per-segment absorption probabilities of the disk light.
    pub frac_disk: Mlp,
    /// Per-segment absorption probabilities of the bulge light.
    pub frac_bulge: Mlp,
    /// Emission shape from the parameters and the two absorbed fractions.
    pub distri: EmissionDistribution,
}

/// Per-sample data of the emission task.
#[derive(Debug, Clone)]
struct EmissionData {
    /// Clipped params (N, 7).
    gp: Rows,
    x_disk: Rows,
    x_bulge: Rows,
    /// sfh'·L_ssp: light of each absorption segment (N, n_seg).
    seg_disk: Rows,
    seg_bulge: Rows,
    b_to_t: Rows,
    frac: Rows,
    y: Rows,
}

struct EmissionTask {
    frac_disk: MlpConfig,
    frac_bulge: MlpConfig,
    distri: EmissionConfig,
    lam: Vec<f64>,
    data: Pair<EmissionData>,
}

impl Task for EmissionTask {
    type Net = EmissionNet;
    fn init(&self, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self::Net, TrainError> {
        let all = |cfg: &MlpConfig| InputColumns::all(cfg.input_size);
        let wd = init::mlp("mlp", &self.frac_disk, rng);
        let wb = init::mlp("mlp", &self.frac_bulge, rng);
        let we = init::emission(&self.distri, &self.lam, rng);
        Ok(EmissionNet {
            frac_disk: Mlp::from_weights(
                &wd,
                "mlp",
                &self.frac_disk,
                &all(&self.frac_disk),
                device,
            )?,
            frac_bulge: Mlp::from_weights(
                &wb,
                "mlp",
                &self.frac_bulge,
                &all(&self.frac_bulge),
                device,
            )?,
            distri: EmissionDistribution::from_weights(&we, &self.distri, device)?,
        })
    }
    fn n(&self, split: Split) -> usize {
        self.data.get(split).gp.len()
    }
    fn losses(&self, net: &Self::Net, split: Split, rows: &[usize], device: &Device) -> Tensor<1> {
        let d = self.data.get(split);
        let n = rows.len();
        let a_disk = net.frac_disk.forward(d.x_disk.gather(rows, device));
        let a_bulge = net.frac_bulge.forward(d.x_bulge.gather(rows, device));
        let f_disk = (d.seg_disk.gather(rows, device) * a_disk).sum_dim(1);
        let f_bulge = (d.seg_bulge.gather(rows, device) * a_bulge).sum_dim(1);
        let b = d.b_to_t.gather(rows, device);
        let frac = f_disk.clone() * b.clone().neg().add_scalar(1.0) + f_bulge.clone() * b;
        let x = Tensor::cat(vec![d.gp.gather(rows, device), f_disk, f_bulge], 1);
        let y_pred = net.distri.forward(x);
        let kl = losses::kl_trapz(d.y.gather(rows, device), y_pred, self.distri.dx);
        kl + losses::binary_kl(d.frac.gather1(rows, device), frac.reshape([n]))
    }
    fn export(&self, net: &Self::Net) -> Result<Weights, TrainError> {
        let mut out = BTreeMap::new();
        let all = |cfg: &MlpConfig| InputColumns::all(cfg.input_size);
        out.extend(
            net.frac_disk
                .to_weights("frac_disk.mlp", &all(&self.frac_disk))?
                .tensors()
                .clone(),
        );
        out.extend(
            net.frac_bulge
                .to_weights("frac_bulge.mlp", &all(&self.frac_bulge))?
                .tensors()
                .clone(),
        );
        for (k, v) in net.distri.to_weights()?.tensors() {
            out.insert(format!("distri.{k}"), v.clone());
        }
        Ok(Weights::new(out))
    }
    fn data_hash(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325;
        for d in [&self.data.train, &self.data.valid] {
            for r in [&d.gp, &d.seg_disk, &d.seg_bulge, &d.frac, &d.y] {
                h = r.hash(h);
            }
        }
        h
    }
}

fn mlp_config(input_size: usize, hidden: &[usize], out: usize, last: Activation) -> MlpConfig {
    let mut hidden_sizes = hidden.to_vec();
    hidden_sizes.push(out);
    let mut activations = vec![Activation::Tanh; hidden.len()];
    activations.push(last);
    MlpConfig {
        input_size,
        hidden_sizes,
        activations,
    }
}

/// The configuration of the trained model: `base`'s with the networks in `networks` resized.
pub fn trained_config(
    base: &ModelConfig,
    sizes: &Sizes,
    networks: &[Network],
) -> Result<ModelConfig, TrainError> {
    for (what, h) in [
        ("curve", &sizes.curve_hidden),
        ("frac", &sizes.frac_hidden),
        ("distri", &sizes.distri_hidden),
        ("selector", &sizes.selector_hidden),
    ] {
        if h.is_empty() || h.contains(&0) {
            return Err(config_err(format!(
                "the {what} networks need at least one hidden layer of non-zero width"
            )));
        }
    }
    if sizes.n_mix == 0 {
        return Err(config_err(
            "the emission network needs at least one black body (n_mix ≥ 1)",
        ));
    }
    let mut c = base.clone();
    let curve = |old: &Inputs<AttenuationCurveConfig>| Inputs {
        columns: old.columns.clone(),
        net: AttenuationCurveConfig {
            mlp: MlpConfig {
                input_size: old.columns.len(),
                hidden_sizes: sizes.curve_hidden.clone(),
                activations: vec![Activation::Tanh; sizes.curve_hidden.len()],
            },
            ..old.net.clone()
        },
    };
    let selector = |old: &Inputs<MlpConfig>| Inputs {
        columns: old.columns.clone(),
        net: mlp_config(
            old.columns.len(),
            &sizes.selector_hidden,
            1,
            Activation::None,
        ),
    };
    for &net in networks {
        match net {
            Network::CurveDisk => c.curve_disk = curve(&base.curve_disk),
            Network::CurveBulge => c.curve_bulge = curve(&base.curve_bulge),
            Network::SelectorDisk => c.selector_disk = selector(&base.selector_disk),
            Network::SelectorBulge => c.selector_bulge = selector(&base.selector_bulge),
            Network::DustEmission => {
                let n_seg = *base.frac_disk.net.hidden_sizes.last().unwrap_or(&0);
                for (new, old) in [
                    (&mut c.frac_disk, &base.frac_disk),
                    (&mut c.frac_bulge, &base.frac_bulge),
                ] {
                    *new = Inputs {
                        columns: old.columns.clone(),
                        net: mlp_config(
                            old.columns.len(),
                            &sizes.frac_hidden,
                            n_seg,
                            Activation::Sigmoid,
                        ),
                    };
                }
                c.distri = EmissionConfig {
                    mlp: MlpConfig {
                        input_size: N_GP + 2,
                        hidden_sizes: sizes.distri_hidden.clone(),
                        activations: vec![Activation::Tanh; sizes.distri_hidden.len()],
                    },
                    n_mix: sizes.n_mix,
                    ..base.distri.clone()
                };
            }
        }
    }
    Ok(c)
}

/// Everything needed to train: data on both splits and the model the trained networks go into.
pub struct Trainer<'a> {
    /// SSP library, fixed hyper-parameters and the networks that are not trained.
    pub base: &'a ModelFiles,
    /// Training settings.
    pub config: TrainConfig,
    /// Hidden-layer widths of the networks.
    pub sizes: Sizes,
    /// Prepared training and validation sets.
    pub train: &'a TrainingSet,
    /// Prepared validation set.
    pub valid: &'a TrainingSet,
    /// Where checkpoints go and how existing ones are treated.
    pub checkpoints: Checkpointing,
}

/// splitmix64: decorrelates the seeds derived from (seed, network, epoch).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn derived_seed(seed: u64, network: Network, epoch: Option<usize>) -> u64 {
    let n = network as u64 + 1;
    let e = epoch.map_or(0, |e| e as u64 + 1);
    mix(mix(mix(seed) ^ n) ^ (e << 8))
}

/// The checkpoint state of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    fingerprint: String,
    epochs_done: usize,
    diverged: bool,
    history: Vec<EpochRecord>,
    /// File names of the module and optimiser records of `epochs_done`.
    module: String,
    optimizer: String,
}

fn ckpt_err(path: &Path, message: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Writes `bytes` to `path` atomically (temporary file, then rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    galsed_io::atomic_write_bytes(path, bytes).map_err(|e| ckpt_err(path, e))
}

impl Trainer<'_> {
    /// Trains `networks` (each must be trainable from the sets) and returns the model holding
    /// them, with the other networks taken from the base model.
    pub fn run(
        &self,
        networks: &[Network],
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Outcome, TrainError> {
        let cfg = &self.config;
        if cfg.epochs == 0 || cfg.batch_size == 0 {
            return Err(config_err("epochs and batch size must be at least 1"));
        }
        if cfg.max_lrs.is_empty() {
            return Err(config_err("give at least one maximum learning rate"));
        }
        if !(cfg.schedule.pct_start > 0.0 && cfg.schedule.pct_start < 1.0) {
            return Err(config_err(format!(
                "pct_start must lie in (0, 1), got {}",
                cfg.schedule.pct_start
            )));
        }
        if networks.is_empty() {
            return Err(config_err("no network to train"));
        }
        let lam_main = &self.base.ssp.lam_main;
        for (name, set) in [("training", self.train), ("validation", self.valid)] {
            set.check()?;
            if !set.on_grid(lam_main) {
                return Err(config_err(format!(
                    "the {name} set's 'lam' is not the model grid lam_main ({} points from {:.5} µm)",
                    lam_main.len(),
                    lam_main.first().copied().unwrap_or(f64::NAN)
                )));
            }
            for &net in networks {
                if !net.trainable_from(set) {
                    return Err(config_err(format!(
                        "the {name} set has no data for {} (see docs/training.md for the members each network needs)",
                        net.name()
                    )));
                }
            }
        }
        let model_cfg = trained_config(&self.base.config, &self.sizes, networks)?;
        let mut weights = self.base.weights.clone();
        let mut remaining = self.checkpoints.max_epochs_this_call;
        let mut reports = Vec::new();
        let mut order = networks.to_vec();
        order.sort();
        order.dedup();
        for net in order {
            let result = match net {
                Network::CurveDisk | Network::CurveBulge => {
                    let (part, c) = match net {
                        Network::CurveDisk => (Part::Disk, &model_cfg.curve_disk),
                        _ => (Part::Bulge, &model_cfg.curve_bulge),
                    };
                    let task = self.curve_task(part, c)?;
                    self.train_network(net, &task, &mut remaining, progress)?
                }
                Network::SelectorDisk | Network::SelectorBulge => {
                    let (part, c) = match net {
                        Network::SelectorDisk => (Part::Disk, &model_cfg.selector_disk),
                        _ => (Part::Bulge, &model_cfg.selector_bulge),
                    };
                    let task = self.selector_task(part, c)?;
                    self.train_network(net, &task, &mut remaining, progress)?
                }
                Network::DustEmission => {
                    let task = self.emission_task(&model_cfg)?;
                    self.train_network(net, &task, &mut remaining, progress)?
                }
            };
            let Some((w, report)) = result else {
                return Ok(Outcome::Interrupted);
            };
            match net {
                Network::CurveDisk => weights.curve_disk = w,
                Network::CurveBulge => weights.curve_bulge = w,
                Network::DustEmission => weights.dust_emission = w,
                Network::SelectorDisk => weights.selector_disk = w,
                Network::SelectorBulge => weights.selector_bulge = w,
            }
            reports.push(report);
        }
        let files = ModelFiles {
            name: self.base.name.clone(),
            config: model_cfg,
            weights,
            ssp: self.base.ssp.clone(),
        };
        Ok(Outcome::Finished(Box::new(Trained {
            model: files,
            report: TrainReport {
                config: self.config.clone(),
                sizes: self.sizes.clone(),
                networks: reports,
            },
        })))
    }

    fn curve_task(
        &self,
        part: Part,
        c: &Inputs<AttenuationCurveConfig>,
    ) -> Result<CurveTask, TrainError> {
        let make = |set: &TrainingSet| -> Result<(Rows, Rows), TrainError> {
            let rows = set.curve_rows(part);
            if rows.is_empty() {
                return Err(config_err(format!(
                    "no sample has a valid {} curve",
                    part.name()
                )));
            }
            let gp = clipped_params(set)?;
            let curve = set
                .curve(part)
                .ok_or_else(|| config_err(format!("no {} curves", part.name())))?;
            Ok((columns_of(&gp, &rows, &c.columns), f32_rows(curve, &rows)))
        };
        let (xt, yt) = make(self.train)?;
        let (xv, yv) = make(self.valid)?;
        Ok(CurveTask {
            cfg: c.net.clone(),
            x: Pair {
                train: xt,
                valid: xv,
            },
            y: Pair {
                train: yt,
                valid: yv,
            },
        })
    }

    fn selector_task(&self, part: Part, c: &Inputs<MlpConfig>) -> Result<SelectorTask, TrainError> {
        let make = |set: &TrainingSet| -> Result<(Rows, Rows), TrainError> {
            let gp = clipped_params(set)?;
            let rows: Vec<usize> = (0..set.len()).collect();
            let labels = set
                .valid(part)
                .iter()
                .map(|&v| if v { 1.0 } else { 0.0 })
                .collect();
            Ok((columns_of(&gp, &rows, &c.columns), Rows::new(labels, 1)))
        };
        let (xt, lt) = make(self.train)?;
        let (xv, lv) = make(self.valid)?;
        Ok(SelectorTask {
            cfg: c.net.clone(),
            x: Pair {
                train: xt,
                valid: xv,
            },
            label: Pair {
                train: lt,
                valid: lv,
            },
        })
    }

    fn emission_task(&self, c: &ModelConfig) -> Result<EmissionTask, TrainError> {
        let derived = DerivedSsp::new(&self.base.ssp, &WavelengthGrid::Base, c.eps_reduce)?;
        let big_l = &derived.big_l_ssp;
        let n_seg = big_l.ncols();
        if c.frac_disk.net.hidden_sizes.last() != Some(&n_seg) {
            return Err(config_err(format!(
                "the absorption networks predict {:?} segments but the SSP reduction gives {n_seg}",
                c.frac_disk.net.hidden_sizes.last()
            )));
        }
        let make = |set: &TrainingSet| -> Result<EmissionData, TrainError> {
            let rows = set.valid_rows();
            if rows.is_empty() {
                return Err(config_err(
                    "no sample of the data set lies in the valid region",
                ));
            }
            let missing = || config_err("the emission members are missing");
            let (sd, sb) = (
                set.sfh_disk.as_ref().ok_or_else(missing)?,
                set.sfh_bulge.as_ref().ok_or_else(missing)?,
            );
            let batch = Batch::new(
                set.params.iter().copied().collect(),
                sd.iter().copied().collect(),
                sb.iter().copied().collect(),
                OutOfRange::Error,
            )?;
            // Light per absorption segment of the clipped SFH, as the model computes it.
            let segments = |sfh: &[f32]| -> Rows {
                let mut out = Vec::with_capacity(rows.len() * n_seg);
                for &r in &rows {
                    let s = &sfh[r * N_SSP..(r + 1) * N_SSP];
                    out.extend((0..n_seg).map(|j| {
                        s.iter()
                            .enumerate()
                            .map(|(k, &w)| f64::from(w) * big_l[[k, j]])
                            .sum::<f64>() as f32
                    }));
                }
                Rows::new(out, n_seg)
            };
            let gp = batch.gp();
            let frac = set.frac_abs.as_ref().ok_or_else(missing)?;
            let y = set.dust_emission.as_ref().ok_or_else(missing)?;
            Ok(EmissionData {
                gp: columns_of(gp, &rows, &(0..N_GP).collect::<Vec<_>>()),
                x_disk: columns_of(gp, &rows, &c.frac_disk.columns),
                x_bulge: columns_of(gp, &rows, &c.frac_bulge.columns),
                seg_disk: segments(batch.sfh_disk()),
                seg_bulge: segments(batch.sfh_bulge()),
                b_to_t: Rows::new(
                    rows.iter()
                        .map(|&r| (gp[r * N_GP + 6] + 1.0) * 0.5)
                        .collect(),
                    1,
                ),
                frac: Rows::new(rows.iter().map(|&r| frac[r] as f32).collect(), 1),
                y: f32_rows(y, &rows),
            })
        };
        Ok(EmissionTask {
            frac_disk: c.frac_disk.net.clone(),
            frac_bulge: c.frac_bulge.net.clone(),
            distri: c.distri.clone(),
            lam: self.base.ssp.lam_main.clone(),
            data: Pair {
                train: make(self.train)?,
                valid: make(self.valid)?,
            },
        })
    }

    /// All runs of one network; `None` when the epoch budget ran out.
    fn train_network<T: Task>(
        &self,
        network: Network,
        task: &T,
        remaining: &mut Option<usize>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Option<(Weights, NetworkReport)>, TrainError> {
        let mut runs = Vec::new();
        let mut nets = Vec::new();
        for (i, &lr) in self.config.max_lrs.iter().enumerate() {
            match self.train_run(network, task, i, lr, remaining, progress)? {
                Some((net, report)) => {
                    nets.push(net);
                    runs.push(report);
                }
                None => return Ok(None),
            }
        }
        let best = (0..runs.len())
            .min_by(|&a, &b| {
                runs[a]
                    .final_valid_loss()
                    .total_cmp(&runs[b].final_valid_loss())
            })
            .unwrap_or(0);
        if !runs[best].final_valid_loss().is_finite() {
            return Err(config_err(format!(
                "{}: every run diverged (try smaller learning rates)",
                network.name()
            )));
        }
        let weights = task.export(&nets[best])?;
        Ok(Some((
            weights,
            NetworkReport {
                network,
                n_train: task.n(Split::Train),
                n_valid: task.n(Split::Valid),
                runs,
                best,
            },
        )))
    }

    fn fingerprint<T: Task>(&self, network: Network, task: &T, max_lr: f64) -> String {
        serde_json::json!({
            "network": network,
            "max_lr": max_lr,
            "config": self.config,
            "sizes": self.sizes,
            "n_train": task.n(Split::Train),
            "n_valid": task.n(Split::Valid),
            "data": format!("{:016x}", task.data_hash()),
        })
        .to_string()
    }

    /// Mean per-sample loss of the validation set.
    fn valid_loss<T: Task>(&self, task: &T, net: &T::Net) -> f64 {
        let plain = net.valid();
        let device = Device::flex();
        let n = task.n(Split::Valid);
        let rows: Vec<usize> = (0..n).collect();
        let sum: f64 = rows
            .chunks(1024)
            .map(|c| {
                let l = task.losses(&plain, Split::Valid, c, &device).sum();
                f64::from(l.into_scalar::<f32>())
            })
            .sum();
        sum / n as f64
    }

    /// One maximum learning rate: resumes from its checkpoint if there is one.
    fn train_run<T: Task>(
        &self,
        network: Network,
        task: &T,
        run: usize,
        max_lr: f64,
        remaining: &mut Option<usize>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Option<(T::Net, RunReport)>, TrainError> {
        let cfg = &self.config;
        let n_train = task.n(Split::Train);
        if n_train == 0 || task.n(Split::Valid) == 0 {
            return Err(config_err(format!(
                "{}: no training or validation samples",
                network.name()
            )));
        }
        let steps = n_train.div_ceil(cfg.batch_size);
        let min_steps = cfg.schedule.min_steps();
        if cfg.epochs * steps < min_steps {
            return Err(config_err(format!(
                "{}: epochs × batches per epoch = {} × {steps} optimiser steps ({n_train} \
                 training samples, batch size {}), but the one-cycle learning-rate schedule needs \
                 at least {min_steps} (a rising and a falling phase of at least one step each, \
                 with pct_start {}): train for at least {} epochs, or use a smaller batch size",
                network.name(),
                cfg.epochs,
                cfg.batch_size,
                cfg.schedule.pct_start,
                min_steps.div_ceil(steps)
            )));
        }
        let schedule =
            OneCycle::new(max_lr, cfg.epochs * steps, cfg.schedule).map_err(config_err)?;
        let device = Device::flex().autodiff();
        let mut init_rng = ChaCha8Rng::seed_from_u64(derived_seed(cfg.seed, network, None));
        let mut net = task.init(&mut init_rng, &device)?;
        let mut optim: ModuleOptimizer = AdamConfig::new()
            .with_beta_1(cfg.adam_beta1 as f32)
            .with_beta_2(cfg.adam_beta2 as f32)
            .with_epsilon(cfg.adam_epsilon as f32)
            .init();

        let fingerprint = self.fingerprint(network, task, max_lr);
        let dir = self
            .checkpoints
            .dir
            .as_ref()
            .map(|d| d.join(network.name()).join(format!("lr{run}")));
        let mut state = RunState {
            fingerprint: fingerprint.clone(),
            epochs_done: 0,
            diverged: false,
            history: Vec::new(),
            module: String::new(),
            optimizer: String::new(),
        };
        if let Some(dir) = &dir {
            let state_path = dir.join("state.json");
            if self.checkpoints.restart && dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| ckpt_err(dir, e))?;
            }
            if state_path.is_file() {
                let text = std::fs::read(&state_path).map_err(|e| ckpt_err(&state_path, e))?;
                let saved: RunState =
                    serde_json::from_slice(&text).map_err(|e| ckpt_err(&state_path, e))?;
                if saved.fingerprint != fingerprint {
                    return Err(ckpt_err(
                        &state_path,
                        "made with other settings or data; remove it or restart the training (--restart)",
                    ));
                }
                if saved.epochs_done > 0 && !saved.diverged {
                    let mpath = dir.join(&saved.module);
                    net = net.try_load_file(&mpath).map_err(|e| ckpt_err(&mpath, e))?;
                    let opath = dir.join(&saved.optimizer);
                    optim = optim.load(&opath).map_err(|e| ckpt_err(&opath, e))?;
                }
                state = saved;
            }
            std::fs::create_dir_all(dir).map_err(|e| ckpt_err(dir, e))?;
        }

        while state.epochs_done < cfg.epochs && !state.diverged {
            if *remaining == Some(0) {
                return Ok(None);
            }
            let epoch = state.epochs_done;
            let start = Instant::now();
            let mut order: Vec<usize> = (0..n_train).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(derived_seed(
                cfg.seed,
                network,
                Some(epoch),
            )));
            let mut sum = 0.0;
            let mut lr = 0.0;
            for (b, rows) in order.chunks(cfg.batch_size).enumerate() {
                let loss = task.losses(&net, Split::Train, rows, &device).mean();
                let value = f64::from(loss.clone().into_scalar::<f32>());
                if !value.is_finite() {
                    state.diverged = true;
                    break;
                }
                sum += value * rows.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                lr = schedule.lr(epoch * steps + b);
                net = optim.step(lr, net, grads);
                progress(&Progress {
                    network,
                    run,
                    runs: cfg.max_lrs.len(),
                    max_lr,
                    epoch,
                    epochs: cfg.epochs,
                    step: b,
                    steps_per_epoch: steps,
                    train_loss: sum / ((b * cfg.batch_size + rows.len()) as f64),
                    valid_loss: None,
                });
            }
            if state.diverged {
                break;
            }
            let valid_loss = self.valid_loss(task, &net);
            if !valid_loss.is_finite() {
                state.diverged = true;
                break;
            }
            let train_loss = sum / n_train as f64;
            state.history.push(EpochRecord {
                epoch,
                train_loss,
                valid_loss,
                lr,
                seconds: start.elapsed().as_secs_f64(),
            });
            state.epochs_done += 1;
            progress(&Progress {
                network,
                run,
                runs: cfg.max_lrs.len(),
                max_lr,
                epoch,
                epochs: cfg.epochs,
                step: steps - 1,
                steps_per_epoch: steps,
                train_loss,
                valid_loss: Some(valid_loss),
            });
            if let Some(r) = remaining.as_mut() {
                *r -= 1;
            }
            if let Some(dir) = &dir {
                self.save_checkpoint(dir, &mut state, &net, &optim)?;
            }
        }
        if state.diverged
            && let Some(dir) = &dir
        {
            // Record the divergence so that a resumed call does not retry the run.
            let text = serde_json::to_vec_pretty(&state).map_err(|e| ckpt_err(dir, e))?;
            write_atomic(&dir.join("state.json"), &text)?;
        }
        Ok(Some((
            net,
            RunReport {
                max_lr,
                history: state.history,
                diverged: state.diverged,
            },
        )))
    }

    fn save_checkpoint<N: Module>(
        &self,
        dir: &Path,
        state: &mut RunState,
        net: &N,
        optim: &ModuleOptimizer,
    ) -> Result<(), TrainError> {
        let old = (state.module.clone(), state.optimizer.clone());
        let e = state.epochs_done;
        state.module = format!("module-{e:05}.bpk");
        state.optimizer = format!("optim-{e:05}.bpk");
        let mpath = dir.join(&state.module);
        net.clone()
            .save_file(&mpath)
            .map_err(|err| ckpt_err(&mpath, err))?;
        let opath = dir.join(&state.optimizer);
        optim.save(&opath).map_err(|err| ckpt_err(&opath, err))?;
        let text = serde_json::to_vec_pretty(&state).map_err(|err| ckpt_err(dir, err))?;
        write_atomic(&dir.join("state.json"), &text)?;
        // The previous epoch's records are no longer referenced.
        for f in [old.0, old.1] {
            if !f.is_empty() && f != state.module && f != state.optimizer {
                let _ = std::fs::remove_file(dir.join(f));
            }
        }
        Ok(())
    }
}
