//! `galsed catalog run`: stream a SAM catalogue through the emulator in chunks.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::sam::{AgeBins, SamConverter};
use galsed_emulator::Component;
use galsed_emulator::predict::SpectralUnits;
use galsed_emulator::sam::SamPhotometry;
use galsed_io::sam::{self, OutputColumns};
use rayon::prelude::*;

use super::args::{Frame, RunArgs};
use super::parts::{Manifest, chunk_ranges, parse_shard, parts_dir, prepare_parts, shard_ranges};
use super::pipeline::{Pipeline, age_bins};
use crate::shared::args::MagArg;
use crate::shared::args::{component_key, parse_filters, thread_pool};
use crate::shared::{model, progress};

pub fn run_catalog(args: &RunArgs) -> Result<()> {
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
    let filters: Vec<Filter> = parse_filters(&args.filters)?;
    if filters.is_empty() {
        bail!("--filters is empty");
    }
    let components = Component::parse_list(&args.component).context("--component")?;
    // One spectrum column per row.
    if args.spectra && components.len() > 1 {
        bail!(
            "--spectra writes the spectra of one component, but --component {:?} names {}",
            args.component,
            components.len()
        );
    }
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
    let phots = components
        .iter()
        .map(|&c| SamPhotometry::new(&sd, filters.clone(), c, spectra))
        .collect();
    let lam: Vec<f64> = sd.grid().lam_eval.clone();
    let pipeline = Pipeline {
        model: sd,
        converter,
        phots,
        frame: args.frame,
        cosmology,
        magnitudes: args.mag == MagArg::Ab,
    };

    let bins_json = match &bins {
        AgeBins::Step(e) => format!("{{\"age_edges\": {}}}", serde_json::to_string(e)?),
        AgeBins::Instant(a) => format!("{{\"ages\": {}}}", serde_json::to_string(a)?),
    };
    let units = match (args.mag, args.frame) {
        (MagArg::Ab, Frame::Observed) => "AB mag (observed)",
        (MagArg::Ab, Frame::Rest) => "AB mag (absolute, rest frame)",
        (MagArg::Flux, _) => "Jy",
    };
    let settings: Vec<(String, String)> = vec![
        ("galsed.version".into(), env!("CARGO_PKG_VERSION").into()),
        (
            "galsed.filters".into(),
            serde_json::to_string(pipeline.phots[0].names())?,
        ),
        ("galsed.photometry_units".into(), units.into()),
        (
            "galsed.frame".into(),
            format!("{:?}", args.frame).to_lowercase(),
        ),
        ("galsed.cosmology".into(), cosmology_name),
        (
            "galsed.component".into(),
            components
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(","),
        ),
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
        bands: components
            .iter()
            .flat_map(|&c| {
                let names = pipeline.phots[0].names();
                // One component keeps the plain filter names of earlier runs.
                let one = components.len() == 1;
                names
                    .iter()
                    .map(move |f| if one { f.clone() } else { component_key(f, c) })
            })
            .collect(),
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

    let pool = thread_pool(args.threads)?;
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
    let counts = sam::merge(&parts, &mine, &layout, &args.output)?;
    std::fs::remove_dir_all(&parts).with_context(|| format!("removing {}", parts.display()))?;
    let format_name = match format {
        sam::OutputFormat::Parquet => "Parquet",
        sam::OutputFormat::Hdf5 => "HDF5",
    };
    eprintln!(
        "{} in {secs:.1} s ({:.0} galaxies/s on {} threads); wrote {total} rows to {} ({format_name}): {} ok, {} partial, {} invalid{}",
        progress::galaxies(computed),
        computed as f64 / secs.max(1e-9),
        pool.current_num_threads(),
        args.output.display(),
        counts.ok,
        counts.partial,
        counts.invalid,
        if counts.ok < total {
            " (the status column says why)"
        } else {
            ""
        }
    );
    Ok(())
}
