//! `galsed skirt …`: inputs for SKIRT 9 radiative-transfer runs and training sets from their
//! outputs (the `galsed_train::skirt` module).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use galsed_train::skirt::index::INDEX_FILE;
use galsed_train::skirt::sampling::{DEFAULT_SFH_ALPHA, draw_samples, read_table};
use galsed_train::skirt::ski::SkiConfig;
use galsed_train::skirt::{CollectOptions, PrepareOptions, Run, collect, prepare};

use crate::{model, progress};

const PREPARE_AFTER_HELP: &str = "\
SAMPLES
  --samples N draws N galaxies from the priors of Qiu & Kang (2022), Table 1: inclination
  90°·Beta(0.5, 0.5); den_dust, r_dust_to_rd, r_disk, r_bulge, l_norm log-uniform between the
  model's bounds (`galsed model info`); b_to_t Beta(0.5, 0.5). Disk and bulge SFHs (light fractions
  of the SSPs) are drawn from a symmetric Dirichlet(--sfh-alpha) distribution. The same --seed
  gives the same samples and byte-identical files.
  --table FILE reads them instead: CSV with the columns theta [deg], den_dust [M_sun/kpc²],
  r_dust_to_rd, r_disk [kpc], r_bulge [kpc], l_norm [L_sun], b_to_t, optionally id and
  sfh_disk_0 … sfh_disk_35, sfh_bulge_0 … sfh_bulge_35 (else drawn as above). Values must lie
  inside the model's range.

FILES (in --out)
  <id>_emission.ski       dust emission, disk and bulge together
  <id>_disk.ski           extinction only, stellar disk alone (disk attenuation curve)
  <id>_bulge.ski          extinction only, bulge alone (bulge attenuation curve)
  <id>_sed_disk.dat, <id>_sed_bulge.dat   stellar spectra (SKIRT FileSED)
  index.csv               one row per sample: id, physical and unit-space parameters, files, SFHs

SETUP (the published one)
  Exponential stellar and dust disks with scale height 0.1 × scale length, Sérsic n = 4 bulge,
  Draine & Li dust of mass den_dust·2π r_dust², 2-D cylindrical grid of 128 × 128 power-law bins
  reaching 5× the largest scale, 10⁷ photon packets, one SED instrument (0.09–10⁴ µm, 500
  wavelengths) at the sample's inclination recording the total and the transparent flux.

RUNNING SKIRT
  cd OUT && skirt *.ski        (the spectra are referenced by relative file names)
  then: galsed skirt collect --index OUT/index.csv --output train.npz";

const COLLECT_AFTER_HELP: &str = "\
INPUT
  The SED files SKIRT writes for the parameter files of the index, <ski stem>_obs_sed.dat, in
  --outputs. Columns are identified by their header ('# column N: total flux; F_lambda (…)'), so
  any flux output style works. A malformed file (missing column, non-numeric or non-finite value,
  negative flux, wavelengths out of order, truncated file, a grid differing between runs) stops the
  command with the file and line.

OUTPUT (npz, the layout `galsed train` reads; rows = index rows minus skipped samples)
  lam (495)                     model grid lam_main [µm]
  params (N,7)                  galaxy parameters in unit space
  sfh_disk, sfh_bulge (N,36)    light fractions
  curve_disk, curve_bulge (N,297)  A_λ = −2.5 log10(total/transparent) [mag] on lam[:297]
  valid_disk, valid_bulge (N)   0 where a flux is zero somewhere on the grid (curve NaN)
  dust_emission (N,495)         dust λF_λ normalised to ∫ y d ln λ = 1
  frac_abs (N)                  L_dust / l_norm
  valid_emission (N)            0 without dust emission or with frac_abs > 1";

/// `galsed skirt` subcommands.
#[derive(Debug, Subcommand)]
pub enum SkirtCommand {
    /// Write SKIRT 9 parameter files and stellar spectra for galaxies drawn from the paper's
    /// priors (or read from a table), plus an index of the samples.
    Prepare(PrepareArgs),
    /// Read the SED outputs of the SKIRT runs of an index into a training set (npz).
    Collect(CollectArgs),
}

/// Options of `galsed skirt prepare`.
#[derive(Debug, Args)]
#[command(after_long_help = PREPARE_AFTER_HELP)]
pub struct PrepareArgs {
    /// Output directory (created; must not hold an index yet unless --overwrite).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of galaxies to draw from the Table 1 priors.
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        required_unless_present = "table",
        conflicts_with = "table"
    )]
    pub samples: Option<usize>,
    /// CSV table of galaxies in physical units instead of drawing them (see below).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// Seed of the parameter and SFH draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concentration α of the Dirichlet prior of the SFHs (1: uniform over all mixtures;
    /// smaller values favour SFHs dominated by few SSPs).
    #[arg(long, default_value_t = DEFAULT_SFH_ALPHA, value_name = "ALPHA")]
    pub sfh_alpha: f64,
    /// Comma-separated runs per galaxy: emission, disk, bulge.
    #[arg(long, default_value = "emission,disk,bulge", value_name = "LIST")]
    pub runs: String,
    /// Photon packets per simulation.
    #[arg(long, default_value_t = 1e7, value_name = "N")]
    pub packets: f64,
    /// Radial and vertical bins of the cylindrical grid (even).
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub grid_bins: usize,
    /// The grid reaches this many times the largest scale of the galaxy.
    #[arg(long, default_value_t = 5.0, value_name = "X")]
    pub grid_extent: f64,
    /// Replace an existing index (and files of the same names) in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Model directory whose SSP library gives the stellar spectra (overrides
    /// GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Options of `galsed skirt collect`.
#[derive(Debug, Args)]
#[command(after_long_help = COLLECT_AFTER_HELP)]
pub struct CollectArgs {
    /// Index written by `galsed skirt prepare`.
    #[arg(long, value_name = "FILE")]
    pub index: PathBuf,
    /// Directory of the SKIRT outputs [default: the directory of the index].
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// Training set to write (.npz).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Comma-separated runs to read [default: every run the index lists].
    #[arg(long, value_name = "LIST")]
    pub runs: Option<String>,
    /// Leave out samples with a missing output instead of stopping.
    #[arg(long)]
    pub skip_missing: bool,
    /// Model directory whose grid (lam_main) the curves and spectra are resampled onto.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Runs a `galsed skirt` subcommand.
pub fn run(cmd: &SkirtCommand) -> Result<()> {
    match cmd {
        SkirtCommand::Prepare(args) => prepare_cmd(args),
        SkirtCommand::Collect(args) => collect_cmd(args),
    }
}

fn prepare_cmd(args: &PrepareArgs) -> Result<()> {
    let files = model::load_files(&model::locate(args.model.as_deref())?)?;
    let lib = &files.ssp;
    let samples = match (&args.table, args.samples) {
        (Some(table), _) => read_table(table, lib.n_ssp(), args.seed, args.sfh_alpha)?,
        (None, Some(n)) if n > 0 => draw_samples(n, lib.n_ssp(), args.seed, args.sfh_alpha)?,
        (None, _) => bail!("--samples must be at least 1"),
    };
    let opts = PrepareOptions {
        runs: Run::parse_list(&args.runs)?,
        ski: SkiConfig {
            packets: args.packets,
            grid_bins: args.grid_bins,
            grid_extent: args.grid_extent,
            ..SkiConfig::default()
        },
        overwrite: args.overwrite,
    };
    let bar = progress::rows_bar(samples.len() as u64);
    let summary = prepare(&samples, lib, &args.out, &opts, &mut |done| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("preparing the SKIRT runs in {}", args.out.display()))?;
    bar.finish_and_clear();
    progress::print_stdout(&format!(
        "{} galaxies: {} parameter files, {} stellar spectra, index {}\nrun SKIRT in {} (e.g. \
         `cd {} && skirt *.ski`), then `galsed skirt collect --index {} --output train.npz`\n",
        summary.samples,
        summary.ski_files,
        summary.sed_files,
        summary.index.display(),
        args.out.display(),
        args.out.display(),
        summary.index.display(),
    ))
}

fn collect_cmd(args: &CollectArgs) -> Result<()> {
    let files = model::load_files(&model::locate(args.model.as_deref())?)?;
    let outputs = match &args.outputs {
        Some(dir) => dir.clone(),
        None => args
            .index
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let opts = CollectOptions {
        runs: args.runs.as_deref().map(Run::parse_list).transpose()?,
        skip_missing: args.skip_missing,
    };
    let n_rows = std::fs::read(&args.index)
        .map(|t| t.iter().filter(|&&b| b == b'\n').count().saturating_sub(1))
        .unwrap_or(0);
    let bar = progress::rows_bar(n_rows as u64);
    let got = collect(
        &args.index,
        &outputs,
        &files.ssp.lam_main,
        &opts,
        &mut |done| bar.set_position(done as u64),
    )
    .with_context(|| {
        let index = if args.index.ends_with(INDEX_FILE) {
            ""
        } else {
            " (an index.csv of `galsed skirt prepare`?)"
        };
        format!(
            "collecting the SKIRT outputs of {}{index}",
            args.index.display()
        )
    })?;
    bar.finish_and_clear();
    got.set
        .write_npz(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;

    let set = &got.set;
    let invalid = |v: &Option<Vec<bool>>| v.as_ref().map(|v| v.iter().filter(|b| !**b).count());
    let mut report = format!("{} samples → {}\n", set.len(), args.output.display());
    for (what, v) in [
        ("disk curves", &set.valid_disk),
        ("bulge curves", &set.valid_bulge),
        ("emission runs", &set.valid_emission),
    ] {
        if let Some(bad) = invalid(v) {
            report.push_str(&format!(
                "  {what}: {} valid, {bad} flagged invalid\n",
                set.len() - bad
            ));
        }
    }
    if !got.skipped.is_empty() {
        report.push_str(&format!(
            "  skipped for missing outputs: {}\n",
            got.skipped.len()
        ));
        for s in &got.skipped {
            report.push_str(&format!("    {s}\n"));
        }
    }
    progress::print_stdout(&report)
}
