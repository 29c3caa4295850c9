//! Fuzz target: arbitrary bytes through the WISE-catalogue CSV reader of `galsed_optir::readers`.
//!
//! `read_wise_csv` must return `Ok` or `Err` on any input: a panic, abort, timeout or oversized
//! allocation is a finding. Seeds: `fuzz/run_optir.sh` writes a small AllWISE-style catalogue.
#![no_main]

use galsed_optir::readers::read_wise_csv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Two id columns: one the seed has (rows are parsed), one it lacks (header errors).
    if let Ok(w) = read_wise_csv(data, "specobjid") {
        assert_eq!(w.mags.dim(), (w.ids.len(), 4));
        assert!(w.errs.iter().all(|&e| e > 0.0 && e.is_finite()));
    }
    let _ = read_wise_csv(data, "id");
});
