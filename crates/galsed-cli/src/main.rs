//! `galsed`: galaxy spectral energy distributions from the Starduster emulator (Qiu & Kang 2022).

// Doc comments on arguments are also the `--help` text, where "[µm]" is a unit, not a Rust link.
#![allow(rustdoc::broken_intra_doc_links)]

mod cmd;
mod shared;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cmd::{bench, catalog, demo, filters, fit, model, optir, sed, skirt, train, validate};

#[derive(Debug, Parser)]
#[command(
    name = "galsed",
    version,
    about = "Galaxy SEDs (stars, dust attenuation, dust emission) from the Starduster emulator",
    long_about = "Galaxy spectral energy distributions from the Starduster neural emulator of dust \
                  radiative transfer (Qiu & Kang 2022, arXiv:2112.14434).\n\n\
                  The model files are looked up in this order: --model DIR, the GALSED_MODEL_DIR \
                  environment variable, then the user cache directory filled by `galsed model fetch`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute spectra, photometry and derived quantities for a table of galaxies.
    Sed(Box<sed::SedArgs>),
    /// Download, inspect and convert the model files.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// List and inspect the filter curves.
    #[command(subcommand)]
    Filters(filters::FiltersCommand),
    /// Fit the photometry of a catalogue of galaxies (best fit, posterior, derived properties).
    Fit(Box<fit::FitArgs>),
    /// Photometry and spectra for catalogues of simulated (SAM) galaxies, streamed in chunks.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Fit NGC 628 (KINGFISH photometry shipped with galsed) or, with --mock, a mock galaxy; plot the fit.
    Demo(demo::DemoArgs),
    /// Measure SEDs per second (batches, grids, threads) next to the PyTorch reference.
    Bench(bench::BenchArgs),
    /// Train the networks on a training set and write a model directory (native format).
    Train(Box<train::TrainArgs>),
    /// Error distributions of a model on a data set (per wavelength, per sample, in 20 filters).
    Validate(validate::ValidateArgs),
    /// Write SKIRT 9 radiative-transfer inputs for new training data, and collect their outputs.
    #[command(subcommand)]
    Skirt(skirt::SkirtCommand),
    /// The optical–infrared connection: predict WISE W1–W4 from optical spectra (synthetic
    /// survey, autoencoder, predictors, evaluation, occlusion; docs/optir.md).
    #[command(subcommand)]
    Optir(optir::OptirCommand),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sed(args) => sed::run(&args),
        Command::Model(cmd) => model::run(&cmd),
        Command::Filters(cmd) => filters::run(&cmd),
        Command::Fit(args) => fit::run(&args),
        Command::Catalog(cmd) => catalog::run(&cmd),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Skirt(cmd) => skirt::run(&cmd),
        Command::Optir(cmd) => optir::run(&cmd),
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The error and its causes on one line, "outer: inner: …", as anyhow's `{:#}` but without the
/// causes a message already quotes: many errors (ours and other crates') put their source's text
/// in their own message and also return it as their source.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let t = cause.to_string();
        if text.is_empty() {
            text = t;
        } else if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
    }
    text
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}
