//! `galsed optir`: the optical–infrared connection (Jespersen et al. 2025) end to end —
//! a synthetic SDSS+WISE survey, spectrum encoders and WISE predictors, their evaluation next to
//! SED fitting, and occlusion attribution. See docs/optir.md.
//!
//! The pipeline itself and its run-directory layout are `galsed_optir::pipeline` and
//! `galsed_optir::run_dir`; this module parses the arguments, draws the progress bars and the
//! plots, and prints.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::{Args, Subcommand, ValueEnum};
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::model_files::ModelFiles;
use galsed_optir::occlude::OcclusionSettings;
use galsed_optir::pipeline::{
    self, ClassStack, Emulator, Evaluation, Finished, Progress, RunSettings, SedBaseline,
    TrainedModels, Unit,
};
use galsed_optir::readers;
use galsed_optir::run_dir::{EvaluationDir, ModelsDir, OcclusionDir, RunDir};
use galsed_optir::sedfit::SedFitSettings;
use galsed_optir::simulate::SimulateConfig;
use galsed_optir::spender::{SpenderConfig, TrainSettings};
use galsed_optir::survey_io::{read_survey, write_survey};
use indicatif::ProgressBar;

use crate::{model, progress};
use galsed_plot::Format;
use galsed_plot::optir as plots;

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

/// Sizes of the whole pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// 50 000 galaxies, CPU-sized autoencoder, 300 SED fits per model: under an hour on 2 cores.
    Default,
    /// 1 500 galaxies and short training, for tests and a first look (a few minutes).
    Quick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoencoderSize {
    /// Channels 8/16/32, decoder 64/128/256 on a 3×10⁻⁴ dex rest grid (trains on 2 cores).
    Cpu,
    /// The paper's 128/256/512 channels, decoder 64/256/1024 on the 10⁻⁴ dex grid (GPU-sized).
    Paper,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output survey (.h5/.hdf5 or .parquet).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Galaxies to keep (after the r < 17.77 selection).
    #[arg(short = 'n', long, default_value_t = 50_000)]
    pub galaxies: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Output survey (.h5/.hdf5 or .parquet).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// WISE catalogue (CSV or FITS) with w1mpro…w4mpro, w1sigmpro…w4sigmpro and an id column.
    #[arg(long, value_name = "FILE")]
    pub wise: PathBuf,
    /// The catalogue's column holding the spectra's ids (SPECOBJID).
    #[arg(long, default_value = "specobjid")]
    pub id_column: String,
    /// Drop spectra without a catalogue row instead of failing.
    #[arg(long)]
    pub drop_unmatched: bool,
    /// SDSS spec-lite files (spec-PLATE-MJD-FIBER.fits).
    #[arg(required = true, value_name = "SPEC")]
    pub spectra: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Survey file.
    #[arg(long, value_name = "FILE")]
    pub survey: PathBuf,
    /// Directory for the trained models (created).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value_t = AutoencoderSize::Cpu)]
    pub autoencoder: AutoencoderSize,
    /// Autoencoder epochs.
    #[arg(long, default_value_t = TrainSettings::default().epochs)]
    pub epochs: usize,
    /// Seed of the split and of every model's initial weights and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Survey file.
    #[arg(long, value_name = "FILE")]
    pub survey: PathBuf,
    /// Directory written by `galsed optir train`.
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// Output table (.csv, .parquet or .fits).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Survey file.
    #[arg(long, value_name = "FILE")]
    pub survey: PathBuf,
    /// Directory written by `galsed optir train`.
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// Directory for tables and plots (created).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Test galaxies fitted with each SED model (0: no SED-fitting baseline).
    #[arg(long, default_value_t = 300)]
    pub sed_fits: usize,
    /// Model directory for the SED fits (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OccludeArgs {
    /// Survey file.
    #[arg(long, value_name = "FILE")]
    pub survey: PathBuf,
    /// Directory written by `galsed optir train`.
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// Directory for the attribution table and plot (created).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Test galaxies of each class (star-forming, quiescent).
    #[arg(long, default_value_t = 20)]
    pub galaxies: usize,
    /// Window lengths [pixels].
    #[arg(long, value_delimiter = ',', default_values_t = vec![10, 30, 100, 300])]
    pub windows: Vec<usize>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run directory (created): survey.h5, models/, evaluation/, occlusion/.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Progress bars and messages on stderr (bars only on a terminal).
#[derive(Default)]
struct Bars(Mutex<Option<ProgressBar>>);

impl Bars {
    fn bar(&self) -> MutexGuard<'_, Option<ProgressBar>> {
        // A panic elsewhere cannot leave a bar half-updated in a way that matters.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Bars {
    fn step(&self, what: &str) {
        eprintln!("{what}");
    }
    fn warn(&self, what: &str) {
        eprintln!("warning: {what}");
    }
    fn start(&self, unit: Unit, len: usize) {
        *self.bar() = Some(match unit {
            Unit::Galaxies => progress::rows_bar(len as u64),
            Unit::Epochs => progress::styled_epochs(len as u64),
        });
    }
    fn advance(&self, done: usize) {
        if let Some(bar) = &*self.bar() {
            bar.set_position(done as u64);
        }
    }
    fn status(&self, message: &str) {
        if let Some(bar) = &*self.bar() {
            bar.set_message(message.to_owned());
        }
    }
    fn finish(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}

/// The located model's files and the emulator built from them on `device`.
fn load_emulator(
    model_dir: Option<&Path>,
    device: &Device,
) -> Result<(ModelFiles, galsed_emulator::Starduster)> {
    let files = model::load_files(&model::locate(model_dir)?)?;
    let sd = model::build_on(&files, &WavelengthGrid::Auto, device)?;
    Ok((files, sd))
}

fn simulate_cmd(a: &SimulateArgs) -> Result<()> {
    let cfg = SimulateConfig {
        n_galaxies: a.galaxies,
        seed: a.seed,
        ..SimulateConfig::default()
    };
    let (files, sd) = load_emulator(a.model.as_deref(), &Device::flex())?;
    let emulator = Emulator {
        files: &files,
        model: &sd,
    };
    let survey = pipeline::simulate_survey(emulator, &cfg, &Bars::default())
        .context("simulating the survey")?;
    write_survey(&a.output, &survey)?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

fn import_cmd(a: &ImportArgs) -> Result<()> {
    let (spectra, z, ids) = readers::read_spectra(&a.spectra)?;
    let wise = readers::read_wise_catalogue(&a.wise, &a.id_column)?;
    let survey = readers::assemble_survey(
        spectra,
        z,
        ids,
        &wise,
        None,
        if a.drop_unmatched {
            readers::MissingWise::Drop
        } else {
            readers::MissingWise::Error
        },
    )?;
    write_survey(&a.output, &survey)?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

fn train_cmd(a: &TrainArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let cfg = match a.autoencoder {
        AutoencoderSize::Cpu => SpenderConfig::cpu(),
        AutoencoderSize::Paper => SpenderConfig::paper(),
    };
    let settings = TrainSettings {
        epochs: a.epochs,
        seed: a.seed,
        ..TrainSettings::default()
    };
    let dir = ModelsDir::new(&a.output);
    pipeline::train_models(&survey, &dir, &cfg, &settings, &Bars::default())?;
    println!("wrote models to {}", dir.path().display());
    Ok(())
}

fn encode_cmd(a: &EncodeArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = TrainedModels::load(&ModelsDir::new(&a.models))?;
    pipeline::write_latents(&a.output, &survey, &models, &Bars::default())?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

fn evaluate_cmd(a: &EvaluateArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = TrainedModels::load(&ModelsDir::new(&a.models))?;
    let settings = SedFitSettings {
        seed: models.seed,
        ..SedFitSettings::default()
    };
    // The emulator is loaded only for an SED-fitting baseline.
    let emulator = if a.sed_fits > 0 {
        Some(load_emulator(
            a.model.as_deref(),
            &Device::flex().autodiff(),
        )?)
    } else {
        None
    };
    let sed = emulator.as_ref().map(|(files, sd)| SedBaseline {
        model: sd,
        ssp: &files.ssp,
        fits: a.sed_fits,
        settings: &settings,
    });
    let dir = EvaluationDir::new(&a.output);
    let evaluation = pipeline::evaluate_models(&survey, &models, &dir, sed, &Bars::default())?;
    draw_evaluation(&dir, &evaluation)
}

/// The plots of every report, its Markdown on stdout.
fn draw_evaluation(dir: &EvaluationDir, evaluation: &Evaluation) -> Result<()> {
    for (stem, report) in evaluation.reports() {
        plots::pp_plot(&dir.pp_plot(stem), Format::Png, report)?;
        plots::chi_histograms(&dir.chi_plot(stem), Format::Png, report)?;
        plots::colour_colour(&dir.colours_plot(stem), Format::Png, report)?;
        print!("{}", report.to_markdown());
    }
    println!("wrote tables and plots to {}", dir.path().display());
    Ok(())
}

fn occlude_cmd(a: &OccludeArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = TrainedModels::load(&ModelsDir::new(&a.models))?;
    let settings = OcclusionSettings {
        window_lengths: a.windows.clone(),
        seed: models.seed,
        ..OcclusionSettings::default()
    };
    let dir = OcclusionDir::new(&a.output);
    let stacks = pipeline::occlude_models(
        &survey,
        &models,
        &dir,
        a.galaxies,
        &settings,
        &Bars::default(),
    )?;
    draw_attribution(&dir, &stacks)
}

fn draw_attribution(dir: &OcclusionDir, stacks: &[ClassStack]) -> Result<()> {
    plots::attribution_plot(&dir.attribution_plot(), Format::Png, stacks)?;
    println!("wrote attribution to {}", dir.path().display());
    Ok(())
}

fn run_all(a: &RunArgs) -> Result<()> {
    let preset = match a.preset {
        Preset::Default => pipeline::Preset::Default,
        Preset::Quick => pipeline::Preset::Quick,
    };
    let (files, sd) = load_emulator(a.model.as_deref(), &Device::flex())?;
    let sed_model = model::build_on(&files, &WavelengthGrid::Auto, &Device::flex().autodiff())?;
    let timings = pipeline::run(
        &RunDir::new(&a.output),
        &RunSettings::new(preset, a.seed),
        Emulator {
            files: &files,
            model: &sd,
        },
        &sed_model,
        &Bars::default(),
        &mut |step| match step {
            Finished::Training { dir, .. } => {
                println!("wrote models to {}", dir.path().display());
                Ok(())
            }
            Finished::Evaluation { dir, evaluation } => draw_evaluation(dir, evaluation),
            Finished::Occlusion { dir, stacks } => draw_attribution(dir, stacks),
        },
    )?;
    println!(
        "pipeline finished in {:.0} s (simulate {:.0}, train {:.0}, evaluate {:.0}, occlude {:.0})",
        timings.total_s, timings.simulate_s, timings.train_s, timings.evaluate_s, timings.occlude_s
    );
    Ok(())
}
