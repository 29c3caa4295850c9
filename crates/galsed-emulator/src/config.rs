//! Hyper-parameters of the Starduster networks: what the native model manifest stores.

use serde::{Deserialize, Serialize};

/// Activation following a linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid 1/(1 + e^(−x)).
    Sigmoid,
    /// No activation (the layer's output is used as is).
    None,
}

/// A stack of linear layers, each followed by an activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Width of the input.
    pub input_size: usize,
    /// Output width of each linear layer, in order.
    pub hidden_sizes: Vec<usize>,
    /// Activation after each linear layer, in order.
    pub activations: Vec<Activation>,
}

/// Attenuation-curve network (spec §4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttenuationCurveConfig {
    /// The trunk that feeds the output heads.
    pub mlp: MlpConfig,
    /// Number of wavelength points of the curve.
    pub output_size: usize,
    /// Output index range [start, end) of each bump.
    pub bump_inds: Vec<(usize, usize)>,
    /// Output index range [start, end) of the trough.
    pub trough_ind: (usize, usize),
    /// Width of the moving average that smooths the baseline and the trough.
    pub baseline_kernel_size: usize,
    /// Width of the moving average that smooths each bump.
    pub bump_kernel_size: usize,
    /// Added to the mean of the unnormalised curve before it divides the curve.
    pub norm_fix: f64,
}

/// Emission-distribution network (spec §4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmissionConfig {
    /// The trunk that feeds the mixture and transfer heads.
    pub mlp: MlpConfig,
    /// Number of points of the emission grid.
    pub output_size: usize,
    /// Number of black bodies in the Planck mixture.
    pub n_mix: usize,
    /// The constant ln λ step of the emission grid.
    pub dx: f64,
}

/// A network and the galaxy-parameter columns it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs<T> {
    /// Indices of the input columns the network reads, in order.
    pub columns: Vec<usize>,
    /// The network's own hyper-parameters.
    #[serde(flatten)]
    pub net: T,
}

/// All hyper-parameters of a Starduster model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Attenuation curve of the disk.
    pub curve_disk: Inputs<AttenuationCurveConfig>,
    /// Attenuation curve of the bulge.
    pub curve_bulge: Inputs<AttenuationCurveConfig>,
    /// Absorbed fraction of the disk's starlight.
    pub frac_disk: Inputs<MlpConfig>,
    /// Absorbed fraction of the bulge's starlight.
    pub frac_bulge: Inputs<MlpConfig>,
    /// The emission network reads all galaxy parameters plus the two absorption fractions.
    pub distri: EmissionConfig,
    /// Selector network of the disk (one logit per galaxy).
    pub selector_disk: Inputs<MlpConfig>,
    /// Selector network of the bulge (one logit per galaxy).
    pub selector_bulge: Inputs<MlpConfig>,
    /// Tolerance of the adaptive SSP reduction defining the absorption segments.
    pub eps_reduce: f64,
}
