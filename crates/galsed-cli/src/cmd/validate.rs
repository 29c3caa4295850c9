//! `galsed validate`: error distributions of a model on a data set (per wavelength, per sample and
//! in 20 filters), as a CSV table, a PNG and a summary on stdout.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use galsed_train::data::TrainingSet;
use galsed_train::validate::{ValidationReport, validate};

use crate::shared::model;

const VALIDATE_AFTER_HELP: &str = "\
The data set has the layout of `galsed train` (docs/training.md) and is prepared with the same
options (labels select the samples). CSV columns: quantity, key (wavelength index, filter or
`sample`), lam_um, n, mean, p2.5, p16, p50, p84, p97.5, abs_p50, abs_p95. Quantities:
  attenuation_<disk|bulge>          Â − A per wavelength [mag]
  attenuation_<disk|bulge>_maxabs   max_λ |Â − A| per sample [mag]
  dust_emission                     −2.5 log10(ŷ/y) per wavelength (where y ≥ 1e−4 max y)
  emission_kl, frac_abs_kl, frac_abs_rel   per sample
  selector_<disk|bulge>_correct     1 where the selector agrees with the label (mean = accuracy)
  mag_<combine|dust_attenuation|dust_emission>   m̂ − m per filter [AB mag], 20 filters, z = 0
The per-sample CSV (--samples) has one line per sample: row (order of the set; for `galsed skirt
collect` the index's), the per-sample quantities above and mag_combine_<filter>; empty cells
where a sample has no value. A set of SKIRT runs collected with `galsed skirt collect` validates
the model against radiative transfer (docs/training.md).";

#[derive(Debug, Args)]
#[command(after_long_help = VALIDATE_AFTER_HELP)]
pub struct ValidateArgs {
    /// Data set (.npz) to validate on.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// CSV table of the error distributions.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// PNG of the distributions [default: the output with extension .png].
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// CSV with one line per sample (row of the set, the per-sample quantities and the total
    /// SED's m̂ − m per filter) [default: the output with `_samples` before .csv].
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
    #[command(flatten)]
    pub prep: crate::shared::args::PrepArgs,
}

pub fn run(args: &ValidateArgs) -> Result<()> {
    let dir = model::locate(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let mut set = TrainingSet::read_npz(&args.data)?;
    set.prepare(&args.prep.preparation()?)?;
    let report = validate(&files, &set).context("validating the model")?;
    report.write_csv(&args.output)?;
    let png = args
        .plot
        .clone()
        .unwrap_or_else(|| args.output.with_extension("png"));
    galsed_plot::validation::plot_validation(&png, galsed_plot::Format::Png, &report)?;
    let samples = args.samples.clone().unwrap_or_else(|| {
        let stem = args
            .output
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy();
        args.output.with_file_name(format!("{stem}_samples.csv"))
    });
    report.write_samples_csv(&samples)?;
    print!("{}", summary(&report));
    println!(
        "wrote {}, {} and {}",
        args.output.display(),
        samples.display(),
        png.display()
    );
    Ok(())
}

/// The per-sample figures and the filter errors as text.
fn summary(r: &ValidationReport) -> String {
    let mut s = format!(
        "{} samples\n{:<28} {:>8} {:>11} {:>11} {:>11}\n",
        r.n_samples, "per sample", "n", "mean", "median", "p95(|x|)"
    );
    for row in r.rows.iter().filter(|x| x.key == "sample") {
        let m = &row.summary;
        s += &format!(
            "{:<28} {:>8} {:>11.3e} {:>11.3e} {:>11.3e}\n",
            row.quantity, m.n, m.mean, m.p50, m.abs_p95
        );
    }
    let bands = r.series("mag_combine");
    if !bands.is_empty() {
        s += &format!(
            "{:<20} {:>8} {:>11} {:>11}   (m̂ − m, combine, AB mag)\n",
            "filter", "n", "median", "p95(|x|)"
        );
        for row in bands {
            let m = &row.summary;
            s += &format!(
                "{:<20} {:>8} {:>11.2e} {:>11.2e}\n",
                row.key, m.n, m.p50, m.abs_p95
            );
        }
    }
    s
}
