//! Fuzz target: arbitrary bytes as an SDSS spec-lite FITS file, read from memory through CFITSIO
//! by `galsed_optir::readers::spec_lite_from_bytes` and placed on the survey grid.
//!
//! CFITSIO itself (the system library) is not instrumented, so coverage guidance sees only the
//! Rust side; crashes inside CFITSIO are still findings. Seeds: spec-lite files (see
//! `fuzz/README.md`).
#![no_main]

use std::path::Path;

use galsed_optir::readers::{resample_to_survey_grid, spec_lite_from_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = spec_lite_from_bytes(data, Path::new("fuzz.fits")) {
        assert!(s.z.is_finite() && s.z >= 0.0);
        let _ = resample_to_survey_grid(&s);
    }
});
