//! Model files: the native galsed format, and import of the original published Starduster files.
//!
//! # Native format
//! A directory with three files:
//! * `galsed-model.json` — manifest: `{"format": "galsed-model", "version": 1, "name", "source",
//!   "config": <ModelConfig>}` (network hyper-parameters, input columns, `eps_reduce`);
//! * `weights.safetensors` — float32 weights, named `<network>.<PyTorch state-dict key>` with
//!   network ∈ {curve_disk, curve_bulge, dust_emission, selector_disk, selector_bulge};
//! * `ssp.safetensors` — float64 SSP library: `lam` (µm), `met` (absolute Z), `tau` (yr),
//!   `tau_edges` (yr), `flx` (lam, met, age) [L_sun/µm], `norm` (met, age) \[L_sun\], `lam_main` (µm).
//!
//! # Original files
//! The seven files of the public repository (`curve_disk.pt`, …, `FSPS_Chabrier_neb_compact.pickle`,
//! `lam_main.pickle`), read with galsed's non-executing pickle reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use galsed_core::ssp::{DerivedSsp, SspLibrary, WavelengthGrid};
use galsed_io::checkpoint::{self, Checkpoint, TensorF32};
use ndarray::{Array2, Array3};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::ModelError;
use crate::config::{
    Activation, AttenuationCurveConfig, EmissionConfig, Inputs, MlpConfig, ModelConfig,
};
use crate::sed::{ModelWeights, Starduster};
use crate::weights::Weights;

/// Manifest file name of the native format.
pub const MANIFEST: &str = "galsed-model.json";
const WEIGHTS: &str = "weights.safetensors";
const SSP: &str = "ssp.safetensors";
const FORMAT: &str = "galsed-model";
const VERSION: u32 = 1;
/// `norm_fix` of the attenuation curves: a constructor default, not stored in the checkpoints.
const NORM_FIX: f64 = 0.1;

/// Errors reading or writing model files.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// A published PyTorch checkpoint could not be read.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// The SSP library could not be read or is unusable.
    #[error(transparent)]
    Ssp(#[from] galsed_core::ssp::SspError),
    /// A file's content is malformed (e.g. an invalid manifest).
    #[error("{path}: {message}")]
    Format {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read, written or created.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done (e.g. `read`), for the message.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The directory holds neither a native model nor the published Starduster files.
    #[error(
        "{0} holds neither a galsed model ({MANIFEST}) nor the published Starduster files \
         (curve_disk.pt, …); run `galsed model fetch` or pass --model DIR"
    )]
    NotAModel(PathBuf),
}

fn format_err(path: &Path, message: impl Into<String>) -> ModelFileError {
    ModelFileError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Everything needed to build the emulator: hyper-parameters, weights and the SSP library.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// Name of the model (e.g. `starduster-v1`).
    pub name: String,
    /// Hyper-parameters of the networks.
    pub config: ModelConfig,
    /// Weights of the networks.
    pub weights: ModelWeights,
    /// The SSP library.
    pub ssp: SspLibrary,
}

impl Starduster {
    /// Builds the emulator from loaded model files on a wavelength grid, on the CPU without
    /// gradients ([`Device::flex`]).
    ///
    /// Errors from deriving the grid are [`ModelError::Ssp`]; the derived tables stay available
    /// as [`Starduster::grid`].
    pub fn from_files(files: &ModelFiles, grid: &WavelengthGrid) -> Result<Self, ModelError> {
        Self::from_files_on(files, grid, &Device::flex())
    }

    /// [`Starduster::from_files`] on a device (`Device::flex().autodiff()` for gradients).
    pub fn from_files_on(
        files: &ModelFiles,
        grid: &WavelengthGrid,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let derived = DerivedSsp::new(&files.ssp, grid, files.config.eps_reduce)?;
        Self::new(&files.weights, &files.config, derived, device)
    }

    /// Loads the model files of `dir` ([`ModelFiles::load`]) and builds the emulator on a
    /// wavelength grid, on the CPU without gradients.
    ///
    /// ```no_run
    /// use galsed_core::ssp::WavelengthGrid;
    /// use galsed_emulator::Starduster;
    /// let model = Starduster::from_dir("starduster-model".as_ref(), &WavelengthGrid::Base)?;
    /// # Ok::<(), galsed_emulator::ModelError>(())
    /// ```
    pub fn from_dir(dir: &Path, grid: &WavelengthGrid) -> Result<Self, ModelError> {
        Self::from_files(&ModelFiles::load(dir)?, grid)
    }
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    name: String,
    source: String,
    config: ModelConfig,
}

impl ModelFiles {
    /// Loads a native model directory, or imports the published files if that is what `dir` holds.
    pub fn load(dir: &Path) -> Result<Self, ModelFileError> {
        if dir.join(MANIFEST).is_file() {
            Self::read_native(dir)
        } else if dir.join("curve_disk.pt").is_file() {
            Self::import_original(dir)
        } else {
            Err(ModelFileError::NotAModel(dir.to_path_buf()))
        }
    }

    /// Imports the seven published Starduster files.
    pub fn import_original(dir: &Path) -> Result<Self, ModelFileError> {
        let ckpt = |name: &str| checkpoint::read_checkpoint(&dir.join(name));
        let curve_disk = ckpt("curve_disk.pt")?;
        let curve_bulge = ckpt("curve_bulge.pt")?;
        let dust = ckpt("dust_emission_v1.pt")?;
        let selector_disk = ckpt("selector_disk.pt")?;
        let selector_bulge = ckpt("selector_bulge.pt")?;
        let tables = checkpoint::read_ssp_pickle(&dir.join("FSPS_Chabrier_neb_compact.pickle"))?;
        let lam_main = checkpoint::read_lam_main_pickle(&dir.join("lam_main.pickle"))?;

        let lookup = dust
            .hyper
            .pointer("/params/0/state/lookup")
            .ok_or_else(|| format_err(dir, "dust_emission_v1.pt: no Helper look-up table"))?;
        let path = dir.join("dust_emission_v1.pt");
        let columns = |key: &str| lookup_columns(&path, lookup, key);
        let config = ModelConfig {
            curve_disk: Inputs {
                columns: columns("curve_disk_inds")?,
                net: curve_config(&dir.join("curve_disk.pt"), &curve_disk)?,
            },
            curve_bulge: Inputs {
                columns: columns("curve_bulge_inds")?,
                net: curve_config(&dir.join("curve_bulge.pt"), &curve_bulge)?,
            },
            frac_disk: Inputs {
                columns: columns("frac_disk_inds")?,
                net: mlp_config(&path, field(&path, &dust.hyper, "/params/2")?)?,
            },
            frac_bulge: Inputs {
                columns: columns("frac_bulge_inds")?,
                net: mlp_config(&path, field(&path, &dust.hyper, "/params/3")?)?,
            },
            distri: emission_config(&path, field(&path, &dust.hyper, "/params/1")?)?,
            selector_disk: selector_config(&dir.join("selector_disk.pt"), &selector_disk)?,
            selector_bulge: selector_config(&dir.join("selector_bulge.pt"), &selector_bulge)?,
            eps_reduce: number(&path, &dust.hyper, "/eps_reduce")?,
        };
        let ssp = SspLibrary::new(
            tables.lam,
            tables.met,
            tables.tau,
            tables.tau_edges,
            tables.flx,
            tables.norm,
            lam_main,
        )?;
        Ok(Self {
            name: "starduster-v1".into(),
            config,
            weights: ModelWeights {
                curve_disk: Weights::new(curve_disk.tensors),
                curve_bulge: Weights::new(curve_bulge.tensors),
                dust_emission: Weights::new(dust.tensors),
                selector_disk: Weights::new(selector_disk.tensors),
                selector_bulge: Weights::new(selector_bulge.tensors),
            },
            ssp,
        })
    }

    fn networks(&self) -> [(&'static str, &Weights); 5] {
        let w = &self.weights;
        [
            ("curve_disk", &w.curve_disk),
            ("curve_bulge", &w.curve_bulge),
            ("dust_emission", &w.dust_emission),
            ("selector_disk", &w.selector_disk),
            ("selector_bulge", &w.selector_bulge),
        ]
    }

    /// Writes the model in the native format (creating `dir`).
    pub fn write_native(&self, dir: &Path, source: &str) -> Result<(), ModelFileError> {
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| ModelFileError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;

        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (net, w) in self.networks() {
            for (key, t) in w.tensors() {
                let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensors.push((format!("{net}.{key}"), t.shape.clone(), bytes));
            }
        }
        write_safetensors(&dir.join(WEIGHTS), Dtype::F32, &tensors)?;

        let s = &self.ssp;
        let f64s = |v: &mut dyn Iterator<Item = f64>| v.flat_map(|x| x.to_le_bytes()).collect();
        let ssp_tensors = vec![
            (
                "lam".into(),
                vec![s.lam.len()],
                f64s(&mut s.lam.iter().copied()),
            ),
            (
                "met".into(),
                vec![s.met.len()],
                f64s(&mut s.met.iter().copied()),
            ),
            (
                "tau".into(),
                vec![s.tau.len()],
                f64s(&mut s.tau.iter().copied()),
            ),
            (
                "tau_edges".into(),
                vec![s.tau_edges.len()],
                f64s(&mut s.tau_edges.iter().copied()),
            ),
            (
                "flx".into(),
                s.flx.shape().to_vec(),
                f64s(&mut s.flx.iter().copied()),
            ),
            (
                "norm".into(),
                s.norm.shape().to_vec(),
                f64s(&mut s.norm.iter().copied()),
            ),
            (
                "lam_main".into(),
                vec![s.lam_main.len()],
                f64s(&mut s.lam_main.iter().copied()),
            ),
        ];
        write_safetensors(&dir.join(SSP), Dtype::F64, &ssp_tensors)?;

        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            name: self.name.clone(),
            source: source.into(),
            config: self.config.clone(),
        };
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| format_err(dir, format!("cannot serialise the manifest: {e}")))?;
        std::fs::write(dir.join(MANIFEST), text).map_err(io("write", &dir.join(MANIFEST)))
    }

    /// Reads a native model directory.
    pub fn read_native(dir: &Path) -> Result<Self, ModelFileError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| ModelFileError::Io {
                action: "read",
                path,
                source,
            })
        };
        let mpath = dir.join(MANIFEST);
        let manifest: Manifest = serde_json::from_slice(&read(MANIFEST)?)
            .map_err(|e| format_err(&mpath, format!("invalid manifest: {e}")))?;
        if manifest.format != FORMAT || manifest.version != VERSION {
            return Err(format_err(
                &mpath,
                format!(
                    "format '{}' version {} is not supported (expected '{FORMAT}' version {VERSION})",
                    manifest.format, manifest.version
                ),
            ));
        }
        let wpath = dir.join(WEIGHTS);
        let wbytes = read(WEIGHTS)?;
        let st = SafeTensors::deserialize(&wbytes)
            .map_err(|e| format_err(&wpath, format!("invalid safetensors: {e}")))?;
        let mut nets: BTreeMap<String, BTreeMap<String, TensorF32>> = BTreeMap::new();
        for (name, view) in st.tensors() {
            let (net, key) = name.split_once('.').ok_or_else(|| {
                format_err(&wpath, format!("tensor '{name}' has no network prefix"))
            })?;
            let data = view_f32(&wpath, &name, &view)?;
            nets.entry(net.to_string()).or_default().insert(
                key.to_string(),
                TensorF32 {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        let mut take = |net: &str| {
            nets.remove(net)
                .map(Weights::new)
                .ok_or_else(|| format_err(&wpath, format!("no tensors for network '{net}'")))
        };
        let weights = ModelWeights {
            curve_disk: take("curve_disk")?,
            curve_bulge: take("curve_bulge")?,
            dust_emission: take("dust_emission")?,
            selector_disk: take("selector_disk")?,
            selector_bulge: take("selector_bulge")?,
        };

        let spath = dir.join(SSP);
        let sbytes = read(SSP)?;
        let st = SafeTensors::deserialize(&sbytes)
            .map_err(|e| format_err(&spath, format!("invalid safetensors: {e}")))?;
        let get = |name: &str| -> Result<(Vec<usize>, Vec<f64>), ModelFileError> {
            let view = st
                .tensor(name)
                .map_err(|e| format_err(&spath, format!("'{name}': {e}")))?;
            if view.dtype() != Dtype::F64 {
                return Err(format_err(&spath, format!("'{name}' must be float64")));
            }
            let data = view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            Ok((view.shape().to_vec(), data))
        };
        let vec1 = |name: &str| get(name).map(|(_, d)| d);
        let (fshape, flx) = get("flx")?;
        let (nshape, norm) = get("norm")?;
        let flx = match fshape[..] {
            [a, b, c] => Array3::from_shape_vec((a, b, c), flx).ok(),
            _ => None,
        }
        .ok_or_else(|| format_err(&spath, "'flx' must be 3-D"))?;
        let norm = match nshape[..] {
            [a, b] => Array2::from_shape_vec((a, b), norm).ok(),
            _ => None,
        }
        .ok_or_else(|| format_err(&spath, "'norm' must be 2-D"))?;
        let ssp = SspLibrary::new(
            vec1("lam")?,
            vec1("met")?,
            vec1("tau")?,
            vec1("tau_edges")?,
            flx,
            norm,
            vec1("lam_main")?,
        )?;
        Ok(Self {
            name: manifest.name,
            config: manifest.config,
            weights,
            ssp,
        })
    }
}

fn view_f32(path: &Path, name: &str, view: &TensorView<'_>) -> Result<Vec<f32>, ModelFileError> {
    if view.dtype() != Dtype::F32 {
        return Err(format_err(path, format!("tensor '{name}' must be float32")));
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn write_safetensors(
    path: &Path,
    dtype: Dtype,
    tensors: &[(String, Vec<usize>, Vec<u8>)],
) -> Result<(), ModelFileError> {
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| format_err(path, format!("tensor '{name}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| format_err(path, format!("cannot serialise: {e}")))?;
    std::fs::write(path, bytes).map_err(|source| ModelFileError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

fn field<'a>(path: &Path, json: &'a Json, pointer: &str) -> Result<&'a Json, ModelFileError> {
    json.pointer(pointer)
        .ok_or_else(|| format_err(path, format!("missing hyper-parameter {pointer}")))
}

fn number(path: &Path, json: &Json, pointer: &str) -> Result<f64, ModelFileError> {
    field(path, json, pointer)?
        .as_f64()
        .ok_or_else(|| format_err(path, format!("{pointer} is not a number")))
}

fn usize_of(path: &Path, v: &Json, what: &str) -> Result<usize, ModelFileError> {
    v.as_u64().map(|u| u as usize).ok_or_else(|| {
        format_err(
            path,
            format!("{what}: expected a non-negative integer, got {v}"),
        )
    })
}

fn usizes(path: &Path, v: &Json, what: &str) -> Result<Vec<usize>, ModelFileError> {
    v.as_array()
        .ok_or_else(|| format_err(path, format!("{what}: expected a list, got {v}")))?
        .iter()
        .map(|x| usize_of(path, x, what))
        .collect()
}

fn pair(path: &Path, v: &Json, what: &str) -> Result<(usize, usize), ModelFileError> {
    match usizes(path, v, what)?[..] {
        [a, b] => Ok((a, b)),
        _ => Err(format_err(
            path,
            format!("{what}: expected two integers, got {v}"),
        )),
    }
}

/// Activation from its JSON form: a module object, a name, or null.
fn activation(path: &Path, v: &Json) -> Result<Activation, ModelFileError> {
    let name = match v {
        Json::Null => return Ok(Activation::None),
        Json::String(s) => s.as_str(),
        Json::Object(o) => o.get("activation").and_then(Json::as_str).unwrap_or(""),
        _ => "",
    };
    match name.to_ascii_lowercase().as_str() {
        "tanh" => Ok(Activation::Tanh),
        "sigmoid" => Ok(Activation::Sigmoid),
        _ => Err(format_err(path, format!("unsupported activation {v}"))),
    }
}

fn activations(path: &Path, v: &Json) -> Result<Vec<Activation>, ModelFileError> {
    v.as_array()
        .ok_or_else(|| format_err(path, format!("activations: expected a list, got {v}")))?
        .iter()
        .map(|a| activation(path, a))
        .collect()
}

fn mlp_config(path: &Path, kw: &Json) -> Result<MlpConfig, ModelFileError> {
    let get = |k: &str| {
        kw.get(k)
            .ok_or_else(|| format_err(path, format!("missing hyper-parameter '{k}'")))
    };
    Ok(MlpConfig {
        input_size: usize_of(path, get("input_size")?, "input_size")?,
        hidden_sizes: usizes(path, get("hidden_sizes")?, "hidden_sizes")?,
        activations: activations(path, get("activations")?)?,
    })
}

fn curve_config(path: &Path, c: &Checkpoint) -> Result<AttenuationCurveConfig, ModelFileError> {
    let p = |i: usize| field(path, &c.hyper, &format!("/params/{i}"));
    let bumps = p(4)?
        .as_array()
        .ok_or_else(|| format_err(path, "bump_inds: expected a list"))?
        .iter()
        .map(|b| pair(path, b, "bump_inds"))
        .collect::<Result<_, _>>()?;
    Ok(AttenuationCurveConfig {
        mlp: MlpConfig {
            input_size: usize_of(path, p(0)?, "input_size")?,
            hidden_sizes: usizes(path, p(2)?, "hidden_sizes")?,
            activations: activations(path, p(3)?)?,
        },
        output_size: usize_of(path, p(1)?, "output_size")?,
        bump_inds: bumps,
        trough_ind: pair(path, p(5)?, "trough_ind")?,
        baseline_kernel_size: usize_of(path, p(6)?, "baseline_kernel_size")?,
        bump_kernel_size: usize_of(path, p(7)?, "bump_kernel_size")?,
        norm_fix: NORM_FIX,
    })
}

fn emission_config(path: &Path, kw: &Json) -> Result<EmissionConfig, ModelFileError> {
    let get = |k: &str| {
        kw.get(k)
            .ok_or_else(|| format_err(path, format!("missing hyper-parameter '{k}'")))
    };
    Ok(EmissionConfig {
        mlp: mlp_config(path, kw)?,
        output_size: usize_of(path, get("output_size")?, "output_size")?,
        n_mix: usize_of(path, get("n_mix")?, "n_mix")?,
        dx: get("dx")?
            .as_f64()
            .ok_or_else(|| format_err(path, "dx is not a number"))?,
    })
}

fn selector_config(path: &Path, c: &Checkpoint) -> Result<Inputs<MlpConfig>, ModelFileError> {
    let p = |i: usize| field(path, &c.hyper, &format!("/params/{i}"));
    let input_size = usize_of(path, p(1)?, "input_size")?;
    Ok(Inputs {
        // Selectors read the first `input_size` galaxy parameters.
        columns: (0..input_size).collect(),
        net: MlpConfig {
            input_size,
            hidden_sizes: usizes(path, p(2)?, "hidden_sizes")?,
            activations: activations(path, p(3)?)?,
        },
    })
}

/// Columns named by a Helper look-up entry: an int, `{"slice": [a, b]}` or a list.
fn lookup_columns(path: &Path, lookup: &Json, key: &str) -> Result<Vec<usize>, ModelFileError> {
    let v = lookup
        .get(key)
        .ok_or_else(|| format_err(path, format!("look-up table has no '{key}'")))?;
    if let Some(s) = v.get("slice") {
        let (a, b) = pair(path, s, key)?;
        return Ok((a..b).collect());
    }
    if v.is_u64() {
        return Ok(vec![usize_of(path, v, key)?]);
    }
    usizes(path, v, key)
}
