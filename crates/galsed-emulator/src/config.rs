//! Hyper-parameters of the Starduster networks: what the native model manifest stores.

use serde::{Deserialize, Serialize};

/// Activation following a linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Sigmoid,
    /// No activation (the layer's output is used as is).
    None,
}

/// A stack of linear layers, each followed by an activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub input_size: usize,
    pub hidden_sizes: Vec<usize>,
    pub activations: Vec<Activation>,
}

/// Attenuation-curve network (spec §4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttenuationCurveConfig {
    pub mlp: MlpConfig,
    pub output_size: usize,
    pub bump_inds: Vec<(usize, usize)>,
    pub trough_ind: (usize, usize),
    pub baseline_kernel_size: usize,
    pub bump_kernel_size: usize,
    pub norm_fix: f64,
}

/// Emission-distribution network (spec §4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmissionConfig {
    pub mlp: MlpConfig,
    pub output_size: usize,
    pub n_mix: usize,
    /// The constant ln λ step of the emission grid.
    pub dx: f64,
}

/// A network and the galaxy-parameter columns it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs<T> {
    pub columns: Vec<usize>,
    #[serde(flatten)]
    pub net: T,
}

/// All hyper-parameters of a Starduster model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub curve_disk: Inputs<AttenuationCurveConfig>,
    pub curve_bulge: Inputs<AttenuationCurveConfig>,
    pub frac_disk: Inputs<MlpConfig>,
    pub frac_bulge: Inputs<MlpConfig>,
    /// The emission network reads all galaxy parameters plus the two absorption fractions.
    pub distri: EmissionConfig,
    pub selector_disk: Inputs<MlpConfig>,
    pub selector_bulge: Inputs<MlpConfig>,
    /// Tolerance of the adaptive SSP reduction defining the absorption segments.
    pub eps_reduce: f64,
}
