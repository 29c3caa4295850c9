//! `galsed skirt …`: inputs for SKIRT 9 radiative-transfer runs and training sets from their
//! outputs (the `galsed_train::skirt` module).

mod args;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use galsed_train::skirt::index::INDEX_FILE;
use galsed_train::skirt::run::{
    Plan, RunJob, RunOutcome, RunnerOptions, SlurmOptions, execute, find_skirt, plan, write_slurm,
};
use galsed_train::skirt::sampling::{draw_samples, read_table};
use galsed_train::skirt::ski::{SkiConfig, SkirtVersion};
use galsed_train::skirt::{CollectOptions, PrepareOptions, Run, collect, prepare};

use crate::shared::{model, progress};

pub use args::{CollectArgs, PrepareArgs, RunArgs};

/// `galsed skirt` subcommands.
#[derive(Debug, Subcommand)]
pub enum SkirtCommand {
    /// Write SKIRT 9 parameter files and stellar spectra for galaxies drawn from the paper's
    /// priors (or read from a table), plus an index of the samples.
    Prepare(PrepareArgs),
    /// Run SKIRT on the prepared parameter files (several processes at once, resumable), or
    /// write a Slurm job-array script for them.
    Run(RunArgs),
    /// Read the SED outputs of the SKIRT runs of an index into a training set (npz).
    Collect(CollectArgs),
}

/// Runs a `galsed skirt` subcommand.
pub fn run(cmd: &SkirtCommand) -> Result<()> {
    match cmd {
        SkirtCommand::Prepare(args) => prepare_cmd(args),
        SkirtCommand::Run(args) => run_cmd(args),
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
            grid_bins_per_decade: args.grid_bins_per_decade,
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
        "{} galaxies: {} parameter files, {} stellar spectra, index {}\nrun SKIRT with \
         `galsed skirt run {}`, then `galsed skirt collect --index {} --output train.npz`\n",
        summary.samples,
        summary.ski_files,
        summary.sed_files,
        summary.index.display(),
        args.out.display(),
        summary.index.display(),
    ))
}

fn run_cmd(args: &RunArgs) -> Result<()> {
    let index = match (&args.index, &args.dir) {
        (Some(index), _) => index.clone(),
        (None, Some(dir)) => dir.join(INDEX_FILE),
        (None, None) => bail!("name the prepared directory or --index"),
    };
    let runs = args.runs.as_deref().map(Run::parse_list).transpose()?;
    let plan = plan(&index, args.outputs.as_deref(), runs.as_deref())
        .with_context(|| format!("reading the runs of {}", index.display()))?;
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if let Some(script) = &args.slurm {
        // The binary is the one on the cluster's nodes; it need not exist here.
        let skirt = match &args.skirt {
            Some(path) => std::path::absolute(path)?,
            None => find_skirt(None)?,
        };
        let files = write_slurm(
            &plan,
            &SlurmOptions {
                script: script.clone(),
                skirt,
                threads: args.threads,
                max_parallel: args.slurm_parallel,
            },
        )?;
        return progress::print_stdout(&format!(
            "{} pending runs ({} finished) → {} (list {}); submit with `sbatch {}`\n",
            files.tasks,
            plan.finished.len(),
            files.script.display(),
            files.list.display(),
            files.script.display(),
        ));
    }
    let skirt = find_skirt(args.skirt.as_deref())?;
    // SKIRT's setup is mostly serial: one single-threaded process per core by default.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or((cores / args.threads).max(1));
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let opts = RunnerOptions {
        skirt,
        jobs,
        threads: args.threads,
    };
    progress::print_stdout(&format!(
        "{} runs: {} finished before, {} to run ({} SKIRT at once × {} thread{}, {})\n",
        plan.finished.len() + plan.pending.len(),
        plan.finished.len(),
        plan.pending.len(),
        jobs,
        args.threads,
        if args.threads == 1 { "" } else { "s" },
        opts.skirt.display(),
    ))?;
    let start = Instant::now();
    let bar = progress::runs_bar(plan.pending.len() as u64);
    let results = execute(&plan, &opts, &|job, outcome| {
        let line = match outcome {
            RunOutcome::Done(s) => format!(
                "{}: {:.1} s, peak memory {}, disk {}",
                job.stem(),
                s.seconds,
                s.peak_memory.map_or_else(|| "?".into(), megabytes),
                megabytes(s.disk as f64)
            ),
            RunOutcome::Failed(why) => format!("{}: FAILED: {why}", job.stem()),
        };
        bar.suspend(|| {
            let _ = progress::print_stdout(&format!("{line}\n"));
        });
        bar.inc(1);
    })
    .with_context(|| format!("running SKIRT into {}", plan.outputs.display()))?;
    bar.finish_and_clear();
    report(&plan, &results, start.elapsed().as_secs_f64())
}

/// Bytes as "12.3 MB" (MB = 2²⁰ bytes, as SKIRT's logs).
fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / (1024.0 * 1024.0))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(0.5 * (v[n / 2 - 1] + v[n / 2])),
    }
}

/// The summary of `galsed skirt run`; an error when a run failed.
fn report(plan: &Plan, results: &[(RunJob, RunOutcome)], seconds: f64) -> Result<()> {
    let failed: Vec<(&RunJob, &String)> = results
        .iter()
        .filter_map(|(job, o)| match o {
            RunOutcome::Failed(why) => Some((job, why)),
            RunOutcome::Done(_) => None,
        })
        .collect();
    let mut text = format!(
        "{} runs done, {} skipped (finished before), {} failed in {:.1} s\n",
        results.len() - failed.len(),
        plan.finished.len(),
        failed.len(),
        seconds
    );
    for kind in Run::ALL {
        let stats: Vec<_> = results
            .iter()
            .filter_map(|(job, o)| match o {
                RunOutcome::Done(s) if job.run == kind => Some(s),
                _ => None,
            })
            .collect();
        if stats.is_empty() {
            continue;
        }
        let memory = median(stats.iter().filter_map(|s| s.peak_memory).collect());
        text.push_str(&format!(
            "  {kind} runs ({}): median {:.1} s, peak memory {}, disk {}\n",
            stats.len(),
            median(stats.iter().map(|s| s.seconds).collect()).unwrap_or(0.0),
            memory.map_or_else(|| "?".into(), megabytes),
            megabytes(median(stats.iter().map(|s| s.disk as f64).collect()).unwrap_or(0.0)),
        ));
    }
    for (job, why) in &failed {
        text.push_str(&format!(
            "  FAILED {} ({}): {why}\n    log: {}\n",
            job.stem(),
            job.ski,
            plan.outputs.join(job.log_file()).display()
        ));
    }
    progress::print_stdout(&text)?;
    if !failed.is_empty() {
        bail!(
            "{} of {} SKIRT runs failed (listed above); run the command again after fixing them",
            failed.len(),
            results.len()
        );
    }
    Ok(())
}

/// The directory of `index` ("." for a bare file name).
fn index_dir(index: &Path) -> PathBuf {
    match index.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn collect_cmd(args: &CollectArgs) -> Result<()> {
    let files = model::load_files(&model::locate(args.model.as_deref())?)?;
    let outputs = args
        .outputs
        .clone()
        .unwrap_or_else(|| index_dir(&args.index));
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
