//! `galsed sed`: evaluate the emulator on a table of galaxies.

mod args;
mod options;
mod output;

use anyhow::{Context, Result, anyhow, bail};
use galsed_core::filters::Filter;
use galsed_emulator::Component;
use galsed_emulator::inputs::{Batch, OutOfRange, ParamSpace, sfh_sum_warning, unit_space_gp};
use galsed_emulator::predict::{Observer, Photometry, SpectralUnits};
use galsed_io::galaxies::{GalaxyFormat, read_galaxy_table};

pub use args::SedArgs;
use args::{InputSpace, UnitsArg};
use options::{MAX_REDSHIFT, V_WINDOW, Wanted, observer};
use output::{OutputFormat, Results, Series};

use crate::shared::args::{MagArg, component_key as key, parse_filters};
use crate::shared::{model, progress};

pub fn run(args: &SedArgs) -> Result<()> {
    let threads = args
        .threads
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    crate::shared::args::thread_pool(threads)?.install(|| run_in_pool(args))
}

fn run_in_pool(args: &SedArgs) -> Result<()> {
    let in_format = GalaxyFormat::from_path(&args.input)?;
    let out_format = OutputFormat::from_path(&args.output)?;
    // Fail before a long computation rather than after it.
    if let Some(parent) = args.output.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        bail!("the output directory {} does not exist", parent.display());
    }
    // The reference's npz files hold unit space; CSV tables are written by hand in physical units.
    let space = match args.input_space.unwrap_or(match in_format {
        GalaxyFormat::Npz => InputSpace::Unit,
        GalaxyFormat::Csv => InputSpace::Physical,
    }) {
        InputSpace::Unit => ParamSpace::Unit,
        InputSpace::Physical => ParamSpace::Physical,
    };
    let comps = Component::parse_list(&args.component).context("--component")?;
    let filters: Vec<Filter> = match &args.filters {
        Some(list) => parse_filters(list)?,
        None => vec![],
    };
    let wanted = Wanted::parse(args.outputs.as_deref(), !filters.is_empty())?;
    if !filters.is_empty() && !wanted.photometry {
        eprintln!("warning: --filters given but --outputs does not include photometry");
    }
    let grid = model::parse_grid(&args.grid)?;
    let (obs, note) = observer(args.redshift, args.distmod, &args.cosmology)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    if obs.redshift > MAX_REDSHIFT {
        eprintln!(
            "warning: --redshift {} is beyond z = {MAX_REDSHIFT}, where the model no longer holds: \
             it has no intergalactic absorption (the Lyman-α forest dims the far and near UV) and \
             its oldest stars are older than the universe at that redshift",
            obs.redshift
        );
    }

    let galaxies = read_galaxy_table(&args.input, in_format)?;
    let policy = if args.clip_inputs {
        OutOfRange::Clip
    } else {
        OutOfRange::Error
    };
    let gp = unit_space_gp(&galaxies, space, policy)
        .map_err(|e| {
            let hint = if e.out_of_range {
                "\nrows are numbered from 0; pass --clip-inputs to clip out-of-range values into \
                 the model's domain as the published Starduster library does"
            } else {
                ""
            };
            anyhow!("{e}{hint}")
        })
        .with_context(|| format!("checking {}", args.input.display()))?;
    if let Some(w) = sfh_sum_warning(&galaxies, &gp) {
        eprintln!("{w}");
    }
    let batch = Batch::new(
        gp,
        galaxies.sfh_disk.clone(),
        galaxies.sfh_bulge.clone(),
        policy,
    )
    .context("checking the inputs")?;

    let dir = model::locate(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let sd = model::build(&files, &grid)?;
    let phot = if wanted.photometry {
        Some(Photometry::new(&sd, &filters, obs).context("setting up the filters")?)
    } else {
        None
    };
    let units = match args.units {
        UnitsArg::Lum => SpectralUnits::Luminosity,
        UnitsArg::Fnu => SpectralUnits::Fnu,
    };

    let n = batch.len();
    let lam_um = sd.grid().lam_eval.clone();
    let mut res = Results {
        n,
        ids: galaxies.ids.clone(),
        lam_obs_um: obs.observed_grid(&lam_um),
        lam_um,
        redshift: obs.redshift,
        distmod: obs.distmod,
        spectrum_units: match units {
            SpectralUnits::Luminosity => "L_sun (rest-frame lambda*L_lambda)",
            SpectralUnits::Fnu => "Jy (observed-frame F_nu on lam_obs_um)",
        },
        photometry_units: match args.mag {
            MagArg::Ab => "AB mag",
            MagArg::Flux => "Jy",
        },
        ..Results::default()
    };
    if wanted.spectrum {
        res.spectra = comps
            .iter()
            .map(|&c| Series::new(key("spectrum", c)))
            .collect();
    }
    if let Some(p) = &phot {
        res.filters = filters
            .iter()
            .map(|f| (f.name.clone(), f.pivot_wavelength_angstrom() * 1e-4))
            .collect();
        debug_assert_eq!(p.names().len(), filters.len());
        res.photometry = comps
            .iter()
            .map(|&c| Series::new(key("photometry", c)))
            .collect();
    }
    let mut frac = Series::new("frac_abs".into());
    let mut l_ir = Series::new("L_IR".into());
    let mut lp_disk = Series::new("log_p_in_disk".into());
    let mut lp_bulge = Series::new("log_p_in_bulge".into());
    let mut att_v = Series::new("att_V".into());
    let mut att_v_ok = wanted.attenuation;
    let mut att_curve: Vec<f32> = vec![];

    let bar = progress::rows_bar(n as u64);
    let chunk = usize::try_from(args.chunk_size).unwrap_or(usize::MAX);
    for start in (0..n).step_by(chunk) {
        let end = start.saturating_add(chunk).min(n);
        let b = batch.rows(start, end);
        for (i, &c) in comps.iter().enumerate() {
            if wanted.spectrum {
                res.spectra[i]
                    .data
                    .extend(sd.spectrum(&b, c, units, obs).iter());
            }
            if let Some(p) = &phot {
                let data = &mut res.photometry[i].data;
                match args.mag {
                    MagArg::Ab => data.extend(sd.magnitudes(&b, c, p).iter()),
                    MagArg::Flux => data.extend(sd.fluxes(&b, c, p).iter().map(|&v| f64::from(v))),
                }
            }
        }
        if wanted.absorption {
            frac.data
                .extend(sd.absorption_fraction(&b).into_iter().map(f64::from));
            l_ir.data.extend(sd.l_ir(&b));
        }
        if wanted.selectors {
            let (d, bl) = sd.selector_log_probs(&b);
            lp_disk.data.extend(d.into_iter().map(f64::from));
            lp_bulge.data.extend(bl.into_iter().map(f64::from));
        }
        if wanted.attenuation {
            let curves = sd.attenuation_curves(&b);
            res.att_lam_um = curves.lam_um;
            att_curve.extend(curves.mag.iter());
            if att_v_ok {
                match sd.windowed_attenuation(&b, &[V_WINDOW], Observer::default()) {
                    Ok(v) => att_v.data.extend(v.iter()),
                    Err(e) => {
                        eprintln!("warning: no att_V output: {e}");
                        att_v_ok = false;
                    }
                }
            }
        }
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();

    if wanted.absorption {
        res.scalars.extend([frac, l_ir]);
    }
    if wanted.selectors {
        res.scalars.extend([lp_disk, lp_bulge]);
    }
    if wanted.attenuation {
        if att_v_ok {
            res.scalars.push(att_v);
        }
        if res.att_lam_um.is_empty() {
            eprintln!("warning: no att_curve output: the grid has no point below 1 µm");
        } else {
            res.att_curve = Some(att_curve);
        }
    }
    let written = output::write(&args.output, out_format, &res)?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
