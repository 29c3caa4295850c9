//! Finding, loading and fetching the model (shared by the commands).

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use galsed_core::ssp::{GridSpecError, WavelengthGrid};
use galsed_emulator::model_files::{MANIFEST, ModelFiles};
use galsed_emulator::{ModelError, Starduster};
use galsed_io::store::{self, FetchEvent, MODEL_DIR_ENV, ModelDir, ModelDirSource};

use super::progress;

/// Why a directory was chosen, in words.
pub fn reason(source: ModelDirSource) -> String {
    match source {
        ModelDirSource::Explicit => "given with --model".to_owned(),
        ModelDirSource::Env => format!("from the {MODEL_DIR_ENV} environment variable"),
        ModelDirSource::Cache => {
            format!("the user cache directory (no --model given and {MODEL_DIR_ENV} is unset)")
        }
    }
}

/// Which kind of model files a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    Native,
    Published,
    Nothing,
}

pub fn model_format(dir: &Path) -> ModelFormat {
    if dir.join(MANIFEST).is_file() {
        ModelFormat::Native
    } else if dir.join(store::MODEL_FILES[0].name).is_file() {
        ModelFormat::Published
    } else {
        ModelFormat::Nothing
    }
}

/// Resolves the model directory and checks that it holds a model.
pub fn locate(explicit: Option<&Path>) -> Result<ModelDir> {
    let dir = store::resolve_model_dir(explicit)?;
    if model_format(&dir.path) == ModelFormat::Nothing {
        if dir.source == ModelDirSource::Cache {
            bail!(
                "no model files found: the user cache {} is empty. Download them with \
                 `galsed model fetch` (or copy a local copy with `galsed model fetch --from DIR`), \
                 or point --model DIR / {MODEL_DIR_ENV} at a directory holding them",
                dir.path.display()
            );
        }
        bail!(
            "{} ({}) holds neither a galsed model ({MANIFEST}) nor the published Starduster files; \
             run `galsed model fetch --dest {}` or choose another directory",
            dir.path.display(),
            reason(dir.source),
            dir.path.display()
        );
    }
    Ok(dir)
}

/// Reads the model files of a located directory.
pub fn load_files(dir: &ModelDir) -> Result<ModelFiles> {
    ModelFiles::load(&dir.path).with_context(|| {
        format!(
            "loading the model from {} ({})",
            dir.path.display(),
            reason(dir.source)
        )
    })
}

/// Builds the emulator on a wavelength grid.
pub fn build(files: &ModelFiles, grid: &WavelengthGrid) -> Result<Starduster> {
    build_on(files, grid, &Device::flex())
}

/// Builds the emulator on a device (`Device::flex().autodiff()` only for training).
pub fn build_on(files: &ModelFiles, grid: &WavelengthGrid, device: &Device) -> Result<Starduster> {
    Starduster::from_files_on(files, grid, device).map_err(|e| {
        let what = match e {
            ModelError::Ssp(_) => "building the wavelength grid",
            _ => "building the emulator",
        };
        anyhow::Error::new(e).context(what)
    })
}

/// Parses `--grid`: a grid name or a file with one wavelength [µm] per line.
pub fn parse_grid(spec: &str) -> Result<WavelengthGrid> {
    WavelengthGrid::parse(spec).map_err(|e| match e {
        GridSpecError::Unknown(_) => anyhow::anyhow!("--grid {e}"),
        e => e.into(),
    })
}

/// Fetches and verifies the published files, with a progress bar on a terminal.
pub fn fetch_into(dest: &Path, from: &str) -> Result<()> {
    let bar = progress::bytes_bar();
    let say = |text: String| {
        if bar.is_hidden() {
            eprintln!("{text}");
        } else {
            bar.println(text);
        }
    };
    store::fetch(dest, from, |event| match event {
        FetchEvent::AlreadyPresent { name } => say(format!("  {name}: already present")),
        FetchEvent::Started { name, total } => {
            bar.set_length(total);
            bar.set_position(0);
            bar.set_message(name);
        }
        FetchEvent::Progress { done, .. } => bar.set_position(done),
        FetchEvent::Finished { name } => say(format!("  {name}: verified")),
    })
    .context("fetching the model files")?;
    bar.finish_and_clear();
    store::verify_dir(dest).context("verifying the fetched files")
}
