//! Finding and loading the model; the `galsed model …` commands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use galsed_core::params::GALAXY_PARAMS;
use galsed_core::ssp::{DerivedSsp, WavelengthGrid};
use galsed_emulator::Starduster;
use galsed_emulator::model_files::{MANIFEST, ModelFiles};
use galsed_io::store::{
    self, DEFAULT_BASE_URL, FetchEvent, MODEL_DIR_ENV, ModelDir, ModelDirSource,
};

use crate::input::short;
use crate::progress;
use crate::{FetchArgs, ImportArgs, ModelArgs};

/// Why a directory was chosen, in words.
fn reason(source: ModelDirSource) -> String {
    match source {
        ModelDirSource::Explicit => "given with --model".to_owned(),
        ModelDirSource::Env => format!("from the {MODEL_DIR_ENV} environment variable"),
        ModelDirSource::Cache => {
            format!("the user cache directory (no --model given and {MODEL_DIR_ENV} is unset)")
        }
    }
}

/// What a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Native,
    Published,
    Nothing,
}

pub fn layout(dir: &Path) -> Layout {
    if dir.join(MANIFEST).is_file() {
        Layout::Native
    } else if dir.join(store::MODEL_FILES[0].name).is_file() {
        Layout::Published
    } else {
        Layout::Nothing
    }
}

/// Resolves the model directory and checks that it holds a model.
pub fn locate(explicit: Option<&Path>) -> Result<ModelDir> {
    let dir = store::resolve_model_dir(explicit)?;
    if layout(&dir.path) == Layout::Nothing {
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

/// Builds the emulator on a device (`Device::flex().autodiff()` for gradients).
pub fn build_on(files: &ModelFiles, grid: &WavelengthGrid, device: &Device) -> Result<Starduster> {
    let derived = DerivedSsp::new(&files.ssp, grid, files.config.eps_reduce)
        .context("building the wavelength grid")?;
    Starduster::new(&files.weights, &files.config, derived, device).context("building the emulator")
}

/// Parses `--grid`: a grid name or a file with one wavelength [µm] per line.
pub fn parse_grid(spec: &str) -> Result<WavelengthGrid> {
    match spec {
        "base" => return Ok(WavelengthGrid::Base),
        "auto" => return Ok(WavelengthGrid::Auto),
        "full" => return Ok(WavelengthGrid::Full),
        _ => {}
    }
    let path = Path::new(spec);
    if !path.is_file() {
        bail!(
            "--grid {spec:?}: expected base, auto, full or a file of wavelengths in µm (no such file)"
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the grid file {}", path.display()))?;
    let mut lam = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let v: f64 = line.parse().map_err(|_| {
            anyhow::anyhow!(
                "{}, line {}: cannot read {line:?} as a wavelength in µm",
                path.display(),
                i + 1
            )
        })?;
        lam.push(v);
    }
    if lam.is_empty() {
        bail!("the grid file {} holds no wavelengths", path.display());
    }
    Ok(WavelengthGrid::Custom(lam))
}

pub fn fetch_cmd(args: &FetchArgs) -> Result<()> {
    let dest = match &args.dest {
        Some(d) => d.clone(),
        None => store::default_cache_dir().context(
            "this system has no user cache directory; choose a destination with --dest DIR",
        )?,
    };
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    eprintln!(
        "fetching the Starduster model files from {from}\n  into {}",
        dest.display()
    );
    fetch_into(&dest, &from)?;
    println!("model files verified in {}", dest.display());
    if args.dest.is_some() {
        println!(
            "use them with --model {} or {MODEL_DIR_ENV}={}",
            dest.display(),
            dest.display()
        );
    }
    Ok(())
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

pub fn info_cmd(args: &ModelArgs) -> Result<()> {
    let dir = locate(args.model.as_deref())?;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("model directory: {}", dir.path.display()));
    line(format!("  chosen because: {}", reason(dir.source)));
    match layout(&dir.path) {
        Layout::Native => line(format!(
            "  format: galsed native ({MANIFEST}, weights.safetensors, ssp.safetensors)"
        )),
        _ => {
            let check = match store::verify_dir(&dir.path) {
                Ok(()) => "all 7 files match the published sha256".to_owned(),
                Err(e) => format!("NOT the published files: {e}"),
            };
            line(format!("  format: published Starduster files ({check})"));
        }
    }
    let t0 = Instant::now();
    let files = load_files(&dir)?;
    line(format!(
        "  name: {} (loaded in {:.2} s)",
        files.name,
        t0.elapsed().as_secs_f64()
    ));
    let s = &files.ssp;
    let range = |v: &[f64]| (v[0], v[v.len() - 1]);
    let (l0, l1) = range(&s.lam);
    line(format!(
        "SSP library: {} wavelengths {l0:.4}–{l1:.2} µm; {} metallicities × {} ages = {} SSPs",
        s.lam.len(),
        s.met.len(),
        s.tau.len(),
        s.met.len() * s.tau.len()
    ));
    line(format!(
        "  metallicities Z (i_met): {}",
        join(&s.met, |z| format!("{z:.3e}"))
    ));
    line(format!(
        "  ages [yr] (i_age):       {}",
        join(&s.tau, |t| format!("{t:.2e}"))
    ));
    line(format!(
        "  age bin edges [yr]:      {}",
        join(&s.tau_edges, |t| format!("{t:.2e}"))
    ));
    line(format!(
        "  SFH index k = {} · i_met + i_age (light fractions, {} per component)",
        s.tau.len(),
        s.met.len() * s.tau.len()
    ));
    line(format!(
        "absorption segments: eps_reduce = {:e}",
        files.config.eps_reduce
    ));
    line("wavelength grids (rest frame):".to_owned());
    for (name, grid) in [
        ("base", WavelengthGrid::Base),
        ("auto", WavelengthGrid::Auto),
        ("full", WavelengthGrid::Full),
    ] {
        match DerivedSsp::new(&files.ssp, &grid, files.config.eps_reduce) {
            Ok(d) => {
                let (a, b) = range(&d.lam_eval);
                line(format!(
                    "  {name:<5} {:>5} points, {a:.4}–{b:.0} µm ({} absorption segments)",
                    d.lam_eval.len(),
                    d.big_l_ssp.ncols()
                ));
            }
            Err(e) => line(format!("  {name:<5} unavailable: {e}")),
        }
    }
    line("galaxy parameters (gp columns; unit space u ∈ [−1, 1]):".to_owned());
    for (j, p) in GALAXY_PARAMS.iter().enumerate() {
        let (lo, hi) = p.physical_range();
        let unit = if p.unit.is_empty() { "-" } else { p.unit };
        line(format!(
            "  {j} {:<13} [{unit:<11}] {:>8} … {:<8} {}",
            p.name,
            short(lo.min(hi)),
            short(lo.max(hi)),
            p.description
        ));
    }
    progress::print_stdout(&out)
}

fn join(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|&x| f(x)).collect::<Vec<_>>().join(" ")
}

pub fn import_cmd(args: &ImportArgs) -> Result<()> {
    let dir = locate(args.model.model.as_deref())?;
    if layout(&args.to) != Layout::Nothing {
        bail!(
            "{} already holds a model; choose an empty or new directory",
            args.to.display()
        );
    }
    let files = load_files(&dir)?;
    let source = match layout(&dir.path) {
        Layout::Native => format!("copy of the galsed model in {}", dir.path.display()),
        _ => format!(
            "imported from the published Starduster files (commit {}) in {}",
            store::MODEL_COMMIT,
            dir.path.display()
        ),
    };
    files
        .write_native(&args.to, &source)
        .with_context(|| format!("writing the native model to {}", args.to.display()))?;
    let abs: PathBuf = std::fs::canonicalize(&args.to).unwrap_or_else(|_| args.to.clone());
    println!("wrote the native model to {}", abs.display());
    println!(
        "use it with --model {} or {MODEL_DIR_ENV}={}",
        abs.display(),
        abs.display()
    );
    Ok(())
}
