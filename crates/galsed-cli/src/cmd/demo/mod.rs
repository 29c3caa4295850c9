//! `galsed demo`: draw a mock galaxy, fit its photometry, plot the fit.

mod fit;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::{DEFAULT19, Filter};
use galsed_emulator::predict::{Observer, Photometry};
use galsed_fit::mock;
use galsed_fit::params::Parametrization;
use galsed_io::store::{self, DEFAULT_BASE_URL, MODEL_DIR_ENV, ModelDir, ModelDirSource};
use galsed_io::table::read_table;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::shared::args::PlotFormat;
use crate::shared::model::{self, ModelFormat};
use fit::{fit_catalog, write_file};

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

/// The model for the demo: the usual lookup, fetching into the cache when nothing is there yet.
fn ensure_model(explicit: Option<&Path>) -> Result<ModelDir> {
    let dir = store::resolve_model_dir(explicit)?;
    if dir.source != ModelDirSource::Cache || model::model_format(&dir.path) != ModelFormat::Nothing
    {
        return model::locate(explicit);
    }
    let bytes: u64 = store::MODEL_FILES.iter().map(|f| f.size).sum();
    eprintln!(
        "no model found; downloading the published Starduster files ({:.1} MB) into {}",
        bytes as f64 / 1e6,
        dir.path.display()
    );
    if let Err(e) = model::fetch_into(&dir.path, DEFAULT_BASE_URL) {
        bail!(
            "{e:#}\n\nthe model files could not be downloaded. Without network access, point \
             {MODEL_DIR_ENV} (or --model) at a directory holding them, or copy them into the cache \
             with `galsed model fetch --from DIR`"
        );
    }
    Ok(dir)
}

/// Settings of the demo fit: a shortened swarm (the paper's is 32 × 2000 × 10) and an ensemble
/// MCMC long enough to converge for the 11 tutorial parameters.
const DEMO_CONFIG: &str = "\
# galsed demo: the fit configuration (see docs/fitting.md)
[catalog]
grid = \"GRID\"
[optimizer]
method = \"pso\"
polish = true
[optimizer.pso]
n_particles = 32
n_iterations = 300
n_restarts = 4
[sampler]
method = \"ensemble\"
[sampler.ensemble]
n_steps = 4000
until_converged = true
";

/// Redshift of the mock galaxy (distance from Planck18) and its photometric errors [mag].
const REDSHIFT: f64 = 0.02;
const SIGMA_MAG: f64 = 0.1;

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = ensure_model(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let sd = model::build(&files, &model::parse_grid(&args.grid)?)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;

    // 1. A mock galaxy inside the emulator's valid region, observed in 19 bands with 0.1 mag noise.
    let param = Parametrization::tutorial(&files.ssp);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let truth = mock::draw_valid(&sd, &param, 1, 100_000, &mut rng)?;
    let filters = DEFAULT19
        .iter()
        .map(|n| Filter::builtin(n))
        .collect::<Result<Vec<_>, _>>()?;
    let distmod = Cosmology::planck18().distance_modulus(REDSHIFT)?;
    let phot = Photometry::new(&sd, &filters, Observer::new(REDSHIFT, distmod)?)?;
    let (mags, _) = mock::observe_magnitudes(&sd, &param, &phot, &truth, SIGMA_MAG, &mut rng)?;

    let mut header = vec!["id".to_string(), "redshift".into()];
    let mut row = vec!["mock".to_string(), format!("{REDSHIFT}")];
    for (f, m) in DEFAULT19.iter().zip(mags.row(0)) {
        header.extend([f.to_string(), format!("{f}_err")]);
        row.extend([format!("{m:.5}"), format!("{SIGMA_MAG}")]);
    }
    for (n, v) in param.names().iter().zip(truth.row(0)) {
        header.push(format!("truth_{n}"));
        row.push(format!("{v}"));
    }
    let catalog = args.out.join("mock_catalog.csv");
    write_file(
        &catalog,
        &format!("{}\n{}\n", header.join(","), row.join(",")),
    )?;
    let config = args.out.join("demo_fit.toml");
    write_file(&config, &DEMO_CONFIG.replace("GRID", &args.grid))?;

    // 2. Fit it exactly as `galsed fit` would (one worker, no resume file).
    let output = args.out.join("demo_fit.csv");
    eprintln!("fitting a mock galaxy at z = {REDSHIFT} in 19 bands (swarm, then ensemble MCMC)…");
    fit_catalog(&catalog, &config, &output, &files, args)?;

    // 3. How well it did.
    let res = read_table(&output)?;
    let status = res.str_column("status")?;
    if status[0] != "ok" {
        bail!("the demo fit failed: {}", status[0]);
    }
    let mut text = format!(
        "{:<14} {:>9} {:>9} {:>20}\n",
        "parameter", "truth", "best fit", "posterior 16–84 %"
    );
    for (n, t) in param.names().iter().zip(truth.row(0)) {
        let get = |k: String| res.f64_column(&k).map(|c| c[0]);
        text.push_str(&format!(
            "{n:<14} {t:>9.3} {:>9.3} {:>9.3} … {:<9.3}\n",
            get(format!("par_{n}"))?,
            get(format!("par_{n}_p16"))?,
            get(format!("par_{n}_p84"))?
        ));
    }
    let written = [
        catalog,
        config,
        output,
        args.out.join(format!("mock.{}", args.format.ext())),
        args.out.join(format!("mock_corner.{}", args.format.ext())),
    ];
    for p in &written {
        text.push_str(&format!("wrote {}\n", p.display()));
    }
    crate::shared::progress::print_stdout(&text)
}
