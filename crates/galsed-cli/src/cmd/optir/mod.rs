//! `galsed optir`: the optical–infrared connection (Jespersen et al. 2025) end to end —
//! a synthetic SDSS+WISE survey, spectrum encoders and WISE predictors, their evaluation next to
//! SED fitting, and occlusion attribution. See docs/optir.md.
//!
//! The pipeline itself and its run-directory layout are `galsed_optir::pipeline` and
//! `galsed_optir::run_dir`; this module parses the arguments, draws the progress bars and the
//! plots, and prints.

mod args;
mod bars;
mod steps;

use anyhow::Result;
use clap::Subcommand;

use args::{EncodeArgs, EvaluateArgs, ImportArgs, OccludeArgs, RunArgs, SimulateArgs, TrainArgs};
use steps::{encode_cmd, evaluate_cmd, import_cmd, occlude_cmd, run_all, simulate_cmd, train_cmd};

#[derive(Debug, Subcommand)]
pub enum OptirCommand {
    /// Draw a synthetic SDSS+WISE survey from the emulator (spectra, ugriz, WISE W1–W4).
    Simulate(SimulateArgs),
    /// Build a survey file from SDSS spec-lite FITS spectra and a WISE catalogue.
    Import(ImportArgs),
    /// Train the encoders (autoencoder, PCA) and the WISE predictors on a survey's training split.
    Train(TrainArgs),
    /// Latents of every galaxy (autoencoder and PCA), its normalisation and split, as a table.
    Encode(EncodeArgs),
    /// Predict WISE for the test split with every method (and SED fits) and compare: tables, plots.
    Evaluate(EvaluateArgs),
    /// Multiscale occlusion attribution of the autoencoder + MLP on test galaxies.
    Occlude(OccludeArgs),
    /// The whole pipeline in one directory: simulate → train → evaluate → occlude.
    Run(RunArgs),
}

pub fn run(cmd: &OptirCommand) -> Result<()> {
    match cmd {
        OptirCommand::Simulate(a) => simulate_cmd(a),
        OptirCommand::Import(a) => import_cmd(a),
        OptirCommand::Train(a) => train_cmd(a),
        OptirCommand::Encode(a) => encode_cmd(a),
        OptirCommand::Evaluate(a) => evaluate_cmd(a),
        OptirCommand::Occlude(a) => occlude_cmd(a),
        OptirCommand::Run(a) => run_all(a),
    }
}
