//! Fuzz target: arbitrary bytes as a galaxy table for `galsed sed` (`galsed_io::galaxies`), as a
//! `.csv` or a `.npz` file (the first byte picks which) in a temporary directory.
//!
//! It must return `Ok` or `Err` on any input; a table it returns has at least one row and
//! 7 parameters and 2 × 36 SFH weights per row.
#![no_main]

use galsed_io::galaxies::{GalaxyFormat, read_galaxy_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let (name, format) = if pick % 2 == 0 {
        ("fuzz.csv", GalaxyFormat::Csv)
    } else {
        ("fuzz.npz", GalaxyFormat::Npz)
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("writing the input");
    if let Ok(t) = read_galaxy_table(&path, format) {
        assert!(t.n > 0);
        assert_eq!(t.gp.len(), 7 * t.n);
        assert_eq!(t.sfh_disk.len(), 36 * t.n);
        assert_eq!(t.sfh_bulge.len(), 36 * t.n);
    }
});
