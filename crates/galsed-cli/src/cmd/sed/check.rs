//! Checking the galaxy table before it reaches the model: unit-space conversion and SFH sums.

use anyhow::{Result, bail};
use galsed_core::params::GALAXY_PARAMS;
use galsed_emulator::{N_GP, N_SSP};

use super::args::InputSpace;
use super::input::Galaxies;
use crate::shared::model::short;

/// Converts `gp` to unit space and checks every value. Out-of-range values are refused unless
/// `clip` (the model clips them later); NaN, ∞ and physical values without a unit-space image
/// (e.g. a negative radius) are always refused. Returns the unit-space `gp`.
pub fn to_unit_space(g: &Galaxies, space: InputSpace, clip: bool) -> Result<Vec<f64>> {
    let mut problems = Problems::default();
    let mut unit = Vec::with_capacity(g.gp.len());
    for (i, row) in g.gp.chunks(N_GP).enumerate() {
        for (j, (&x, p)) in row.iter().zip(GALAXY_PARAMS.iter()).enumerate() {
            if !x.is_finite() {
                problems.push(format!(
                    "{}: {} (gp column {j}) is {x}",
                    g.row_name(i),
                    p.name
                ));
                unit.push(0.0);
                continue;
            }
            let u = match space {
                InputSpace::Unit => x,
                InputSpace::Physical => match p.to_unit(x) {
                    Ok(u) => u,
                    Err(e) => {
                        problems.push(format!("{}: {e}", g.row_name(i)));
                        unit.push(0.0);
                        continue;
                    }
                },
            };
            if !clip && !(-1.0..=1.0).contains(&u) {
                problems.out_of_range = true;
                problems.push(match space {
                    InputSpace::Unit => format!(
                        "{}: {} (gp column {j}) = {x} is outside [-1, 1]",
                        g.row_name(i),
                        p.name
                    ),
                    InputSpace::Physical => {
                        let (lo, hi) = p.physical_range();
                        format!(
                            "{}: {} = {x} {} is outside the model's range {} … {}",
                            g.row_name(i),
                            p.name,
                            p.unit,
                            short(lo.min(hi)),
                            short(lo.max(hi))
                        )
                    }
                });
            }
            unit.push(u);
        }
    }
    for (name, sfh) in [("sfh_disk", &g.sfh_disk), ("sfh_bulge", &g.sfh_bulge)] {
        for (i, row) in sfh.chunks(N_SSP).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                if !w.is_finite() {
                    problems.push(format!("{}: {name}[{k}] is {w}", g.row_name(i)));
                } else if !clip && !(0.0..=1.0).contains(&w) {
                    problems.out_of_range = true;
                    problems.push(format!(
                        "{}: {name}[{k}] = {w} is outside [0, 1] (SFH weights are light fractions)",
                        g.row_name(i)
                    ));
                }
            }
        }
    }
    problems.into_result()?;
    Ok(unit)
}

/// Collects input problems and reports the first few.
#[derive(Default)]
struct Problems {
    messages: Vec<String>,
    out_of_range: bool,
}

impl Problems {
    const SHOWN: usize = 5;

    fn push(&mut self, m: String) {
        self.messages.push(m);
    }

    fn into_result(self) -> Result<()> {
        let n = self.messages.len();
        if n == 0 {
            return Ok(());
        }
        let mut text = format!(
            "invalid input ({n} value{}):",
            if n == 1 { "" } else { "s" }
        );
        for m in self.messages.iter().take(Self::SHOWN) {
            text.push_str("\n  ");
            text.push_str(m);
        }
        if n > Self::SHOWN {
            text.push_str(&format!("\n  … and {} more", n - Self::SHOWN));
        }
        if self.out_of_range {
            text.push_str(
                "\nrows are numbered from 0; pass --clip-inputs to clip out-of-range values into the \
                 model's domain as the published Starduster library does",
            );
        }
        bail!(text)
    }
}

/// Rows whose SFH weights do not sum to 1 (for components that carry light), as a warning.
pub fn sfh_sum_warning(g: &Galaxies, unit_gp: &[f64]) -> Option<String> {
    let mut bad = vec![];
    for i in 0..g.n {
        let b_to_t = 0.5 * (unit_gp[i * N_GP + 6] + 1.0);
        for (name, sfh, weight) in [
            ("sfh_disk", &g.sfh_disk, 1.0 - b_to_t),
            ("sfh_bulge", &g.sfh_bulge, b_to_t),
        ] {
            let s: f64 = sfh[i * N_SSP..(i + 1) * N_SSP].iter().sum();
            if weight > 0.0 && (s - 1.0).abs() > 1e-3 {
                bad.push(format!("{} {name} sums to {s:.4}", g.row_name(i)));
            }
        }
    }
    (!bad.is_empty()).then(|| {
        format!(
            "warning: {} SFH vector(s) do not sum to 1 (first: {}); the weights are light fractions \
             and are used as given, so the luminosity is not l_norm",
            bad.len(),
            bad[0]
        )
    })
}
