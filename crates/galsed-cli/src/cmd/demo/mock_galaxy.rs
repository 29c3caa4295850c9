//! `galsed demo --mock`: draw a mock galaxy inside the emulator's valid region, observe it in 19
//! bands, fit it, compare with the truth.

use anyhow::{Result, bail};
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::{DEFAULT19, Filter};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_fit::mock;
use galsed_fit::params::Parametrization;
use galsed_io::table::read_table;
use galsed_plot::physical::PhysicalAxis;
use galsed_plot::style::minus;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::DemoArgs;
use super::fit::{fit_catalog, write_file};
use crate::shared::model;

/// Settings of the demo fit: a shortened swarm (the paper's is 32 × 2000 × 10) and an ensemble
/// MCMC long enough to converge for the 11 tutorial parameters.
const DEMO_CONFIG: &str = "\
# galsed demo: the fit configuration (see docs/fitting.md)
[catalog]
grid = \"GRID\"
[parametrization.sfh]
model = \"interpolated\"
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

pub fn run(args: &DemoArgs, files: &ModelFiles) -> Result<()> {
    let sd = model::build(files, &model::parse_grid(&args.grid)?)?;

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
    fit_catalog(&catalog, &config, &output, files, args)?;

    // 3. How well it did.
    let res = read_table(&output)?;
    let status = res.str_column("status")?;
    if status[0] != "ok" {
        bail!("the demo fit failed: {}", status[0]);
    }
    // Physical units (θ in deg, log radii in kpc …), not the fit's unit space.
    let mut text = format!(
        "{:<14} {:>14} {:>9} {:>9} {:>21}\n",
        "parameter", "unit", "truth", "best fit", "posterior 16–84 %"
    );
    for (n, t) in param.names().iter().zip(truth.row(0)) {
        let get = |k: String| res.f64_column(&k).map(|c| c[0]);
        let axis = PhysicalAxis::of(n);
        let unit = if axis.unit.is_empty() && axis.label.ends_with("(unit space)") {
            "(unit space)"
        } else {
            axis.unit.as_str()
        };
        let (lo, hi) = axis.interval(get(format!("par_{n}_p16"))?, get(format!("par_{n}_p84"))?);
        // True minus signs (log radii, unit-space values), as in the plots.
        let num = |v: f64| minus(&format!("{v:.3}"));
        text.push_str(&format!(
            "{n:<14} {unit:>14} {:>9} {:>9} {:>9} … {:<9}\n",
            num(axis.value(*t)),
            num(axis.value(get(format!("par_{n}"))?)),
            num(lo),
            num(hi),
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
