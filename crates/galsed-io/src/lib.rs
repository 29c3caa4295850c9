//! Every file format galsed reads or writes, behind cargo features.
//!
//! * [`pickle`], [`checkpoint`] — safe, non-executing readers of the published PyTorch/numpy
//!   model files (feature `model`).
//! * [`store`] — where model files live, their checksums, copying them from a local directory,
//!   and downloading them (feature `download`).
//! * [`table`] — catalogue tables: the [`Table`](table::Table) model and the format registry
//!   ([`Format::from_path`], [`read_table`], [`write_table`]) (feature `table`, no heavy
//!   dependency); each format in its own module and feature: [`csv`] (and [`ecsv`]),
//!   [`votable`] (read only), [`parquet`], [`fits`] (links CFITSIO; the workspace's one CFITSIO
//!   wrapper), [`hdf5`] (links libhdf5).
//! * [`sdss`], [`wise`] — SDSS spec-lite spectra (SDSS-I/II and BOSS/eBOSS) and AllWISE-style
//!   catalogues (features `fits`, and `csv` for WISE).
//! * [`sam`] — SAM catalogues read and written in chunks, and the result files of catalogue
//!   runs (feature `sam`).
//! * [`npz`] — numpy `.npz` archives (feature `npz`).
//! * [`galaxies`] — tables of galaxies for the emulator, `.npz` or CSV (feature `galaxies`).
//! * [`atomic_write`] — replacing a file atomically (always available).
//!
//! A build with `default-features = false, features = ["model"]` is pure Rust: no TLS, no
//! CFITSIO, no HDF5.

#![deny(unsafe_code)]

mod atomic;
pub use atomic::{atomic_write, atomic_write_bytes};

#[cfg(feature = "model")]
pub mod checkpoint;
#[cfg(feature = "model")]
pub mod pickle;
#[cfg(feature = "model")]
pub mod store;

#[cfg(feature = "npz")]
pub mod npz;

#[cfg(feature = "galaxies")]
pub mod galaxies;

#[cfg(feature = "table")]
pub mod table;
#[cfg(feature = "table")]
pub use table::{Format, read_table, write_table};

#[cfg(feature = "csv")]
pub mod csv;
#[cfg(feature = "csv")]
pub mod ecsv;
#[cfg(feature = "fits")]
#[allow(unsafe_code)]
pub mod fits;
#[cfg(feature = "hdf5")]
pub mod hdf5;
#[cfg(feature = "parquet")]
pub mod parquet;
#[cfg(feature = "sam")]
pub mod sam;
#[cfg(feature = "fits")]
pub mod sdss;
#[cfg(feature = "votable")]
pub mod votable;
#[cfg(all(feature = "csv", feature = "fits"))]
pub mod wise;

#[cfg(feature = "fits")]
mod data_error {
    use std::path::{Path, PathBuf};

    /// An error of the SDSS and WISE readers.
    #[derive(Debug, thiserror::Error)]
    pub enum DataError {
        /// A file is missing, unreadable or malformed.
        #[error("{path}: {message}")]
        File {
            /// The file.
            path: PathBuf,
            /// What is wrong, naming the HDU, column, row or pixel at fault.
            message: String,
        },
        /// Input that is not (yet) tied to a file is malformed.
        #[error("{0}")]
        Input(String),
    }

    impl DataError {
        pub(crate) fn file(path: &Path, message: impl std::fmt::Display) -> Self {
            Self::File {
                path: path.to_path_buf(),
                message: message.to_string(),
            }
        }
    }
}
#[cfg(feature = "fits")]
pub use data_error::DataError;
