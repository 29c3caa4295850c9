//! Fuzz target: arbitrary bytes through every reader of `galsed_io::checkpoint`.
//!
//! Seeds are the original Starduster files (`.pt` zips and numpy pickles) and the `data.pkl`
//! pickles extracted from the checkpoints; see `fuzz/README.md`. Every reader must return
//! `Ok` or `Err`: a panic, abort, timeout or oversized allocation is a finding.
#![no_main]

use galsed_io::checkpoint::{Checkpoint, CheckpointError, SspTables, lam_main_from_bytes};
use libfuzzer_sys::fuzz_target;

/// Largest synthetic storage handed out for a fuzzed `data.pkl`.
const MAX_STORAGE: usize = 16 << 20;

fuzz_target!(|data: &[u8]| {
    // Whole files: `.pt` zip archives and the two numpy pickles.
    let _ = Checkpoint::from_bytes(data);
    let _ = SspTables::from_bytes(data);
    let _ = lam_main_from_bytes(data);
    // The input as an inner `data.pkl`, with storages of whatever size it declares, so that
    // mutated pickles reach tensor extraction and JSON conversion (a zip's CRC would stop them).
    let _ = Checkpoint::from_pickle(data, |key, nbytes| {
        if nbytes > MAX_STORAGE {
            return Err(CheckpointError::Layout(format!(
                "fuzz: storage {key} too large"
            )));
        }
        Ok((0..nbytes).map(|i| (i % 251) as u8).collect())
    });
});
