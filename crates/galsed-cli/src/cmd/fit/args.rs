//! The arguments of `galsed fit`.

use std::path::PathBuf;

use clap::Args;

use crate::shared::args::PlotFormat;

const FIT_AFTER_HELP: &str = "\
CATALOGUE (.csv, .ecsv, .fits, .parquet or .vot VOTable TABLEDATA; one row per galaxy)
  id                 galaxy identifier (optional; row numbers otherwise)
  redshift           z ≥ 0; the distance modulus is Planck18's at z unless a column distmod is given
  <band>             AB magnitude (default) or flux ([catalog] quantity = \"flux\", flux_unit = \"mJy\"…)
  <band>_err         its 1σ error (> 0)
  <band>_limit       upper limit used when <band> is empty/NaN (non-detection)
  Bands are the columns named after filters (`galsed filters list`), or [catalog] bands = [...]
  (filter names or filter files). A column named almost like a filter (sdss_r for sdss_r0) is an
  error. A band missing for a galaxy (NaN, no limit) is skipped.

CONFIGURATION (TOML, all sections optional; docs/fitting.md lists every key; `galsed fit
  --write-config FILE` writes them all at their defaults)
  [catalog]          quantity, flux_unit, bands, id_column, redshift_column, distmod_column,
                     error_suffix, limit_suffix, limit_nsigma, sigma.<band>, grid
  [parametrization]  boundary, shared_sfh, sfh.model, mh.model, bounds.<name>, fixed.<name>
  [likelihood]       mag_offset, model_error, band_model_error.<band>
  [prior]            smoothed_uniform, gaussian = [{ name, mean, sigma }]
  selector_penalty   true
  [optimizer]        method = pso|multistart|adam|lbfgsb|nelder_mead, polish, [optimizer.pso] …
  [sampler]          method = none|ensemble|nested|nuts, n_derived, [sampler.ensemble|nested|nuts] …

OUTPUT
  One row per galaxy: row, id, status (\"ok\" or why the galaxy could not be fitted), redshift,
  distmod, n_bands, chi2, chi2_reduced, neg_log_post, par_<parameter> (best-fit free parameters),
  <property> (derived properties of the best fit: m_star, sfr, m_dust, …, docs/fitting.md),
  model_<band> (AB mag); with a sampler also par_<parameter>_p16/_p50/_p84 and <property>_p16/_p50/
  _p84, and its diagnostics (sampler_converged, sampler_acceptance, sampler_evaluations, tau_max,
  log_z, log_z_err, rhat_max, ess_min).
  With --plots DIR: DIR/<id>.png (data vs model SED and residuals) and DIR/<id>_corner.png.
  With --samples DIR and a sampler: DIR/<id>_samples.csv, one row per posterior draw (par_<name>).
  Per band over the galaxies fitted: <output stem>.residuals.csv (median and 16–84 % of observed −
  model in mag, robust scatter, median and RMS χ, model_error_needed: the fractional model error
  that brings the band's mean χ² to 1, a value for [likelihood] band_model_error.<band>) and
  <output stem>.residuals.png (--format), observed − model against wavelength.

RESUME
  Finished galaxies are appended to <output>.partial.jsonl; run the same command again after an
  interruption and only the missing galaxies are fitted.";

#[derive(Debug, Args)]
#[command(after_long_help = FIT_AFTER_HELP)]
pub struct FitArgs {
    /// Catalogue of observed galaxies (.csv, .ecsv, .fits, .parquet, .vot; see below).
    #[arg(long, value_name = "FILE", required_unless_present = "write_config")]
    pub catalog: Option<PathBuf>,
    /// Configuration (TOML); defaults: the 7 galaxy parameters plus one SFH weight per SSP age and
    /// one metallicity for disk and bulge (21; `[parametrization.sfh] model = "interpolated"` is
    /// the reference tutorial's 11), magnitudes, particle swarm with the paper's settings, no
    /// sampler.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Results table (.csv, .ecsv, .parquet or .fits; ECSV, Parquet and FITS carry the units).
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        required_unless_present = "write_config"
    )]
    pub output: Option<PathBuf>,
    /// Write a configuration template (every key at its default) to FILE and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["catalog", "output", "config"])]
    pub write_config: Option<PathBuf>,
    /// Write per-galaxy plots (SED fit, corner plot) into this directory.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Format of the plots and of the residual plot.
    #[arg(
        long = "format",
        alias = "plot-format",
        value_enum,
        default_value = "png"
    )]
    pub plot_format: PlotFormat,
    /// With a sampler, write each galaxy's posterior draws to DIR/ID_samples.EXT (ID the galaxy id).
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
    /// Table format of --samples: csv, ecsv, parquet or fits.
    #[arg(long, default_value = "csv", value_parser = ["csv", "ecsv", "parquet", "fits"])]
    pub samples_format: String,
    /// Seed of the swarm, the multi-start scan and the samplers (overrides the configuration).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (galaxies fitted at once); default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}
