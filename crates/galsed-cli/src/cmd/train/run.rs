//! A training run: prepare the data, train the networks, write the model and its report.

use std::path::Path;

use anyhow::{Context, Result, bail};
use galsed_emulator::model_files::ModelFiles;
use galsed_train::data::{PrepReport, Preparation, TrainingSet};
use galsed_train::schedule::OneCycleConfig;
use galsed_train::train::{
    Checkpointing, Network, Outcome, Sizes, TrainConfig, TrainReport, Trainer,
};
use serde::Serialize;

use super::args::RunArgs;
use super::reporter::Reporter;
use crate::shared::model;

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

pub fn train(args: &RunArgs) -> Result<()> {
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
        "training {} with max learning rates {:?}, {} each",
        names.join(", "),
        args.max_lr,
        if args.epochs == 1 {
            "1 epoch".to_owned()
        } else {
            format!("{} epochs", args.epochs)
        }
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
