//! Fuzz target: arbitrary bytes as an SDSS specObj catalogue (`specObj-dr16.fits` layout, a
//! binary table in HDU 1), read from memory through CFITSIO by
//! `galsed_io::sdss::specobj_catalogue_from_bytes`.
//!
//! It must return `Ok` or `Err` on any input, and an `Ok` catalogue has one value per row in
//! every column. CFITSIO is not instrumented (see `fuzz/README.md`). Seeds: catalogues written
//! like those of `crates/galsed-io/tests/specobj.rs`, or the first rows of a real one.
#![no_main]

use std::path::Path;

use galsed_io::sdss::specobj_catalogue_from_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = specobj_catalogue_from_bytes(data, Path::new("fuzz.fits")) {
        let n = c.len();
        assert!(
            [
                c.z.len(),
                c.zwarning.len(),
                c.class.len(),
                c.plate.len(),
                c.mjd.len(),
                c.fiberid.len(),
                c.target_bits.len(),
            ]
            .iter()
            .all(|&m| m == n)
        );
    }
});
