//! Test helpers: the emulator's reference-test helpers (paths, npz loading, the model, tolerance
//! checks), shared by path rather than copied, plus what the fitting tests need beside them.
#![allow(dead_code)]

#[path = "../../../galsed-emulator/tests/common/mod.rs"]
mod emulator;
pub use emulator::*;

use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::Starduster;

/// The published model on `grid` together with the SSP library it was built from (one import).
pub fn model_and_ssp(grid: WavelengthGrid) -> (Starduster, galsed_core::ssp::SspLibrary) {
    let files = files();
    let model = Starduster::from_files(&files, &grid).expect("model");
    (model, files.ssp)
}

/// |a − b| ≤ rtol·|b| + atol elementwise; prints the worst ratio to the allowance.
pub fn check_rel_or_abs(name: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let r = (a - b).abs() / (rtol * b.abs() + atol);
        assert!(!r.is_nan(), "{name}[{i}]: NaN (got {a}, want {b})");
        if r > worst.0 {
            worst = (r, i);
        }
    }
    eprintln!(
        "{name}: worst |a-b|/allowed = {:.3} at {}",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= 1.0,
        "{name}[{}]: got {} want {}",
        worst.1,
        got[worst.1],
        want[worst.1]
    );
}
