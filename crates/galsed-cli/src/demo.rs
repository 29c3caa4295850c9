//! `galsed demo`: SEDs of three example galaxies, as CSV tables and a plot.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use galsed_core::filters::Filter;
use galsed_core::params::physical_to_unit;
use galsed_core::ssp::SspLibrary;
use galsed_core::store::{self, DEFAULT_BASE_URL, MODEL_DIR_ENV, ModelDir, ModelDirSource};
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::predict::{Observer, Photometry, SpectralUnits};
use galsed_emulator::{Component, N_SSP};

use crate::filters_cmd::DEFAULT19;
use crate::model::{self, Layout};
use crate::plot::{self, Panel};
use crate::{DemoArgs, PlotFormat};

/// The model for the demo: the usual lookup, fetching into the cache when nothing is there yet.
fn ensure_model(explicit: Option<&Path>) -> Result<ModelDir> {
    let dir = store::resolve_model_dir(explicit)?;
    if dir.source != ModelDirSource::Cache || model::layout(&dir.path) != Layout::Nothing {
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

/// Age-bin masses [M_sun per unit SFR normalisation] of a star-formation history ψ(t_lookback),
/// integrated over the library's age bins; `cumulative(t)` = ∫_0^t ψ.
fn bin_masses(tau_edges: &[f64], cumulative: impl Fn(f64) -> f64) -> Vec<f64> {
    tau_edges
        .windows(2)
        .map(|e| cumulative(e[1]) - cumulative(e[0]))
        .collect()
}

/// Light fractions (k = 6·i_met + i_age) of the given age-bin masses at one metallicity: mass ×
/// the SSP's bolometric luminosity per unit mass, normalised to sum 1.
fn light_fractions(lib: &SspLibrary, i_met: usize, masses: &[f64]) -> Vec<f64> {
    let n_age = lib.tau.len();
    let mut w = vec![0.0; N_SSP];
    for (j, m) in masses.iter().enumerate() {
        w[i_met * n_age + j] = m * lib.norm[[i_met, j]];
    }
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= total);
    w
}

/// Index of the metallicity closest (in log) to `z`.
fn nearest_met(lib: &SspLibrary, z: f64) -> usize {
    let d = |m: f64| (m.ln() - z.ln()).abs();
    (0..lib.met.len())
        .min_by(|&a, &b| d(lib.met[a]).total_cmp(&d(lib.met[b])))
        .unwrap_or(0)
}

/// An example galaxy in physical units.
pub struct Example {
    /// Column prefix in the CSV files.
    pub id: &'static str,
    pub title: &'static str,
    /// theta [deg], den_dust [M_sun/kpc²], r_dust/r_disk, r_disk [kpc], r_bulge [kpc],
    /// l_norm [L_sun], b_to_t.
    pub params: [f64; 7],
    pub sfh_disk: Vec<f64>,
    pub sfh_bulge: Vec<f64>,
}

/// Three galaxies: a face-on star-forming disk, an edge-on dusty disk and a bulge-dominated
/// quiescent galaxy. Disks form stars for 10 Gyr; bulges are single old (> 4 Gyr) populations.
pub fn examples(lib: &SspLibrary) -> Vec<Example> {
    let solar = nearest_met(lib, 0.019);
    let t0 = 1.0e10;
    let constant = bin_masses(&lib.tau_edges, |t| t.min(t0));
    // ψ ∝ exp(−(t0 − t)/τ) for lookback t < t0: declining since t0 ago with τ = 2 Gyr.
    let tau = 2.0e9;
    let declining = bin_masses(&lib.tau_edges, |t| tau * ((t.min(t0) - t0) / tau).exp());
    let mut old = vec![0.0; lib.tau.len()];
    if let Some(last) = old.last_mut() {
        *last = 1.0;
    }
    let young_disk = light_fractions(lib, solar, &constant);
    let old_disk = light_fractions(lib, solar, &declining);
    let old_bulge = light_fractions(lib, solar, &old);
    vec![
        Example {
            id: "faceon_starforming",
            title: "face-on star-forming disk",
            params: [20.0, 3.0e5, 1.0, 3.0, 1.0, 3.0e10, 0.1],
            sfh_disk: young_disk.clone(),
            sfh_bulge: old_bulge.clone(),
        },
        Example {
            id: "edgeon_dusty",
            title: "edge-on dusty disk",
            params: [85.0, 1.0e6, 1.0, 2.0, 1.0, 1.0e11, 0.2],
            sfh_disk: young_disk,
            sfh_bulge: old_bulge.clone(),
        },
        Example {
            id: "bulge_quiescent",
            title: "bulge-dominated quiescent galaxy",
            params: [60.0, 1.0e4, 1.0, 2.0, 1.0, 2.0e10, 0.8],
            sfh_disk: old_disk,
            sfh_bulge: old_bulge,
        },
    ]
}

/// "23%", "0.4%".
fn percent(f: f64) -> String {
    let p = 100.0 * f;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn sci(v: f64) -> String {
    let e = v.abs().log10().floor();
    let m = v / 10f64.powf(e);
    if (m - 1.0).abs() < 1e-9 {
        format!("10{}", plot::superscript(e as i32))
    } else {
        format!("{m:.1}×10{}", plot::superscript(e as i32))
    }
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = ensure_model(args.model.as_deref())?;
    let files = model::load_files(&dir)?;
    let sd = model::build(&files, &model::parse_grid(&args.grid)?)?;
    let ex = examples(&files.ssp);

    let mut gp = vec![];
    let (mut sd_disk, mut sd_bulge) = (vec![], vec![]);
    for e in &ex {
        gp.extend(physical_to_unit(&e.params).context("example parameters")?);
        sd_disk.extend(&e.sfh_disk);
        sd_bulge.extend(&e.sfh_bulge);
    }
    let batch = Batch::new(gp, sd_disk, sd_bulge, OutOfRange::Error).context("example galaxies")?;
    let z0 = Observer::default();
    let lam = sd.grid().lam_eval.clone();
    let spectra: Vec<_> = Component::ALL
        .iter()
        .map(|&c| sd.spectrum(&batch, c, SpectralUnits::Luminosity, z0))
        .collect();
    let filters = DEFAULT19
        .iter()
        .map(|n| Filter::builtin(n))
        .collect::<Result<Vec<_>, _>>()?;
    let phot = Photometry::new(&sd, &filters, z0)?;
    let mags = sd.magnitudes(&batch, Component::Combine, &phot);
    let frac = sd.absorption_fraction(&batch);
    let l_ir = sd.l_ir(&batch);
    let (lp_disk, lp_bulge) = sd.selector_log_probs(&batch);

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut written: Vec<PathBuf> = vec![];

    let path = args.out.join("demo_seds.csv");
    let mut text = String::from(
        "# galsed demo: rest-frame lambda*L_lambda [L_sun] of each component per galaxy\nlam_um",
    );
    for e in &ex {
        for c in Component::ALL {
            text.push_str(&format!(",{}_{}", e.id, c.name()));
        }
    }
    text.push('\n');
    for (l, lam_l) in lam.iter().enumerate() {
        text.push_str(&format!("{lam_l}"));
        for g in 0..ex.len() {
            for s in &spectra {
                text.push_str(&format!(",{:e}", s[[g, l]]));
            }
        }
        text.push('\n');
    }
    write_file(&path, &text)?;
    written.push(path);

    let path = args.out.join("demo_photometry.csv");
    let mut text = String::from(
        "# galsed demo: absolute AB magnitudes (10 pc, z = 0) of the combined SED; frac_abs = absorbed \
         fraction of the stellar light, L_IR [L_sun]; log_p_* = selector log-probabilities\ngalaxy",
    );
    for f in DEFAULT19 {
        text.push_str(&format!(",{f}"));
    }
    text.push_str(",frac_abs,L_IR,log_p_in_disk,log_p_in_bulge\n");
    for (g, e) in ex.iter().enumerate() {
        text.push_str(e.id);
        for m in mags.row(g) {
            text.push_str(&format!(",{m:.4}"));
        }
        text.push_str(&format!(
            ",{:.4},{:.4e},{:.3},{:.3}\n",
            frac[g], l_ir[g], lp_disk[g], lp_bulge[g]
        ));
    }
    write_file(&path, &text)?;
    written.push(path);

    let panels: Vec<Panel> = ex
        .iter()
        .enumerate()
        .map(|(g, e)| {
            let [theta, den, _, r_disk, _, l, bt] = e.params;
            Panel {
                title: format!("{}: θ = {theta:.0}°, B/T = {bt}", e.title),
                subtitle: format!(
                    "L = {} L⊙, Σ_dust = {} M⊙/kpc², r_disk = {r_disk} kpc; dust absorbs {} of the starlight",
                    sci(l),
                    sci(den),
                    percent(f64::from(frac[g]))
                ),
                series: Component::ALL
                    .iter()
                    .zip(&spectra)
                    .map(|(&c, s)| (c, s.row(g).iter().map(|&v| f64::from(v)).collect()))
                    .collect(),
            }
        })
        .collect();
    let ext = match args.format {
        PlotFormat::Png => "png",
        PlotFormat::Svg => "svg",
    };
    let path = args.out.join(format!("demo_seds.{ext}"));
    plot::sed_panels(&path, args.format, &lam, &panels).context("drawing the plot")?;
    written.push(path);

    for (g, e) in ex.iter().enumerate() {
        if lp_disk[g] < 0.5f32.ln() || lp_bulge[g] < 0.5f32.ln() {
            eprintln!(
                "note: {} lies near the edge of the training set (selector log-p {:.2}, {:.2})",
                e.id, lp_disk[g], lp_bulge[g]
            );
        }
    }
    let mut out = String::new();
    for p in &written {
        out.push_str(&format!("wrote {}\n", p.display()));
    }
    crate::progress::print_stdout(&out)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_masses_of_constant_sfr() {
        let edges = [1e6, 1e7, 1e9, 2e10];
        let m = bin_masses(&edges, |t| t.min(1e10));
        assert_eq!(m, vec![9e6, 9.9e8, 9e9]);
    }
}
