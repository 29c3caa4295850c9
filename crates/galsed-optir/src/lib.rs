//! The optical–infrared connection (Jespersen et al. 2025), built on the galsed emulator.
//!
//! * [`survey`] — the survey data model shared by every step: SDSS-like spectra on the log-λ
//!   grid, ugriz, WISE W1–W4 in Vega magnitudes with errors and non-detections, redshifts, splits.
//! * [`simulate`] — a synthetic SDSS+WISE survey drawn from a correlated galaxy population and
//!   observed through the Starduster emulator.
//! * [`spender`] — the spectrum autoencoder (spender-style encoder, redshift-aware decoder) and
//!   [`pca`], its linear baseline.
//! * [`predictor`] — the 684-parameter WISE predictor with its Gaussian negative log-likelihood,
//!   and the linear and ugriz baselines.
//! * [`sedfit`] — the SED-fitting baseline: galsed's own fits of the optical, WISE predicted from
//!   the posterior, with the full and a deliberately simplified ("separable") model.
//! * [`evaluate`] — reduced χ², probability of the data, PP curves, colours, splits.
//! * [`occlude`] — multiscale occlusion attribution.
//! * [`readers`] — SDSS spec-lite FITS and AllWISE-style catalogues (CSV or FITS).
//! * [`import`] — a real survey at scale: the main-galaxy-sample cuts on SDSS's specObj
//!   catalogue, and spec-lite files read in parallel in chunks that survive a kill.
//! * [`pipeline`] — the steps end to end (simulate, train, encode, evaluate, occlude, run), and
//!   [`run_dir`], where each step puts its files.

pub mod evaluate;
pub mod import;
pub mod occlude;
pub mod pca;
pub mod pipeline;
pub mod predictor;
pub mod readers;
pub mod run_dir;
pub mod sedfit;
pub mod simulate;
pub mod spender;
pub mod survey;
pub mod survey_io;

/// Errors of the optical–infrared pipeline, with the file or the quantity at fault.
#[derive(Debug, thiserror::Error)]
pub enum OptirError {
    /// Input that cannot be used: mismatched shapes, bad settings, nothing left to fit.
    #[error("{0}")]
    Input(String),
    /// A file that cannot be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The emulator failed.
    #[error(transparent)]
    Model(#[from] galsed_emulator::ModelError),
}

/// Anything that compresses spectra to a few numbers per galaxy: the autoencoder or PCA.
///
/// Encoders see normalised spectra ([`survey::normalise`]); the normalisation itself is passed
/// to the predictor separately, as in the paper.
pub trait SpectrumEncoder {
    /// Number of latents per galaxy.
    fn n_latents(&self) -> usize;
    /// Latents of normalised spectra (flux and inverse variance on `loglam`), (n, n_latents).
    fn encode(
        &self,
        loglam: &[f64],
        flux: ndarray::ArrayView2<f32>,
        ivar: ndarray::ArrayView2<f32>,
        redshift: &[f64],
    ) -> Result<ndarray::Array2<f32>, OptirError>;
}

/// An [`OptirError::Input`].
pub(crate) fn input_err(message: impl Into<String>) -> OptirError {
    OptirError::Input(message.into())
}

/// An [`OptirError::File`] about `path`.
pub(crate) fn file_err(path: &std::path::Path, message: impl std::fmt::Display) -> OptirError {
    OptirError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}
