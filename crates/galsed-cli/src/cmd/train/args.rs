//! The arguments of `galsed train` (a training run; `teacher` has its own).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::TeacherArgs;
use crate::shared::args::PrepArgs;

const TRAIN_AFTER_HELP: &str = "\
DATA
  Training sets are .npz files (layout in docs/training.md): lam (495), params (N,7, unit space),
  and any of curve_disk / curve_bulge (N,297, mag), sfh_disk / sfh_bulge (N,36) with frac_abs (N)
  and dust_emission (N,495), labels valid_disk / valid_bulge / valid_emission. `galsed skirt
  collect` and `galsed train teacher` write them.

NETWORKS
  curve_disk, curve_bulge      attenuation curves, loss max_λ |ΔA| (L∞)
  dust_emission                absorption fractions + emission shape, loss KL(y‖ŷ) + binary KL(f‖f̂)
  selector_disk, selector_bulge  valid-region classifiers, loss binary cross-entropy
  Default: every network the data can train (selectors only when some sample is labelled invalid);
  the others are copied from the base model.

OUTPUT (directory)
  galsed-model.json, weights.safetensors, ssp.safetensors   the model (load with --model DIR)
  training.json      settings, data preparation and the loss history of every run
  loss_curves.png    training (dashed) and validation (solid) loss per epoch
  checkpoints/       one checkpoint per epoch and run: run the same command again to resume an
                     interrupted training (--restart discards them)";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true, after_long_help = TRAIN_AFTER_HELP)]
pub struct TrainArgs {
    #[command(subcommand)]
    pub command: Option<TrainCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Make a training set from an existing model (the published one by default): samples from
    /// the paper's Table 1 priors inside the model's valid region, with its curves, absorbed
    /// fractions and dust emission.
    Teacher(TeacherArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Training set (.npz).
    #[arg(long, value_name = "FILE", required = true)]
    pub data: Option<PathBuf>,
    /// Validation set (.npz); without it a seeded random part of --data is held out.
    #[arg(long, value_name = "FILE")]
    pub validation: Option<PathBuf>,
    /// Fraction of --data held out for validation when no --validation is given.
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    pub validation_fraction: f64,
    /// Output model directory (created).
    #[arg(short, long, value_name = "DIR", required = true)]
    pub output: Option<PathBuf>,
    /// Comma-separated networks to train (see below) [default: all the data can train].
    #[arg(long, value_name = "LIST")]
    pub networks: Option<String>,
    /// Model that provides the SSP library, the fixed hyper-parameters and the networks not
    /// trained (default: the --model lookup: GALSED_MODEL_DIR, then the user cache).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Name recorded in the model manifest.
    #[arg(long, default_value = "galsed-trained")]
    pub name: String,
    /// Epochs of each run.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Maximum learning rates of the one-cycle schedule, one run each; the best run is kept.
    #[arg(long, value_delimiter = ',', default_values_t = [1e-3, 3e-3, 1e-2], value_name = "LIST")]
    pub max_lr: Vec<f64>,
    /// Fraction of the steps with a rising learning rate.
    #[arg(long, default_value_t = 0.3)]
    pub pct_start: f64,
    /// Seed of the initial weights, the batch order and the validation split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Hidden layers of the attenuation-curve networks.
    #[arg(long, value_delimiter = ',', default_values_t = [128, 128, 128], value_name = "LIST")]
    pub curve_hidden: Vec<usize>,
    /// Hidden layers of the absorption-fraction networks.
    #[arg(long, value_delimiter = ',', default_values_t = [128, 128], value_name = "LIST")]
    pub frac_hidden: Vec<usize>,
    /// Hidden layers of the emission-distribution network.
    #[arg(long, value_delimiter = ',', default_values_t = [128, 128, 128], value_name = "LIST")]
    pub distri_hidden: Vec<usize>,
    /// Hidden layers of the selectors.
    #[arg(long, value_delimiter = ',', default_values_t = [32], value_name = "LIST")]
    pub selector_hidden: Vec<usize>,
    /// Black bodies of the emission network's Planck mixture.
    #[arg(long, default_value_t = 16)]
    pub n_mix: usize,
    #[command(flatten)]
    pub prep: PrepArgs,
    /// Checkpoint directory [default: OUTPUT/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// Discard existing checkpoints and start again.
    #[arg(long)]
    pub restart: bool,
    /// Stop after this many epochs in this call (checkpointed; run again to continue).
    #[arg(long, value_name = "N")]
    pub max_epochs: Option<usize>,
}
