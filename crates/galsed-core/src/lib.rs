//! The physics shared by every part of galsed (model-file readers live in `galsed-io`).
//!
//! * [`units`] — physical constants and unit conversions used by the SED model.
//! * [`params`] — the seven galaxy parameters and their unit-space transforms.
//! * [`numeric`] — trapezoid integration and linear interpolation helpers.
//! * [`ssp`] — the simple-stellar-population library and the arrays derived from it.
//! * [`filters`] — bandpass filters (a built-in set and user files) and pivot wavelengths.
//! * [`photometry`] — filter weights on the model grid, AB magnitudes.
//! * [`sam`] — conversion of semi-analytic-model galaxies into emulator inputs.
//! * [`cosmology`] — luminosity distances and distance moduli (Planck18 by default).
//! * [`extinction`] — Milky Way extinction curves (F99, CCM89) and band extinctions.

pub mod cosmology;
pub mod extinction;
pub mod filters;
pub mod numeric;
pub mod params;
pub mod photometry;
pub mod sam;
pub mod ssp;
pub mod units;
