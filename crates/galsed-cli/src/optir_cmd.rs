//! `galsed optir`: the optical–infrared connection (Jespersen et al. 2025) end to end —
//! a synthetic SDSS+WISE survey, spectrum encoders and WISE predictors, their evaluation next to
//! SED fitting, and occlusion attribution. See docs/optir.md.
//!
//! A run directory holds `survey.h5`, `models/`, `evaluation/` and `occlusion/`; every step reads
//! what the previous one wrote, so steps can be rerun alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use galsed_core::ssp::WavelengthGrid;
use galsed_optir::SpectrumEncoder;
use galsed_optir::evaluate::{MethodResult, Report, Subset, evaluate, evaluate_subsets};
use galsed_optir::occlude::{self, Galaxy, OcclusionSettings, RestStack};
use galsed_optir::pca::{Pca, PcaSettings};
use galsed_optir::predictor::{Features, LinearPredictor, MlpConfig, MlpPredictor, WisePredictor};
use galsed_optir::readers;
use galsed_optir::sedfit::{self, SedFitSettings, SedModel};
use galsed_optir::simulate::{SimulateConfig, simulate};
use galsed_optir::spender::{self, Autoencoder, SpenderConfig, TrainSettings};
use galsed_optir::survey::{Normalised, Split, Survey, WISE_BANDS, normalise, split};
use galsed_optir::survey_io::{read_survey, write_survey};
use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::{model, progress};
use galsed_io::table::{Column, Table, write_table};
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

fn simulate_cmd(a: &SimulateArgs) -> Result<()> {
    let cfg = SimulateConfig {
        n_galaxies: a.galaxies,
        seed: a.seed,
        ..SimulateConfig::default()
    };
    let survey = simulate_survey(a.model.as_deref(), &cfg)?;
    write_survey(&a.output, &survey)?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

fn simulate_survey(model_dir: Option<&Path>, cfg: &SimulateConfig) -> Result<Survey> {
    let files = model::load_files(&model::locate(model_dir)?)?;
    let sd = model::build(&files, &WavelengthGrid::Auto)?;
    let bar = progress::rows_bar(cfg.n_galaxies as u64);
    let survey = simulate(&files, &sd, cfg, &|done, _| bar.set_position(done as u64))
        .context("simulating the survey")?;
    bar.finish_and_clear();
    Ok(survey)
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

/// Rows of each split, in survey order.
fn split_rows(n: usize, seed: u64) -> [Vec<usize>; 3] {
    let s = split(n, seed);
    let rows = |which| (0..n).filter(|&i| s[i] == which).collect::<Vec<_>>();
    [
        rows(Split::Train),
        rows(Split::Validation),
        rows(Split::Test),
    ]
}

/// What `train` records beside the models, for `evaluate` and the docs.
#[derive(Debug, Serialize, serde::Deserialize)]
struct TrainSummary {
    seed: u64,
    n_train: usize,
    n_validation: usize,
    n_test: usize,
    autoencoder: spender::TrainReport,
    pca_explained_variance: Vec<f64>,
    seconds: std::collections::BTreeMap<String, f64>,
}

/// The learned methods: MLP on autoencoder latents, MLP on PCA latents, linear model on the
/// autoencoder latents, MLP on ugriz + redshift.
const PREDICTORS: [&str; 4] = [
    "mlp_autoencoder",
    "mlp_pca",
    "linear_autoencoder",
    "mlp_ugriz",
];

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
    train_models(&survey, &a.output, &cfg, &settings)
}

fn train_models(
    survey: &Survey,
    out: &Path,
    cfg: &SpenderConfig,
    settings: &TrainSettings,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let seed = settings.seed;
    let [train, val, test] = split_rows(survey.len(), seed);
    let mut seconds = std::collections::BTreeMap::new();
    let (flux, ivar, norm) = normalise(&survey.spectra, &survey.redshift)?;
    let loglam = &survey.spectra.loglam;

    eprintln!(
        "autoencoder: {} training, {} validation spectra",
        train.len(),
        val.len()
    );
    let t = Instant::now();
    let bar = progress::styled_epochs(settings.epochs as u64);
    let (ae, ae_report) = spender::train(
        loglam,
        flux.view(),
        ivar.view(),
        &survey.redshift,
        &train,
        &val,
        cfg,
        settings,
        &mut |e| {
            bar.set_position(e.epoch as u64 + 1);
            bar.set_message(format!("loss {:.3} / val {:.3}", e.train_loss, e.val_loss));
        },
        Some(&out.join("checkpoints")),
    )?;
    bar.finish_and_clear();
    ae.save(&out.join("spender"))?;
    seconds.insert("autoencoder".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let pca = Pca::fit(
        loglam,
        flux.view(),
        ivar.view(),
        &train,
        cfg.n_latents,
        PcaSettings {
            seed,
            ..PcaSettings::default()
        },
    )?;
    pca.save(&out.join("pca.json"))?;
    seconds.insert("pca".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let encoders: [(&str, &dyn SpectrumEncoder); 2] = [("autoencoder", &ae), ("pca", &pca)];
    let mut latent_features = Vec::new();
    for (name, enc) in encoders {
        let latents = encode_all(enc, loglam, &flux, &ivar, &survey.redshift)?;
        latent_features.push((
            name,
            Features::from_latents(latents.view(), &norm, &survey.redshift)?,
        ));
    }
    seconds.insert("encode".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mlp = MlpConfig {
        seed,
        ..MlpConfig::default()
    };
    for (name, features) in &latent_features {
        let (m, _) = MlpPredictor::fit(
            features,
            survey.wise.view(),
            survey.wise_err.view(),
            &train,
            &val,
            &mlp,
            &mut |_| {},
        )?;
        m.save(&out.join(format!("mlp_{name}.json")))?;
    }
    let lin = LinearPredictor::fit(
        &latent_features[0].1,
        survey.wise.view(),
        survey.wise_err.view(),
        &train,
    )?;
    lin.save(&out.join("linear_autoencoder.json"))?;
    // Imported surveys may have no ugriz (SDSS spec-lite files do not hold it): no baseline then.
    if survey.ugriz.iter().all(|m| m.is_finite()) {
        let ugriz = Features::from_ugriz(survey.ugriz.view(), &survey.redshift)?;
        let (m, _) = MlpPredictor::fit(
            &ugriz,
            survey.wise.view(),
            survey.wise_err.view(),
            &train,
            &val,
            &mlp,
            &mut |_| {},
        )?;
        m.save(&out.join("mlp_ugriz.json"))?;
    } else {
        eprintln!(
            "warning: the survey has no ugriz for every galaxy; the ugriz baseline is left out"
        );
    }
    seconds.insert("predictors".into(), t.elapsed().as_secs_f64());

    let summary = TrainSummary {
        seed,
        n_train: train.len(),
        n_validation: val.len(),
        n_test: test.len(),
        autoencoder: ae_report,
        pca_explained_variance: pca.explained_variance_ratio(),
        seconds,
    };
    let path = out.join("train.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote models to {}", out.display());
    Ok(())
}

/// Latents of every galaxy, encoded in blocks (bounded memory, progress).
fn encode_all(
    enc: &dyn SpectrumEncoder,
    loglam: &[f64],
    flux: &Array2<f32>,
    ivar: &Array2<f32>,
    z: &[f64],
) -> Result<Array2<f32>> {
    let n = flux.nrows();
    let bar = progress::rows_bar(n as u64);
    let mut out = Array2::zeros((n, enc.n_latents()));
    for start in (0..n).step_by(2048) {
        let end = (start + 2048).min(n);
        let s = ndarray::s![start..end, ..];
        let l = enc.encode(loglam, flux.slice(s), ivar.slice(s), &z[start..end])?;
        out.slice_mut(s).assign(&l);
        bar.set_position(end as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// The trained models of a `train` directory.
struct Models {
    autoencoder: Autoencoder,
    pca: Pca,
    mlp_autoencoder: MlpPredictor,
    mlp_pca: MlpPredictor,
    linear_autoencoder: LinearPredictor,
    /// Absent when the survey had no ugriz.
    mlp_ugriz: Option<MlpPredictor>,
    seed: u64,
}

impl Models {
    fn load(dir: &Path) -> Result<Self> {
        let summary: TrainSummary =
            serde_json::from_slice(&std::fs::read(dir.join("train.json")).with_context(|| {
                format!("{}: not a `galsed optir train` directory", dir.display())
            })?)?;
        Ok(Self {
            autoencoder: Autoencoder::load(&dir.join("spender"))?,
            pca: Pca::load(&dir.join("pca.json"))?,
            mlp_autoencoder: MlpPredictor::load(&dir.join("mlp_autoencoder.json"))?,
            mlp_pca: MlpPredictor::load(&dir.join("mlp_pca.json"))?,
            linear_autoencoder: LinearPredictor::load(&dir.join("linear_autoencoder.json"))?,
            mlp_ugriz: {
                let path = dir.join("mlp_ugriz.json");
                if path.exists() {
                    Some(MlpPredictor::load(&path)?)
                } else {
                    None
                }
            },
            seed: summary.seed,
        })
    }

    /// Predictions of the learned methods for `rows` (NaN elsewhere), in [`PREDICTORS`] order
    /// (the ugriz baseline last, when there is one).
    fn predict(&self, survey: &Survey, rows: &[usize]) -> Result<Vec<MethodResult>> {
        let ((flux, ivar, norm), z) = normalise_rows(survey, rows)?;
        let loglam = &survey.spectra.loglam;
        let ae = encode_all(&self.autoencoder, loglam, &flux, &ivar, &z)?;
        let pca = encode_all(&self.pca, loglam, &flux, &ivar, &z)?;
        let f_ae = Features::from_latents(ae.view(), &norm, &z)?;
        let f_pca = Features::from_latents(pca.view(), &norm, &z)?;
        let mut preds = vec![
            self.mlp_autoencoder.predict(&f_ae)?,
            self.mlp_pca.predict(&f_pca)?,
            self.linear_autoencoder.predict(&f_ae)?,
        ];
        if let Some(m) = &self.mlp_ugriz {
            preds.push(m.predict(&Features::from_ugriz(
                survey.ugriz.select(Axis(0), rows).view(),
                &z,
            )?)?);
        }
        Ok(PREDICTORS
            .iter()
            .zip(preds)
            .map(|(&name, p)| MethodResult {
                name: name.into(),
                predictions: scatter(survey.len(), rows, &p),
            })
            .collect())
    }
}

/// Normalised flux, inverse variance, normalisation and redshift of the galaxies `rows` only
/// (a whole survey's normalised copy would be gigabytes).
fn normalise_rows(survey: &Survey, rows: &[usize]) -> Result<(Normalised, Vec<f64>)> {
    let z: Vec<f64> = rows.iter().map(|&i| survey.redshift[i]).collect();
    let spectra = galsed_optir::survey::Spectra {
        loglam: survey.spectra.loglam.clone(),
        flux: survey.spectra.flux.select(Axis(0), rows),
        ivar: survey.spectra.ivar.select(Axis(0), rows),
        and_mask: survey.spectra.and_mask.select(Axis(0), rows),
    };
    Ok((normalise(&spectra, &z)?, z))
}

/// Rows of `p` placed at `rows` of an (n, 4) array of NaN.
fn scatter(n: usize, rows: &[usize], p: &Array2<f64>) -> Array2<f64> {
    let mut out = Array2::from_elem((n, 4), f64::NAN);
    for (k, &i) in rows.iter().enumerate() {
        out.row_mut(i).assign(&p.row(k));
    }
    out
}

fn encode_cmd(a: &EncodeArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = Models::load(&a.models)?;
    let (flux, ivar, norm) = normalise(&survey.spectra, &survey.redshift)?;
    let loglam = &survey.spectra.loglam;
    let splits = split(survey.len(), models.seed);
    let mut columns = vec![
        Column::i64("id", survey.id.clone()),
        Column::f64("redshift", survey.redshift.clone()),
        Column::f64("norm", norm),
        Column::str(
            "split",
            splits
                .iter()
                .map(|s| match s {
                    Split::Train => "train",
                    Split::Validation => "validation",
                    Split::Test => "test",
                })
                .map(String::from)
                .collect(),
        ),
    ];
    let encoders: [(&str, &dyn SpectrumEncoder); 2] =
        [("ae", &models.autoencoder), ("pca", &models.pca)];
    for (prefix, enc) in encoders {
        let latents = encode_all(enc, loglam, &flux, &ivar, &survey.redshift)?;
        for (j, col) in latents.columns().into_iter().enumerate() {
            columns.push(Column::f64(
                format!("{prefix}_latent{j}"),
                col.iter().map(|&v| f64::from(v)).collect(),
            ));
        }
    }
    write_table(&a.output, &Table::new(columns)?)?;
    println!("wrote {} ({} galaxies)", a.output.display(), survey.len());
    Ok(())
}

fn evaluate_cmd(a: &EvaluateArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = Models::load(&a.models)?;
    let settings = SedFitSettings {
        seed: models.seed,
        ..SedFitSettings::default()
    };
    evaluate_models(
        &survey,
        &models,
        &a.output,
        a.sed_fits,
        &settings,
        a.model.as_deref(),
    )
}

fn evaluate_models(
    survey: &Survey,
    models: &Models,
    out: &Path,
    sed_fits: usize,
    settings: &SedFitSettings,
    model_dir: Option<&Path>,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let [_, _, test] = split_rows(survey.len(), models.seed);
    let mut methods = models.predict(survey, &test)?;
    let report = evaluate(survey, &test, &methods)?;
    write_report(out, "test", &report)?;

    if sed_fits > 0 {
        let files = model::load_files(&model::locate(model_dir)?)?;
        let sd = model::build_on(
            &files,
            &WavelengthGrid::Auto,
            &burn::prelude::Device::flex().autodiff(),
        )?;
        let fit_rows = occlude::choose(&test, sed_fits, models.seed);
        let mut fit_rows_sorted = fit_rows.clone();
        fit_rows_sorted.sort_unstable();
        for sed_model in [SedModel::Full, SedModel::Separable] {
            eprintln!(
                "SED fits ({}) of {} test galaxies",
                sed_model.name(),
                fit_rows_sorted.len()
            );
            let bar = progress::rows_bar(fit_rows_sorted.len() as u64);
            let (preds, failures) = sedfit::fit_survey(
                &sd,
                &files.ssp,
                sed_model,
                survey,
                &fit_rows_sorted,
                settings,
                &|d, _| bar.set_position(d as u64),
            );
            bar.finish_and_clear();
            for (row, e) in &failures {
                eprintln!("warning: SED fit of galaxy {row} failed: {e}");
            }
            let p = Array2::from_shape_fn((fit_rows_sorted.len(), 4), |(k, b)| preds[k].wise[b]);
            methods.push(MethodResult {
                name: sed_model.name().into(),
                predictions: scatter(survey.len(), &fit_rows_sorted, &p),
            });
        }
        // Every method on the galaxies that were fitted, so that the columns compare like with like.
        let ok: Vec<usize> = fit_rows_sorted
            .iter()
            .copied()
            .filter(|&i| {
                methods
                    .iter()
                    .all(|m| m.predictions.row(i).iter().all(|v| v.is_finite()))
            })
            .collect();
        if ok.is_empty() {
            bail!("every SED fit failed");
        }
        let subsets = [Subset {
            name: "sed_fit_sample".into(),
            description: format!("{} random test galaxies", ok.len()),
            rows: ok,
        }];
        let fit_report = evaluate_subsets(
            survey.wise.view(),
            survey.wise_err.view(),
            &subsets,
            &methods,
        )?;
        write_report(out, "sedfit_sample", &fit_report)?;
    }
    write_predictions(&out.join("predictions_test.csv"), survey, &test, &methods)?;
    println!("wrote tables and plots to {}", out.display());
    Ok(())
}

/// `<stem>.csv`, `<stem>.md` and the three plots.
fn write_report(out: &Path, stem: &str, report: &Report) -> Result<()> {
    report.write_csv(&out.join(format!("{stem}.csv")))?;
    std::fs::write(out.join(format!("{stem}.md")), report.to_markdown())?;
    plots::pp_plot(&out.join(format!("{stem}_pp.png")), Format::Png, report)?;
    plots::chi_histograms(&out.join(format!("{stem}_chi.png")), Format::Png, report)?;
    plots::colour_colour(
        &out.join(format!("{stem}_colours.png")),
        Format::Png,
        report,
    )?;
    print!("{}", report.to_markdown());
    Ok(())
}

/// One row per test galaxy: id, z, observed WISE and errors, and every method's predictions.
fn write_predictions(
    path: &Path,
    survey: &Survey,
    rows: &[usize],
    methods: &[MethodResult],
) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    let mut header = vec!["id".to_string(), "redshift".into()];
    for b in WISE_BANDS {
        header.push(b.to_string());
        header.push(format!("{b}_err"));
    }
    for m in methods {
        header.extend(WISE_BANDS.iter().map(|b| format!("{b}_{}", m.name)));
    }
    w.write_record(&header)?;
    for &i in rows {
        let mut rec = vec![survey.id[i].to_string(), survey.redshift[i].to_string()];
        for b in 0..4 {
            rec.push(survey.wise[[i, b]].to_string());
            rec.push(survey.wise_err[[i, b]].to_string());
        }
        for m in methods {
            rec.extend((0..4).map(|b| m.predictions[[i, b]].to_string()));
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

fn occlude_cmd(a: &OccludeArgs) -> Result<()> {
    let survey = read_survey(&a.survey)?;
    let models = Models::load(&a.models)?;
    let settings = OcclusionSettings {
        window_lengths: a.windows.clone(),
        seed: models.seed,
        ..OcclusionSettings::default()
    };
    occlude_models(&survey, &models, &a.output, a.galaxies, &settings)
}

fn occlude_models(
    survey: &Survey,
    models: &Models,
    out: &Path,
    per_class: usize,
    settings: &OcclusionSettings,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let [_, _, test] = split_rows(survey.len(), models.seed);
    let splits = galsed_optir::evaluate::standard_splits(survey, &test)?;
    let class = |name: &str| {
        splits
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.rows.clone())
            .unwrap_or_default()
    };
    let loglam = &survey.spectra.loglam;
    let predict = |latents: ndarray::ArrayView2<f32>, norm: &[f64], z: &[f64]| {
        models
            .mlp_autoencoder
            .predict(&Features::from_latents(latents, norm, z)?)
    };
    let z_max = models.autoencoder.config.z_max;
    let mut stacks = Vec::new();
    for name in ["star_forming", "quiescent"] {
        let chosen = occlude::choose(&class(name), per_class, settings.seed);
        eprintln!("occlusion: {} {name} galaxies", chosen.len());
        let ((flux, ivar, norm), z) = normalise_rows(survey, &chosen)?;
        let bar = progress::rows_bar(chosen.len() as u64);
        let mut stack = RestStack::new((3800.0 / (1.0 + z_max), 9200.0));
        for (k, &i) in chosen.iter().enumerate() {
            let g = Galaxy {
                flux: flux.row(k),
                ivar: ivar.row(k),
                norm: norm[k],
                redshift: z[k],
                wise_err: std::array::from_fn(|b| survey.wise_err[[i, b]]),
            };
            let a = occlude::attribute(&models.autoencoder, &predict, loglam, g, settings)?;
            stack.add(loglam, &a.mean, z[k]);
            bar.set_position(k as u64 + 1);
        }
        bar.finish_and_clear();
        stacks.push((name, chosen.len(), stack.finish()));
    }
    write_attribution(out, &stacks)?;
    plots::attribution_plot(&out.join("attribution.png"), Format::Png, &stacks)?;
    println!("wrote attribution to {}", out.display());
    Ok(())
}

/// `attribution.csv` (rest λ, class, band, mean Δχ, count) and `features.csv` (per line marker).
fn write_attribution(out: &Path, stacks: &[(&str, usize, RestStack)]) -> Result<()> {
    let path = out.join("attribution.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "rest_wavelength_angstrom",
        "class",
        "band",
        "mean_delta_chi",
        "n_galaxies",
    ])?;
    for (name, _, s) in stacks {
        for (b, band) in WISE_BANDS.iter().enumerate() {
            for (j, &l) in s.loglam_rest.iter().enumerate() {
                w.write_record([
                    format!("{:.3}", 10f64.powf(l)),
                    name.to_string(),
                    band.to_string(),
                    s.mean[[b, j]].to_string(),
                    s.count[[b, j]].to_string(),
                ])?;
            }
        }
    }
    w.flush()?;
    let path = out.join("features.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "feature",
        "rest_wavelength_angstrom",
        "class",
        "W1",
        "W2",
        "W3",
        "W4",
        "W1_median_all",
        "W2_median_all",
        "W3_median_all",
        "W4_median_all",
    ])?;
    for (name, _, s) in stacks {
        let medians: Vec<f64> = (0..4)
            .map(|b| {
                let mut v: Vec<f64> = s
                    .mean
                    .row(b)
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite())
                    .collect();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
            })
            .collect();
        for (feature, lam, vals) in s.feature_table(10.0) {
            let mut rec = vec![feature.to_string(), lam.to_string(), name.to_string()];
            rec.extend(vals.iter().map(|v| format!("{v:.4}")));
            rec.extend(medians.iter().map(|v| format!("{v:.4}")));
            w.write_record(&rec)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Stage timings of `run`, written to `timings.json`.
#[derive(Debug, Serialize)]
struct Timings {
    preset: String,
    galaxies: usize,
    simulate_s: f64,
    train_s: f64,
    evaluate_s: f64,
    occlude_s: f64,
    total_s: f64,
}

fn run_all(a: &RunArgs) -> Result<()> {
    let dir = &a.output;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let quick = a.preset == Preset::Quick;
    let sim = SimulateConfig {
        n_galaxies: if quick { 1500 } else { 50_000 },
        seed: a.seed,
        ..SimulateConfig::default()
    };
    let defaults = TrainSettings::default();
    let train = TrainSettings {
        epochs: if quick { 2 } else { defaults.epochs },
        seed: a.seed,
        ..defaults
    };
    let sed_fits = if quick { 6 } else { 300 };
    let fit_settings = if quick {
        SedFitSettings {
            particles: 16,
            iterations: 60,
            restarts: 1,
            walkers: 24,
            steps: 60,
            draws: 50,
            seed: a.seed,
            ..SedFitSettings::default()
        }
    } else {
        SedFitSettings {
            seed: a.seed,
            ..SedFitSettings::default()
        }
    };
    let occlusion = OcclusionSettings {
        seed: a.seed,
        ..OcclusionSettings::default()
    };
    let per_class = if quick { 2 } else { 20 };

    let t0 = Instant::now();
    eprintln!("[1/4] simulating {} galaxies", sim.n_galaxies);
    let survey = simulate_survey(a.model.as_deref(), &sim)?;
    let survey_path = dir.join("survey.h5");
    write_survey(&survey_path, &survey)?;
    let simulate_s = t0.elapsed().as_secs_f64();

    let t = Instant::now();
    eprintln!("[2/4] training");
    let models_dir = dir.join("models");
    train_models(&survey, &models_dir, &SpenderConfig::cpu(), &train)?;
    let train_s = t.elapsed().as_secs_f64();

    let models = Models::load(&models_dir)?;
    let t = Instant::now();
    eprintln!("[3/4] evaluating");
    evaluate_models(
        &survey,
        &models,
        &dir.join("evaluation"),
        sed_fits,
        &fit_settings,
        a.model.as_deref(),
    )?;
    let evaluate_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    eprintln!("[4/4] occlusion");
    occlude_models(
        &survey,
        &models,
        &dir.join("occlusion"),
        per_class,
        &occlusion,
    )?;
    let occlude_s = t.elapsed().as_secs_f64();

    let timings = Timings {
        preset: format!("{:?}", a.preset).to_lowercase(),
        galaxies: survey.len(),
        simulate_s,
        train_s,
        evaluate_s,
        occlude_s,
        total_s: t0.elapsed().as_secs_f64(),
    };
    std::fs::write(
        dir.join("timings.json"),
        serde_json::to_vec_pretty(&timings)?,
    )?;
    println!(
        "pipeline finished in {:.0} s (simulate {:.0}, train {:.0}, evaluate {:.0}, occlude {:.0})",
        timings.total_s, simulate_s, train_s, evaluate_s, occlude_s
    );
    Ok(())
}
