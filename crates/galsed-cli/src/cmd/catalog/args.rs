//! The arguments of `galsed catalog run`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::shared::args::MagArg;

const RUN_AFTER_HELP: &str = "\
INPUT (.h5/.hdf5, .parquet or .fits; one row per galaxy)
  theta [deg], m_dust [M_sun], r_dust, r_disk, r_bulge [kpc]     one value per galaxy
  mass_disk, metal_disk, mass_bulge, metal_bulge [M_sun]         stellar and metal mass formed in
        each SAM age bin: 2-D datasets (N × n_bins) in HDF5; list columns in Parquet, vector
        columns in FITS, or flat columns mass_disk_0 … mass_disk_<n−1> in both
  id (integer, optional; row numbers otherwise), redshift (optional; needed for --frame observed)
  Age bins: --age-edges / --ages, or stored with the catalogue (HDF5 datasets age_edges or ages;
  Parquet metadata galsed.age_edges or galsed.ages as JSON arrays) [yr]; FITS needs the option.

OUTPUT (.parquet or .h5/.hdf5; input row order)
  id, status, redshift, distmod, l_norm [L_sun], b_to_t, then one column per filter (AB magnitude
  or F_ν in Jy); with --spectra a column/dataset `spectrum` (F_ν [Jy] on the observed grid in the
  observed frame, λL_λ [L_sun] on the rest-frame grid with --frame rest). HDF5 holds `photometry`
  (N × n_filters) with the band names in `filters`. The file's metadata (Parquet key-value
  galsed.*, HDF5 root attributes) records filters, units, frame, cosmology, grid and lam_um.
  status is ok, \"partial: …\" (bands outside the model's wavelength range at that redshift are
  NaN), or \"invalid: …\" (the row could not be converted; all outputs NaN).

FRAMES
  observed: each galaxy at its own redshift, at the luminosity distance of --cosmology (z = 0
            gives 10 pc, i.e. absolute magnitudes). rest: rest frame at 10 pc for every galaxy.

RESUME AND SHARDS
  Finished chunks are kept in <output>.parts/; run the same command again after an interruption
  and only the missing chunks are computed, then the parts are merged into <output> and removed.
  --shard i/n computes the i-th of n contiguous slices of the chunks (for job arrays); the shards'
  outputs concatenated in order equal the output of a single run.";

/// Frame of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Frame {
    /// Each galaxy at its redshift and luminosity distance.
    Observed,
    /// Rest frame at 10 pc (absolute magnitudes).
    Rest,
}

#[derive(Debug, Args)]
#[command(after_long_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// Catalogue: .h5/.hdf5, .parquet or .fits (see below).
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
    /// Results: .parquet or .h5/.hdf5.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Comma-separated filters (built-in names, files, or the preset default19).
    #[arg(long, default_value = "default19", value_name = "LIST")]
    pub filters: String,
    /// Photometry as AB magnitudes or fluxes in Jy.
    #[arg(long, value_enum, default_value = "ab")]
    pub mag: MagArg,
    /// Observed frame at each galaxy's redshift, or rest frame at 10 pc.
    #[arg(long, value_enum, default_value = "observed")]
    pub frame: Frame,
    /// Cosmology of the luminosity distances: planck18 or flat:H0,Om0.
    #[arg(long, default_value = "planck18", value_name = "planck18|flat:H0,Om0")]
    pub cosmology: String,
    /// Also write spectra (large: 4 bytes × n_λ per galaxy).
    #[arg(long)]
    pub spectra: bool,
    /// Comma-separated SED components: combine, dust_free, dust_attenuation, dust_emission, or
    /// all, as for `galsed sed`. With several, band columns of components other than combine get a
    /// `_<component>` suffix; --spectra takes one component.
    #[arg(long, default_value = "combine", value_name = "LIST")]
    pub component: String,
    /// Wavelength grid: base (495 points), auto (2086), full or a file of wavelengths [µm].
    #[arg(long, default_value = "base", value_name = "base|auto|full|FILE")]
    pub grid: String,
    /// Edges of the SAM age bins [yr], comma-separated (n_bins + 1 values; step mode).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        conflicts_with = "ages"
    )]
    pub age_edges: Option<Vec<f64>>,
    /// Ages of instantaneous SAM bins [yr], comma-separated (n_bins values; instant mode).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub ages: Option<Vec<f64>>,
    /// Fraction of the formed stellar mass returned to the gas (stellar and metal masses are
    /// divided by 1 − f).
    #[arg(long, default_value_t = 0.0)]
    pub frac_recycle: f64,
    /// Galaxies per chunk (the unit of work, of memory and of resumption).
    #[arg(long = "chunk-size", alias = "chunk-rows", value_name = "N", default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_rows: u64,
    /// Worker threads; default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Compute only shard i of n (0-based), e.g. 3/16 for a job array.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Discard the parts of an earlier interrupted run instead of resuming it.
    #[arg(long)]
    pub restart: bool,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}
