//! `galsed train`: train the Starduster networks on a training set and write a model directory in
//! the native format; `galsed train teacher`: make a training set from an existing model.

mod args;
mod reporter;
mod run;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use galsed_train::teacher::teacher_set;

pub use args::TrainArgs;
use args::TrainCommand;

use crate::shared::model;

#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// Number of samples inside the teacher's valid region (the rejected ones drawn along the
    /// way are kept, labelled invalid, for the selectors).
    #[arg(short = 'n', long = "galaxies", alias = "n", value_name = "N")]
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

pub fn run(args: &TrainArgs) -> Result<()> {
    match &args.command {
        Some(TrainCommand::Teacher(t)) => teacher(t),
        None => run::train(&args.run),
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
