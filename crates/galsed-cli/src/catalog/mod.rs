//! `galsed catalog`: photometry (and spectra) for catalogues of simulated galaxies from
//! semi-analytic models, streamed in chunks with bounded memory, on every core, resumable after a
//! kill, and splittable into shards for job arrays.

pub mod synth;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::sam::{AgeBins, SamConverter};
use galsed_core::units::ab_mag;
use galsed_emulator::predict::{Observer, Observers, SpectralUnits};
use galsed_emulator::sam::{SamPhotometry, SamRows};
use galsed_emulator::{Component, Starduster};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{filters_cmd, model, progress};
use galsed_io::sam::{self, ChunkResult, OutputColumns, SamChunk, Source};

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

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Compute photometry (and spectra) for a SAM catalogue, streamed in chunks.
    Run(Box<RunArgs>),
    /// Write a synthetic SAM catalogue (HDF5 or Parquet) for tests and benchmarks.
    Synth(SynthArgs),
}

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
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Results: .parquet or .h5/.hdf5.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Comma-separated filters (built-in names, files, or the preset default19).
    #[arg(long, default_value = "default19", value_name = "LIST")]
    pub filters: String,
    /// Photometry as AB magnitudes or fluxes in Jy.
    #[arg(long, value_enum, default_value = "ab")]
    pub mag: crate::MagArg,
    /// Observed frame at each galaxy's redshift, or rest frame at 10 pc.
    #[arg(long, value_enum, default_value = "observed")]
    pub frame: Frame,
    /// Cosmology of the luminosity distances: planck18 or flat:H0,Om0.
    #[arg(long, default_value = "planck18", value_name = "planck18|flat:H0,Om0")]
    pub cosmology: String,
    /// Also write spectra (large: 4 bytes × n_λ per galaxy).
    #[arg(long)]
    pub spectra: bool,
    /// SED component.
    #[arg(
        long,
        default_value = "combine",
        value_name = "combine|dust_free|dust_attenuation|dust_emission"
    )]
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
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..))]
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

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output catalogue: .h5/.hdf5 or .parquet.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Number of galaxies.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Number of SAM age bins (log-spaced edges from 10^5.8 to 10^10.5 yr).
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Highest redshift (uniform in [0.01, z_max]).
    #[arg(long, default_value_t = 0.5)]
    pub z_max: f64,
    /// Fraction of deliberately invalid rows (negative or NaN entries), to exercise the per-row
    /// error reports.
    #[arg(long, default_value_t = 1e-4)]
    pub invalid_fraction: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(cmd: &CatalogCommand) -> Result<()> {
    match cmd {
        CatalogCommand::Run(args) => run_catalog(args),
        CatalogCommand::Synth(args) => synth::run(args),
    }
}

/// Parses `--shard i/n`.
fn parse_shard(spec: Option<&str>) -> Result<(usize, usize)> {
    let Some(spec) = spec else { return Ok((0, 1)) };
    let usage = || anyhow!("--shard {spec:?}: expected i/n with 0 ≤ i < n, e.g. 0/4");
    let (i, n) = spec.split_once('/').ok_or_else(usage)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| usage())?,
        n.trim().parse().map_err(|_| usage())?,
    );
    if n == 0 || i >= n {
        return Err(usage());
    }
    Ok((i, n))
}

/// Chunks of at most `chunk_rows` rows that do not cross the source's natural boundaries.
fn chunk_ranges(boundaries: &[u64], chunk_rows: u64) -> Vec<(u64, u64)> {
    let mut out = vec![];
    for w in boundaries.windows(2) {
        let mut a = w[0];
        while a < w[1] {
            let b = (a + chunk_rows).min(w[1]);
            out.push((a, b));
            a = b;
        }
    }
    out
}

/// The contiguous slice of `ranges` that shard i of n computes.
fn shard_ranges(ranges: &[(u64, u64)], (i, n): (usize, usize)) -> &[(u64, u64)] {
    let k = ranges.len();
    &ranges[i * k / n..(i + 1) * k / n]
}

/// What a set of parts was computed with: a resumed run must match it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    input: PathBuf,
    input_bytes: u64,
    n_rows: u64,
    chunk_rows: u64,
    shard: (usize, usize),
    settings: Vec<(String, String)>,
}

/// Everything a worker needs to turn a chunk of catalogue rows into results.
struct Pipeline {
    model: Starduster,
    converter: SamConverter,
    phot: SamPhotometry,
    frame: Frame,
    cosmology: Cosmology,
    magnitudes: bool,
}

impl Pipeline {
    fn observer(&self, z: Option<f64>) -> Result<Observer, String> {
        if self.frame == Frame::Rest {
            return Ok(Observer::default());
        }
        let z = z.ok_or("no redshift (use --frame rest for catalogues without one)")?;
        if !(z.is_finite() && z >= 0.0) {
            return Err(format!("redshift {z} is not finite and ≥ 0"));
        }
        let mu = if z > 0.0 {
            self.cosmology
                .distance_modulus(z)
                .map_err(|e| e.to_string())?
        } else {
            0.0
        };
        Observer::new(z, mu).map_err(|e| e.to_string())
    }

    fn compute(&self, c: &SamChunk) -> Result<ChunkResult> {
        let n = c.len();
        let mut status = vec![String::from("ok"); n];
        let mut observers = vec![Observer::default(); n];
        let mut skip = vec![false; n];
        let mut last: Option<(f64, Observer)> = None;
        for i in 0..n {
            let z = c.redshift.as_ref().map(|z| z[i]);
            let observer = match (z, last) {
                (Some(z), Some((lz, o))) if z.to_bits() == lz.to_bits() => Ok(o),
                _ => self.observer(z),
            };
            match observer {
                Ok(o) => {
                    observers[i] = o;
                    last = z.map(|z| (z, o));
                }
                Err(e) => {
                    status[i] = format!("invalid: {e}");
                    skip[i] = true;
                }
            }
        }
        let observers = Observers::PerRow(observers);
        let rows = SamRows {
            n_bins: c.n_bins,
            scalars: c.scalars.each_ref().map(Vec::as_slice),
            histories: c.histories.each_ref().map(Vec::as_slice),
        };
        let result = self
            .phot
            .compute(&self.model, &self.converter, &rows, &observers, &skip)
            .with_context(|| format!("rows {}..{}", c.start, c.start + n as u64))?;
        let conv = &result.converted;
        for (i, e) in conv.errors.iter().enumerate() {
            if let Some(e) = e {
                status[i] = format!("invalid: {e}");
            }
        }
        let n_bands = self.phot.names().len();
        let mut bands = vec![f64::NAN; n * n_bands];
        for &i in &conv.good {
            for b in 0..n_bands {
                let f = f64::from(result.fluxes[[i, b]]);
                bands[i * n_bands + b] = if self.magnitudes { ab_mag(f) } else { f };
            }
            // NaN fluxes are exactly the bands the model does not cover at this redshift.
            let uncovered: Vec<&str> = result
                .uncovered(i)
                .into_iter()
                .map(|b| self.phot.names()[b].as_str())
                .collect();
            if !uncovered.is_empty() {
                status[i] = format!(
                    "partial: outside the model at z = {}: {}",
                    observers.get(i).redshift,
                    uncovered.join(", ")
                );
            }
        }
        let redshift = match &c.redshift {
            Some(z) if self.frame == Frame::Observed => z.clone(),
            _ => vec![0.0; n],
        };
        let distmod = status
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.starts_with("invalid") {
                    f64::NAN
                } else {
                    observers.get(i).distmod
                }
            })
            .collect();
        Ok(ChunkResult {
            start: c.start,
            id: c.id.clone(),
            status,
            scalars: [redshift, distmod, conv.l_norm(), conv.b_to_t()],
            bands,
            spectra: result.spectra.map(|s| s.into_raw_vec_and_offset().0),
        })
    }
}

fn age_bins(args: &RunArgs, source: &dyn Source) -> Result<AgeBins> {
    match (&args.age_edges, &args.ages) {
        (Some(e), _) => Ok(AgeBins::Step(e.clone())),
        (_, Some(a)) => Ok(AgeBins::Instant(a.clone())),
        _ => source.age_bins().ok_or_else(|| {
            anyhow!(
                "{} does not store its age bins: give --age-edges (n_bins + 1 edges) or --ages \
                 (n_bins ages) in yr",
                args.input.display()
            )
        }),
    }
}

fn run_catalog(args: &RunArgs) -> Result<()> {
    let format = sam::OutputFormat::from_path(&args.output)?;
    let shard = parse_shard(args.shard.as_deref())?;
    if let Some(parent) = args.output.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        bail!("the output directory {} does not exist", parent.display());
    }
    let source = sam::open(&args.input)?;
    let bins = age_bins(args, source.as_ref())?;
    let n_edges = match &bins {
        AgeBins::Step(e) => e.len().saturating_sub(1),
        AgeBins::Instant(a) => a.len(),
    };
    if n_edges != source.n_bins() {
        bail!(
            "the age bins describe {n_edges} SAM bins but {} has {} per galaxy",
            args.input.display(),
            source.n_bins()
        );
    }
    if args.frame == Frame::Observed && !source.has_redshift() {
        bail!(
            "{} has no redshift column: add one, or use --frame rest",
            args.input.display()
        );
    }
    let filters: Vec<Filter> = filters_cmd::parse_list(&args.filters)?;
    if filters.is_empty() {
        bail!("--filters is empty");
    }
    let components = Component::parse_list(&args.component).context("--component")?;
    let [component] = components.as_slice() else {
        bail!("--component takes one component, got {:?}", args.component);
    };
    let (cosmology, cosmology_name) = Cosmology::parse(&args.cosmology).context("--cosmology")?;
    let grid = model::parse_grid(&args.grid)?;

    let dir = model::locate(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let converter = SamConverter::new(&files.ssp, bins.clone(), args.frac_recycle)
        .context("the SAM age bins")?;
    let sd = model::build(&files, &grid)?;
    let spectra = args.spectra.then_some(match args.frame {
        Frame::Observed => SpectralUnits::Fnu,
        Frame::Rest => SpectralUnits::Luminosity,
    });
    let phot = SamPhotometry::new(&sd, filters, *component, spectra);
    let lam: Vec<f64> = sd.grid().lam_eval.clone();
    let pipeline = Pipeline {
        model: sd,
        converter,
        phot,
        frame: args.frame,
        cosmology,
        magnitudes: args.mag == crate::MagArg::Ab,
    };

    let bins_json = match &bins {
        AgeBins::Step(e) => format!("{{\"age_edges\": {}}}", serde_json::to_string(e)?),
        AgeBins::Instant(a) => format!("{{\"ages\": {}}}", serde_json::to_string(a)?),
    };
    let units = match (args.mag, args.frame) {
        (crate::MagArg::Ab, Frame::Observed) => "AB mag (observed)",
        (crate::MagArg::Ab, Frame::Rest) => "AB mag (absolute, rest frame)",
        (crate::MagArg::Flux, _) => "Jy",
    };
    let settings: Vec<(String, String)> = vec![
        ("galsed.version".into(), env!("CARGO_PKG_VERSION").into()),
        (
            "galsed.filters".into(),
            serde_json::to_string(pipeline.phot.names())?,
        ),
        ("galsed.photometry_units".into(), units.into()),
        (
            "galsed.frame".into(),
            format!("{:?}", args.frame).to_lowercase(),
        ),
        ("galsed.cosmology".into(), cosmology_name),
        ("galsed.component".into(), component.name().into()),
        ("galsed.grid".into(), args.grid.clone()),
        ("galsed.sam_bins".into(), bins_json),
        ("galsed.frac_recycle".into(), args.frac_recycle.to_string()),
        (
            "galsed.spectrum_units".into(),
            match (args.spectra, args.frame) {
                (false, _) => "none".into(),
                (true, Frame::Observed) => "F_nu [Jy] on lam_um·(1+z)".into(),
                (true, Frame::Rest) => "lambda L_lambda [L_sun] on lam_um".into(),
            },
        ),
        ("galsed.lam_um".into(), serde_json::to_string(&lam)?),
    ];
    let layout = OutputColumns {
        bands: pipeline.phot.names().to_vec(),
        n_lam: args.spectra.then_some(lam.len()),
        metadata: settings.clone(),
    };

    let all = chunk_ranges(&source.boundaries(), args.chunk_rows);
    let mine = shard_ranges(&all, shard).to_vec();
    let parts = parts_dir(&args.output);
    let manifest = Manifest {
        input: std::fs::canonicalize(&args.input)?,
        input_bytes: std::fs::metadata(&args.input)?.len(),
        n_rows: source.n_rows(),
        chunk_rows: args.chunk_rows,
        shard,
        settings,
    };
    let done = prepare_parts(&parts, &manifest, args.restart)?;
    let todo: Vec<(u64, u64)> = mine.iter().copied().filter(|r| !done.contains(r)).collect();
    let total: u64 = mine.iter().map(|(a, b)| b - a).sum();
    let already: u64 = total - todo.iter().map(|(a, b)| b - a).sum::<u64>();
    if already > 0 {
        eprintln!(
            "resuming: {already} of {total} galaxies already computed in {}",
            parts.display()
        );
    }

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let bar = progress::rate_bar(total);
    bar.set_position(already);
    let failed = AtomicBool::new(false);
    let t0 = std::time::Instant::now();
    pool.install(|| {
        todo.par_iter()
            .with_max_len(1)
            .try_for_each(|&(a, b)| -> Result<()> {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let work = || -> Result<()> {
                    let chunk = source.read(a, b)?;
                    let result = pipeline.compute(&chunk)?;
                    sam::write_part(&parts, &layout, &result)
                };
                work().inspect_err(|_| failed.store(true, Ordering::Relaxed))?;
                bar.inc(b - a);
                Ok(())
            })
    })?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let computed = total - already;
    sam::merge(&parts, &mine, &layout, &args.output)?;
    std::fs::remove_dir_all(&parts).with_context(|| format!("removing {}", parts.display()))?;
    let format_name = match format {
        sam::OutputFormat::Parquet => "Parquet",
        sam::OutputFormat::Hdf5 => "HDF5",
    };
    eprintln!(
        "{computed} galaxies in {secs:.1} s ({:.0} galaxies/s on {threads} threads); wrote {total} rows to {} ({format_name})",
        computed as f64 / secs.max(1e-9),
        args.output.display()
    );
    Ok(())
}

/// `<output>.parts`, where finished chunks wait to be merged.
fn parts_dir(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".parts");
    output.with_file_name(name)
}

/// Creates (or checks, to resume) the parts directory; returns the row ranges already done.
fn prepare_parts(dir: &Path, manifest: &Manifest, restart: bool) -> Result<HashSet<(u64, u64)>> {
    let manifest_path = dir.join("manifest.json");
    if restart && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if dir.exists() {
        let text = std::fs::read_to_string(&manifest_path).with_context(|| {
            format!(
                "{} exists but holds no manifest.json: remove it or use --restart",
                dir.display()
            )
        })?;
        let earlier: Manifest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a galsed manifest: remove it or use --restart",
                manifest_path.display()
            )
        })?;
        if &earlier != manifest {
            bail!(
                "{} holds the parts of a run with other inputs or settings; run that command \
                 again to finish it, or use --restart to discard it",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join("manifest.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(manifest)?)?;
        std::fs::rename(&tmp, &manifest_path)?;
    }
    let mut done = HashSet::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            // A part a killed run was writing.
            std::fs::remove_file(dir.join(&name))?;
            continue;
        }
        if let Some(range) = name
            .strip_prefix("rows-")
            .and_then(|r| r.strip_suffix(".parquet"))
            && let Some((a, b)) = range.split_once('-')
            && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
        {
            done.insert((a, b));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_boundaries_and_shards_tile_them() {
        let r = chunk_ranges(&[0, 5, 12], 4);
        assert_eq!(r, vec![(0, 4), (4, 5), (5, 9), (9, 12)]);
        let joined: Vec<_> = (0..3)
            .flat_map(|i| shard_ranges(&r, (i, 3)).to_vec())
            .collect();
        assert_eq!(joined, r);
        assert!(parse_shard(Some("3/3")).is_err());
        assert!(parse_shard(Some("x")).is_err());
        assert_eq!(parse_shard(Some("1/4")).unwrap(), (1, 4));
    }
}
