//! Where the optical–infrared pipeline puts its files: one type per directory, one method per
//! file, so that every step (and every reader of its results) names a file the same way.
//!
//! ```text
//! run/                      RunDir       (galsed optir run)
//! ├── survey.h5             the simulated survey
//! ├── timings.json          stage timings
//! ├── models/               ModelsDir    (galsed optir train)
//! │   ├── spender/          the autoencoder
//! │   ├── checkpoints/      its training checkpoints
//! │   ├── pca.json
//! │   ├── mlp_autoencoder.json, mlp_pca.json, linear_autoencoder.json, mlp_ugriz.json
//! │   └── train.json        seed, split sizes, training report
//! ├── evaluation/           EvaluationDir (galsed optir evaluate)
//! │   ├── test.csv, test.md, test_pp.png, test_chi.png, test_colours.png
//! │   ├── sedfit_sample.*   the same on the SED-fitted galaxies
//! │   └── predictions_test.csv
//! └── occlusion/            OcclusionDir (galsed optir occlude)
//!     ├── attribution.csv, features.csv
//!     └── attribution.png
//! ```
//!
//! The step commands write their directory wherever they are told; [`RunDir`] places the three
//! of them under one root.
//!
//! ```
//! use galsed_optir::run_dir::RunDir;
//! let run = RunDir::new("quick");
//! assert_eq!(run.survey(), std::path::Path::new("quick/survey.h5"));
//! assert_eq!(run.models().mlp("pca"), std::path::Path::new("quick/models/mlp_pca.json"));
//! assert_eq!(run.evaluation().report_csv("test"), std::path::Path::new("quick/evaluation/test.csv"));
//! ```

use std::path::{Path, PathBuf};

use crate::{OptirError, file_err};

/// Creates `dir` and its parents.
fn create(dir: &Path) -> Result<(), OptirError> {
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, format!("cannot create: {e}")))
}

/// The directory of `galsed optir run`: the survey, the three step directories, the timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory (not its subdirectories: each step creates its own).
    pub fn create(&self) -> Result<(), OptirError> {
        create(&self.root)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The simulated survey, `survey.h5`.
    pub fn survey(&self) -> PathBuf {
        self.root.join("survey.h5")
    }

    /// The trained models, `models/`.
    pub fn models(&self) -> ModelsDir {
        ModelsDir::new(self.root.join("models"))
    }

    /// The evaluation tables and plots, `evaluation/`.
    pub fn evaluation(&self) -> EvaluationDir {
        EvaluationDir::new(self.root.join("evaluation"))
    }

    /// The occlusion attribution, `occlusion/`.
    pub fn occlusion(&self) -> OcclusionDir {
        OcclusionDir::new(self.root.join("occlusion"))
    }

    /// The stage timings, `timings.json`.
    pub fn timings(&self) -> PathBuf {
        self.root.join("timings.json")
    }
}

/// The directory of `galsed optir train`: the encoders, the predictors and `train.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelsDir {
    root: PathBuf,
}

impl ModelsDir {
    /// The models directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory and its parents.
    pub fn create(&self) -> Result<(), OptirError> {
        create(&self.root)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The autoencoder's directory, `spender/`.
    pub fn autoencoder(&self) -> PathBuf {
        self.root.join("spender")
    }

    /// The autoencoder's training checkpoints, `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The PCA encoder, `pca.json`.
    pub fn pca(&self) -> PathBuf {
        self.root.join("pca.json")
    }

    /// The MLP predictor on the features `features` (`autoencoder`, `pca` or `ugriz`),
    /// `mlp_<features>.json`.
    pub fn mlp(&self, features: &str) -> PathBuf {
        self.root.join(format!("mlp_{features}.json"))
    }

    /// The linear predictor on the autoencoder latents, `linear_autoencoder.json`.
    pub fn linear_autoencoder(&self) -> PathBuf {
        self.root.join("linear_autoencoder.json")
    }

    /// The training summary (seed, split sizes, report, timings), `train.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join("train.json")
    }
}

/// The directory of `galsed optir evaluate`: a report per galaxy sample (`<stem>.csv`,
/// `<stem>.md` and three plots) and the predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationDir {
    root: PathBuf,
}

impl EvaluationDir {
    /// The evaluation directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory and its parents.
    pub fn create(&self) -> Result<(), OptirError> {
        create(&self.root)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The report table, `<stem>.csv`.
    pub fn report_csv(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{stem}.csv"))
    }

    /// The report as Markdown, `<stem>.md`.
    pub fn report_markdown(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{stem}.md"))
    }

    /// The PP curves, `<stem>_pp.png`.
    pub fn pp_plot(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{stem}_pp.png"))
    }

    /// The χ histograms, `<stem>_chi.png`.
    pub fn chi_plot(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{stem}_chi.png"))
    }

    /// The colour–colour diagrams, `<stem>_colours.png`.
    pub fn colours_plot(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{stem}_colours.png"))
    }

    /// Every method's predictions for the test galaxies, `predictions_test.csv`.
    pub fn predictions(&self) -> PathBuf {
        self.root.join("predictions_test.csv")
    }
}

/// The directory of `galsed optir occlude`: the stacked attribution, its line-marker table and
/// its plot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcclusionDir {
    root: PathBuf,
}

impl OcclusionDir {
    /// The occlusion directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory and its parents.
    pub fn create(&self) -> Result<(), OptirError> {
        create(&self.root)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Mean Δχ per rest wavelength, class and band, `attribution.csv`.
    pub fn attribution(&self) -> PathBuf {
        self.root.join("attribution.csv")
    }

    /// Mean Δχ at the line markers, `features.csv`.
    pub fn features(&self) -> PathBuf {
        self.root.join("features.csv")
    }

    /// The attribution plot, `attribution.png`.
    pub fn attribution_plot(&self) -> PathBuf {
        self.root.join("attribution.png")
    }
}
