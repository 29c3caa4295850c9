//! The arguments of `galsed skirt prepare` and `galsed skirt collect`.

use std::path::PathBuf;

use clap::Args;
use galsed_train::skirt::sampling::DEFAULT_SFH_ALPHA;
use galsed_train::skirt::ski::SkiConfig;

const PREPARE_AFTER_HELP: &str = "\
SAMPLES
  --galaxies N draws N galaxies from the priors of Qiu & Kang (2022), Table 1: inclination
  90°·Beta(0.5, 0.5); den_dust, r_dust_to_rd, r_disk, r_bulge, l_norm log-uniform between the
  model's bounds (`galsed model info`); b_to_t Beta(0.5, 0.5). Disk and bulge SFHs (light fractions
  of the SSPs) are drawn from a symmetric Dirichlet(--sfh-alpha) distribution. The same --seed
  gives the same samples and byte-identical files.
  --table FILE reads them instead: CSV with the columns theta [deg], den_dust [M_sun/kpc²],
  r_dust_to_rd, r_disk [kpc], r_bulge [kpc], l_norm [L_sun], b_to_t, optionally id and
  sfh_disk_0 … sfh_disk_35, sfh_bulge_0 … sfh_bulge_35 (else drawn as above). Values must lie
  inside the model's range.

FILES (in --output)
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

SKIRT VERSION
  --skirt-version current (default) writes the schema of today's SKIRT 9 (master; tested with git
  1facef2); --skirt-version 2020 that of SKIRT 9.0 (git 9b8b221), the version of Starduster's
  template. The two files describe the same simulation; each SKIRT rejects the other's spelling.

RUNNING SKIRT
  galsed skirt run OUT         (or by hand: cd OUT && skirt *.ski; the spectra are referenced
                                by relative file names)
  then: galsed skirt collect --index OUT/index.csv --output train.npz";

const RUN_AFTER_HELP: &str = "\
RUNS
  Every run of the index (or of --runs) whose SED <stem>_obs_sed.dat is not yet in --outputs is
  run as `skirt -t THREADS -b -o OUTPUTS/.running/<stem> <stem>.ski` in the index's directory,
  --jobs at a time. Default: 1 thread per SKIRT and one SKIRT per available core — SKIRT's setup
  (dust tables, the stochastic emission of the emission runs) is mostly serial, so separate
  processes use the cores better than threads; raise --threads when memory is short.

RESUMING
  A run is finished when its SED is in --outputs. Its files are moved there from
  .running/<stem>/ only after SKIRT ended well (status 0, the SED written, `Finished simulation`
  in its log, no `*** Error`), the SED last. After a kill at any moment, running the command again
  removes the partial directories and runs only what did not finish. SKIRT children die with
  galsed (Linux). Two runners cannot share --outputs (.running/lock).

REPORT
  Per run: wall time, SKIRT's peak memory and the size of its output files; at the end the runs
  done, skipped (finished before) and failed, and the median cost per run kind. A failed run is
  listed with SKIRT's own error line, its log kept as <stem>_log.txt; the command then exits with
  status 1 and the finished runs stay finished.

SLURM
  --slurm FILE writes a job-array script instead of running: one array task per pending run
  (--array=0-(n-1)%--slurm-parallel, --cpus-per-task=--threads), the parameter files listed in
  FILE.runs, each task completing atomically as above. Submit with `sbatch FILE`; afterwards
  `galsed skirt run` runs what failed or was not reached, and `galsed skirt collect
  --skip-missing` reads what finished. Do not run both on the same outputs at once.

SKIRT
  --skirt PATH, else $GALSED_SKIRT, else `skirt` on the PATH. Write the parameter files for that
  SKIRT's version (`galsed skirt prepare --skirt-version`).";

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

/// Options of `galsed skirt prepare`.
#[derive(Debug, Args)]
#[command(after_long_help = PREPARE_AFTER_HELP)]
pub struct PrepareArgs {
    /// Output directory (created; must not hold an index yet unless --overwrite).
    #[arg(short, long = "output", alias = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Number of galaxies to draw from the Table 1 priors.
    #[arg(
        short = 'n',
        long = "galaxies",
        alias = "samples",
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
    /// The fewest radial and vertical bins of the cylindrical grid (even).
    #[arg(long, default_value_t = SkiConfig::default().grid_bins, value_name = "N")]
    pub grid_bins: usize,
    /// Each mesh gets more bins than --grid-bins where its width ratio spans more decades than
    /// N / D, so that galaxies whose scales span many decades stay resolved; 0 keeps exactly
    /// --grid-bins in both directions (the published setup).
    #[arg(long, default_value_t = SkiConfig::default().grid_bins_per_decade, value_name = "D")]
    pub grid_bins_per_decade: f64,
    /// The grid reaches this many times the largest scale of the galaxy.
    #[arg(long, default_value_t = 5.0, value_name = "X")]
    pub grid_extent: f64,
    /// The power-law meshes stretch by the ratio extent / r_min, r_min = F × the smallest of
    /// the scale heights and the bulge radius (the reference's 1e-4 resolves the centre).
    #[arg(long, default_value_t = SkiConfig::default().grid_min_fraction, value_name = "F")]
    pub grid_min_fraction: f64,
    /// SKIRT 9 release whose parameter-file schema is written: `current` (master, 2026) or
    /// `2020` (9.0, git 9b8b221, as Starduster's template); the physics is the same.
    #[arg(long, default_value = "current", value_name = "VERSION", value_parser = ["current", "2020"])]
    pub skirt_version: String,
    /// Add a DustAbsorptionPerCellProbe to every run (absorbed luminosity per cell and
    /// wavelength: the energy balance of the emission runs, the absorbed fraction of each
    /// component from the disk and bulge runs; ≈ 80 MB per run on the default grid).
    #[arg(long)]
    pub absorption_probe: bool,
    /// Replace an existing index (and files of the same names) in --output.
    #[arg(long)]
    pub overwrite: bool,
    /// Model directory whose SSP library gives the stellar spectra (overrides
    /// GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Options of `galsed skirt run`.
#[derive(Debug, Args)]
#[command(after_long_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// Directory of a prepared set (holding index.csv) [default: the directory of --index].
    #[arg(
        value_name = "DIR",
        required_unless_present = "index",
        conflicts_with = "index"
    )]
    pub dir: Option<PathBuf>,
    /// Index written by `galsed skirt prepare`, instead of DIR.
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// Directory for the SKIRT outputs [default: the directory of the index].
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// Comma-separated runs to execute [default: every run the index lists].
    #[arg(long, value_name = "LIST")]
    pub runs: Option<String>,
    /// SKIRT processes at once [default: available cores / --threads].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Threads per SKIRT process.
    #[arg(short, long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// SKIRT binary [default: $GALSED_SKIRT, else `skirt` on the PATH].
    #[arg(long, value_name = "PATH")]
    pub skirt: Option<PathBuf>,
    /// Write a Slurm job-array script for the pending runs instead of running them.
    #[arg(long, value_name = "FILE")]
    pub slurm: Option<PathBuf>,
    /// Array tasks of the Slurm job running at once.
    #[arg(long, default_value_t = 100, value_name = "N", requires = "slurm")]
    pub slurm_parallel: usize,
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
