//! `galsed`: galaxy spectral energy distributions from the Starduster emulator (Qiu & Kang 2022).

mod bench_cmd;
mod catalog;
mod demo;
mod filters_cmd;
mod fit_cmd;
mod input;
mod model;
mod optir_cmd;
mod output;
mod progress;
mod sed;
mod skirt_cmd;
mod train_cmd;
mod validate_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "galsed",
    version,
    about = "Galaxy SEDs (stars, dust attenuation, dust emission) from the Starduster emulator",
    long_about = "Galaxy spectral energy distributions from the Starduster neural emulator of dust \
                  radiative transfer (Qiu & Kang 2022, arXiv:2112.14434).\n\n\
                  The model files are looked up in this order: --model DIR, the GALSED_MODEL_DIR \
                  environment variable, then the user cache directory filled by `galsed model fetch`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute spectra, photometry and derived quantities for a table of galaxies.
    Sed(Box<SedArgs>),
    /// Download, inspect and convert the model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// List and inspect the filter curves.
    #[command(subcommand)]
    Filters(FiltersCommand),
    /// Fit the photometry of a catalogue of galaxies (best fit, posterior, derived properties).
    Fit(Box<FitArgs>),
    /// Photometry and spectra for catalogues of simulated (SAM) galaxies, streamed in chunks.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Draw a mock galaxy, fit its 19-band photometry and plot the fit.
    Demo(DemoArgs),
    /// Measure SEDs per second (batches, grids, threads) next to the PyTorch reference.
    Bench(BenchArgs),
    /// Train the networks on a training set and write a model directory (native format).
    Train(Box<train_cmd::TrainArgs>),
    /// Error distributions of a model on a data set (per wavelength, per sample, in 20 filters).
    Validate(validate_cmd::ValidateArgs),
    /// Write SKIRT 9 radiative-transfer inputs for new training data, and collect their outputs.
    #[command(subcommand)]
    Skirt(skirt_cmd::SkirtCommand),
    /// The optical–infrared connection: predict WISE W1–W4 from optical spectra (synthetic
    /// survey, autoencoder, predictors, evaluation, occlusion; docs/optir.md).
    #[command(subcommand)]
    Optir(optir_cmd::OptirCommand),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 64, 1024, 16384])]
    pub batch: Vec<usize>,
    /// Worker-thread counts to time (the reference was measured with 1 and 2).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    pub threads: Vec<usize>,
    /// Also write the table as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Time the fitting instead (posterior, gradient, Adam, the paper's particle swarm, MCMC to
    /// convergence) on one core, `auto` grid, next to the Python reference.
    #[arg(long)]
    pub fit: bool,
    /// With --fit: swarm iterations (the paper's 2000).
    #[arg(long, default_value_t = 2000)]
    pub pso_iterations: usize,
    /// With --fit: swarm restarts (the paper's 10).
    #[arg(long, default_value_t = 10)]
    pub pso_restarts: usize,
}

/// Space in which the galaxy parameters of the input are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputSpace {
    /// The networks' unit space u ∈ [−1, 1] (columns theta … b_to_t).
    Unit,
    /// Physical values: theta [deg], den_dust [M_sun/kpc²], r_dust_to_rd, r_disk [kpc],
    /// r_bulge [kpc], l_norm [L_sun], b_to_t.
    Physical,
}

/// Units of the output spectra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitsArg {
    /// Rest-frame λL_λ [L_sun].
    Lum,
    /// Observed-frame F_ν [Jy] on the observed grid λ(1+z), at the distance given by the
    /// distance modulus (10 pc when it is 0).
    Fnu,
}

/// Photometry flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MagArg {
    /// AB magnitudes.
    Ab,
    /// Band fluxes F_ν [Jy].
    Flux,
}

const SED_AFTER_HELP: &str = "\
INPUT
  .npz: arrays gp (N,7), sfh_disk (N,36), sfh_bulge (N,36), float64 or float32 (unit space by
        default; --input-space physical reads gp in physical units).
  .csv: a header row with the columns theta, den_dust, r_dust_to_rd, r_disk, r_bulge, l_norm,
        b_to_t, sfh_disk_0 … sfh_disk_35, sfh_bulge_0 … sfh_bulge_35 (in any order; other columns
        are ignored). Physical units by default; '#' starts a comment line.
  SFH weights are light fractions of the 36 SSPs, k = 6·i_met + i_age (see `galsed model info`).

OUTPUT KEYS (row order = input order; 'combine' keys carry no suffix, other components get
'_dust_free', '_dust_attenuation' or '_dust_emission')
  lam_um (n_λ)                 rest-frame model grid [µm]
  lam_obs_um (n_λ)             observed grid λ(1+z) [µm]
  spectrum[_<comp>] (N,n_λ)    λL_λ [L_sun] (--units lum) or F_ν [Jy] (--units fnu)
  filters, filter_pivot_um     band names and pivot wavelengths [µm]
  photometry[_<comp>] (N,n_f)  AB magnitudes (--mag ab) or band fluxes [Jy] (--mag flux)
  frac_abs, L_IR (N)           absorbed fraction of the stellar light, dust luminosity [L_sun]
  log_p_in_disk, log_p_in_bulge (N)  selector log-probabilities (< ln 0.5: outside training set)
  att_curve_lam_um, att_curve (N,n)  attenuation −2.5 log10(F_att/F_free) [mag] below 1 µm
  att_V (N)                    attenuation in the 5450–5550 Å window [mag]
  redshift, distmod            the observer used
.npz holds all keys. .csv writes one row per galaxy (column 'row', photometry as one column per
band named <filter>[_<comp>], and the scalars); spectra and attenuation curves go to a second,
long-format file <output stem>_spectrum.csv with columns row, lam_um, lam_obs_um, spectrum…,
att_curve. .parquet writes one row per galaxy with spectra and curves as fixed-size list columns
and the grids, units and filters in the file's key-value metadata (galsed.*).

DISTANCE
  --redshift z alone uses the luminosity-distance modulus of --cosmology (Planck18 by default);
  --distmod overrides it. With neither, magnitudes and fluxes are at 10 pc (absolute).";

#[derive(Debug, Args)]
#[command(after_long_help = SED_AFTER_HELP)]
pub struct SedArgs {
    /// Input table: .npz or .csv (see below).
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
    /// Output file; the format follows the extension: .npz, .csv or .parquet.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Space of the galaxy parameters [default: unit for .npz, physical for .csv].
    #[arg(long, value_enum)]
    pub input_space: Option<InputSpace>,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Wavelength grid: base (495 points), auto (2086, resolves emission lines), full, or a file
    /// with one rest-frame wavelength in µm per line.
    #[arg(long, default_value = "base", value_name = "base|auto|full|FILE")]
    pub grid: String,
    /// Comma-separated SED components: combine, dust_free, dust_attenuation, dust_emission, or all.
    #[arg(long, default_value = "combine", value_name = "LIST")]
    pub component: String,
    /// Units of the spectra.
    #[arg(long, value_enum, default_value = "lum")]
    pub units: UnitsArg,
    /// Comma-separated filters: built-in names (see `galsed filters list`), filter files, or the
    /// preset default19 (GALEX, SDSS, 2MASS, WISE, PACS 100/160, SPIRE).
    #[arg(long, value_name = "LIST")]
    pub filters: Option<String>,
    /// Photometry as AB magnitudes or fluxes in Jy.
    #[arg(long, value_enum, default_value = "ab")]
    pub mag: MagArg,
    /// Redshift of the observer (stretches the observed grid by 1+z).
    #[arg(long, default_value_t = 0.0, value_name = "Z")]
    pub redshift: f64,
    /// Distance modulus [mag]; default: from --redshift and --cosmology, or 0 (10 pc) at z = 0.
    #[arg(long, value_name = "MU", allow_negative_numbers = true)]
    pub distmod: Option<f64>,
    /// Cosmology for the distance modulus: planck18 or flat:H0,Om0 (e.g. flat:70,0.3).
    #[arg(long, default_value = "planck18", value_name = "planck18|flat:H0,Om0")]
    pub cosmology: String,
    /// Comma-separated outputs: spectrum, photometry, absorption, selectors, attenuation
    /// [default: spectrum, plus photometry when --filters is given].
    #[arg(long, value_name = "LIST")]
    pub outputs: Option<String>,
    /// Accept out-of-range inputs and clip them into the model's domain like the published
    /// library (default: refuse them).
    #[arg(long)]
    pub clip_inputs: bool,
    /// Galaxies per evaluation chunk.
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_size: u64,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
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

/// How a raw training or validation set is prepared (shared by `train` and `validate`).
#[derive(Debug, Args)]
pub struct PrepArgs {
    /// Savitzky–Golay smoothing of the attenuation curves: window,order (e.g. 15,3).
    #[arg(long, value_name = "W,O")]
    pub smooth_curves: Option<String>,
    /// Savitzky–Golay smoothing of the dust-emission spectra: window,order.
    #[arg(long, value_name = "W,O")]
    pub smooth_emission: Option<String>,
    /// Label samples whose attenuation at 100 µm exceeds this value [mag] as invalid (optically
    /// thick in the far infrared); `none` disables the rule.
    #[arg(long, default_value = "0.01", value_name = "MAG|none")]
    pub max_k100: String,
}

impl PrepArgs {
    /// The preparation the options describe.
    pub fn preparation(&self) -> anyhow::Result<galsed_train::data::Preparation> {
        galsed_train::data::Preparation::parse(
            self.smooth_curves.as_deref(),
            self.smooth_emission.as_deref(),
            &self.max_k100,
        )
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.option()))
    }
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Directory to write the native model to (created; must not already hold a model).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

#[derive(Debug, Subcommand)]
enum FiltersCommand {
    /// List the built-in filters with their pivot wavelengths.
    List,
    /// Print a filter's summary and its transmission curve (wavelength in Å, transmission).
    Show {
        /// Built-in name or filter file.
        #[arg(value_name = "NAME|FILE")]
        filter: String,
    },
}

/// Plot format of `galsed demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            PlotFormat::Png => "png",
            PlotFormat::Svg => "svg",
        }
    }
}

const FIT_AFTER_HELP: &str = "\
CATALOGUE (.csv, .fits or .parquet; one row per galaxy)
  id                 galaxy identifier (optional; row numbers otherwise)
  redshift           z ≥ 0; the distance modulus is Planck18's at z unless a column distmod is given
  <band>             AB magnitude (default) or flux ([catalog] quantity = \"flux\", flux_unit = \"mJy\"…)
  <band>_err         its 1σ error (> 0)
  <band>_limit       upper limit used when <band> is empty/NaN (non-detection)
  Bands are the columns named after filters (`galsed filters list`), or [catalog] bands = [...]
  (filter names or filter files). A band missing for a galaxy (NaN, no limit) is skipped.

CONFIGURATION (TOML, all sections optional; docs/fitting.md lists every key)
  [catalog]          quantity, flux_unit, bands, id_column, redshift_column, distmod_column,
                     error_suffix, limit_suffix, limit_nsigma, sigma.<band>, grid
  [parametrization]  boundary, shared_sfh, sfh.model, mh.model, bounds.<name>, fixed.<name>
  [likelihood]       mag_offset, model_error
  [prior]            smoothed_uniform, gaussian = [{ name, mean, sigma }]
  selector_penalty   true
  [optimizer]        method = pso|adam|lbfgsb|nelder_mead, polish, [optimizer.pso] …
  [sampler]          method = none|ensemble|nested, n_derived, [sampler.ensemble] …, [sampler.nested] …

OUTPUT
  One row per galaxy: row, id, status (\"ok\" or why the galaxy could not be fitted), redshift,
  distmod, n_bands, chi2, chi2_reduced, neg_log_post, par_<parameter> (best-fit free parameters),
  <property> (derived properties of the best fit: m_star, sfr, m_dust, …, docs/fitting.md),
  model_<band> (AB mag); with a sampler also par_<parameter>_p16/_p50/_p84 and <property>_p16/_p50/
  _p84, and its diagnostics (sampler_converged, sampler_acceptance, tau_max, log_z, log_z_err).
  With --plots DIR: DIR/<id>.png (data vs model SED and residuals) and DIR/<id>_corner.png.

RESUME
  Finished galaxies are appended to <output>.partial.jsonl; run the same command again after an
  interruption and only the missing galaxies are fitted.";

#[derive(Debug, Args)]
#[command(after_long_help = FIT_AFTER_HELP)]
pub struct FitArgs {
    /// Catalogue of observed galaxies (.csv, .fits, .parquet; see below).
    #[arg(long, value_name = "FILE")]
    pub catalog: PathBuf,
    /// Configuration (TOML); defaults: the reference tutorial's parametrisation, magnitudes,
    /// particle swarm with the paper's settings, no sampler.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Results table (.csv, .parquet or .fits).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Write per-galaxy plots (SED fit, corner plot) into this directory.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Plot format.
    #[arg(long, value_enum, default_value = "png")]
    pub plot_format: PlotFormat,
    /// Seed of the swarm and samplers (overrides the configuration).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (galaxies fitted at once); default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output directory (created if missing).
    #[arg(long, default_value = "galsed-demo", value_name = "DIR")]
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
    /// Seed of the mock galaxy, its noise and the fit.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sed(args) => sed::run(&args),
        Command::Model(ModelCommand::Fetch(args)) => model::fetch_cmd(&args),
        Command::Model(ModelCommand::Info(args)) => model::info_cmd(&args),
        Command::Model(ModelCommand::Import(args)) => model::import_cmd(&args),
        Command::Filters(FiltersCommand::List) => filters_cmd::list(),
        Command::Filters(FiltersCommand::Show { filter }) => filters_cmd::show(&filter),
        Command::Fit(args) => fit_cmd::run(&args),
        Command::Catalog(cmd) => catalog::run(&cmd),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Train(args) => train_cmd::run(&args),
        Command::Validate(args) => validate_cmd::run(&args),
        Command::Skirt(cmd) => skirt_cmd::run(&cmd),
        Command::Optir(cmd) => optir_cmd::run(&cmd),
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
