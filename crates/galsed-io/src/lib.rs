//! Every file format galsed reads or writes, behind cargo features.
//!
//! * [`pickle`], [`checkpoint`] — safe, non-executing readers of the published PyTorch/numpy
//!   model files (feature `model`).
//! * [`store`] — where model files live, their checksums, copying them from a local directory,
//!   and downloading them (feature `download`).
//! * [`table`] — catalogue tables in CSV, Parquet and FITS (feature `tables`).
//! * [`npz`] — numpy `.npz` archives (feature `npz`).
//!
//! A build with `default-features = false, features = ["model"]` is pure Rust: no TLS, no
//! CFITSIO, no HDF5.

#[cfg(feature = "model")]
pub mod checkpoint;
#[cfg(feature = "npz")]
pub mod npz;
#[cfg(feature = "model")]
pub mod pickle;
#[cfg(feature = "model")]
pub mod store;
#[cfg(feature = "tables")]
pub mod table;
