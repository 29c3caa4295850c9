//! Fuzz target: arbitrary bytes as a .vot catalogue table (IVOA VOTable), read
//! through the format registry (`galsed_io::read_table`) from a temporary file.
//!
//! It must return `Ok` or `Err` on any input; a table it returns is consistent (equal column
//! lengths, at least one row). Seeds: see `fuzz/README.md`.
#![no_main]

use galsed_io::read_table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fuzz.vot");
    std::fs::write(&path, data).expect("writing the input");
    if let Ok(t) = read_table(&path) {
        assert!(t.n_rows() > 0 && t.n_cols() > 0);
        assert!(t.columns.iter().all(|c| c.len() == t.n_rows()));
        assert!(t.validate().is_ok());
    }
});
