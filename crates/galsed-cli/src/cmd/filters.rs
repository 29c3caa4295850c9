//! `galsed filters …`: list and inspect the filter curves.

use anyhow::{Context, Result};
use clap::Subcommand;
use galsed_core::filters::{Filter, builtin_names};

use crate::shared::progress::print_stdout;

#[derive(Debug, Subcommand)]
pub enum FiltersCommand {
    /// List the built-in filters with their pivot wavelengths.
    List,
    /// Print a filter's summary and its transmission curve (wavelength in Å, transmission).
    Show {
        /// Built-in name or filter file.
        #[arg(value_name = "NAME|FILE")]
        filter: String,
    },
}

pub fn run(cmd: &FiltersCommand) -> Result<()> {
    match cmd {
        FiltersCommand::List => list(),
        FiltersCommand::Show { filter } => show(filter),
    }
}

fn pivot_um(f: &Filter) -> f64 {
    f.pivot_wavelength_angstrom() * 1e-4
}

fn list() -> Result<()> {
    let mut rows: Vec<(f64, String, f64, f64)> = builtin_names()
        .into_iter()
        .filter_map(|name| {
            let f = Filter::builtin(name).ok()?;
            let lam = &f.wavelength_angstrom;
            Some((
                pivot_um(&f),
                name.to_owned(),
                lam[0] * 1e-4,
                lam[lam.len() - 1] * 1e-4,
            ))
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = format!("{:<24} {:>12} {:>22}\n", "name", "pivot [µm]", "range [µm]");
    for (pivot, name, lo, hi) in rows {
        out.push_str(&format!(
            "{name:<24} {pivot:>12.4} {:>22}\n",
            format!("{lo:.4}–{hi:.4}")
        ));
    }
    out.push_str(
        "# also: `--filters default19` (the 19 bands GALEX FUV/NUV, SDSS ugriz, 2MASS JHKs, WISE 1–4, \
         PACS 100/160, SPIRE 250/350/500) and filter files (wavelength [Å], transmission)\n",
    );
    print_stdout(&out)
}

fn show(spec: &str) -> Result<()> {
    let f = Filter::resolve(spec).with_context(|| format!("filter {spec:?}"))?;
    let lam = &f.wavelength_angstrom;
    let mut out = format!(
        "# filter: {}\n# pivot wavelength: {:.6} µm\n# points: {}, range {:.4}–{:.4} µm\n# wavelength_angstrom,transmission\n",
        f.name,
        pivot_um(&f),
        lam.len(),
        lam[0] * 1e-4,
        lam[lam.len() - 1] * 1e-4
    );
    for (w, t) in lam.iter().zip(&f.transmission) {
        out.push_str(&format!("{w},{t}\n"));
    }
    print_stdout(&out)
}
