//! The optical–infrared pipeline end to end: simulate a survey, train the encoders and the WISE
//! predictors, evaluate them next to SED fitting, and attribute their predictions by occlusion.
//!
//! Each step reads what the previous one wrote (see [`crate::run_dir`] for which file goes
//! where), so steps can be rerun alone: [`train_models`], [`TrainedModels::load`],
//! [`write_latents`], [`evaluate_models`], [`occlude_models`]; [`run`] chains them in one
//! directory. Plots are not drawn here: the evaluation and occlusion steps return the data the
//! plots need ([`Evaluation`], [`ClassStack`]), and [`run`] hands them to the caller as each
//! step finishes ([`Finished`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use galsed_core::ssp::SspLibrary;
use galsed_emulator::Starduster;
use galsed_emulator::model_files::ModelFiles;
use galsed_io::table::{Column, Table, write_table};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::evaluate::{MethodResult, Report, Subset, evaluate, evaluate_subsets, standard_splits};
use crate::occlude::{self, Galaxy, OcclusionSettings, RestStack};
use crate::pca::{Pca, PcaSettings};
use crate::predictor::{Features, LinearPredictor, MlpConfig, MlpPredictor, WisePredictor};
use crate::run_dir::{EvaluationDir, ModelsDir, OcclusionDir, RunDir};
use crate::sedfit::{self, SedFitSettings, SedModel};
use crate::simulate::SimulateConfig;
use crate::spender::{self, Autoencoder, SpenderConfig, TrainSettings};
use crate::survey::{Survey, WISE_BANDS, normalise, normalise_rows, split, split_rows};
use crate::survey_io::write_survey;
use crate::{OptirError, SpectrumEncoder, file_err, input_err};

/// What a counted task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Galaxies (simulated, encoded, fitted or occluded).
    Galaxies,
    /// Training epochs of the autoencoder.
    Epochs,
}

/// What the pipeline tells while it runs. Counted tasks never overlap: each [`Progress::start`]
/// is followed by [`Progress::advance`] and [`Progress::status`] calls and one
/// [`Progress::finish`]. Every method does nothing by default.
///
/// The pipeline calls `advance` from worker threads, hence `Sync`.
pub trait Progress: Sync {
    /// A step begins, in one line (e.g. `autoencoder: 1050 training, 150 validation spectra`).
    fn step(&self, _what: &str) {}
    /// Something was left out or failed without stopping the pipeline.
    fn warn(&self, _what: &str) {}
    /// A counted task of `len` units begins.
    fn start(&self, _unit: Unit, _len: usize) {}
    /// `done` units of the current task are done.
    fn advance(&self, _done: usize) {}
    /// The current task's latest state (the autoencoder's losses after an epoch).
    fn status(&self, _message: &str) {}
    /// The current task ended.
    fn finish(&self) {}
}

/// A [`Progress`] that tells nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// The emulator a survey is simulated with: its files and the model built from them.
#[derive(Clone, Copy)]
pub struct Emulator<'a> {
    /// The model files (the SSP library and the population's priors come from here).
    pub files: &'a ModelFiles,
    /// The emulator built on a plain (non-autodiff) device.
    pub model: &'a Starduster,
}

/// Draws a synthetic survey ([`crate::simulate::simulate`]), counting the galaxies.
pub fn simulate_survey(
    emulator: Emulator<'_>,
    cfg: &SimulateConfig,
    progress: &dyn Progress,
) -> Result<Survey, OptirError> {
    progress.start(Unit::Galaxies, cfg.n_galaxies);
    let survey = crate::simulate::simulate(emulator.files, emulator.model, cfg, &|done, _| {
        progress.advance(done)
    })?;
    progress.finish();
    Ok(survey)
}

/// The learned methods, in the order of every table: MLP on autoencoder latents, MLP on PCA
/// latents, linear model on the autoencoder latents, MLP on ugriz + redshift.
pub const PREDICTORS: [&str; 4] = [
    "mlp_autoencoder",
    "mlp_pca",
    "linear_autoencoder",
    "mlp_ugriz",
];

/// What [`train_models`] records beside the models (`train.json`), for the later steps and the
/// docs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Seed of the split and of every model's initial weights and batch order.
    pub seed: u64,
    /// Galaxies in the training split.
    pub n_train: usize,
    /// Galaxies in the validation split.
    pub n_validation: usize,
    /// Galaxies in the test split.
    pub n_test: usize,
    /// The autoencoder's training history.
    pub autoencoder: spender::TrainReport,
    /// Fraction of the variance each PCA component explains.
    pub pca_explained_variance: Vec<f64>,
    /// Seconds spent per stage (`autoencoder`, `pca`, `encode`, `predictors`).
    pub seconds: BTreeMap<String, f64>,
}

/// Trains the autoencoder and PCA on the training split of `survey` (split by
/// `settings.seed`), then the predictors on their latents (and on ugriz, when every galaxy has
/// it), and saves them all in `dir` with `train.json`.
pub fn train_models(
    survey: &Survey,
    dir: &ModelsDir,
    cfg: &SpenderConfig,
    settings: &TrainSettings,
    progress: &dyn Progress,
) -> Result<TrainSummary, OptirError> {
    dir.create()?;
    let seed = settings.seed;
    let [train, val, test] = split_rows(survey.len(), seed);
    let mut seconds = BTreeMap::new();
    let (flux, ivar, norm) = normalise(&survey.spectra, &survey.redshift)?;
    let loglam = &survey.spectra.loglam;

    progress.step(&format!(
        "autoencoder: {} training, {} validation spectra",
        train.len(),
        val.len()
    ));
    let t = Instant::now();
    progress.start(Unit::Epochs, settings.epochs);
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
            progress.advance(e.epoch + 1);
            progress.status(&format!("loss {:.3} / val {:.3}", e.train_loss, e.val_loss));
        },
        Some(&dir.checkpoints()),
    )?;
    progress.finish();
    ae.save(&dir.autoencoder())?;
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
    pca.save(&dir.pca())?;
    seconds.insert("pca".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let encoders: [(&str, &dyn SpectrumEncoder); 2] = [("autoencoder", &ae), ("pca", &pca)];
    let mut latent_features = Vec::new();
    for (name, enc) in encoders {
        let latents = encode_all(enc, loglam, &flux, &ivar, &survey.redshift, progress)?;
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
        m.save(&dir.mlp(name))?;
    }
    let lin = LinearPredictor::fit(
        &latent_features[0].1,
        survey.wise.view(),
        survey.wise_err.view(),
        &train,
    )?;
    lin.save(&dir.linear_autoencoder())?;
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
        m.save(&dir.mlp("ugriz"))?;
    } else {
        progress.warn("the survey has no ugriz for every galaxy; the ugriz baseline is left out");
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
    let path = dir.summary();
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| file_err(&path, e))?;
    std::fs::write(&path, json).map_err(|e| file_err(&path, format!("cannot write: {e}")))?;
    Ok(summary)
}

/// Latents of every galaxy, encoded in blocks (bounded memory, progress).
fn encode_all(
    enc: &dyn SpectrumEncoder,
    loglam: &[f64],
    flux: &Array2<f32>,
    ivar: &Array2<f32>,
    z: &[f64],
    progress: &dyn Progress,
) -> Result<Array2<f32>, OptirError> {
    let n = flux.nrows();
    progress.start(Unit::Galaxies, n);
    let mut out = Array2::zeros((n, enc.n_latents()));
    for start in (0..n).step_by(2048) {
        let end = (start + 2048).min(n);
        let s = ndarray::s![start..end, ..];
        let l = enc.encode(loglam, flux.slice(s), ivar.slice(s), &z[start..end])?;
        out.slice_mut(s).assign(&l);
        progress.advance(end);
    }
    progress.finish();
    Ok(out)
}

/// The trained models of a [`ModelsDir`].
pub struct TrainedModels {
    /// The spectrum autoencoder.
    pub autoencoder: Autoencoder,
    /// The PCA encoder.
    pub pca: Pca,
    /// MLP on the autoencoder latents.
    pub mlp_autoencoder: MlpPredictor,
    /// MLP on the PCA latents.
    pub mlp_pca: MlpPredictor,
    /// Linear model on the autoencoder latents.
    pub linear_autoencoder: LinearPredictor,
    /// MLP on ugriz + redshift; absent when the survey had no ugriz.
    pub mlp_ugriz: Option<MlpPredictor>,
    /// The seed they were trained with, which also drew the split.
    pub seed: u64,
}

impl TrainedModels {
    /// Loads the models [`train_models`] saved in `dir`.
    pub fn load(dir: &ModelsDir) -> Result<Self, OptirError> {
        let path = dir.summary();
        let summary: TrainSummary = serde_json::from_slice(&std::fs::read(&path).map_err(|e| {
            file_err(
                dir.path(),
                format!("not a `galsed optir train` directory ({e})"),
            )
        })?)
        .map_err(|e| file_err(&path, e))?;
        Ok(Self {
            autoencoder: Autoencoder::load(&dir.autoencoder())?,
            pca: Pca::load(&dir.pca())?,
            mlp_autoencoder: MlpPredictor::load(&dir.mlp("autoencoder"))?,
            mlp_pca: MlpPredictor::load(&dir.mlp("pca"))?,
            linear_autoencoder: LinearPredictor::load(&dir.linear_autoencoder())?,
            mlp_ugriz: {
                let path = dir.mlp("ugriz");
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
    pub fn predict(
        &self,
        survey: &Survey,
        rows: &[usize],
        progress: &dyn Progress,
    ) -> Result<Vec<MethodResult>, OptirError> {
        let ((flux, ivar, norm), z) = normalise_rows(survey, rows)?;
        let loglam = &survey.spectra.loglam;
        let ae = encode_all(&self.autoencoder, loglam, &flux, &ivar, &z, progress)?;
        let pca = encode_all(&self.pca, loglam, &flux, &ivar, &z, progress)?;
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

/// Rows of `p` placed at `rows` of an (n, 4) array of NaN.
fn scatter(n: usize, rows: &[usize], p: &Array2<f64>) -> Array2<f64> {
    let mut out = Array2::from_elem((n, 4), f64::NAN);
    for (k, &i) in rows.iter().enumerate() {
        out.row_mut(i).assign(&p.row(k));
    }
    out
}

/// Writes the latents of every galaxy (autoencoder `ae_latent<j>`, PCA `pca_latent<j>`) with
/// its id, redshift, normalisation and split, as a table at `path` (CSV, Parquet or FITS by the
/// extension).
pub fn write_latents(
    path: &Path,
    survey: &Survey,
    models: &TrainedModels,
    progress: &dyn Progress,
) -> Result<(), OptirError> {
    let (flux, ivar, norm) = normalise(&survey.spectra, &survey.redshift)?;
    let loglam = &survey.spectra.loglam;
    let splits = split(survey.len(), models.seed);
    let mut columns = vec![
        Column::i64("id", survey.id.clone()),
        Column::f64("redshift", survey.redshift.clone()),
        Column::f64("norm", norm),
        Column::str(
            "split",
            splits.iter().map(|s| s.name().to_owned()).collect(),
        ),
    ];
    let encoders: [(&str, &dyn SpectrumEncoder); 2] =
        [("ae", &models.autoencoder), ("pca", &models.pca)];
    for (prefix, enc) in encoders {
        let latents = encode_all(enc, loglam, &flux, &ivar, &survey.redshift, progress)?;
        for (j, col) in latents.columns().into_iter().enumerate() {
            columns.push(Column::f64(
                format!("{prefix}_latent{j}"),
                col.iter().map(|&v| f64::from(v)).collect(),
            ));
        }
    }
    let table = Table::new(columns).map_err(|e| input_err(format!("{e:#}")))?;
    write_table(path, &table).map_err(|e| file_err(path, format!("{e:#}")))
}

/// The SED-fitting baseline of an evaluation: which emulator, how many galaxies, how.
#[derive(Clone, Copy)]
pub struct SedBaseline<'a> {
    /// The emulator on the `auto` grid (any device: gradients use its fast path).
    pub model: &'a Starduster,
    /// The SSP library of the emulator's files.
    pub ssp: &'a SspLibrary,
    /// Test galaxies fitted with each SED model (0: no SED-fitting baseline).
    pub fits: usize,
    /// The fits' settings.
    pub settings: &'a SedFitSettings,
}

/// Report stem of the whole test split.
pub const TEST_REPORT: &str = "test";
/// Report stem of the SED-fitted test galaxies.
pub const SED_FIT_REPORT: &str = "sedfit_sample";

/// What [`evaluate_models`] found.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Every learned method on the test split, by subset.
    pub test: Report,
    /// Every method, SED fits included, on the galaxies every SED fit succeeded for; absent
    /// without an SED-fitting baseline.
    pub sed_fit_sample: Option<Report>,
    /// Every method's predictions (NaN outside the test split, and for the SED fits outside
    /// the fitted galaxies).
    pub methods: Vec<MethodResult>,
}

impl Evaluation {
    /// The reports with their file stems ([`TEST_REPORT`], [`SED_FIT_REPORT`]), in the order
    /// they were written.
    pub fn reports(&self) -> impl Iterator<Item = (&'static str, &Report)> {
        std::iter::once((TEST_REPORT, &self.test))
            .chain(self.sed_fit_sample.as_ref().map(|r| (SED_FIT_REPORT, r)))
    }
}

/// Predicts WISE for the test split with every learned method and, with `sed`, with SED fits of
/// some test galaxies (both SED models); compares them with the data and writes the reports
/// (`<stem>.csv`, `<stem>.md`) and the predictions into `dir`. The plots are left to the caller.
pub fn evaluate_models(
    survey: &Survey,
    models: &TrainedModels,
    dir: &EvaluationDir,
    sed: Option<SedBaseline<'_>>,
    progress: &dyn Progress,
) -> Result<Evaluation, OptirError> {
    dir.create()?;
    let [_, _, test] = split_rows(survey.len(), models.seed);
    let mut methods = models.predict(survey, &test, progress)?;
    let report = evaluate(survey, &test, &methods)?;
    write_report(dir, TEST_REPORT, &report)?;

    let mut sed_fit_sample = None;
    if let Some(sed) = sed.filter(|s| s.fits > 0) {
        let fit_rows = occlude::choose(&test, sed.fits, models.seed);
        let mut fit_rows_sorted = fit_rows.clone();
        fit_rows_sorted.sort_unstable();
        for sed_model in [SedModel::Full, SedModel::Separable] {
            progress.step(&format!(
                "SED fits ({}) of {} test galaxies",
                sed_model.name(),
                fit_rows_sorted.len()
            ));
            progress.start(Unit::Galaxies, fit_rows_sorted.len());
            let (preds, failures) = sedfit::fit_survey(
                sed.model,
                sed.ssp,
                sed_model,
                survey,
                &fit_rows_sorted,
                sed.settings,
                &|d, _| progress.advance(d),
            );
            progress.finish();
            for (row, e) in &failures {
                progress.warn(&format!("SED fit of galaxy {row} failed: {e}"));
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
            return Err(input_err("every SED fit failed"));
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
        write_report(dir, SED_FIT_REPORT, &fit_report)?;
        sed_fit_sample = Some(fit_report);
    }
    write_predictions(&dir.predictions(), survey, &test, &methods)?;
    Ok(Evaluation {
        test: report,
        sed_fit_sample,
        methods,
    })
}

/// `<stem>.csv` and `<stem>.md`.
fn write_report(dir: &EvaluationDir, stem: &str, report: &Report) -> Result<(), OptirError> {
    report.write_csv(&dir.report_csv(stem))?;
    let path = dir.report_markdown(stem);
    std::fs::write(&path, report.to_markdown())
        .map_err(|e| file_err(&path, format!("cannot write: {e}")))
}

/// One row per test galaxy: id, z, observed WISE and errors, and every method's predictions.
fn write_predictions(
    path: &Path,
    survey: &Survey,
    rows: &[usize],
    methods: &[MethodResult],
) -> Result<(), OptirError> {
    let err = |e: csv::Error| file_err(path, e);
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    let mut header = vec!["id".to_string(), "redshift".into()];
    for b in WISE_BANDS {
        header.push(b.to_string());
        header.push(format!("{b}_err"));
    }
    for m in methods {
        header.extend(WISE_BANDS.iter().map(|b| format!("{b}_{}", m.name)));
    }
    w.write_record(&header).map_err(err)?;
    for &i in rows {
        let mut rec = vec![survey.id[i].to_string(), survey.redshift[i].to_string()];
        for b in 0..4 {
            rec.push(survey.wise[[i, b]].to_string());
            rec.push(survey.wise_err[[i, b]].to_string());
        }
        for m in methods {
            rec.extend((0..4).map(|b| m.predictions[[i, b]].to_string()));
        }
        w.write_record(&rec).map_err(err)?;
    }
    w.flush().map_err(|e| file_err(path, e))
}

/// The stacked attribution of one class of galaxies: its name (`star_forming` or `quiescent`),
/// the number of galaxies stacked, and the stack.
pub type ClassStack = (&'static str, usize, RestStack);

/// Occludes the spectra of up to `per_class` star-forming and as many quiescent test galaxies
/// and stacks the change of the autoencoder + MLP prediction in the rest frame; writes
/// `attribution.csv` and `features.csv` into `dir` and returns the stacks (for the plot).
pub fn occlude_models(
    survey: &Survey,
    models: &TrainedModels,
    dir: &OcclusionDir,
    per_class: usize,
    settings: &OcclusionSettings,
    progress: &dyn Progress,
) -> Result<Vec<ClassStack>, OptirError> {
    dir.create()?;
    let [_, _, test] = split_rows(survey.len(), models.seed);
    let splits = standard_splits(survey, &test)?;
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
        progress.step(&format!("occlusion: {} {name} galaxies", chosen.len()));
        let ((flux, ivar, norm), z) = normalise_rows(survey, &chosen)?;
        progress.start(Unit::Galaxies, chosen.len());
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
            progress.advance(k + 1);
        }
        progress.finish();
        stacks.push((name, chosen.len(), stack.finish()));
    }
    write_attribution(dir, &stacks)?;
    Ok(stacks)
}

/// `attribution.csv` (rest λ, class, band, mean Δχ, count) and `features.csv` (per line marker).
fn write_attribution(dir: &OcclusionDir, stacks: &[ClassStack]) -> Result<(), OptirError> {
    let path = dir.attribution();
    let err = |e: csv::Error| file_err(&path, e);
    let mut w = csv::Writer::from_path(&path).map_err(err)?;
    w.write_record([
        "rest_wavelength_angstrom",
        "class",
        "band",
        "mean_delta_chi",
        "n_galaxies",
    ])
    .map_err(err)?;
    for (name, _, s) in stacks {
        for (b, band) in WISE_BANDS.iter().enumerate() {
            for (j, &l) in s.loglam_rest.iter().enumerate() {
                w.write_record([
                    format!("{:.3}", 10f64.powf(l)),
                    name.to_string(),
                    band.to_string(),
                    s.mean[[b, j]].to_string(),
                    s.count[[b, j]].to_string(),
                ])
                .map_err(err)?;
            }
        }
    }
    w.flush().map_err(|e| file_err(&path, e))?;

    let path = dir.features();
    let err = |e: csv::Error| file_err(&path, e);
    let mut w = csv::Writer::from_path(&path).map_err(err)?;
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
    ])
    .map_err(err)?;
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
            w.write_record(&rec).map_err(err)?;
        }
    }
    w.flush().map_err(|e| file_err(&path, e))
}

/// Sizes of the whole pipeline ([`RunSettings::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 50 000 galaxies, CPU-sized autoencoder, 300 SED fits per model: under an hour on 2 cores.
    Default,
    /// 1 500 galaxies and short training, for tests and a first look (a few minutes).
    Quick,
}

impl Preset {
    /// The preset's name (`default` or `quick`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::Quick => "quick",
        }
    }
}

/// Every setting of [`run`].
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The preset these settings come from (recorded in `timings.json`).
    pub preset: Preset,
    /// The simulated survey.
    pub simulate: SimulateConfig,
    /// The autoencoder's architecture.
    pub autoencoder: SpenderConfig,
    /// The autoencoder's training (its seed also draws the split and seeds the predictors).
    pub train: TrainSettings,
    /// Test galaxies fitted with each SED model.
    pub sed_fits: usize,
    /// The SED fits' settings.
    pub sed_fit: SedFitSettings,
    /// The occlusion's settings.
    pub occlusion: OcclusionSettings,
    /// Test galaxies occluded per class.
    pub per_class: usize,
}

impl RunSettings {
    /// The settings of a preset, every step seeded with `seed`.
    pub fn new(preset: Preset, seed: u64) -> Self {
        let quick = preset == Preset::Quick;
        let defaults = TrainSettings::default();
        Self {
            preset,
            simulate: SimulateConfig {
                n_galaxies: if quick { 1500 } else { 50_000 },
                seed,
                ..SimulateConfig::default()
            },
            autoencoder: SpenderConfig::cpu(),
            train: TrainSettings {
                epochs: if quick { 2 } else { defaults.epochs },
                seed,
                ..defaults
            },
            sed_fits: if quick { 6 } else { 300 },
            sed_fit: if quick {
                SedFitSettings {
                    particles: 16,
                    iterations: 60,
                    restarts: 1,
                    walkers: 24,
                    steps: 60,
                    draws: 50,
                    seed,
                    ..SedFitSettings::default()
                }
            } else {
                SedFitSettings {
                    seed,
                    ..SedFitSettings::default()
                }
            },
            occlusion: OcclusionSettings {
                seed,
                ..OcclusionSettings::default()
            },
            per_class: if quick { 2 } else { 20 },
        }
    }
}

/// Stage timings of [`run`], written to `timings.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    /// The preset's name.
    pub preset: String,
    /// Galaxies in the simulated survey.
    pub galaxies: usize,
    /// Seconds of each stage, including what the caller does in [`Finished`].
    pub simulate_s: f64,
    /// Seconds of training.
    pub train_s: f64,
    /// Seconds of the evaluation.
    pub evaluate_s: f64,
    /// Seconds of the occlusion.
    pub occlude_s: f64,
    /// Seconds of the whole run.
    pub total_s: f64,
}

/// A step of [`run`] that has just finished, with what it wrote, for the caller to draw or
/// print before the next step starts.
pub enum Finished<'a> {
    /// The models are trained and saved.
    Training {
        /// Where they are.
        dir: &'a ModelsDir,
        /// What `train.json` records.
        summary: &'a TrainSummary,
    },
    /// The evaluation tables are written.
    Evaluation {
        /// Where they are.
        dir: &'a EvaluationDir,
        /// The reports, for the plots.
        evaluation: &'a Evaluation,
    },
    /// The attribution tables are written.
    Occlusion {
        /// Where they are.
        dir: &'a OcclusionDir,
        /// The stacks, for the plot.
        stacks: &'a [ClassStack],
    },
}

/// The whole pipeline in `dir`: simulate → train → evaluate → occlude, each step reading what
/// the previous one wrote, then `timings.json`.
///
/// `emulator` simulates the survey; `sed_model` is the emulator on the `auto` grid, for the SED
/// fits. After each of the last three steps `finished` is called with what
/// the step wrote (to draw the plots, print the reports); its error stops the run.
///
/// ```no_run
/// use burn::prelude::Device;
/// use galsed_core::ssp::{DerivedSsp, WavelengthGrid};
/// use galsed_emulator::Starduster;
/// use galsed_emulator::model_files::ModelFiles;
/// use galsed_optir::OptirError;
/// use galsed_optir::pipeline::{Emulator, Finished, Preset, RunSettings, Silent, run};
/// use galsed_optir::run_dir::RunDir;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let files = ModelFiles::load("starduster".as_ref())?;
/// let build = |device: &Device| {
///     let ssp = DerivedSsp::new(&files.ssp, &WavelengthGrid::Auto, files.config.eps_reduce)?;
///     Starduster::new(&files.weights, &files.config, ssp, device)
/// };
/// let model = build(&Device::flex())?;
/// let sed_model = build(&Device::flex())?;
/// let dir = RunDir::new("quick");
/// let timings = run(
///     &dir,
///     &RunSettings::new(Preset::Quick, 0),
///     Emulator { files: &files, model: &model },
///     &sed_model,
///     &Silent,
///     &mut |step| {
///         if let Finished::Evaluation { evaluation, .. } = step {
///             print!("{}", evaluation.test.to_markdown());
///         }
///         Ok::<(), OptirError>(())
///     },
/// )?;
/// println!("{} galaxies in {:.0} s", timings.galaxies, timings.total_s);
/// # Ok(())
/// # }
/// ```
pub fn run<E: From<OptirError>>(
    dir: &RunDir,
    settings: &RunSettings,
    emulator: Emulator<'_>,
    sed_model: &Starduster,
    progress: &dyn Progress,
    finished: &mut dyn FnMut(Finished<'_>) -> Result<(), E>,
) -> Result<Timings, E> {
    dir.create()?;
    let t0 = Instant::now();
    progress.step(&format!(
        "[1/4] simulating {} galaxies",
        settings.simulate.n_galaxies
    ));
    let survey = simulate_survey(emulator, &settings.simulate, progress)?;
    write_survey(dir.survey(), &survey)?;
    let simulate_s = t0.elapsed().as_secs_f64();

    let t = Instant::now();
    progress.step("[2/4] training");
    let models_dir = dir.models();
    let summary = train_models(
        &survey,
        &models_dir,
        &settings.autoencoder,
        &settings.train,
        progress,
    )?;
    finished(Finished::Training {
        dir: &models_dir,
        summary: &summary,
    })?;
    let train_s = t.elapsed().as_secs_f64();

    let models = TrainedModels::load(&models_dir)?;
    let t = Instant::now();
    progress.step("[3/4] evaluating");
    let evaluation_dir = dir.evaluation();
    let sed = SedBaseline {
        model: sed_model,
        ssp: &emulator.files.ssp,
        fits: settings.sed_fits,
        settings: &settings.sed_fit,
    };
    let evaluation = evaluate_models(&survey, &models, &evaluation_dir, Some(sed), progress)?;
    finished(Finished::Evaluation {
        dir: &evaluation_dir,
        evaluation: &evaluation,
    })?;
    let evaluate_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    progress.step("[4/4] occlusion");
    let occlusion_dir = dir.occlusion();
    let stacks = occlude_models(
        &survey,
        &models,
        &occlusion_dir,
        settings.per_class,
        &settings.occlusion,
        progress,
    )?;
    finished(Finished::Occlusion {
        dir: &occlusion_dir,
        stacks: &stacks,
    })?;
    let occlude_s = t.elapsed().as_secs_f64();

    let timings = Timings {
        preset: settings.preset.name().to_owned(),
        galaxies: survey.len(),
        simulate_s,
        train_s,
        evaluate_s,
        occlude_s,
        total_s: t0.elapsed().as_secs_f64(),
    };
    let path = dir.timings();
    let json = serde_json::to_vec_pretty(&timings).map_err(|e| file_err(&path, e))?;
    std::fs::write(&path, json).map_err(|e| file_err(&path, format!("cannot write: {e}")))?;
    Ok(timings)
}
