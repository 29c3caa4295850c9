//! Random initial weights of the Starduster networks, in the published state-dict layout, drawn
//! as PyTorch's `nn.Linear` default does: weight and bias ~ U(−1/√fan_in, 1/√fan_in)
//! (`kaiming_uniform_(a=√5)` for the weight). The emulator's `from_weights` constructors then
//! build the networks from them, so training starts exactly where a PyTorch model would
//! (in distribution; the random streams differ).

use std::collections::BTreeMap;

use galsed_emulator::config::{AttenuationCurveConfig, EmissionConfig, MlpConfig};
use galsed_emulator::weights::{Weights, insert_linear};
use galsed_io::checkpoint::TensorF32;
use rand::{Rng, RngExt};

/// Draws `{name}.weight` (out, in) and `{name}.bias` (out).
fn linear(
    out: &mut BTreeMap<String, TensorF32>,
    name: &str,
    d_out: usize,
    d_in: usize,
    rng: &mut impl Rng,
) {
    let bound = 1.0 / (d_in as f64).sqrt();
    let mut draw = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
            .collect()
    };
    let w = draw(d_out * d_in);
    let b = draw(d_out);
    insert_linear(out, name, d_out, d_in, w, b);
}

/// The layers `{prefix}.{0,2,4,…}` of an MLP.
pub fn mlp(prefix: &str, cfg: &MlpConfig, rng: &mut impl Rng) -> Weights {
    let mut out = BTreeMap::new();
    add_mlp(&mut out, prefix, cfg, rng);
    Weights::new(out)
}

fn add_mlp(
    out: &mut BTreeMap<String, TensorF32>,
    prefix: &str,
    cfg: &MlpConfig,
    rng: &mut impl Rng,
) {
    let mut d_in = cfg.input_size;
    for (i, &d_out) in cfg.hidden_sizes.iter().enumerate() {
        linear(out, &format!("{prefix}.{}", 2 * i), d_out, d_in, rng);
        d_in = d_out;
    }
}

/// An attenuation-curve network: the MLP and every head (spec §4.1).
pub fn curve(cfg: &AttenuationCurveConfig, rng: &mut impl Rng) -> Weights {
    let mut out = BTreeMap::new();
    add_mlp(&mut out, "mlp", &cfg.mlp, rng);
    let hidden = *cfg.mlp.hidden_sizes.last().unwrap_or(&cfg.mlp.input_size);
    let k_base = cfg.baseline_kernel_size;
    linear(
        &mut out,
        "baseline.0",
        cfg.output_size + k_base - 1,
        hidden,
        rng,
    );
    for (q, &(b, e)) in cfg.bump_inds.iter().enumerate() {
        let width = e.saturating_sub(b) + cfg.bump_kernel_size - 1;
        linear(&mut out, &format!("bump{q}.0.lin1"), width, hidden, rng);
        linear(&mut out, &format!("bump{q}.0.lin2"), width, hidden, rng);
    }
    let (tb, te) = cfg.trough_ind;
    let width = te.saturating_sub(tb) + k_base - 1;
    linear(&mut out, "trough.0.lin1", width, hidden, rng);
    linear(&mut out, "trough.0.lin2", width, hidden, rng);
    linear(&mut out, "norm.0", 1, hidden, rng);
    Weights::new(out)
}

/// The emission-distribution network (spec §4.3, the `distri.` part without its prefix) on the
/// grid `lam` \[µm\]; its buffer `base.x_inv` is the float32 quotient 1/float32(λ).
pub fn emission(cfg: &EmissionConfig, lam: &[f64], rng: &mut impl Rng) -> Weights {
    let mut out = BTreeMap::new();
    add_mlp(&mut out, "mlp", &cfg.mlp, rng);
    let hidden = *cfg.mlp.hidden_sizes.last().unwrap_or(&cfg.mlp.input_size);
    linear(&mut out, "base.lin_mu", cfg.n_mix, hidden, rng);
    linear(&mut out, "base.lin_w", cfg.n_mix, hidden, rng);
    linear(&mut out, "transfer.lin_pos", cfg.output_size, hidden, rng);
    linear(&mut out, "transfer.lin_neg", cfg.output_size, hidden, rng);
    let x_inv: Vec<f32> = lam.iter().map(|&l| 1.0f32 / l as f32).collect();
    out.insert(
        "base.x_inv".into(),
        TensorF32 {
            shape: vec![x_inv.len()],
            data: x_inv,
        },
    );
    Weights::new(out)
}
