//! Fuzz target: arbitrary bytes as a FITS WISE catalogue (`galsed_io::wise::read_wise`, from a
//! temporary `.fits` file: the first table HDU holding the id and W1–W4 columns).
//!
//! It must return `Ok` or `Err` on any input. CFITSIO is not instrumented (see
//! `fuzz/README.md`).
#![no_main]

use galsed_io::wise::read_wise;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fuzz.fits");
    std::fs::write(&path, data).expect("writing the input");
    if let Ok(w) = read_wise(&path, "specobjid", None) {
        for b in 0..4 {
            assert!(w.mags[b].len() <= w.ids.len());
        }
    }
});
