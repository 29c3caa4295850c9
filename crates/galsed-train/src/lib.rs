//! Training new galsed emulators (Starduster §2.2–2.3): SKIRT 9 interop (`skirt`), and the
//! preparation, training and validation of the networks.
//!
//! * [`data`] — the training-set layout (npz) and its preparation (smoothing, exclusion, split);
//! * [`teacher`] — training sets computed by an existing model, over the paper's priors;
//! * [`train`] — the training loop (burn, Adam, one-cycle schedule, checkpoints);
//! * [`validate`] — error distributions of a model on a data set;
//! * [`losses`], [`schedule`], [`savgol`], [`init`] — the pieces.

pub mod data;
pub mod init;
pub mod losses;
pub mod savgol;
pub mod schedule;
pub mod skirt;
pub mod teacher;
pub mod train;
pub mod validate;

/// Row-major values of a float32 tensor (galsed builds every float tensor as float32).
pub(crate) fn to_f32s<const D: usize>(t: burn::prelude::Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("galsed tensors are float32")
}
