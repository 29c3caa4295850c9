//! Reads the original published Starduster files (`original/`) with the non-executing pickle
//! reader and checks them against the converted copies (`model/`, `ssp/`): tensors bitwise,
//! hyper-parameters field by field, SSP arrays bitwise. Plus hostile-input checks.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Cursor, Write};
use std::path::PathBuf;

use galsed_io::checkpoint::{
    Checkpoint, CheckpointError, SspTables, lam_main_from_bytes, read_checkpoint,
    read_lam_main_pickle, read_ssp_pickle,
};
use galsed_io::pickle::PickleError;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::{NpzReader, ReadNpyExt};
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value as Json, json};

const CHECKPOINTS: [&str; 5] = [
    "curve_disk",
    "curve_bulge",
    "dust_emission_v1",
    "selector_disk",
    "selector_bulge",
];

fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster")
}

fn original(name: &str) -> PathBuf {
    reference().join("original").join(name)
}

fn model_json(name: &str) -> Json {
    let text = fs::read_to_string(reference().join("model").join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("reading {name}.json: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

fn checkpoint(name: &str) -> Checkpoint {
    read_checkpoint(&original(&format!("{name}.pt"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Activation names as in the converted JSON (`tanh`, `sigmoid`, `null`).
fn activation_names(acts: &Json) -> Json {
    Json::Array(
        acts.as_array()
            .expect("activations are a list")
            .iter()
            .map(|a| {
                if a.is_null() {
                    Json::Null
                } else {
                    a["activation"].clone()
                }
            })
            .collect(),
    )
}

/// Last epoch of every `history` array, as in `final_training_history`.
fn check_final_history(name: &str, hyper: &Json, expected: &Json) {
    let expected = expected["final_training_history"]
        .as_object()
        .expect("history");
    assert!(!expected.is_empty());
    for (key, want) in expected {
        let series = hyper["history"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: history/{key} missing"));
        let last = series
            .last()
            .and_then(Json::as_f64)
            .expect("numeric history");
        assert_eq!(
            last,
            want.as_f64().expect("number"),
            "{name}: history/{key}"
        );
    }
}

/// Columns selected by a helper look-up entry: int, list, or `{slice: [a, b]}`.
fn columns(entry: &Json) -> Json {
    if let Some(s) = entry.get("slice") {
        let a = s[0].as_u64().expect("start");
        let b = s[1].as_u64().expect("stop");
        return Json::from((a..b).collect::<Vec<_>>());
    }
    entry.clone()
}

#[test]
fn tensors_match_safetensors_bitwise() {
    for name in CHECKPOINTS {
        let ckpt = checkpoint(name);
        let bytes = fs::read(
            reference()
                .join("model")
                .join(format!("{name}.safetensors")),
        )
        .expect("safetensors file");
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");

        let ours: BTreeSet<&str> = ckpt.tensors.keys().map(String::as_str).collect();
        let theirs: BTreeSet<&str> = st.names().into_iter().collect();
        assert_eq!(ours, theirs, "{name}: key sets differ");

        let mut compared = 0usize;
        let mut max_abs_diff = 0f32;
        for (key, view) in st.tensors() {
            assert_eq!(view.dtype(), Dtype::F32, "{name}/{key}");
            let ours = &ckpt.tensors[&key];
            assert_eq!(ours.shape, view.shape(), "{name}/{key}: shape");
            let theirs: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            assert_eq!(ours.data.len(), theirs.len(), "{name}/{key}: length");
            for (a, b) in ours.data.iter().zip(&theirs) {
                assert_eq!(a.to_bits(), b.to_bits(), "{name}/{key}: {a} vs {b}");
                max_abs_diff = max_abs_diff.max((a - b).abs());
                compared += 1;
            }
        }
        assert!(compared >= 193, "{name}: only {compared} values compared");
        assert_eq!(max_abs_diff, 0.0);
        // The state dict keeps its order and torch metadata in `hyper`.
        assert_eq!(
            ckpt.hyper["model_state_dict"]["keys"]
                .as_array()
                .map(Vec::len),
            Some(ckpt.tensors.len()),
            "{name}"
        );
        assert!(ckpt.hyper["model_state_dict"]["attrs"]["_metadata"].is_object());
    }
}

#[test]
fn attenuation_curve_hyper_parameters() {
    for name in ["curve_disk", "curve_bulge"] {
        let ckpt = checkpoint(name);
        let j = model_json(name);
        let p = &ckpt.hyper["params"];
        assert_eq!(p[0], j["input_size"], "{name}");
        assert_eq!(p[1], j["output_size"], "{name}");
        assert_eq!(p[2], j["hidden_sizes"], "{name}");
        assert_eq!(activation_names(&p[3]), j["activations"], "{name}");
        assert_eq!(p[4], j["bump_inds"], "{name}");
        assert_eq!(p[5], j["trough_ind"], "{name}");
        assert_eq!(p[6], j["baseline_kernel_size"], "{name}");
        assert_eq!(p[7], j["bump_kernel_size"], "{name}");
        assert_eq!(
            p.as_array().map(Vec::len),
            Some(8),
            "{name}: norm_fix is not stored"
        );
        check_final_history(name, &ckpt.hyper, &j);
        // Optimizer moments are kept aside, one pair per parameter.
        assert_eq!(ckpt.other_tensors.len(), 2 * ckpt.tensors.len(), "{name}");
    }
}

#[test]
fn dust_emission_hyper_parameters() {
    let ckpt = checkpoint("dust_emission_v1");
    let j = model_json("dust_emission_v1");
    let h = &ckpt.hyper;
    assert_eq!(h["eps_reduce"], j["eps_reduce"]);

    let distri = &h["params"][1];
    for key in ["input_size", "output_size", "hidden_sizes", "n_mix", "dx"] {
        assert_eq!(distri[key], j["distri"][key], "distri/{key}");
    }
    assert_eq!(
        activation_names(&distri["activations"]),
        j["distri"]["activations"]
    );

    // `lam` is a float32 tensor buffer: equal to the JSON copy and to dust_emission_lam.npy.
    assert_eq!(
        distri["lam"],
        json!({"tensor": "params/1/lam", "shape": [495], "dtype": "float32"})
    );
    let lam = &ckpt.other_tensors["params/1/lam"];
    let want: Vec<f64> = j["distri"]["lam"]
        .as_array()
        .expect("lam list")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect();
    assert_eq!(
        lam.data.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        want
    );
    let npy = fs::File::open(reference().join("model/dust_emission_lam.npy")).expect("npy");
    let npy = Array1::<f32>::read_npy(npy).expect("float32 npy");
    assert!(
        lam.data
            .iter()
            .zip(npy.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(lam.data.len(), npy.len());

    let helper = &h["params"][0];
    assert_eq!(helper["class"], "starduster.helper.Helper");
    let state = &helper["state"];
    assert_eq!(state["header"], j["helper"]["header"]);
    assert_eq!(state["lookup"], j["helper"]["lookup"]);
    let helper_json = model_json("helper");
    assert_eq!(state["header"], helper_json["header"]);
    assert_eq!(state["lookup"], helper_json["lookup"]);

    for (idx, sub) in [(2, "frac_disk"), (3, "frac_bulge")] {
        let p = &h["params"][idx];
        assert_eq!(p["input_size"], j[sub]["input_size"], "{sub}");
        assert_eq!(p["hidden_sizes"], j[sub]["hidden_sizes"], "{sub}");
        assert_eq!(
            activation_names(&p["activations"]),
            j[sub]["activations"],
            "{sub}"
        );
        let lookup = &state["lookup"][format!("{sub}_inds")];
        assert_eq!(columns(lookup), j[sub]["input_columns_of_gp"], "{sub}");
    }
    check_final_history("dust_emission_v1", h, &j);
}

#[test]
fn selector_hyper_parameters() {
    let helper_json = model_json("helper");
    for name in ["selector_disk", "selector_bulge"] {
        let ckpt = checkpoint(name);
        let j = model_json(name);
        let p = &ckpt.hyper["params"];
        assert_eq!(p[0][0], helper_json["header"], "{name}: helper header");
        assert_eq!(p[0][1], helper_json["lookup"], "{name}: helper lookup");
        assert_eq!(p[1], j["input_size"], "{name}");
        assert_eq!(p[2], j["hidden_sizes"], "{name}");
        assert_eq!(activation_names(&p[3]), j["activations"], "{name}");
        assert_eq!(
            ckpt.hyper["hyperparams"], j["training_hyperparams"],
            "{name}"
        );
        assert_eq!(ckpt.hyper["acc"], j["acc"], "{name}");
        assert_eq!(ckpt.hyper["acc_val"], j["acc_val"], "{name}");
        let lookup_key = if name == "selector_disk" {
            "curve_disk_inds"
        } else {
            "curve_bulge_inds"
        };
        assert_eq!(
            columns(&p[0][1][lookup_key]),
            j["input_columns_of_gp"],
            "{name}"
        );
        check_final_history(name, &ckpt.hyper, &j);
    }
}

fn npz_bits(reader: &mut NpzReader<fs::File>, key: &str) -> Vec<u64> {
    let a: ndarray::ArrayD<f64> = reader
        .by_name(key)
        .unwrap_or_else(|e| panic!("npz {key}: {e}"));
    a.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn ssp_tables_match_npz_bitwise() {
    let ssp = read_ssp_pickle(&original("FSPS_Chabrier_neb_compact.pickle")).expect("SSP pickle");
    let file = fs::File::open(reference().join("ssp/ssp_library.npz")).expect("npz");
    let mut npz = NpzReader::new(file).expect("npz reader");
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();

    assert_eq!(ssp.lam.len(), 5493);
    assert_eq!(
        (ssp.met.len(), ssp.tau.len(), ssp.tau_edges.len()),
        (6, 6, 7)
    );
    assert_eq!(ssp.flx.dim(), (5493, 6, 6));
    assert_eq!(ssp.norm.dim(), (6, 6));
    assert_eq!(bits(&ssp.lam), npz_bits(&mut npz, "lam"));
    assert_eq!(bits(&ssp.met), npz_bits(&mut npz, "met"));
    assert_eq!(bits(&ssp.tau), npz_bits(&mut npz, "tau"));
    assert_eq!(bits(&ssp.tau_edges), npz_bits(&mut npz, "tau_edges"));
    let flx: Array3<f64> = npz.by_name("flx").expect("flx");
    assert_eq!(flx.dim(), ssp.flx.dim());
    assert!(
        flx.iter()
            .zip(ssp.flx.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    let norm: Array2<f64> = npz.by_name("norm").expect("norm");
    assert!(
        norm.iter()
            .zip(ssp.norm.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(norm.dim(), ssp.norm.dim());

    let lam_main = read_lam_main_pickle(&original("lam_main.pickle")).expect("lam_main");
    assert_eq!(lam_main.len(), 495);
    assert_eq!(bits(&lam_main), npz_bits(&mut npz, "lam_main"));
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken inputs.

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// Entries of an original checkpoint, as (name, bytes).
fn entries_of(name: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = fs::read(original(&format!("{name}.pt"))).expect("checkpoint");
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).expect("read");
            (f.name().expect("entry name").into_owned(), data)
        })
        .collect()
}

fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn truncated_checkpoint_is_an_error() {
    let bytes = fs::read(original("selector_disk.pt")).expect("checkpoint");
    for cut in [bytes.len() / 2, bytes.len() - 10, 100] {
        let err = Checkpoint::from_bytes(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Archive(_)),
            "cut {cut}: {err}"
        );
    }
    // A whole zip whose data.pkl is cut short.
    let entries = entries_of("selector_disk");
    let rebuilt: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| {
            let d: &[u8] = if n.ends_with("data.pkl") {
                &d[..d.len() / 3]
            } else {
                d
            };
            (n.as_str(), d)
        })
        .collect();
    let err = Checkpoint::from_bytes(&zip_with(&rebuilt)).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Pickle(PickleError::Truncated { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn foreign_pickle_is_refused() {
    // pickle of os.system("touch /tmp/pwned"), protocol 2.
    let mut evil = b"\x80\x02cos\nsystem\nX\x10\x00\x00\x00touch /tmp/pwned\x85R.".to_vec();
    let err = Checkpoint::from_bytes(&zip_with(&[("archive/data.pkl", &evil)])).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Pickle(PickleError::ForbiddenGlobal { name, .. }) if name == "os.system"),
        "{err}"
    );
    assert!(err.to_string().contains("os.system"), "{err}");

    // The same through STACK_GLOBAL (protocol 4) and nested inside an otherwise valid dict.
    evil = b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00}\x8c\x01a\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85Rs.".to_vec();
    let err = Checkpoint::from_bytes(&zip_with(&[("archive/data.pkl", &evil)])).unwrap_err();
    assert!(err.to_string().contains("builtins.eval"), "{err}");
    assert!(SspTables::from_bytes(&evil).is_err());
}

#[test]
fn random_and_wrong_files_are_errors() {
    for seed in 1..20u64 {
        let junk = random_bytes(4096, seed);
        assert!(Checkpoint::from_bytes(&junk).is_err());
        assert!(SspTables::from_bytes(&junk).is_err());
        assert!(lam_main_from_bytes(&junk).is_err());
    }
    // Random bytes behind a valid pickle header.
    let mut junk = b"\x80\x02".to_vec();
    junk.extend(random_bytes(4096, 99));
    assert!(galsed_io::pickle::parse(&junk).is_err());

    // Through a file on disk: the error names the file.
    let path = std::env::temp_dir().join(format!("galsed-h1-junk-{}.pt", std::process::id()));
    fs::write(&path, random_bytes(1000, 7)).expect("temp file");
    let err = read_checkpoint(&path).unwrap_err();
    let _ = fs::remove_file(&path);
    assert!(err.to_string().contains("galsed-h1-junk"), "{err}");
    assert!(err.to_string().contains("zip"), "{err}");

    let missing = read_checkpoint(&reference().join("original/no_such_file.pt")).unwrap_err();
    assert!(matches!(missing, CheckpointError::Io { .. }), "{missing}");

    // The numpy readers reject each other's files with a layout error.
    let err = read_ssp_pickle(&original("lam_main.pickle")).unwrap_err();
    assert!(err.to_string().contains("root is a numpy array"), "{err}");
    let err = read_lam_main_pickle(&original("FSPS_Chabrier_neb_compact.pickle")).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a numpy array, found dict"),
        "{err}"
    );
}

#[test]
fn missing_or_resized_storages_are_errors() {
    let entries = entries_of("selector_disk");
    let without: Vec<(&str, &[u8])> = entries
        .iter()
        .filter(|(n, _)| n != "archive/data/2")
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let err = Checkpoint::from_bytes(&zip_with(&without)).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Storage { key, .. } if key == "2"),
        "{err}"
    );
    assert!(err.to_string().contains("missing"), "{err}");

    let shortened: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| {
            let d: &[u8] = if n == "archive/data/0" {
                &d[..d.len() - 4]
            } else {
                d
            };
            (n.as_str(), d)
        })
        .collect();
    let err = Checkpoint::from_bytes(&zip_with(&shortened)).unwrap_err();
    assert!(matches!(err, CheckpointError::Storage { .. }), "{err}");

    // The original entries rebuilt into a fresh zip still load.
    let all: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let ckpt = Checkpoint::from_bytes(&zip_with(&all)).expect("rebuilt zip");
    assert_eq!(ckpt.tensors["mlp.0.weight"].shape, vec![32, 4]);
}
