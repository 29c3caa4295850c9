//! The Starduster emulator (Qiu & Kang 2022) in Rust.
//!
//! * [`config`] — hyper-parameters of the networks.
//! * [`weights`] — named weight tensors and their conversion to burn layers.
//! * [`networks`] — attenuation-curve, absorption-fraction, emission and selector networks.
//! * [`sed`] — the forward model: parameters and star-formation histories → λL_λ.
//! * [`gradient`] — gradients of band fluxes with respect to the inputs, safe on any thread.
//! * [`predict`] — spectra, photometry and derived outputs, per observer.
//! * [`sam`] — semi-analytic-model galaxies → photometry and spectra, a batch at a time.
//! * [`model_files`] — reading the model files; [`Starduster::from_dir`] builds the emulator.

pub mod bench;
pub mod config;
pub mod gradient;
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
    /// A tensor the networks need is not in the model file.
    #[error("model file is missing the tensor '{0}'")]
    MissingTensor(String),
    /// A tensor of the model file has the wrong shape.
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// Name of the tensor.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor of the model file holds NaN or infinite values.
    #[error("tensor '{0}' holds NaN or infinite values")]
    NonFiniteTensor(String),
    /// The hyper-parameters contradict each other or the weights.
    #[error("inconsistent model configuration: {0}")]
    Config(String),
    /// Invalid inputs: parameters, observer, filters, components or array shapes.
    #[error("invalid input: {0}")]
    Input(String),
    /// The SSP library is unusable.
    #[error(transparent)]
    Ssp(#[from] galsed_core::ssp::SspError),
    /// Reading or writing the model files failed.
    #[error(transparent)]
    Files(#[from] model_files::ModelFileError),
}

/// The README's library example, compiled as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
