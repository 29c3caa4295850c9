//! The per-galaxy figures of `galsed fit` and `galsed demo`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use galsed_core::filters::Filter;
use galsed_fit::fit::FitResult;
use galsed_fit::posterior::Posterior;

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
        let truth = truth();
        galsed_plot::corner::corner_plot(
            &path,
            format,
            &r.names,
            &p.samples,
            None,
            truth.as_deref(),
            Some(&r.best),
        )?;
    }
    Ok(())
}
