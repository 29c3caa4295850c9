//! `galsed train`: train the Starduster networks on a training set and write a model directory in
//! the native format; `galsed train teacher`: make a training set from an existing model.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use galsed_emulator::model_files::ModelFiles;
use galsed_train::data::{PrepReport, Preparation, TrainingSet};
use galsed_train::schedule::OneCycleConfig;
use galsed_train::teacher::teacher_set;
use galsed_train::train::{
    Checkpointing, Network, Outcome, Progress, Sizes, TrainConfig, TrainReport, Trainer,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::model;

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
pub struct TeacherArgs {
    /// Number of samples inside the teacher's valid region (the rejected ones drawn along the
    /// way are kept, labelled invalid, for the selectors).
    #[arg(long, value_name = "N")]
    pub n: usize,
    /// Output .npz.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Teacher model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
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
    pub prep: crate::PrepArgs,
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

pub fn run(args: &TrainArgs) -> Result<()> {
    match &args.command {
        Some(TrainCommand::Teacher(t)) => teacher(t),
        None => train(&args.run),
    }
}

fn teacher(args: &TeacherArgs) -> Result<()> {
    let dir = model::locate(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let set = teacher_set(&files, args.n, args.seed).context("computing the teacher set")?;
    set.write_npz(&args.output)?;
    let valid = set.valid_rows().len();
    println!(
        "wrote {} samples to {} ({valid} inside the teacher's valid region, {} outside)",
        set.len(),
        args.output.display(),
        set.len() - valid
    );
    Ok(())
}

/// What training.json records besides the report.
#[derive(Serialize)]
struct Record<'a> {
    data: &'a Path,
    validation: Option<&'a Path>,
    preparation: &'a Preparation,
    prepared_train: PrepReport,
    prepared_valid: PrepReport,
    report: &'a TrainReport,
}

fn train(args: &RunArgs) -> Result<()> {
    let (Some(data), Some(output)) = (&args.data, &args.output) else {
        bail!("--data and --output are required");
    };
    let base_dir = model::locate(args.base.as_deref())?;
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(&base_dir.path),
        std::fs::canonicalize(output),
    ) && a == b
    {
        bail!("the output directory is the base model's; choose another --output");
    }
    let base = model::load_files(&base_dir)?;
    let prep = args.prep.preparation()?;
    let full = TrainingSet::read_npz(data)?;
    let (mut train_set, mut valid_set) = match &args.validation {
        Some(v) => (full, TrainingSet::read_npz(v)?),
        None => full
            .split(args.validation_fraction, args.seed)
            .with_context(|| format!("holding out a validation part of {}", data.display()))?,
    };
    let prepared_train = train_set.prepare(&prep)?;
    let prepared_valid = valid_set.prepare(&prep)?;
    eprintln!(
        "training set: {} samples ({} valid for everything, k(100 µm) rule excluded {}/{} disk/bulge); \
         validation set: {} samples",
        prepared_train.n,
        prepared_train.valid_all,
        prepared_train.excluded_k100[0],
        prepared_train.excluded_k100[1],
        prepared_valid.n
    );
    let networks = match &args.networks {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<Network>())
            .collect::<Result<Vec<_>, _>>()?,
        None => default_networks(&train_set),
    };
    if networks.is_empty() {
        bail!(
            "{} holds nothing to train (no curves, no emission, no invalid labels)",
            data.display()
        );
    }
    let trainer = Trainer {
        base: &base,
        config: TrainConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            max_lrs: args.max_lr.clone(),
            schedule: OneCycleConfig {
                pct_start: args.pct_start,
                ..OneCycleConfig::default()
            },
            seed: args.seed,
            ..TrainConfig::default()
        },
        sizes: Sizes {
            curve_hidden: args.curve_hidden.clone(),
            frac_hidden: args.frac_hidden.clone(),
            distri_hidden: args.distri_hidden.clone(),
            selector_hidden: args.selector_hidden.clone(),
            n_mix: args.n_mix,
        },
        train: &train_set,
        valid: &valid_set,
        checkpoints: Checkpointing {
            dir: Some(
                args.checkpoints
                    .clone()
                    .unwrap_or_else(|| output.join("checkpoints")),
            ),
            restart: args.restart,
            max_epochs_this_call: args.max_epochs,
        },
    };
    let names: Vec<&str> = networks.iter().map(|n| n.name()).collect();
    eprintln!(
        "training {} with max learning rates {:?}, {} epochs each",
        names.join(", "),
        args.max_lr,
        args.epochs
    );
    let mut reporter = Reporter::new();
    let outcome = trainer.run(&networks, &mut |p| reporter.update(p))?;
    reporter.finish();
    let (mut files, report) = match outcome {
        Outcome::Finished(t) => (t.model, t.report),
        Outcome::Interrupted => {
            println!(
                "stopped after {} epochs (--max-epochs); run the same command again to continue",
                args.max_epochs.unwrap_or(0)
            );
            return Ok(());
        }
    };
    files.name = args.name.clone();
    let source = format!("galsed train on {} ({})", data.display(), names.join(", "));
    files
        .write_native(output, &source)
        .with_context(|| format!("writing the model to {}", output.display()))?;
    // Loading the written model back proves that `galsed sed` can use it.
    let back = ModelFiles::load(output)?;
    model::build(&back, &galsed_core::ssp::WavelengthGrid::Base)
        .context("checking the written model")?;
    let record = Record {
        data,
        validation: args.validation.as_deref(),
        preparation: &prep,
        prepared_train,
        prepared_valid,
        report: &report,
    };
    let json = serde_json::to_string_pretty(&record)?;
    std::fs::write(output.join("training.json"), json)
        .with_context(|| format!("writing {}/training.json", output.display()))?;
    galsed_plot::training::plot_losses(
        &output.join("loss_curves.png"),
        galsed_plot::Format::Png,
        &report.networks,
    )?;
    for n in &report.networks {
        let best = &n.runs[n.best];
        let last = best.history.last().map_or(f64::NAN, |e| e.valid_loss);
        let secs: f64 = n.runs.iter().map(|r| r.seconds()).sum();
        println!(
            "{:<15} kept max_lr {:.1e}: validation loss {last:.4e} ({} train / {} validation samples, {secs:.0} s for {} runs)",
            n.network.name(),
            best.max_lr,
            n.n_train,
            n.n_valid,
            n.runs.len()
        );
    }
    println!(
        "wrote the model to {} (use it with --model {})",
        output.display(),
        output.display()
    );
    Ok(())
}

/// Curves and emission when the data hold them; selectors when some sample is labelled invalid.
fn default_networks(set: &TrainingSet) -> Vec<Network> {
    use galsed_train::data::Part;
    let mut out = Vec::new();
    for (net, ok) in [
        (Network::CurveDisk, set.curve_disk.is_some()),
        (Network::CurveBulge, set.curve_bulge.is_some()),
        (Network::DustEmission, set.has_emission()),
        (
            Network::SelectorDisk,
            set.valid(Part::Disk).contains(&false),
        ),
        (
            Network::SelectorBulge,
            set.valid(Part::Bulge).contains(&false),
        ),
    ] {
        if ok {
            out.push(net);
        }
    }
    out
}

/// A progress bar per run on a terminal; otherwise a line every tenth of the epochs.
struct Reporter {
    bar: Option<ProgressBar>,
    current: Option<(Network, usize)>,
    terminal: bool,
}

impl Reporter {
    fn new() -> Self {
        Self {
            bar: None,
            current: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, p: &Progress) {
        if self.current != Some((p.network, p.run)) {
            self.finish();
            self.current = Some((p.network, p.run));
            if self.terminal {
                let bar = ProgressBar::with_draw_target(
                    Some((p.epochs * p.steps_per_epoch) as u64),
                    ProgressDrawTarget::stderr(),
                );
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps, {elapsed}, eta {eta} {msg}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(format!(
                    "{} lr {}/{} ({:.0e})",
                    p.network.name(),
                    p.run + 1,
                    p.runs,
                    p.max_lr
                ));
                self.bar = Some(bar);
            }
        }
        let pos = (p.epoch * p.steps_per_epoch + p.step + 1) as u64;
        match (&self.bar, p.valid_loss) {
            (Some(bar), valid) => {
                bar.set_position(pos);
                if let Some(v) = valid {
                    bar.set_message(format!(
                        "epoch {}: train {:.3e}, valid {v:.3e}",
                        p.epoch + 1,
                        p.train_loss
                    ));
                }
            }
            (None, Some(v)) => {
                let every = (p.epochs / 10).max(1);
                if (p.epoch + 1).is_multiple_of(every) || p.epoch + 1 == p.epochs {
                    eprintln!(
                        "{} lr {}/{} ({:.0e}) epoch {}/{}: train {:.4e}, valid {v:.4e}",
                        p.network.name(),
                        p.run + 1,
                        p.runs,
                        p.max_lr,
                        p.epoch + 1,
                        p.epochs,
                        p.train_loss
                    );
                }
            }
            (None, None) => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
