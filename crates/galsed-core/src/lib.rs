//! Physics, tables and I/O shared by every part of galsed.
//!
//! * [`units`] — physical constants and unit conversions used by the SED model.
//! * [`params`] — the seven galaxy parameters and their unit-space transforms.
//! * [`numeric`] — trapezoid integration and linear interpolation helpers.
//! * [`ssp`] — the simple-stellar-population library and the arrays derived from it.
//! * [`filters`] — bandpass filters (a built-in set and user files) and pivot wavelengths.
//! * [`photometry`] — filter weights on the model grid, AB magnitudes.
//! * [`sam`] — conversion of semi-analytic-model galaxies into emulator inputs.
//! * [`cosmology`] — luminosity distances and distance moduli (Planck18 by default).
//! * [`pickle`], [`checkpoint`] — safe readers for the published PyTorch/numpy model files.
//! * [`store`] — where model files live, and downloading them.

pub mod checkpoint;
pub mod cosmology;
pub mod filters;
pub mod numeric;
pub mod params;
pub mod photometry;
pub mod pickle;
pub mod sam;
pub mod ssp;
pub mod store;
pub mod units;
