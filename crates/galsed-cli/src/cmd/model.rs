//! `galsed model …`: download, inspect and convert the model files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use galsed_core::numeric::short_number;
use galsed_core::params::GALAXY_PARAMS;
use galsed_core::ssp::{DerivedSsp, WavelengthGrid};
use galsed_emulator::model_files::MANIFEST;
use galsed_io::store::{self, DEFAULT_BASE_URL, MODEL_DIR_ENV};

use crate::shared::args::ModelArgs;
use crate::shared::model::{ModelFormat, fetch_into, load_files, locate, model_format, reason};
use crate::shared::progress;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download (or copy) the published model files and verify their checksums.
    Fetch(FetchArgs),
    /// Show where the model is found, why, and what it holds.
    Info(ModelArgs),
    /// Write the model found by --model / GALSED_MODEL_DIR / the cache in galsed's native format.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Source: an https:// or file:// URL, or a local directory holding the published files
    /// [default: the pinned commit of the public Starduster repository].
    #[arg(long, value_name = "URL|DIR")]
    pub from: Option<String>,
    /// Destination directory [default: the user cache directory].
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Directory to write the native model to (created; must not already hold a model).
    #[arg(long = "dest", alias = "to", value_name = "DIR")]
    pub to: PathBuf,
}

pub fn run(cmd: &ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Fetch(args) => fetch_cmd(args),
        ModelCommand::Info(args) => info_cmd(args),
        ModelCommand::Import(args) => import_cmd(args),
    }
}

fn fetch_cmd(args: &FetchArgs) -> Result<()> {
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

fn info_cmd(args: &ModelArgs) -> Result<()> {
    let dir = locate(args.model.as_deref())?;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("model directory: {}", dir.path.display()));
    line(format!("  chosen because: {}", reason(dir.source)));
    match model_format(&dir.path) {
        ModelFormat::Native => line(format!(
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
            short_number(lo.min(hi)),
            short_number(lo.max(hi)),
            p.description
        ));
    }
    progress::print_stdout(&out)
}

fn join(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|&x| f(x)).collect::<Vec<_>>().join(" ")
}

fn import_cmd(args: &ImportArgs) -> Result<()> {
    let dir = locate(args.model.model.as_deref())?;
    if model_format(&args.to) != ModelFormat::Nothing {
        bail!(
            "{} already holds a model; choose an empty or new directory",
            args.to.display()
        );
    }
    let files = load_files(&dir)?;
    let source = match model_format(&dir.path) {
        ModelFormat::Native => format!("copy of the galsed model in {}", dir.path.display()),
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
