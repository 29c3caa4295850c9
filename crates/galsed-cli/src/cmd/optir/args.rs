//! The arguments of the `galsed optir …` commands.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, ValueEnum};
use galsed_optir::import::{DEFAULT_CHUNK_SIZE, SampleCuts};
use galsed_optir::spender::TrainSettings;

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
    /// Output survey (.h5/.hdf5 or .parquet). Finished chunks of spectra are kept in
    /// .NAME.import beside it until it is written, so a rerun after a kill resumes.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// WISE catalogue (CSV or FITS) with w1mpro…w4mpro, w1sigmpro…w4sigmpro and an id column;
    /// optional cc_flags and ext_flg. A null sigma marks an upper limit.
    #[arg(long, value_name = "FILE")]
    pub wise: PathBuf,
    /// The catalogue's column holding the spectra's ids (SPECOBJID).
    #[arg(long, default_value = "specobjid")]
    pub id_column: String,
    /// Drop spectra without a catalogue row instead of failing.
    #[arg(long)]
    pub drop_unmatched: bool,
    /// Keep WISE bands whose cc_flags mark an artefact (D, P, H, O in upper case); by default
    /// they are treated as missing.
    #[arg(long)]
    pub keep_cc_artefacts: bool,
    /// SDSS specObj catalogue (specObj-dr16.fits layout): select the main galaxy sample
    /// (target bits 0x1c0, CLASS = GALAXY, ZWARNING = 0, --z-min ≤ Z ≤ --z-max) and take ids and
    /// redshifts from it; spectra are matched by plate-MJD-fiber in their file names.
    #[arg(long, value_name = "FILE")]
    pub specobj: Option<PathBuf>,
    /// Lowest redshift of the sample (with --specobj).
    #[arg(long, default_value_t = SampleCuts::default().z_min, requires = "specobj")]
    pub z_min: f64,
    /// Highest redshift of the sample (with --specobj).
    #[arg(long, default_value_t = SampleCuts::default().z_max, requires = "specobj")]
    pub z_max: f64,
    /// Spectra per chunk: each chunk is read in parallel and saved when finished.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub chunk_size: usize,
    /// SDSS spec-lite files (spec-PLATE-MJD-FIBER.fits), or directories searched recursively
    /// for them.
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
