//! `galsed demo`: fit NGC 628 from the KINGFISH photometry that galsed carries
//! (`data/kingfish/`, Dale et al. 2017, MIT licence) and show what the fit says.

use anyhow::{Context, Result, bail};
use galsed_core::units::{ab_mag, ab_to_jy};
use galsed_emulator::model_files::ModelFiles;
use galsed_io::table::read_table;
use galsed_plot::style::minus;

use super::DemoArgs;
use super::fit::{fit_catalog, write_file};

/// The shipped catalogue (embedded, so that the demo works wherever the binary is installed).
const CATALOG: &str = include_str!("../../../../../data/kingfish/kingfish.csv");
/// Its licence notice, written next to the copy the demo makes.
const LICENSE: &str = include_str!("../../../../../data/kingfish/LICENSE");
/// The galaxy the demo fits.
const GALAXY: &str = "NGC_0628";

/// The demo fit: the paper's three merged SFH bins with the simplex transform, the fast
/// multi-start optimiser and a short ensemble MCMC for the corner plot.
const CONFIG: &str = "\
# galsed demo: the fit configuration (see docs/fitting.md and docs/real-galaxies.md)
[catalog]
quantity = \"flux\"
flux_unit = \"Jy\"
grid = \"GRID\"
[parametrization.sfh]
model = \"discrete\"
bins = [[0, 2], [2, 4], [4, 6]]
simplex = true
[optimizer]
method = \"multistart\"
[sampler]
method = \"ensemble\"
n_derived = 200
[sampler.ensemble]
n_steps = 4000
";

/// Physical properties printed with their posterior intervals: column, label, unit, scale.
const SHOWN: [(&str, &str, &str, f64); 7] = [
    ("m_star", "stellar mass", "1e9 M_sun", 1e9),
    ("sfr", "SFR (100 Myr)", "M_sun/yr", 1.0),
    ("l_ir", "L_dust", "1e9 L_sun", 1e9),
    ("att_v", "A_V", "mag", 1.0),
    ("theta", "inclination", "deg", 1.0),
    ("m_dust", "dust mass", "1e6 M_sun", 1e6),
    ("mwa", "mass-weighted age", "Gyr", 1e9),
];

/// The header and the galaxy's row of the embedded catalogue.
fn galaxy_rows() -> Result<String> {
    let mut lines = CATALOG.lines();
    let header = lines.next().context("the embedded catalogue is empty")?;
    let row = lines
        .find(|l| l.split(',').next() == Some(GALAXY))
        .with_context(|| format!("{GALAXY} is not in the embedded catalogue"))?;
    Ok(format!("{header}\n{row}\n"))
}

pub fn run(args: &DemoArgs, files: &ModelFiles) -> Result<()> {
    let catalog = args.out.join("ngc628_catalog.csv");
    write_file(&catalog, &galaxy_rows()?)?;
    let license = args.out.join("ngc628_catalog.LICENSE");
    write_file(
        &license,
        &format!(
            "ngc628_catalog.csv: KINGFISH photometry of NGC 628 (Dale et al. 2017, ApJ 837, 90) \
             as distributed with the Lightning SED-fitting code, converted by galsed \
             (data/kingfish/README.md).\n\n{LICENSE}"
        ),
    )?;
    let config = args.out.join("demo_fit.toml");
    write_file(&config, &CONFIG.replace("GRID", &args.grid))?;

    let output = args.out.join("demo_fit.csv");
    eprintln!(
        "fitting NGC 628 (KINGFISH photometry, 24 bands FUV–500 µm, Dale et al. 2017; MIT licence) \
         with 15 parameters (multi-start L-BFGS-B, then ensemble MCMC)…"
    );
    let start = std::time::Instant::now();
    fit_catalog(&catalog, &config, &output, files, args)?;
    let seconds = start.elapsed().as_secs_f64();

    let res = read_table(&output)?;
    let status = res.str_column("status")?;
    if status[0] != "ok" {
        bail!("the demo fit failed: {}", status[0]);
    }
    let get = |k: &str| res.f64_column(k).map(|c| c[0]);
    let mut text = format!(
        "NGC 628 at {:.2} Mpc: χ² = {:.1} for {} bands, fitted in {seconds:.1} s\n\n",
        10f64.powf((get("distmod")? - 25.0) / 5.0),
        get("chi2")?,
        get("n_bands")?
    );
    text.push_str(&format!(
        "{:<18} {:>10} {:>9} {:>21}\n",
        "property", "unit", "best fit", "posterior 16–84 %"
    ));
    for (col, label, unit, scale) in SHOWN {
        let v = |suffix: &str| {
            get(&format!("{col}{suffix}")).map(|v| minus(&format!("{:.3}", v / scale)))
        };
        text.push_str(&format!(
            "{label:<18} {unit:>10} {:>9} {:>9} … {:<9}\n",
            v("")?,
            v("_p16")?,
            v("_p84")?
        ));
    }
    let obs = read_table(&catalog)?;
    text.push_str(&format!(
        "\n{:<20} {:>10} {:>10} {:>14} {:>9}\n",
        "band", "obs [Jy]", "model [Jy]", "obs−model [mag]", "(o−m)/σ"
    ));
    for name in obs.names() {
        let Ok(model) = get(&format!("model_{name}")) else {
            continue;
        };
        let f = obs.f64_column(name)?[0];
        let sigma = obs.f64_column(&format!("{name}_err"))?[0];
        let m = ab_to_jy(model);
        // True minus signs, as in the headings and the plots.
        text.push_str(&format!(
            "{name:<20} {f:>10.4} {m:>10.4} {:>14} {:>9}\n",
            minus(&format!("{:+.3}", ab_mag(f) - model)),
            minus(&format!("{:+.2}", (f - m) / sigma))
        ));
    }
    text.push('\n');
    for p in [
        catalog,
        license,
        config,
        output,
        args.out.join(format!("{GALAXY}.{}", args.format.ext())),
        args.out
            .join(format!("{GALAXY}_corner.{}", args.format.ext())),
    ] {
        text.push_str(&format!("wrote {}\n", p.display()));
    }
    text.push_str("(galsed demo --mock: a mock galaxy drawn from the model, with its truth)\n");
    crate::shared::progress::print_stdout(&text)
}
