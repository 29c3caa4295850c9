//! Named float32 weight tensors, as read from a model file, and their conversion to burn tensors.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use galsed_io::checkpoint::TensorF32;

use crate::ModelError;

/// The weights of one network: PyTorch state-dict names → float32 tensors.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: BTreeMap<String, TensorF32>,
}

impl Weights {
    /// Wraps a state dict.
    pub fn new(tensors: BTreeMap<String, TensorF32>) -> Self {
        Self { tensors }
    }

    /// The sub-dictionary of names starting with `prefix` (the prefix is removed).
    pub fn with_prefix(&self, prefix: &str) -> Self {
        let tensors = self
            .tensors
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
            .collect();
        Self { tensors }
    }

    /// All tensors, by name.
    pub fn tensors(&self) -> &BTreeMap<String, TensorF32> {
        &self.tensors
    }

    /// A tensor that must have the given shape.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&TensorF32, ModelError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        if t.shape != shape {
            return Err(ModelError::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
        }
        if t.data.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::NonFiniteTensor(name.to_string()));
        }
        Ok(t)
    }

    /// `{name}.weight` (out, in) and `{name}.bias` (out) as a burn [`Linear`] layer.
    ///
    /// PyTorch stores W as (out, in) for y = x·Wᵀ + b; burn stores (in, out) for y = x·W + b.
    pub fn linear(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Linear, ModelError> {
        let columns: Vec<usize> = (0..d_in).collect();
        self.linear_on_columns(name, &columns, d_in, d_out, device)
    }

    /// Like [`Weights::linear`] for a layer that reads only `columns` of a `d_total`-wide input:
    /// the other input rows get zero weights, so callers pass the whole input and no column
    /// selection is needed (adding exact zeros does not change the result).
    pub fn linear_on_columns(
        &self,
        name: &str,
        columns: &[usize],
        d_total: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Linear, ModelError> {
        let d_in = columns.len();
        if let Some(&c) = columns.iter().find(|&&c| c >= d_total) {
            return Err(ModelError::Config(format!(
                "{name}: input column {c} ≥ {d_total}"
            )));
        }
        let w = self.get(&format!("{name}.weight"), &[d_out, d_in])?;
        let b = self.get(&format!("{name}.bias"), &[d_out])?;
        let mut wt = vec![0f32; d_total * d_out];
        for o in 0..d_out {
            for (i, &c) in columns.iter().enumerate() {
                wt[c * d_out + o] = w.data[o * d_in + i];
            }
        }
        Ok(Linear {
            weight: Param::from_tensor(tensor2(wt, [d_total, d_out], device)),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(b.data.clone(), [d_out]),
                device,
            ))),
        })
    }
}

/// Stores a linear layer as the PyTorch state-dict entries `{name}.weight` (`w`, row-major
/// (d_out, d_in)) and `{name}.bias` (`b`, d_out).
pub fn insert_linear(
    out: &mut BTreeMap<String, TensorF32>,
    name: &str,
    d_out: usize,
    d_in: usize,
    w: Vec<f32>,
    b: Vec<f32>,
) {
    out.insert(
        format!("{name}.weight"),
        TensorF32 {
            shape: vec![d_out, d_in],
            data: w,
        },
    );
    out.insert(
        format!("{name}.bias"),
        TensorF32 {
            shape: vec![d_out],
            data: b,
        },
    );
}

/// The PyTorch state-dict entries `{name}.weight` (out, in) and `{name}.bias` (out) of a burn
/// [`Linear`] layer: the inverse of [`Weights::linear_on_columns`]. Only the input rows `columns`
/// of the layer are exported (all of them for a layer built with [`Weights::linear`]).
pub(crate) fn export_linear(
    out: &mut BTreeMap<String, TensorF32>,
    name: &str,
    layer: &Linear,
    columns: &[usize],
) -> Result<(), ModelError> {
    let [d_total, d_out] = layer.weight.dims();
    if let Some(&c) = columns.iter().find(|&&c| c >= d_total) {
        return Err(ModelError::Config(format!(
            "{name}: input column {c} ≥ {d_total}"
        )));
    }
    let wt = to_vec(layer.weight.val());
    let d_in = columns.len();
    let mut w = vec![0f32; d_out * d_in];
    for o in 0..d_out {
        for (i, &c) in columns.iter().enumerate() {
            w[o * d_in + i] = wt[c * d_out + o];
        }
    }
    let b = match &layer.bias {
        Some(b) => to_vec(b.val()),
        None => return Err(ModelError::MissingTensor(format!("{name}.bias"))),
    };
    insert_linear(out, name, d_out, d_in, w, b);
    Ok(())
}

/// A 2-D float tensor from row-major data.
pub(crate) fn tensor2(data: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A 1-D float tensor.
pub(crate) fn tensor1(data: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// Row-major f32 contents of a tensor.
pub(crate) fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("galsed tensors are float32")
}
