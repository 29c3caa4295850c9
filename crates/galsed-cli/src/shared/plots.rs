//! The per-galaxy figures of `galsed fit` and `galsed demo`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use galsed_core::filters::Filter;
use galsed_fit::fit::FitResult;
use galsed_fit::posterior::Posterior;
use galsed_plot::physical::PhysicalAxis;

/// Draws a galaxy's SED fit into `<stem>.<ext>` and, when it was sampled, its corner plot (with
/// the true values `truth` gives, if any) into `<stem>_corner.<ext>`.
pub fn plot_galaxy(
    stem: &Path,
    ext: &str,
    fit: (&Posterior<'_>, &FitResult, &[Filter]),
    id: &str,
    truth: impl FnOnce() -> Option<Vec<f64>>,
) -> Result<()> {
    let (post, r, filters) = fit;
    let path = stem.with_extension(ext);
    let format = galsed_plot::Format::from_path(&path)?;
    galsed_plot::fit::plot_fit(&path, format, post, r, filters, id)?;
    if let Some(p) = &r.posterior {
        let path = PathBuf::from(format!("{}_corner.{ext}", stem.display()));
        // Axes in physical units (θ in deg, log radii in kpc …), not the fit's unit space.
        let axes: Vec<PhysicalAxis> = r.names.iter().map(|n| PhysicalAxis::of(n)).collect();
        let labels: Vec<String> = axes.iter().map(|a| a.label.clone()).collect();
        let shown =
            |u: &[f64]| -> Vec<f64> { axes.iter().zip(u).map(|(a, &u)| a.value(u)).collect() };
        let mut samples = p.samples.clone();
        for (mut col, a) in samples.columns_mut().into_iter().zip(&axes) {
            col.mapv_inplace(|u| a.value(u));
        }
        let truth = truth().map(|t| shown(&t));
        galsed_plot::corner::corner_plot(
            &path,
            format,
            &labels,
            &samples,
            None,
            truth.as_deref(),
            Some(&shown(&r.best)),
        )?;
    }
    Ok(())
}
