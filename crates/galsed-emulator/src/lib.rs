//! The Starduster emulator (Qiu & Kang 2022) in Rust.
//!
//! * [`config`] — hyper-parameters of the networks.
//! * [`weights`] — named weight tensors and their conversion to burn layers.
//! * [`networks`] — attenuation-curve, absorption-fraction, emission and selector networks.
//! * [`sed`] — the forward model: parameters and star-formation histories → λL_λ.
//! * [`predict`] — spectra, photometry and derived outputs, per observer.
//! * [`sam`] — semi-analytic-model galaxies → photometry and spectra, a batch at a time.
//! * [`model_files`] — reading the model files; [`Starduster::from_dir`] builds the emulator.

pub mod bench;
pub mod config;
pub mod inputs;
pub mod model_files;
pub mod networks;
pub mod predict;
pub mod sam;
pub mod sed;
pub mod weights;

pub use sed::{Component, Forward, ModelWeights, N_GP, N_SSP, Starduster};

/// Errors from building or running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file is missing the tensor '{0}'")]
    MissingTensor(String),
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor '{0}' holds NaN or infinite values")]
    NonFiniteTensor(String),
    #[error("inconsistent model configuration: {0}")]
    Config(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error(transparent)]
    Ssp(#[from] galsed_core::ssp::SspError),
    #[error(transparent)]
    Files(#[from] model_files::ModelFileError),
}

/// The README's library example, compiled as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
