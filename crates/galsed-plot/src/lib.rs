//! Every figure galsed draws, in one style (the embedded DejaVu Sans, shared colours), as PNG or
//! SVG.
//!
//! * [`style`] — the font, colours, the image [`Format`] and tick-label helpers.
//! * [`fit`] — one SED fit: observed photometry against the best-fit model and its components,
//!   with the residuals.
//! * [`physical`] — free parameters in physical units (θ in deg, log radii in kpc …) for
//!   axis labels and printed tables.
//! * [`corner`] — corner plots of posterior samples (the statistics are
//!   [`galsed_fit::marginals`]).
//! * [`residuals`] — observed − model against wavelength over a fitted catalogue.
//! * `training` — loss curves of `galsed train` (feature `train`, default).
//! * `validation` — the error distributions of `galsed validate` (feature `train`).
//! * `optir` — the optical–infrared evaluation (PP curves, χ histograms, colour–colour
//!   diagrams) and the occlusion attribution (feature `optir`, default).
//!
//! Every function takes the data, a path and a [`Format`], and returns a [`PlotError`] on bad
//! input or a failed write; none panics.
//!
//! ```
//! use galsed_plot::{Format, corner::corner_plot};
//! use ndarray::Array2;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("corner.svg");
//! let samples = Array2::from_shape_fn((500, 2), |(i, j)| ((i * (j + 3)) % 17) as f64);
//! let names = ["a".to_string(), "b".to_string()];
//! corner_plot(&path, Format::Svg, &names, &samples, None, None, None).unwrap();
//! assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
//! ```

use std::path::PathBuf;

pub mod corner;
pub mod fit;
#[cfg(feature = "optir")]
pub mod optir;
pub mod physical;
pub mod residuals;
pub mod style;
#[cfg(feature = "train")]
pub mod training;
#[cfg(feature = "train")]
pub mod validation;

pub use style::Format;

/// Why a figure could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The embedded font could not be registered.
    #[error("the embedded font is invalid")]
    Font,
    /// A file name whose extension is neither `.png` nor `.svg`.
    #[error("cannot tell the image format of {}: use a .png or .svg file name", .0.display())]
    Format(PathBuf),
    /// Data that cannot be plotted.
    #[error("{0}")]
    Input(String),
    /// The drawing backend failed (typically writing the file).
    #[error("{0}")]
    Draw(String),
    /// A failure while drawing the figure at `path`.
    #[error("{what} {}: {message}", path.display())]
    At {
        /// What was drawn ("corner plot", "writing"…).
        what: &'static str,
        /// The figure's file.
        path: PathBuf,
        /// The underlying failure, as text (kept out of the error chain so that it prints once).
        message: String,
    },
    /// Corner-plot statistics rejected the samples.
    #[error(transparent)]
    Marginals(#[from] galsed_fit::marginals::MarginalsError),
    /// The model could not be evaluated for the fit plot.
    #[error(transparent)]
    Model(#[from] galsed_emulator::ModelError),
    /// Inconsistent array shapes.
    #[error(transparent)]
    Shape(#[from] ndarray::ShapeError),
}

impl PlotError {
    /// Wraps `self` with the figure's path.
    pub(crate) fn at(self, what: &'static str, path: &std::path::Path) -> Self {
        PlotError::At {
            what,
            path: path.to_path_buf(),
            message: self.to_string(),
        }
    }
}
