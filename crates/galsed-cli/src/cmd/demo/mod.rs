//! `galsed demo`: fit a real galaxy (NGC 628, KINGFISH photometry shipped with galsed) or, with
//! `--mock`, a mock galaxy drawn from the model; plot the fit and its posterior.

mod fit;
mod kingfish;
mod mock_galaxy;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use galsed_io::store::{self, DEFAULT_BASE_URL, MODEL_DIR_ENV, ModelDir, ModelDirSource};

use crate::shared::args::PlotFormat;
use crate::shared::model::{self, ModelFormat};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output directory (created if missing).
    #[arg(
        short,
        long = "output",
        alias = "out",
        default_value = "galsed-demo",
        value_name = "DIR"
    )]
    pub out: PathBuf,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Plot format.
    #[arg(long, value_enum, default_value = "png")]
    pub format: PlotFormat,
    /// Wavelength grid: auto (2086 points, as the reference's fits), base (495), full or a file
    /// of wavelengths [µm].
    #[arg(long, default_value = "auto", value_name = "base|auto|full|FILE")]
    pub grid: String,
    /// Seed of the fit (with --mock also of the mock galaxy and its noise).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Draw a mock galaxy from the model and fit it instead of NGC 628 (the reference tutorial's
    /// 11 parameters, 19 bands with 0.1 mag noise, the truth marked in the corner plot).
    #[arg(long)]
    pub mock: bool,
}

/// The model for the demo: the usual lookup, fetching into the cache when nothing is there yet.
fn ensure_model(explicit: Option<&Path>) -> Result<ModelDir> {
    let dir = store::resolve_model_dir(explicit)?;
    if dir.source != ModelDirSource::Cache || model::model_format(&dir.path) != ModelFormat::Nothing
    {
        return model::locate(explicit);
    }
    let bytes: u64 = store::MODEL_FILES.iter().map(|f| f.size).sum();
    eprintln!(
        "no model found; downloading the published Starduster files ({:.1} MB) into {}",
        bytes as f64 / 1e6,
        dir.path.display()
    );
    if let Err(e) = model::fetch_into(&dir.path, DEFAULT_BASE_URL) {
        bail!(
            "{e:#}\n\nthe model files could not be downloaded. Without network access, point \
             {MODEL_DIR_ENV} (or --model) at a directory holding them, or copy them into the cache \
             with `galsed model fetch --from DIR`"
        );
    }
    Ok(dir)
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = ensure_model(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.mock {
        mock_galaxy::run(args, &files)
    } else {
        kingfish::run(args, &files)
    }
}
