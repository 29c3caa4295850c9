//! `galsed catalog`: photometry (and spectra) for catalogues of simulated galaxies from
//! semi-analytic models, streamed in chunks with bounded memory, on every core, resumable after a
//! kill, and splittable into shards for job arrays.

mod args;
mod parts;
mod pipeline;
mod run;
mod synth;

use anyhow::Result;
use clap::Subcommand;

pub use args::RunArgs;
pub use synth::SynthArgs;

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Compute photometry (and spectra) for a SAM catalogue, streamed in chunks.
    Run(Box<RunArgs>),
    /// Write a synthetic SAM catalogue (HDF5 or Parquet) for tests and benchmarks.
    Synth(SynthArgs),
}

pub fn run(cmd: &CatalogCommand) -> Result<()> {
    match cmd {
        CatalogCommand::Run(args) => run::run_catalog(args),
        CatalogCommand::Synth(args) => synth::run(args),
    }
}
