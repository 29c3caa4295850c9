//! The `galsed optir …` commands: run a pipeline step, draw its plots, print where it wrote.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::Device;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::model_files::ModelFiles;
use galsed_optir::occlude::OcclusionSettings;
use galsed_optir::pipeline::{
    self, ClassStack, Emulator, Evaluation, Finished, Progress, RunSettings, SedBaseline,
    TrainedModels,
};
use galsed_optir::run_dir::{EvaluationDir, ModelsDir, OcclusionDir, RunDir};
use galsed_optir::sedfit::SedFitSettings;
use galsed_optir::simulate::SimulateConfig;
use galsed_optir::spender::{SpenderConfig, TrainSettings};
use galsed_optir::survey_io::{read_survey, write_survey};
use galsed_optir::{import, readers};
use galsed_plot::Format;
use galsed_plot::optir as plots;

use super::args::{
    AutoencoderSize, EncodeArgs, EvaluateArgs, ImportArgs, OccludeArgs, Preset, RunArgs,
    SimulateArgs, TrainArgs,
};
use super::bars::Bars;
use crate::shared::model;

/// The located model's files and the emulator built from them on `device`.
fn load_emulator(
    model_dir: Option<&Path>,
    device: &Device,
) -> Result<(ModelFiles, galsed_emulator::Starduster)> {
    let files = model::load_files(&model::locate(model_dir)?)?;
    let sd = model::build_on(&files, &WavelengthGrid::Auto, device)?;
    Ok((files, sd))
}

pub fn simulate_cmd(a: &SimulateArgs) -> Result<()> {
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

pub fn import_cmd(a: &ImportArgs) -> Result<()> {
    let bars = Bars::default();
    let files = import::spec_lite_files(&a.spectra)?;
    let sources = match &a.specobj {
        Some(path) => catalogue_sources(a, path, &files)?,
        None => import::SpectrumSource::from_files(&files),
    };
    // The WISE catalogue first: a bad one fails before the long read.
    let artefacts = if a.keep_cc_artefacts {
        readers::CcArtefacts::Keep
    } else {
        readers::CcArtefacts::Drop
    };
    let wise = readers::read_wise_catalogue_with(&a.wise, &a.id_column, None, artefacts)?;
    if wise.artefact_bands.iter().any(|&n| n > 0) {
        let [w1, w2, w3, w4] = wise.artefact_bands;
        println!(
            "WISE bands dropped for cc_flags artefacts, in catalogue rows: W1 {w1}, W2 {w2}, W3 {w3}, W4 {w4}"
        );
    }
    let work = import::work_dir_for(&a.output);
    let read = import::read_spectra_resumable(&sources, &work, a.chunk_size, &bars)?;
    if read.resumed_chunks > 0 {
        println!(
            "resumed: {} of {} chunks read back from {}",
            read.resumed_chunks,
            read.chunks,
            work.display()
        );
    }
    if !read.z_disagreements.is_empty() {
        let shown: Vec<String> = read
            .z_disagreements
            .iter()
            .take(5)
            .map(|id| (*id as u64).to_string())
            .collect();
        bars.warn(&format!(
            "{} spectra have a Z that differs from the catalogue's by more than {} (SPECOBJID {}{}); \
             the catalogue's is used",
            read.z_disagreements.len(),
            import::Z_TOLERANCE,
            shown.join(", "),
            if read.z_disagreements.len() > 5 { ", …" } else { "" }
        ));
    }
    let survey = readers::assemble_survey(
        read.spectra,
        read.z,
        read.ids,
        &wise,
        None,
        if a.drop_unmatched {
            readers::MissingWise::Drop
        } else {
            readers::MissingWise::Error
        },
    )?;
    write_survey(&a.output, &survey)?;
    import::remove_work_dir(&work)?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

/// The spectra of the main galaxy sample among `files`, with ids and redshifts from the specObj
/// catalogue at `path`; prints the cut table and the join.
fn catalogue_sources(
    a: &ImportArgs,
    path: &Path,
    files: &[std::path::PathBuf],
) -> Result<Vec<import::SpectrumSource>> {
    let cat = galsed_io::sdss::read_specobj_catalogue(path)?;
    let cuts = import::SampleCuts {
        z_min: a.z_min,
        z_max: a.z_max,
    };
    let (selected, report) = import::select_main_sample(&cat, &cuts)?;
    println!("sample cuts on {}:", path.display());
    print!(
        "{}",
        import::CutTable {
            report: &report,
            cuts: &cuts,
            target_column: &cat.target_column,
        }
    );
    let (sources, join) = import::join_catalogue(files, &cat, &selected)?;
    println!(
        "spectra: {} in the sample, {} not in it (not read); {} sample rows without a file",
        join.matched, join.not_selected, join.without_file
    );
    if sources.is_empty() {
        anyhow::bail!(
            "none of the {} spectra is in the selected sample of {}",
            files.len(),
            path.display()
        );
    }
    Ok(sources)
}

pub fn train_cmd(a: &TrainArgs) -> Result<()> {
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

pub fn encode_cmd(a: &EncodeArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = TrainedModels::load(&ModelsDir::new(&a.models))?;
    pipeline::write_latents(&a.output, &survey, &models, &Bars::default())?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

pub fn evaluate_cmd(a: &EvaluateArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = TrainedModels::load(&ModelsDir::new(&a.models))?;
    let settings = SedFitSettings {
        seed: models.seed,
        ..SedFitSettings::default()
    };
    // The emulator is loaded only for an SED-fitting baseline.
    let emulator = if a.sed_fits > 0 {
        Some(load_emulator(a.model.as_deref(), &Device::flex())?)
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

pub fn occlude_cmd(a: &OccludeArgs) -> Result<()> {
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

pub fn run_all(a: &RunArgs) -> Result<()> {
    let preset = match a.preset {
        Preset::Default => pipeline::Preset::Default,
        Preset::Quick => pipeline::Preset::Quick,
    };
    let (files, sd) = load_emulator(a.model.as_deref(), &Device::flex())?;
    let sed_model = model::build_on(&files, &WavelengthGrid::Auto, &Device::flex())?;
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
