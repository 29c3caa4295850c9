//! Readers for the original Starduster files: PyTorch `.pt` checkpoints and numpy pickles.
//!
//! Everything goes through the non-executing [`crate::pickle`] reader, so no Python is needed
//! and a hostile file can only produce an error.
//!
//! # Checkpoints
//!
//! A `.pt` file is a zip archive holding `<name>/data.pkl` (the pickled checkpoint dict) and one
//! raw little-endian float32 file `<name>/data/<key>` per tensor storage. [`read_checkpoint`]
//! returns a [`Checkpoint`]:
//!
//! * `tensors`: the entries of the root key `model_state_dict`, copied to contiguous row-major
//!   `f32` (storage offsets and strides applied). Keys are the PyTorch parameter names.
//! * `hyper`: every other root key converted to JSON, plus `model_state_dict` replaced by
//!   `{"keys": [state-dict keys in file order], "attrs": {"_metadata": …}}`.
//! * `other_tensors`: tensors found anywhere else (optimizer moments, the dust-emission `lam`
//!   buffer), keyed by their JSON path in `hyper`.
//!
//! Conversion of pickle values to JSON:
//!
//! | pickle value | JSON |
//! |---|---|
//! | `None`, bool, int, str | null, bool, number, string |
//! | float | number; NaN/±inf become the strings `"nan"`, `"inf"`, `"-inf"` |
//! | list, tuple, set | array |
//! | dict, OrderedDict | object; int/float/bool/None keys are written as Python prints them; a dict with `BUILD` attributes becomes `{"items": {…}, "attrs": {…}}` |
//! | `slice(a, b, None)` / `slice(a, b, c)` | `{"slice": [a, b]}` / `{"slice": [a, b, c]}` |
//! | numpy scalar | number |
//! | numpy array | nested arrays in C order (a 0-d array is a bare number) |
//! | numpy dtype | `{"dtype": "<f8"}` |
//! | bytes | `{"bytes": "<hex>"}` |
//! | torch tensor (outside the state dict) | `{"tensor": "<path>", "shape": […], "dtype": "float32"}`, data in `other_tensors["<path>"]` |
//! | `Tanh` / `Sigmoid` module | `{"class": "torch.nn.modules.activation.Tanh", "activation": "tanh", "state": {…}}` |
//! | `starduster.helper.Helper` | `{"class": "starduster.helper.Helper", "state": {"header": …, "lookup": …}}` |
//!
//! Paths are the keys and indices from the root joined by `/`, with `state` for an object's
//! state and `attrs`/`items` for a dict with attributes (e.g. `params/1/lam`,
//! `opt_state_dict/state/0/exp_avg`).
//!
//! Root keys of the published checkpoints (`params` holds the network constructor arguments):
//!
//! * `curve_disk.pt`, `curve_bulge.pt` (AttenuationCurve): `params` = `[input_size,
//!   output_size, hidden_sizes, activations, bump_inds, trough_ind, baseline_kernel_size,
//!   bump_kernel_size]`; also `opt_state_dict`, `history` (per-epoch arrays `epoch`, `lr`, `loss`,
//!   `loss_val`). `norm_fix` (0.1) is a constructor default and is not stored in the file.
//! * `dust_emission_v1.pt` (DustEmission): `params` = `[Helper, distri kwargs {input_size,
//!   hidden_sizes, activations, output_size, n_mix, dx, lam (tensor)}, frac_disk kwargs
//!   {input_size, hidden_sizes, activations}, frac_bulge kwargs]`; `eps_reduce`;
//!   `opt_state_dict`; `history`.
//! * `selector_disk.pt`, `selector_bulge.pt` (Selector): `params` = `[[header, lookup],
//!   input_size, hidden_sizes, activations]` (the helper saved as a plain tuple);
//!   `hyperparams` (training settings); `acc`, `acc_val`; `opt_state_dict`; `history`.
//!
//! # numpy pickles
//!
//! [`read_ssp_pickle`] reads `FSPS_Chabrier_neb_compact.pickle` (a dict of float64 arrays) into
//! [`SspTables`]; [`read_lam_main_pickle`] reads `lam_main.pickle` (one float64 array).

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use serde_json::{Map, Number, Value as Json, json};
use thiserror::Error;

use crate::pickle::{self, NdArray, PickleError, TensorRef, Value};

/// Largest `data.pkl` accepted (the published ones are below 300 kB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// Largest total of tensor data accepted in one checkpoint (the published ones hold < 4 MB).
const MAX_TENSOR_BYTES: usize = 256 << 20;

/// Errors from the checkpoint and numpy-pickle readers.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An error inside a named file.
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: Box<CheckpointError>,
    },
    /// The zip container is broken or not a PyTorch checkpoint.
    #[error("not a readable PyTorch zip checkpoint: {0}")]
    Archive(String),
    /// The pickle stream was refused or is malformed.
    #[error("pickle: {0}")]
    Pickle(#[from] PickleError),
    /// A tensor storage is missing or inconsistent with the tensors that use it.
    #[error("tensor storage `{key}`: {message}")]
    Storage {
        /// Storage key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// The unpickled content does not have the expected layout.
    #[error("unexpected content: {0}")]
    Layout(String),
}

type Result<T> = std::result::Result<T, CheckpointError>;

/// A dense float32 tensor in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in row-major order.
    pub data: Vec<f32>,
}

/// The content of a Starduster `.pt` checkpoint. See the module documentation for the layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The model state dict (parameter name → tensor).
    pub tensors: BTreeMap<String, TensorF32>,
    /// Every other part of the checkpoint, as JSON.
    pub hyper: Json,
    /// Tensors outside the state dict, keyed by their path in `hyper`.
    pub other_tensors: BTreeMap<String, TensorF32>,
}

/// Reads a PyTorch zip checkpoint (`.pt`) without Python.
///
/// ```rust
/// use std::path::Path;
/// use galsed_io::checkpoint::read_checkpoint;
///
/// let path = Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../../../shared/reference/starduster/original/selector_disk.pt");
/// let ckpt = read_checkpoint(&path)?;
/// assert_eq!(ckpt.tensors["mlp.0.weight"].shape, vec![32, 4]);
/// assert_eq!(ckpt.hyper["params"][1], 4); // input_size
/// # Ok::<(), galsed_io::checkpoint::CheckpointError>(())
/// ```
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = read_file(path)?;
    Checkpoint::from_bytes(&bytes).map_err(|e| in_file(path, e))
}

/// Reads `FSPS_Chabrier_neb_compact.pickle`.
pub fn read_ssp_pickle(path: &Path) -> Result<SspTables> {
    let bytes = read_file(path)?;
    SspTables::from_bytes(&bytes).map_err(|e| in_file(path, e))
}

/// Reads `lam_main.pickle`: the 495-point wavelength grid \[µm\].
pub fn read_lam_main_pickle(path: &Path) -> Result<Vec<f64>> {
    let bytes = read_file(path)?;
    lam_main_from_bytes(&bytes).map_err(|e| in_file(path, e))
}

/// Parses the bytes of `lam_main.pickle`: a pickled 1-D float numpy array.
pub fn lam_main_from_bytes(bytes: &[u8]) -> Result<Vec<f64>> {
    match pickle::parse(bytes)? {
        Value::NdArray(a) if a.shape.len() == 1 => Ok(a.to_f64_vec()?),
        Value::NdArray(a) => Err(CheckpointError::Layout(format!(
            "lam_main: expected a 1-D array, found shape {:?}",
            a.shape
        ))),
        other => Err(CheckpointError::Layout(format!(
            "lam_main: expected a numpy array, found {}",
            other.type_name()
        ))),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn in_file(path: &Path, e: CheckpointError) -> CheckpointError {
    CheckpointError::InFile {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

impl Checkpoint {
    /// Parses the bytes of a PyTorch zip checkpoint.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            CheckpointError::Archive(format!(
                "{e} (only the zip format of torch >= 1.6 is supported)"
            ))
        })?;
        let names: Vec<String> = zip
            .file_names_raw()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        let pkl_names: Vec<&String> = names
            .iter()
            .filter(|n| {
                n.strip_suffix("/data.pkl")
                    .is_some_and(|p| !p.is_empty() && !p.contains('/'))
            })
            .collect();
        let pkl_name = match pkl_names.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(CheckpointError::Archive(
                    "no `<name>/data.pkl` entry".into(),
                ));
            }
            _ => {
                return Err(CheckpointError::Archive(
                    "several `data.pkl` entries".into(),
                ));
            }
        };
        let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
        let pkl = read_entry(&mut zip, &pkl_name, MAX_PICKLE_BYTES)?
            .ok_or_else(|| CheckpointError::Archive(format!("cannot open `{pkl_name}`")))?;
        Checkpoint::from_pickle(&pkl, |key, nbytes| {
            if key.is_empty() || key.contains(['/', '\\']) || key.contains("..") {
                return Err(storage_err(key, "invalid storage key"));
            }
            let name = format!("{prefix}data/{key}");
            let data = read_entry(&mut zip, &name, nbytes as u64)?.ok_or_else(|| {
                storage_err(key, format!("entry `{name}` is missing from the archive"))
            })?;
            Ok(data)
        })
    }

    /// Builds a checkpoint from an extracted `data.pkl` and a storage source.
    ///
    /// `storage(key, nbytes)` must return the raw bytes of storage `key`; `nbytes` is the size
    /// the pickle declares (elements × 4). Each storage is requested once.
    pub fn from_pickle<F>(pkl: &[u8], mut storage: F) -> Result<Checkpoint>
    where
        F: FnMut(&str, usize) -> Result<Vec<u8>>,
    {
        let root = pickle::parse(pkl)?;
        let Value::Dict { items, .. } = root else {
            return Err(CheckpointError::Layout(format!(
                "checkpoint root is a {}, expected a dict",
                root.type_name()
            )));
        };
        let mut loader = Loader {
            storage: &mut storage,
            cache: HashMap::new(),
            budget: MAX_TENSOR_BYTES,
        };
        let mut tensors = BTreeMap::new();
        let mut other_tensors = BTreeMap::new();
        let mut hyper = Map::new();
        let mut found_state_dict = false;
        for (key, value) in &items {
            let Value::Str(key) = key else {
                return Err(CheckpointError::Layout(format!(
                    "checkpoint root key is a {}, expected a str",
                    key.type_name()
                )));
            };
            if key == "model_state_dict" {
                found_state_dict = true;
                let json = state_dict(value, &mut loader, &mut tensors, &mut other_tensors)?;
                hyper.insert(key.clone(), json);
            } else {
                let mut conv = JsonConv {
                    loader: &mut loader,
                    tensors: &mut other_tensors,
                };
                let json = conv.convert(value, key)?;
                hyper.insert(key.clone(), json);
            }
        }
        if !found_state_dict {
            return Err(CheckpointError::Layout(
                "checkpoint has no `model_state_dict`".into(),
            ));
        }
        Ok(Checkpoint {
            tensors,
            hyper: Json::Object(hyper),
            other_tensors,
        })
    }
}

/// Reads one zip entry of at most `limit` bytes; `None` when the entry does not exist.
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>> {
    let mut entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(CheckpointError::Archive(format!("`{name}`: {e}"))),
    };
    if entry.size() > limit {
        return Err(CheckpointError::Archive(format!(
            "`{name}` holds {} bytes, more than the expected {limit}",
            entry.size()
        )));
    }
    let mut out = Vec::new();
    (&mut entry)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| CheckpointError::Archive(format!("`{name}`: {e}")))?;
    if out.len() as u64 > limit {
        return Err(CheckpointError::Archive(format!(
            "`{name}` is longer than its header says"
        )));
    }
    Ok(Some(out))
}

fn storage_err(key: &str, message: impl Into<String>) -> CheckpointError {
    CheckpointError::Storage {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Fetches storages (once each) and cuts tensors out of them, under a total size budget.
struct Loader<'f> {
    storage: &'f mut dyn FnMut(&str, usize) -> Result<Vec<u8>>,
    cache: HashMap<String, Vec<f32>>,
    budget: usize,
}

impl Loader<'_> {
    fn charge(&mut self, bytes: usize, what: &str) -> Result<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            CheckpointError::Layout(format!(
                "{what}: tensor data exceeds the {MAX_TENSOR_BYTES}-byte limit"
            ))
        })?;
        Ok(())
    }

    fn tensor(&mut self, t: &TensorRef) -> Result<TensorF32> {
        let key = t.storage_key.as_str();
        let elem = t.dtype.size();
        let nbytes = t
            .storage_numel
            .checked_mul(elem)
            .ok_or_else(|| storage_err(key, "size overflows"))?;
        if !self.cache.contains_key(key) {
            self.charge(nbytes, key)?;
            let raw = (self.storage)(key, nbytes)?;
            if raw.len() != nbytes {
                return Err(storage_err(
                    key,
                    format!("holds {} bytes, the pickle declares {nbytes}", raw.len()),
                ));
            }
            let values: Vec<f32> = raw
                .chunks_exact(elem)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            self.cache.insert(key.to_string(), values);
        }
        let storage = self
            .cache
            .get(key)
            .ok_or_else(|| storage_err(key, "not loaded"))?;
        if storage.len() != t.storage_numel {
            return Err(storage_err(
                key,
                format!(
                    "used with {} and {} elements by different tensors",
                    storage.len(),
                    t.storage_numel
                ),
            ));
        }
        let data = gather(t, storage)?;
        self.charge(data.len().saturating_mul(elem), key)?;
        Ok(TensorF32 {
            shape: t.shape.clone(),
            data,
        })
    }
}

/// Copies the strided view `t` out of `storage` into row-major order.
fn gather(t: &TensorRef, storage: &[f32]) -> Result<Vec<f32>> {
    let key = t.storage_key.as_str();
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| storage_err(key, "tensor shape overflows"))?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    let last = t
        .shape
        .iter()
        .zip(&t.strides)
        .try_fold(t.offset, |acc, (&d, &s)| {
            acc.checked_add((d - 1).checked_mul(s)?)
        })
        .ok_or_else(|| storage_err(key, "tensor view overflows"))?;
    if last >= storage.len() {
        return Err(storage_err(
            key,
            format!(
                "tensor view (offset {}, shape {:?}, strides {:?}) reaches element {last} of a {}-element storage",
                t.offset,
                t.shape,
                t.strides,
                storage.len()
            ),
        ));
    }
    // Views never exceed storage by more than broadcasting allows; cap the copy anyway.
    if numel > MAX_TENSOR_BYTES / 4 {
        return Err(storage_err(
            key,
            format!("tensor of {numel} elements is too large"),
        ));
    }
    let mut contiguous = true;
    let mut expect = 1usize;
    for (&d, &s) in t.shape.iter().zip(&t.strides).rev() {
        if d != 1 && s != expect {
            contiguous = false;
            break;
        }
        expect = expect.saturating_mul(d);
    }
    if contiguous {
        let end = t.offset + numel; // ≤ last + 1 for a contiguous view
        return storage
            .get(t.offset..end)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| storage_err(key, "view out of range"));
    }
    let mut out = Vec::with_capacity(numel);
    let mut idx = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let off = t.offset
            + idx
                .iter()
                .zip(&t.strides)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(
            *storage
                .get(off)
                .ok_or_else(|| storage_err(key, "view out of range"))?,
        );
        for (i, &d) in idx.iter_mut().zip(&t.shape).rev() {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    Ok(out)
}

/// Extracts the tensors of `model_state_dict` and returns its JSON stand-in.
fn state_dict(
    value: &Value,
    loader: &mut Loader<'_>,
    tensors: &mut BTreeMap<String, TensorF32>,
    other_tensors: &mut BTreeMap<String, TensorF32>,
) -> Result<Json> {
    let Value::Dict { items, attrs } = value else {
        return Err(CheckpointError::Layout(format!(
            "`model_state_dict` is a {}, expected a dict",
            value.type_name()
        )));
    };
    let mut keys = Vec::with_capacity(items.len());
    for (k, v) in items {
        let (Value::Str(name), Value::Tensor(t)) = (k, v) else {
            return Err(CheckpointError::Layout(format!(
                "`model_state_dict` entry {} → {} is not a (str, tensor) pair",
                k.type_name(),
                v.type_name()
            )));
        };
        let tensor = loader.tensor(t)?;
        tensors.insert(name.clone(), tensor);
        keys.push(Json::String(name.clone()));
    }
    let attrs = match attrs {
        Some(a) => {
            let mut conv = JsonConv {
                loader,
                tensors: other_tensors,
            };
            conv.convert(a, "model_state_dict/attrs")?
        }
        None => Json::Null,
    };
    Ok(json!({ "keys": keys, "attrs": attrs }))
}

/// Converts pickle values to JSON (see the module documentation), moving tensors aside.
struct JsonConv<'a, 'f> {
    loader: &'a mut Loader<'f>,
    tensors: &'a mut BTreeMap<String, TensorF32>,
}

fn float_json(x: f64) -> Json {
    match Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::String("nan".into()),
        None if x > 0.0 => Json::String("inf".into()),
        None => Json::String("-inf".into()),
    }
}

fn key_string(k: &Value) -> Result<String> {
    Ok(match k {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::None => "None".into(),
        other => {
            return Err(CheckpointError::Layout(format!(
                "dict key of type {} cannot be converted to JSON",
                other.type_name()
            )));
        }
    })
}

impl JsonConv<'_, '_> {
    fn convert(&mut self, v: &Value, path: &str) -> Result<Json> {
        Ok(match v {
            Value::None => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(x) => float_json(*x),
            Value::Str(s) => Json::String(s.clone()),
            Value::Bytes(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                json!({ "bytes": hex })
            }
            Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) => Json::Array(
                xs.iter()
                    .enumerate()
                    .map(|(i, x)| self.convert(x, &format!("{path}/{i}")))
                    .collect::<Result<_>>()?,
            ),
            Value::Dict { items, attrs } => {
                let items_path = if attrs.is_some() {
                    format!("{path}/items")
                } else {
                    path.to_string()
                };
                let mut map = Map::new();
                for (k, x) in items {
                    let k = key_string(k)?;
                    let j = self.convert(x, &format!("{items_path}/{k}"))?;
                    map.insert(k, j);
                }
                match attrs {
                    Some(a) => {
                        let a = self.convert(a, &format!("{path}/attrs"))?;
                        json!({ "items": map, "attrs": a })
                    }
                    None => Json::Object(map),
                }
            }
            Value::Slice { start, stop, step } => {
                let mut parts = vec![
                    self.convert(start, &format!("{path}/slice/0"))?,
                    self.convert(stop, &format!("{path}/slice/1"))?,
                ];
                if **step != Value::None {
                    parts.push(self.convert(step, &format!("{path}/slice/2"))?);
                }
                json!({ "slice": parts })
            }
            Value::Tensor(t) => {
                let tensor = self.loader.tensor(t)?;
                let shape = tensor.shape.clone();
                self.tensors.insert(path.to_string(), tensor);
                json!({ "tensor": path, "shape": shape, "dtype": "float32" })
            }
            Value::NdArray(a) => ndarray_json(a)?,
            Value::Dtype(d) => json!({ "dtype": d.code() }),
            Value::Object { class, state } => {
                let mut map = Map::new();
                map.insert("class".into(), Json::String(class.clone()));
                let activation = match class.as_str() {
                    "torch.nn.modules.activation.Tanh" => Some("tanh"),
                    "torch.nn.modules.activation.Sigmoid" => Some("sigmoid"),
                    _ => None,
                };
                if let Some(a) = activation {
                    map.insert("activation".into(), Json::String(a.into()));
                }
                let state = match state {
                    Some(s) => self.convert(s, &format!("{path}/state"))?,
                    None => Json::Null,
                };
                map.insert("state".into(), state);
                Json::Object(map)
            }
        })
    }
}

fn ndarray_json(a: &NdArray) -> Result<Json> {
    let scalars = a.scalars()?;
    let flat: Vec<Json> = scalars
        .into_iter()
        .map(|s| match s {
            Value::Float(x) => float_json(x),
            Value::Int(i) => Json::from(i),
            Value::Bool(b) => Json::Bool(b),
            _ => Json::Null,
        })
        .collect();
    if a.shape.is_empty() {
        return Ok(flat.into_iter().next().unwrap_or(Json::Null));
    }
    if flat.is_empty() {
        // Also avoids materialising huge nests of empty arrays for shapes like (10**9, 0).
        return Ok(Json::Array(Vec::new()));
    }
    Ok(nest(&flat, &a.shape))
}

/// Nests a flat C-order element list according to `shape` (all dimensions non-zero).
fn nest(flat: &[Json], shape: &[usize]) -> Json {
    let Some((&d, inner_shape)) = shape.split_first() else {
        return flat.first().cloned().unwrap_or(Json::Null);
    };
    if inner_shape.is_empty() {
        return Json::Array(flat.to_vec());
    }
    let inner = flat.len() / d.max(1);
    Json::Array(
        flat.chunks(inner.max(1))
            .map(|chunk| nest(chunk, inner_shape))
            .collect(),
    )
}

/// The SSP table from `FSPS_Chabrier_neb_compact.pickle` (all float64, as shipped).
#[derive(Debug, Clone, PartialEq)]
pub struct SspTables {
    /// Wavelengths \[µm\], ascending (5493).
    pub lam: Vec<f64>,
    /// Metallicities, absolute Z (6).
    pub met: Vec<f64>,
    /// SSP ages \[yr\] (6).
    pub tau: Vec<f64>,
    /// Specific luminosity [L_sun/µm] indexed (lam, met, age).
    pub flx: Array3<f64>,
    /// Bolometric normalisation \[L_sun\] indexed (met, age).
    pub norm: Array2<f64>,
    /// Age-bin edges \[yr\] (len(tau) + 1).
    pub tau_edges: Vec<f64>,
}

impl SspTables {
    /// Parses the bytes of `FSPS_Chabrier_neb_compact.pickle`.
    pub fn from_bytes(bytes: &[u8]) -> Result<SspTables> {
        let root = pickle::parse(bytes)?;
        if !matches!(root, Value::Dict { .. }) {
            return Err(CheckpointError::Layout(format!(
                "SSP pickle: root is a {}, expected a dict",
                root.type_name()
            )));
        }
        let array = |key: &str, ndim: usize| -> Result<(Vec<usize>, Vec<f64>)> {
            match root.get(key) {
                Some(Value::NdArray(a)) if a.shape.len() == ndim => {
                    Ok((a.shape.clone(), a.to_f64_vec()?))
                }
                Some(Value::NdArray(a)) => Err(CheckpointError::Layout(format!(
                    "SSP pickle: `{key}` has shape {:?}, expected {ndim} dimension(s)",
                    a.shape
                ))),
                Some(other) => Err(CheckpointError::Layout(format!(
                    "SSP pickle: `{key}` is a {}, expected a numpy array",
                    other.type_name()
                ))),
                None => Err(CheckpointError::Layout(format!(
                    "SSP pickle: key `{key}` is missing"
                ))),
            }
        };
        let (_, lam) = array("lam", 1)?;
        let (_, met) = array("met", 1)?;
        let (_, tau) = array("tau", 1)?;
        let (_, tau_edges) = array("tau_edges", 1)?;
        let (flx_shape, flx) = array("flx", 3)?;
        let (norm_shape, norm) = array("norm", 2)?;
        let (nl, nm, nt) = (lam.len(), met.len(), tau.len());
        let check = |key: &str, got: &[usize], want: &[usize]| {
            if got == want {
                Ok(())
            } else {
                Err(CheckpointError::Layout(format!(
                    "SSP pickle: `{key}` has shape {got:?}, expected {want:?} from lam/met/tau"
                )))
            }
        };
        check("flx", &flx_shape, &[nl, nm, nt])?;
        check("norm", &norm_shape, &[nm, nt])?;
        check("tau_edges", &[tau_edges.len()], &[nt + 1])?;
        let layout = |e: ndarray::ShapeError| CheckpointError::Layout(format!("SSP pickle: {e}"));
        Ok(SspTables {
            flx: Array3::from_shape_vec((nl, nm, nt), flx).map_err(layout)?,
            norm: Array2::from_shape_vec((nm, nt), norm).map_err(layout)?,
            lam,
            met,
            tau,
            tau_edges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{ByteOrder, DType, DTypeKind};

    fn tref(offset: usize, shape: &[usize], strides: &[usize], numel: usize) -> TensorRef {
        TensorRef {
            storage_key: "0".into(),
            dtype: pickle::TorchDtype::Float32,
            location: "cpu".into(),
            storage_numel: numel,
            offset,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            requires_grad: false,
        }
    }

    #[test]
    fn gather_handles_offsets_and_strides() {
        let storage: Vec<f32> = (0..12).map(|i| i as f32).collect();
        // Contiguous with an offset.
        assert_eq!(
            gather(&tref(2, &[2, 2], &[2, 1], 12), &storage).unwrap(),
            vec![2., 3., 4., 5.]
        );
        // Transposed 3x4 → 4x3 view.
        let t = gather(&tref(0, &[4, 3], &[1, 4], 12), &storage).unwrap();
        assert_eq!(t, vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
        // Past the end.
        assert!(gather(&tref(10, &[3], &[1], 12), &storage).is_err());
        // Empty.
        assert!(
            gather(&tref(0, &[0, 5], &[5, 1], 12), &storage)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ndarray_json_nests_in_c_order() {
        let a = NdArray {
            dtype: DType {
                kind: DTypeKind::Int,
                size: 8,
                byte_order: ByteOrder::Little,
            },
            shape: vec![2, 3],
            fortran_order: false,
            data: (0..6i64).flat_map(|i| i.to_le_bytes()).collect(),
        };
        assert_eq!(ndarray_json(&a).unwrap(), json!([[0, 1, 2], [3, 4, 5]]));
    }
}
