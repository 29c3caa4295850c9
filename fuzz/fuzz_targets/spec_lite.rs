//! Fuzz target: arbitrary bytes as an SDSS spec-lite FITS file (SDSS-I/II `SPECOBJ` or
//! BOSS/eBOSS `SPALL`), read from memory through CFITSIO by
//! `galsed_io::sdss::spec_lite_from_bytes`.
//!
//! CFITSIO itself (the system library) is not instrumented, so coverage guidance sees only the
//! Rust side; crashes inside CFITSIO are still findings. Seeds: spec-lite files (see
//! `fuzz/README.md`).
#![no_main]

use std::path::Path;

use galsed_io::sdss::spec_lite_from_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = spec_lite_from_bytes(data, Path::new("fuzz.fits")) {
        assert!(s.z.is_finite() && s.z >= 0.0);
        let n = s.loglam.len();
        assert!(n > 0 && s.flux.len() == n && s.ivar.len() == n && s.and_mask.len() == n);
        assert!(s.loglam.iter().all(|l| l.is_finite()));
    }
});
