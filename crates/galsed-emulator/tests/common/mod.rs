//! Shared helpers of the reference tests: paths, npz loading, the model, tolerance checks.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::Starduster;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use ndarray::{Array2, ArrayD, Ix2};
use ndarray_npy::NpzReader;

/// The reference pack (read-only, never copied into the repository).
pub fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster")
}

/// All members of an npz file as float64 arrays (float32, float64 and int64 members).
pub fn npz(rel: &str) -> HashMap<String, ArrayD<f64>> {
    let path = reference().join(rel);
    let mut r = NpzReader::new(File::open(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .expect("valid npz");
    let names = r.names().expect("npz member names");
    let mut out = HashMap::new();
    for name in names {
        let key = name.trim_end_matches(".npy").to_string();
        let a: ArrayD<f64> = if let Ok(a) = r.by_name::<ndarray::OwnedRepr<f32>, _>(&name) {
            a.mapv(f64::from)
        } else if let Ok(a) = r.by_name::<ndarray::OwnedRepr<f64>, _>(&name) {
            a
        } else if let Ok(a) = r.by_name::<ndarray::OwnedRepr<i64>, _>(&name) {
            a.mapv(|v| v as f64)
        } else {
            continue;
        };
        out.insert(key, a);
    }
    out
}

pub fn get2(m: &HashMap<String, ArrayD<f64>>, key: &str) -> Array2<f64> {
    m.get(key)
        .unwrap_or_else(|| panic!("missing {key}"))
        .clone()
        .into_dimensionality::<Ix2>()
        .expect("2-D")
}

pub fn get1(m: &HashMap<String, ArrayD<f64>>, key: &str) -> Vec<f64> {
    m.get(key)
        .unwrap_or_else(|| panic!("missing {key}"))
        .iter()
        .copied()
        .collect()
}

/// The published model, imported from the original files.
pub fn files() -> ModelFiles {
    ModelFiles::load(&reference().join("original")).expect("import the published files")
}

pub fn model(grid: WavelengthGrid) -> Starduster {
    Starduster::from_files(&files(), &grid).expect("model")
}

/// The 72 golden input rows, clipped like the reference.
pub fn golden_batch() -> Batch {
    let inp = npz("golden/inputs.npz");
    let flat = |k: &str| get2(&inp, k).iter().copied().collect::<Vec<f64>>();
    Batch::new(
        flat("gp"),
        flat("sfh_disk"),
        flat("sfh_bulge"),
        OutOfRange::Clip,
    )
    .expect("batch")
}

/// The 20 golden filters, in the reference's order.
pub const FILTERS: [&str; 20] = [
    "galex_FUV",
    "galex_NUV",
    "sdss_u0",
    "sdss_g0",
    "sdss_r0",
    "sdss_i0",
    "sdss_z0",
    "twomass_J",
    "twomass_H",
    "twomass_Ks",
    "wise_w1",
    "wise_w2",
    "wise_w3",
    "wise_w4",
    "herschel_pacs_70",
    "herschel_pacs_100",
    "herschel_pacs_160",
    "herschel_spire_250",
    "herschel_spire_350",
    "herschel_spire_500",
];

pub fn filters() -> Vec<Filter> {
    FILTERS
        .iter()
        .map(|n| Filter::builtin(n).expect("built-in filter"))
        .collect()
}

/// Spectra criterion of spec §6: |a−b| ≤ rtol·|b| + atol_row·max_row|b|. Returns the worst
/// ratio |a−b| / allowed (≤ 1 passes).
pub fn check_spectra(name: &str, got: &Array2<f64>, want: &Array2<f64>, rtol: f64, atol_row: f64) {
    assert_eq!(got.dim(), want.dim(), "{name}: shape");
    let mut worst = (0.0f64, 0usize, 0usize);
    for (r, (g, w)) in got.rows().into_iter().zip(want.rows()).enumerate() {
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (c, (a, b)) in g.iter().zip(w.iter()).enumerate() {
            let allowed = rtol * b.abs() + atol_row * scale;
            let ratio = if allowed > 0.0 {
                (a - b).abs() / allowed
            } else if a == b {
                0.0
            } else {
                f64::INFINITY
            };
            if ratio > worst.0 || ratio.is_nan() {
                worst = (ratio, r, c);
            }
        }
    }
    let (ratio, r, c) = worst;
    eprintln!("{name}: worst |a-b|/allowed = {ratio:.3} at [{r}, {c}]");
    assert!(
        ratio <= 1.0,
        "{name}: [{r}, {c}] got {} want {} ({ratio:.3}× the tolerance)",
        got[[r, c]],
        want[[r, c]]
    );
}

/// |a − b| ≤ tol elementwise; infinities must match exactly.
pub fn check_abs(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        if a.is_infinite() || b.is_infinite() {
            assert_eq!(a, b, "{name}[{i}]: infinities differ");
            continue;
        }
        let d = (a - b).abs();
        assert!(!d.is_nan(), "{name}[{i}]: NaN (got {a}, want {b})");
        if d > worst.0 {
            worst = (d, i);
        }
    }
    eprintln!("{name}: max |a-b| = {:.3e} at {}", worst.0, worst.1);
    assert!(
        worst.0 <= tol,
        "{name}[{}]: got {} want {} (|diff| {:.3e} > {tol:e})",
        worst.1,
        got[worst.1],
        want[worst.1],
        worst.0
    );
}

/// Relative check: |a − b| ≤ rtol·|b|.
pub fn check_rel(name: &str, got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let r = (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
        assert!(!r.is_nan(), "{name}[{i}]: NaN");
        if r > worst.0 {
            worst = (r, i);
        }
    }
    eprintln!("{name}: max rel diff = {:.3e} at {}", worst.0, worst.1);
    assert!(
        worst.0 <= rtol,
        "{name}[{}]: got {} want {} (rel {:.3e} > {rtol:e})",
        worst.1,
        got[worst.1],
        want[worst.1],
        worst.0
    );
}

pub fn to_f64(a: &Array2<f32>) -> Array2<f64> {
    a.mapv(f64::from)
}
