//! Fuzz target: arbitrary bytes through the WISE-catalogue CSV reader
//! `galsed_io::wise::read_wise_csv`.
//!
//! It must return `Ok` or `Err` on any input: a panic, abort, timeout or oversized allocation is
//! a finding. Seeds: `fuzz/run_optir.sh` writes a small AllWISE-style catalogue.
#![no_main]

use galsed_io::wise::read_wise_csv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Two id columns: one the seed has (rows are parsed), one it lacks (header errors).
    if let Ok(w) = read_wise_csv(data, "specobjid") {
        for b in 0..4 {
            assert_eq!(w.mags[b].len(), w.ids.len());
            assert_eq!(w.sigmas[b].len(), w.ids.len());
        }
    }
    let _ = read_wise_csv(data, "id");
});
