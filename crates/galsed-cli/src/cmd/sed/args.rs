//! The arguments of `galsed sed`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::shared::args::MagArg;

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

const SED_AFTER_HELP: &str = "\
INPUT
  .npz: arrays gp (N,7), sfh_disk (N,36), sfh_bulge (N,36), float64 or float32 (unit space by
        default; --input-space physical reads gp in physical units).
  .csv: a header row with the columns theta, den_dust, r_dust_to_rd, r_disk, r_bulge, l_norm,
        b_to_t, sfh_disk_0 … sfh_disk_35, sfh_bulge_0 … sfh_bulge_35 (in any order; other columns
        are ignored, except id, which .csv and .parquet outputs keep). Physical units by default;
        '#' starts a comment line.
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
.npz holds all keys. .csv writes one row per galaxy (column 'row', the input's 'id' when a CSV
input has one, photometry as one column per band named <filter>[_<comp>], and the scalars); spectra and attenuation curves go to a second,
long-format file <output stem>_spectrum.csv with columns row, lam_um, lam_obs_um, spectrum…,
att_curve. .parquet writes one row per galaxy with spectra and curves as fixed-size list columns
and the grids, units and filters in the file's key-value metadata (galsed.*); it keeps 'id' too.

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
    /// Redshift of the observer (stretches the observed grid by 1+z). Warns above z = 1, where
    /// the model's assumptions fail (no intergalactic absorption, stars older than the universe).
    // Negative values reach our own check, which says why they are refused.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "Z",
        allow_negative_numbers = true
    )]
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
    /// Worker threads; default: all cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: Option<u64>,
}
