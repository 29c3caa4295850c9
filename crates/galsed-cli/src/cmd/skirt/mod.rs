//! `galsed skirt …`: inputs for SKIRT 9 radiative-transfer runs and training sets from their
//! outputs (the `galsed_train::skirt` module).

mod args;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use galsed_train::skirt::index::INDEX_FILE;
use galsed_train::skirt::sampling::{draw_samples, read_table};
use galsed_train::skirt::ski::{SkiConfig, SkirtVersion};
use galsed_train::skirt::{CollectOptions, PrepareOptions, Run, collect, prepare};

use crate::shared::{model, progress};

pub use args::{CollectArgs, PrepareArgs};

/// `galsed skirt` subcommands.
#[derive(Debug, Subcommand)]
pub enum SkirtCommand {
    /// Write SKIRT 9 parameter files and stellar spectra for galaxies drawn from the paper's
    /// priors (or read from a table), plus an index of the samples.
    Prepare(PrepareArgs),
    /// Read the SED outputs of the SKIRT runs of an index into a training set (npz).
    Collect(CollectArgs),
}

/// Runs a `galsed skirt` subcommand.
pub fn run(cmd: &SkirtCommand) -> Result<()> {
    match cmd {
        SkirtCommand::Prepare(args) => prepare_cmd(args),
        SkirtCommand::Collect(args) => collect_cmd(args),
    }
}

fn prepare_cmd(args: &PrepareArgs) -> Result<()> {
    let files = model::load_files(&model::locate(args.model.as_deref())?)?;
    let lib = &files.ssp;
    let samples = match (&args.table, args.samples) {
        (Some(table), _) => read_table(table, lib.n_ssp(), args.seed, args.sfh_alpha)?,
        (None, Some(n)) if n > 0 => draw_samples(n, lib.n_ssp(), args.seed, args.sfh_alpha)?,
        (None, _) => bail!("--samples must be at least 1"),
    };
    let opts = PrepareOptions {
        runs: Run::parse_list(&args.runs)?,
        ski: SkiConfig {
            packets: args.packets,
            grid_bins: args.grid_bins,
            grid_extent: args.grid_extent,
            grid_min_fraction: args.grid_min_fraction,
            version: SkirtVersion::parse(&args.skirt_version)?,
            absorption_probe: args.absorption_probe,
            ..SkiConfig::default()
        },
        overwrite: args.overwrite,
    };
    let bar = progress::rows_bar(samples.len() as u64);
    let summary = prepare(&samples, lib, &args.out, &opts, &mut |done| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("preparing the SKIRT runs in {}", args.out.display()))?;
    bar.finish_and_clear();
    progress::print_stdout(&format!(
        "{} galaxies: {} parameter files, {} stellar spectra, index {}\nrun SKIRT in {} (e.g. \
         `cd {} && skirt *.ski`), then `galsed skirt collect --index {} --output train.npz`\n",
        summary.samples,
        summary.ski_files,
        summary.sed_files,
        summary.index.display(),
        args.out.display(),
        args.out.display(),
        summary.index.display(),
    ))
}

fn collect_cmd(args: &CollectArgs) -> Result<()> {
    let files = model::load_files(&model::locate(args.model.as_deref())?)?;
    let outputs = match &args.outputs {
        Some(dir) => dir.clone(),
        None => args
            .index
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let opts = CollectOptions {
        runs: args.runs.as_deref().map(Run::parse_list).transpose()?,
        skip_missing: args.skip_missing,
    };
    let n_rows = std::fs::read(&args.index)
        .map(|t| t.iter().filter(|&&b| b == b'\n').count().saturating_sub(1))
        .unwrap_or(0);
    let bar = progress::rows_bar(n_rows as u64);
    let got = collect(
        &args.index,
        &outputs,
        &files.ssp.lam_main,
        &opts,
        &mut |done| bar.set_position(done as u64),
    )
    .with_context(|| {
        let index = if args.index.ends_with(INDEX_FILE) {
            ""
        } else {
            " (an index.csv of `galsed skirt prepare`?)"
        };
        format!(
            "collecting the SKIRT outputs of {}{index}",
            args.index.display()
        )
    })?;
    bar.finish_and_clear();
    got.set
        .write_npz(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;

    let set = &got.set;
    let invalid = |v: &Option<Vec<bool>>| v.as_ref().map(|v| v.iter().filter(|b| !**b).count());
    let mut report = format!("{} samples → {}\n", set.len(), args.output.display());
    for (what, v) in [
        ("disk curves", &set.valid_disk),
        ("bulge curves", &set.valid_bulge),
        ("emission runs", &set.valid_emission),
    ] {
        if let Some(bad) = invalid(v) {
            report.push_str(&format!(
                "  {what}: {} valid, {bad} flagged invalid\n",
                set.len() - bad
            ));
        }
    }
    if !got.skipped.is_empty() {
        report.push_str(&format!(
            "  skipped for missing outputs: {}\n",
            got.skipped.len()
        ));
        for s in &got.skipped {
            report.push_str(&format!("    {s}\n"));
        }
    }
    progress::print_stdout(&report)
}
