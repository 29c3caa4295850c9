//! SED fitting with the Starduster emulator (spec §5.5–5.7 of the reference; Qiu & Kang 2022 §4).
//!
//! * [`params`] — parametrisations: a flat vector of free parameters → the model inputs
//!   (galaxy parameters in unit space, disk and bulge star-formation histories), with bounds,
//!   fixed values and boundary modes; written with burn tensor operations so that gradients flow.
//! * [`knowledge`] — parameters known per galaxy from catalogue columns (fixed values, priors).
//! * [`likelihood`] — observed photometry and how it is compared with the model.
//! * [`posterior`] — the negative log-posterior: batch values (fast path) and exact gradients
//!   (autodiff path).
//! * [`optim`] — particle swarm, Adam, L-BFGS-B and Nelder–Mead.
//! * [`sample`] — affine-invariant ensemble MCMC and nested sampling, posterior summaries.
//! * [`bench`](mod@bench) — timings of posterior, gradient, Adam, swarm and MCMC.
//! * [`mock`] — mock galaxies in the valid region and their noisy photometry.
//! * [`catalog`] — catalogues of galaxies: the configuration file, rows → observations,
//!   results → rows, the resume file (shared by `galsed fit` and Python).
//! * [`residuals`] — per-band residuals over a fitted catalogue: systematic misfit and the
//!   model error it asks for.
//! * [`fit`] — one galaxy start to finish: optimiser, sampler, derived properties.
//! * [`marginals`] — the statistics of corner plots: weighted quantiles, histograms, contour
//!   levels.
//! * [`units`] — the units of the results tables' columns.
//! * [`derived`] — physical properties of a fitted galaxy: stellar and dust masses, SFR, ages,
//!   metallicities, bolometric and dust luminosities.

pub mod bench;
pub mod catalog;
pub mod conventions;
pub mod derived;
pub mod fit;
pub mod knowledge;
pub mod likelihood;
pub mod marginals;
pub mod mock;
pub mod optim;
pub mod params;
pub mod posterior;
pub mod residuals;
pub mod sample;
pub mod units;
