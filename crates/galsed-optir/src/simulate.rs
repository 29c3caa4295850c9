//! A synthetic SDSS+WISE survey: galaxies drawn from a correlated population, observed through the
//! Starduster emulator with SDSS-like spectra, ugriz and AllWISE-like W1–W4.
//!
//! # Population prior
//!
//! Every galaxy is drawn independently (all logarithms base 10, masses in M_sun, times in yr):
//!
//! * **Stellar mass** log M ∈ [9, 11.8] from the z ≈ 0 double-Schechter mass function of Baldry et
//!   al. (2012) (log M* = 10.66, α₁ = −0.35, φ₁ = 3.96e−3, α₂ = −1.47, φ₂ = 0.79e−3). M is the mass
//!   formed, as the emulator's Analyzer counts it (Σ light_k / norm_k).
//! * **Quiescence** with probability 1/(1 + exp(−(log M − 10.5)/0.3)).
//! * **Star formation rate** (averaged over the last 10⁸ yr) from the star-forming main sequence
//!   log SFR = 0.76 log M − 7.64 (Renzini & Peng 2015) with 0.3 dex scatter; quiescent galaxies lie
//!   U(1, 1.5) dex below it (same scatter).
//! * **Bulge mass fraction** Beta(1 + 0.6 (log M − 9), 6) for star-forming galaxies (mean 0.14 at
//!   10⁹, 0.27 at 10¹¹), Beta(4, 3) for quiescent ones (mean 0.57).
//! * **Star-formation histories** over the emulator's six age bins (`tau_edges`, lookback time):
//!   the disk forms its recent stars at the constant rate SFR over the last 10⁸ yr and the rest of
//!   its mass with a delayed-τ history ψ ∝ t e^(−t/τ) (t since formation) at lookback > 10⁸ yr,
//!   τ = 2–10 Gyr (log-uniform) when star forming, 0.7–2 Gyr when quiescent; the bulge is old:
//!   delayed-τ with τ = 0.3–1.2 Gyr over all ages. Formation starts at lookback T = f·t_max(z)
//!   (disk f ∈ U(0.8, 1), bulge f ∈ U(0.9, 1)) with t_max(z) = 13.0 − 11.0 z Gyr, a rough age of the
//!   Universe at z. The masses per bin are exact integrals of these histories. The recorded
//!   `log_sfr` is the true 10⁸-yr average (disk plus the bulge's small contribution).
//! * **Metallicity** from the stellar mass–metallicity relation log Z/0.019 = −0.15 + 0.35
//!   tanh((log M − 10)/0.8) (close to Gallazzi et al. 2005) with 0.15 dex scatter per galaxy and
//!   +0.05 dex for the bulge; each component spreads its light over the six library metallicities
//!   with an internal dispersion of 0.2 dex (three-point quadrature, linear interpolation in log Z).
//! * **SSP weights**: light_k = mass(age) · w(met) · norm(met, age), k = 6·i_met + i_age (spec §2,
//!   §5.6); sfh = light / Σ light per component. l_norm = L_disk + L_bulge and b_to_t = L_bulge /
//!   l_norm follow from the same light, so luminosity, B/T and SFH are consistent with the mass.
//! * **Geometry**: isotropic inclination (cos i uniform, i.e. u₀ uniform); disk scale radius
//!   log r_disk = 0.35 + 0.25 (log M − 10) (−0.1 if quiescent) ± 0.15 (a Shen et al. 2003-like
//!   mass–size relation); r_dust/r_disk = 10^(0.15 ± 0.15); bulge radius log r_bulge =
//!   0.35 (log M − 10.5) ± 0.15; dust mass log m_dust = 7.0 + log SFR ± 0.3 (da Cunha et al. 2010)
//!   and den_dust = m_dust / (2π r_dust²).
//! * Draws with a parameter outside the emulator's domain, or that a selector rejects (both
//!   log-probabilities must exceed ln ½, as `galsed_fit::mock::draw_valid`), are discarded.
//! * **Redshift** volume-weighted in [z_min, z_max] (dN/dz ∝ dV_c/dz, Planck18), and only
//!   galaxies with emulator r_AB (`sdss_r0`, `combine`) < r_limit are kept, until `n_galaxies`
//!   are accepted.
//!
//! # Spectra
//!
//! The emulator's grids are too coarse for spectra, so the stellar spectrum is rebuilt on the SSP
//! library's own wavelengths (≈1 Å sampling, nebular lines in the young SSPs) exactly as the
//! emulator forms its SED (spec §5.2): λL_λ = L·[(1−b)·T_d·(s_d'·l_raw) + b·T_b·(s_b'·l_raw)] with the
//! clipped weights s', T = 10^(−0.4 A) and A from the attenuation-curve networks on lam_main[0..297],
//! interpolated linearly in λ. Dust emission is left out: below 1 µm rest it is at most ~10⁻⁶ of
//! the stellar light (exactly 0 in float32). [`fine_rest_spectra`] exposes this spectrum; its
//! g, r, i magnitudes agree with the emulator's own photometry (tests). It is then redshifted,
//! converted to F_λ [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹] with the luminosity distance, interpolated onto a
//! 4× oversampled log-λ grid, smoothed with a Gaussian of FWHM λ/R (R = 2000) and averaged onto
//! the SDSS pixels.
//!
//! # Noise
//!
//! * **Spectra**: σ² = (s·σ_sky g(λ))² + q·max(F, 0) per pixel, with σ_sky = 2.5 (×10⁻¹⁷, default),
//!   a per-galaxy observing-condition factor s ∈ U(0.8, 1.25), g(λ) rising at the blue end
//!   (1 + 2.5 e^(−(λ−3800)/300)), at the red end (1 + 1.5 ((λ−7000)/2200)² beyond 7000 Å) and
//!   around bright sky lines (O I 5577, Na D, O I 6300/6364 and the strong OH lines), and
//!   q = 0.1 (×10⁻¹⁷) the source Poisson term. A galaxy at r ≈ 17.7 has a median S/N per pixel of
//!   ≈ 5–10 in r. Pixels within a few Å of the brightest lines get ivar = 0 and the
//!   [`BRIGHTSKY`] bit. Flux = noise-free + N(0, σ).
//! * **ugriz**: σ_m = floor ⊕ 1.0857·σ_F/F with σ_F the flux at the 5σ depth (u, g, r, i, z =
//!   22.0, 22.2, 22.2, 21.3, 20.5 AB) / 5 and floors 0.03, 0.02, 0.02, 0.02, 0.03 mag; m + N(0, σ_m).
//! * **WISE**: flux noise σ_n = (F_5σ/5)·√(N_ref/N_exp) with F_5σ at the 5σ depths
//!   ([`WISE_DEPTH_5SIGMA`], configurable), reached at N_ref = 12
//!   exposures, and N_exp drawn per galaxy (12–40). The depths are those of the WISE Explanatory
//!   Supplement for the nominal survey coverage (0.08, 0.11, 1, 6 mJy at 8 exposures ≈ 16.5, 15.5,
//!   11.3, 7.9 mag), so they are scaled from that coverage rather than treated as single frames
//!   (which would make the survey √12 times deeper than AllWISE). Set `wise_depth_n_exp = 1` for
//!   single-exposure depths, in quadrature with a calibration floor (2 % W1–W3, 5 % W4) of the true flux. Detected
//!   if the noisy flux has F/σ_n ≥ 2 (AllWISE): magnitude −2.5 log10(F/F₀) with error
//!   1.0857/SNR ⊕ 1.0857·floor; otherwise the magnitude is the 2σ upper limit
//!   −2.5 log10((max(F, 0) + 2σ_n)/F₀) and the error [`UNDETECTED_SIGMA`].
//!
//! # Reproducibility
//!
//! Candidates are drawn in chunks of [`SimulateConfig::candidates_per_chunk`], each with its own
//! ChaCha8 stream derived from the seed and the chunk index; chunks are processed in parallel but
//! kept in chunk order, and the survey is the first `n_galaxies` accepted. The result does not
//! depend on the number of threads.

use std::f64::consts::{LN_10, PI};

use burn::prelude::{Tensor, TensorData};
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::photometry::{filter_weights, trapz_weights};
use galsed_core::units::{L_SUN_W, PARSEC_M, ab_mag, distance_factor};
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::{ObservedPhotometry, Observer};
use galsed_emulator::{Component, N_GP, N_SSP, Starduster};
use ndarray::Array2;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, StandardNormal};
use rayon::prelude::*;

use crate::OptirError;
use crate::survey::{
    BRIGHTSKY, LOGLAM_START, LOGLAM_STEP, N_PIX, SDSS_FILTERS, Spectra, Survey, Truth,
    UNDETECTED_SIGMA, WISE_DEPTH_5SIGMA, WISE_FILTERS, WISE_ZERO_POINT_JY, sdss_loglam,
};

/// Settings of [`simulate`]. `Default` gives the paper-sized survey (50 000 galaxies).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateConfig {
    /// Number of accepted galaxies (r < `r_limit`).
    pub n_galaxies: usize,
    /// Seed of the random streams.
    pub seed: u64,
    /// Lowest redshift drawn (volume-weighted).
    pub z_min: f64,
    /// Highest redshift drawn.
    pub z_max: f64,
    /// Magnitude limit in emulator r_AB.
    pub r_limit: f64,
    /// Range of log10 stellar mass drawn \[M_sun\].
    pub log_mass_range: (f64, f64),
    /// Spectral resolution λ/FWHM.
    pub resolution: f64,
    /// Sky + read noise per pixel at mid-wavelengths [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹].
    pub sky_sigma: f64,
    /// Source Poisson term: σ² += `source_gain` · F [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹].
    pub source_gain: f64,
    /// 5σ depths of W1–W4 [Vega mag] at `wise_depth_n_exp` exposures.
    pub wise_depth_5sigma: [f64; 4],
    /// Number of exposures at which `wise_depth_5sigma` is reached.
    pub wise_depth_n_exp: u32,
    /// Range (inclusive) of the number of WISE exposures per galaxy.
    pub wise_n_exp: (u32, u32),
    /// Relative calibration floor of the WISE fluxes.
    pub wise_floor: [f64; 4],
    /// Candidates drawn per random stream (chunk).
    pub candidates_per_chunk: usize,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        Self {
            n_galaxies: 50_000,
            seed: 0,
            z_min: 0.01,
            z_max: 0.3,
            r_limit: crate::survey::R_LIMIT,
            log_mass_range: (9.0, 11.8),
            resolution: 2000.0,
            sky_sigma: 2.5,
            source_gain: 0.1,
            wise_depth_5sigma: WISE_DEPTH_5SIGMA,
            wise_depth_n_exp: 12,
            wise_n_exp: (12, 40),
            wise_floor: [0.02, 0.02, 0.02, 0.05],
            candidates_per_chunk: 2048,
        }
    }
}

/// 5σ depths of ugriz [AB mag].
const SDSS_DEPTH_5SIGMA: [f64; 5] = [22.0, 22.2, 22.2, 21.3, 20.5];
/// Calibration floors of ugriz \[mag\].
const SDSS_FLOOR: [f64; 5] = [0.03, 0.02, 0.02, 0.02, 0.03];
/// Solar metallicity of the Analyzer's conventions.
const Z_SUN: f64 = 0.019;
/// Time scale of the recorded SFR \[yr\].
const SFR_TIME: f64 = 1e8;
/// Oversampling of the SDSS pixels for smoothing.
const N_SUB: usize = 4;
/// Sub-pixels of margin at each end of the oversampled grid.
const SUB_MARGIN: usize = 24;
/// Rest wavelengths \[µm\] of the SSP points kept for spectra (covers z ≤ 0.85 on 3800–9200 Å).
const FINE_RANGE_UM: (f64, f64) = (0.2, 0.95);
/// Margin \[mag\] of the dust-free r-band pre-selection (attenuation only dims).
const PRESELECT_MARGIN: f64 = 0.5;

/// Bright sky lines: centre \[Å\], relative noise amplitude, masked half-width \[Å\] (0: not masked).
const SKY_LINES: [(f64, f64, f64); 28] = [
    (5577.3, 8.0, 4.0),
    (5890.0, 3.0, 3.5),
    (5896.0, 3.0, 3.5),
    (6300.3, 4.0, 3.0),
    (6363.8, 2.0, 3.0),
    (6863.9, 1.5, 0.0),
    (6923.2, 1.2, 0.0),
    (7276.4, 1.5, 0.0),
    (7316.3, 2.0, 0.0),
    (7340.9, 2.0, 0.0),
    (7369.2, 1.5, 0.0),
    (7750.6, 2.5, 0.0),
    (7794.1, 2.5, 0.0),
    (7821.5, 3.0, 3.0),
    (7853.3, 2.5, 0.0),
    (7913.7, 3.0, 3.0),
    (7993.3, 3.5, 3.0),
    (8344.6, 4.0, 3.0),
    (8399.2, 4.0, 3.0),
    (8430.2, 3.5, 0.0),
    (8465.4, 3.5, 0.0),
    (8827.1, 5.0, 3.0),
    (8885.8, 5.0, 3.0),
    (8919.6, 4.0, 0.0),
    (8943.4, 4.0, 3.0),
    (8988.4, 4.0, 0.0),
    (9001.3, 4.0, 0.0),
    (9037.9, 3.5, 0.0),
];

/// What [`simulate_detailed`] returns beyond the survey: the noise-free observables.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// The simulated survey, noise included.
    pub survey: Survey,
    /// Noise-free spectra on the survey grid (same units as the survey's), (n, n_pix).
    pub flux_true: Array2<f32>,
    /// Noise-free ugriz AB magnitudes, (n, 5).
    pub ugriz_true: Array2<f64>,
    /// Candidates drawn (before any selection) to reach the survey.
    pub n_candidates: usize,
}

/// Draws and observes a synthetic survey (see the module documentation for the prior and the
/// noise). `progress(accepted, target)` is called after each parallel round of chunks.
///
/// The model should use the `auto` grid, whose photometry the fine spectra reproduce best.
pub fn simulate(
    files: &ModelFiles,
    model: &Starduster,
    cfg: &SimulateConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Survey, OptirError> {
    Ok(simulate_detailed(files, model, cfg, progress, false)?.survey)
}

/// Like [`simulate`], also returning the noise-free spectra (if `keep_true_spectra`, otherwise an
/// empty (0, 0) array) and photometry, for diagnostics and tests.
pub fn simulate_detailed(
    files: &ModelFiles,
    model: &Starduster,
    cfg: &SimulateConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
    keep_true_spectra: bool,
) -> Result<Simulated, OptirError> {
    check_config(cfg)?;
    let ctx = Context::new(files, model, cfg)?;
    let n = cfg.n_galaxies;
    let per_round = (2 * rayon::current_num_threads()).max(2);
    let max_chunks =
        (200 * n / 100).max(64) * (2048 / cfg.candidates_per_chunk.min(2048)).max(1) + 1000;
    let mut parts: Vec<ChunkOut> = Vec::new();
    let mut accepted = 0usize;
    let mut next = 0usize;
    progress(0, n);
    while accepted < n {
        if next >= max_chunks {
            return Err(OptirError::Input(format!(
                "only {accepted} of {n} galaxies accepted after {} candidates: the population hardly \
                 passes r < {} in {}–{}",
                next * cfg.candidates_per_chunk,
                cfg.r_limit,
                cfg.z_min,
                cfg.z_max
            )));
        }
        let round: Vec<usize> = (next..next + per_round).collect();
        next += per_round;
        let outs: Vec<Result<ChunkOut, OptirError>> = round
            .par_iter()
            .map(|&c| ctx.run_chunk(c, keep_true_spectra))
            .collect();
        for out in outs {
            let out = out?;
            if accepted >= n {
                break;
            }
            accepted += out.len();
            parts.push(out);
        }
        progress(accepted.min(n), n);
    }
    let n_candidates = parts.len() * cfg.candidates_per_chunk;
    Ok(assemble(parts, n, keep_true_spectra)).map(|(survey, flux_true, ugriz_true)| Simulated {
        survey,
        flux_true,
        ugriz_true,
        n_candidates,
    })
}

/// The noise-free stellar spectra λL_λ \[L_sun\] (rest frame) of a batch on the SSP library's own
/// wavelengths within [`lam_min_um`, `lam_max_um`] (µm), built as the emulator builds its SED
/// (module documentation), without dust emission. Returns (λ \[µm\], (n, n_λ)).
pub fn fine_rest_spectra(
    files: &ModelFiles,
    model: &Starduster,
    batch: &Batch,
    lam_min_um: f64,
    lam_max_um: f64,
) -> Result<(Vec<f64>, Array2<f64>), OptirError> {
    if !(lam_min_um > 0.0 && lam_max_um > lam_min_um && lam_max_um < 99.0) {
        return Err(OptirError::Input(format!(
            "wavelength range {lam_min_um}–{lam_max_um} µm: need 0 < min < max < 99"
        )));
    }
    let fine = FineSsp::new(files, (lam_min_um, lam_max_um))?;
    let (ad, ab) = attenuation(model, batch);
    let n = batch.len();
    let m = fine.lam_um.len();
    let mut out = Array2::zeros((n, m));
    for g in 0..n {
        let gp = &batch.gp()[g * N_GP..(g + 1) * N_GP];
        let row = fine.luminosity(
            0..m,
            gp,
            &batch.sfh_disk()[g * N_SSP..(g + 1) * N_SSP],
            &batch.sfh_bulge()[g * N_SSP..(g + 1) * N_SSP],
            &ad[g * N_ATT..(g + 1) * N_ATT],
            &ab[g * N_ATT..(g + 1) * N_ATT],
        );
        out.row_mut(g).assign(&ndarray::Array1::from(row));
    }
    Ok((fine.lam_um, out))
}

fn check_config(cfg: &SimulateConfig) -> Result<(), OptirError> {
    let bad = |m: String| Err(OptirError::Input(m));
    if cfg.n_galaxies == 0 {
        return bad("n_galaxies must be at least 1".into());
    }
    if !(cfg.z_min > 0.0 && cfg.z_max > cfg.z_min && cfg.z_max <= 0.8) {
        return bad(format!(
            "redshift range {}–{}: need 0 < z_min < z_max ≤ 0.8",
            cfg.z_min, cfg.z_max
        ));
    }
    let (lo, hi) = cfg.log_mass_range;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return bad(format!("log mass range {lo}–{hi}: need min < max"));
    }
    if !(cfg.r_limit.is_finite()
        && cfg.resolution > 100.0
        && cfg.sky_sigma > 0.0
        && cfg.source_gain >= 0.0)
    {
        return bad(format!(
            "r_limit {}, resolution {}, sky_sigma {}, source_gain {}: need finite r_limit, R > 100, σ_sky > 0, gain ≥ 0",
            cfg.r_limit, cfg.resolution, cfg.sky_sigma, cfg.source_gain
        ));
    }
    if cfg.wise_n_exp.0 == 0 || cfg.wise_n_exp.0 > cfg.wise_n_exp.1 || cfg.wise_depth_n_exp == 0 {
        return bad(format!(
            "WISE exposures {:?} (depths at {}): need 1 ≤ min ≤ max and a reference ≥ 1",
            cfg.wise_n_exp, cfg.wise_depth_n_exp
        ));
    }
    if cfg.wise_floor.iter().any(|f| f.is_nan() || *f < 0.0)
        || cfg.wise_depth_5sigma.iter().any(|d| !d.is_finite())
    {
        return bad("WISE floors must be ≥ 0 and depths finite".into());
    }
    if cfg.candidates_per_chunk == 0 {
        return bad("candidates_per_chunk must be at least 1".into());
    }
    Ok(())
}

/// Points of the attenuation curves (lam_main[0..297]).
const N_ATT: usize = galsed_core::ssp::N_LAM_ATTENUATION;

/// A(λ) \[mag\] of the disk and bulge curves on lam_main[0..297], each (n × 297) row-major.
fn attenuation(model: &Starduster, batch: &Batch) -> (Vec<f32>, Vec<f32>) {
    let n = batch.len();
    let gp = Tensor::<2>::from_data(
        TensorData::new(batch.gp().to_vec(), [n, N_GP]),
        model.device(),
    );
    let (cd, cb) = model.curves();
    let get = |t: Tensor<2>| {
        t.into_data()
            .try_to_vec::<f32>()
            .expect("float32 attenuation")
    };
    (get(cd.forward(gp.clone())), get(cb.forward(gp)))
}

/// SSP spectra on their own wavelengths, ready to be summed per galaxy.
struct FineSsp {
    lam_um: Vec<f64>,
    /// l_raw transposed: 36 values per wavelength.
    l_raw_t: Vec<f64>,
    /// Interpolation of the attenuation curves: (index i ≥ 1 into lam_main, weight of point i).
    att: Vec<(usize, f64)>,
}

impl FineSsp {
    fn new(files: &ModelFiles, range_um: (f64, f64)) -> Result<Self, OptirError> {
        let ssp = &files.ssp;
        if ssp.n_ssp() != N_SSP {
            return Err(OptirError::Input(format!(
                "SSP library has {} SSPs, expected {N_SSP}",
                ssp.n_ssp()
            )));
        }
        let raw = ssp.raw_normalised();
        let keep: Vec<usize> = (0..ssp.lam.len())
            .filter(|&i| ssp.lam[i] >= range_um.0 && ssp.lam[i] <= range_um.1)
            .collect();
        let src = &ssp.lam_main[..N_ATT.min(ssp.lam_main.len())];
        let mut l_raw_t = Vec::with_capacity(keep.len() * N_SSP);
        let mut att = Vec::with_capacity(keep.len());
        for &i in &keep {
            l_raw_t.extend((0..N_SSP).map(|k| raw[[k, i]]));
            let l = ssp.lam[i];
            let j = src.partition_point(|&x| x < l).clamp(1, src.len() - 1);
            att.push((j, (l - src[j - 1]) / (src[j] - src[j - 1])));
        }
        Ok(Self {
            lam_um: keep.iter().map(|&i| ssp.lam[i]).collect(),
            l_raw_t,
            att,
        })
    }

    /// λL_λ \[L_sun\] at the points `range` of one galaxy (clipped inputs, curves A on 297 points).
    fn luminosity(
        &self,
        range: std::ops::Range<usize>,
        gp: &[f32],
        sd: &[f32],
        sb: &[f32],
        ad: &[f32],
        ab: &[f32],
    ) -> Vec<f64> {
        let b = f64::from((gp[6] + 1.0) * 0.5);
        let l = 10f64.powf(f64::from(gp[5] + 1.0) * 4.0 + 6.0);
        let sd: Vec<f64> = sd.iter().map(|&v| f64::from(v) * (1.0 - b)).collect();
        let sb: Vec<f64> = sb.iter().map(|&v| f64::from(v) * b).collect();
        let k = -0.4 * LN_10;
        range
            .map(|i| {
                let row = &self.l_raw_t[i * N_SSP..(i + 1) * N_SSP];
                let (mut id, mut ib) = (0.0, 0.0);
                for ((r, d), bb) in row.iter().zip(&sd).zip(&sb) {
                    id += r * d;
                    ib += r * bb;
                }
                let (j, w) = self.att[i];
                let a_d = f64::from(ad[j - 1]) + w * f64::from(ad[j] - ad[j - 1]);
                let a_b = f64::from(ab[j - 1]) + w * f64::from(ab[j] - ab[j - 1]);
                l * ((k * a_d).exp() * id + (k * a_b).exp() * ib)
            })
            .collect()
    }
}

/// Inverse-CDF sampler on a tabulated density.
struct Table {
    x: Vec<f64>,
    cdf: Vec<f64>,
}

impl Table {
    fn new(x: Vec<f64>, density: impl Fn(f64) -> f64) -> Self {
        let mut cdf = vec![0.0; x.len()];
        for i in 1..x.len() {
            cdf[i] = cdf[i - 1] + 0.5 * (density(x[i]) + density(x[i - 1])) * (x[i] - x[i - 1]);
        }
        let total = cdf[x.len() - 1];
        cdf.iter_mut().for_each(|c| *c /= total);
        Self { x, cdf }
    }

    fn sample(&self, u: f64) -> f64 {
        let j = self
            .cdf
            .partition_point(|&c| c < u)
            .clamp(1, self.cdf.len() - 1);
        let (c0, c1) = (self.cdf[j - 1], self.cdf[j]);
        let w = if c1 > c0 { (u - c0) / (c1 - c0) } else { 0.0 };
        self.x[j - 1] + w * (self.x[j] - self.x[j - 1])
    }
}

/// Linear interpolation on a uniform grid starting at x0 with step h.
fn interp_uniform(x0: f64, h: f64, y: &[f64], x: f64) -> f64 {
    let t = ((x - x0) / h).clamp(0.0, (y.len() - 1) as f64);
    let i = (t.floor() as usize).min(y.len() - 2);
    let w = t - i as f64;
    y[i] + w * (y[i + 1] - y[i])
}

/// A galaxy drawn from the prior, before selection.
#[derive(Clone)]
struct Candidate {
    z: f64,
    distmod: f64,
    log_mstar: f64,
    log_sfr: f64,
    quiescent: bool,
    gp: [f64; N_GP],
    sfh_d: [f64; N_SSP],
    sfh_b: [f64; N_SSP],
}

/// One chunk's accepted galaxies.
#[derive(Default)]
struct ChunkOut {
    cand: Vec<Candidate>,
    flux: Vec<f32>,
    ivar: Vec<f32>,
    mask: Vec<u32>,
    flux_true: Vec<f32>,
    ugriz: Vec<f64>,
    ugriz_err: Vec<f64>,
    ugriz_true: Vec<f64>,
    wise: Vec<f64>,
    wise_err: Vec<f64>,
    wise_true: Vec<f64>,
}

impl ChunkOut {
    fn len(&self) -> usize {
        self.cand.len()
    }
}

/// Everything fixed during a simulation.
struct Context<'a> {
    model: &'a Starduster,
    cfg: SimulateConfig,
    /// Comoving distance³ → z, and d_L on a uniform z grid.
    z_table: Table,
    dl_z0: f64,
    dl_h: f64,
    dl_mpc: Vec<f64>,
    mass: Table,
    tau_edges: Vec<f64>,
    log_met: Vec<f64>,
    /// `norm[met][age]`: bolometric luminosity per solar mass.
    norm: Vec<f64>,
    /// Dust-free r-band flux per unit L at 10 pc of each SSP, on a uniform z grid.
    pre_z0: f64,
    pre_h: f64,
    pre_r: Vec<[f64; N_SSP]>,
    fine: FineSsp,
    phot: ObservedPhotometry,
    /// Oversampled observed wavelengths \[Å\].
    sub_lam: Vec<f64>,
    kernel: Vec<f64>,
    /// Relative sky noise and mask per survey pixel.
    sky_shape: Vec<f64>,
    sky_mask: Vec<bool>,
}

impl<'a> Context<'a> {
    fn new(
        files: &ModelFiles,
        model: &'a Starduster,
        cfg: &SimulateConfig,
    ) -> Result<Self, OptirError> {
        let cosmo = Cosmology::planck18();
        let cerr = |e: galsed_core::cosmology::CosmologyError| {
            OptirError::Input(format!("cosmology: {e}"))
        };
        // Redshift: V_c ∝ D_c³ in a flat universe.
        let nz = 2049;
        let zs: Vec<f64> = (0..nz)
            .map(|i| cfg.z_min + (cfg.z_max - cfg.z_min) * i as f64 / (nz - 1) as f64)
            .collect();
        let dc: Vec<f64> = zs
            .iter()
            .map(|&z| cosmo.comoving_distance_mpc(z))
            .collect::<Result<_, _>>()
            .map_err(cerr)?;
        let v: Vec<f64> = dc.iter().map(|d| d.powi(3)).collect();
        let (v0, v1) = (v[0], v[nz - 1]);
        let z_table = Table {
            x: zs.clone(),
            cdf: v.iter().map(|x| (x - v0) / (v1 - v0)).collect(),
        };
        let dl_mpc: Vec<f64> = zs.iter().zip(&dc).map(|(z, d)| (1.0 + z) * d).collect();
        let dl_h = zs[1] - zs[0];

        // Baldry et al. (2012) double Schechter, per dex.
        let (lo, hi) = cfg.log_mass_range;
        let xs: Vec<f64> = (0..4097)
            .map(|i| lo + (hi - lo) * i as f64 / 4096.0)
            .collect();
        let mass = Table::new(xs, |x| {
            let m = 10f64.powf(x - 10.66);
            (-m).exp() * (3.96e-3 * m.powf(-0.35 + 1.0) + 0.79e-3 * m.powf(-1.47 + 1.0))
        });

        let ssp = &files.ssp;
        if ssp.n_met() != 6 || ssp.n_age() != 6 || ssp.tau_edges.len() != 7 {
            return Err(OptirError::Input(format!(
                "the population model needs 6 metallicities × 6 ages, the library has {} × {}",
                ssp.n_met(),
                ssp.n_age()
            )));
        }
        let norm: Vec<f64> = (0..36).map(|k| ssp.norm[[k / 6, k % 6]]).collect();

        // Pre-selection: dust-free r flux of each SSP per unit L at 10 pc.
        let r = Filter::builtin("sdss_r0").map_err(|e| OptirError::Input(e.to_string()))?;
        let grid = model.grid();
        let n_pre = 161;
        let pre_h = (cfg.z_max - cfg.z_min) / (n_pre - 1) as f64;
        let mut pre_r = Vec::with_capacity(n_pre);
        for i in 0..n_pre {
            let z = cfg.z_min + pre_h * i as f64;
            let lam_obs: Vec<f64> = grid.lam_eval.iter().map(|l| l * (1.0 + z)).collect();
            let w = filter_weights(
                &r.name,
                &lam_obs,
                &r.wavelength_angstrom,
                &r.transmission,
                false,
            )
            .map_err(|e| OptirError::Input(e.to_string()))?;
            let om = trapz_weights(&lam_obs);
            let mut f = [0.0; N_SSP];
            for (k, fk) in f.iter_mut().enumerate() {
                *fk = (0..lam_obs.len())
                    .filter(|&l| w[l] != 0.0)
                    .map(|l| om[l] * w[l] * grid.l_ssp[[k, l]])
                    .sum();
            }
            pre_r.push(f);
        }

        let mut filters = Vec::new();
        for name in SDSS_FILTERS.iter().chain(WISE_FILTERS.iter()) {
            filters.push(Filter::builtin(name).map_err(|e| OptirError::Input(e.to_string()))?);
        }
        let phot = ObservedPhotometry::new(model, &filters);
        for z in [cfg.z_min, cfg.z_max] {
            let missing = phot.uncovered(Observer::new(z, 40.0)?);
            if !missing.is_empty() {
                return Err(OptirError::Input(format!(
                    "the model grid does not cover {missing:?} at z = {z}"
                )));
            }
        }

        let fine = FineSsp::new(files, FINE_RANGE_UM)?;
        let sub_step = LOGLAM_STEP / N_SUB as f64;
        let n_sub = N_PIX * N_SUB + 2 * SUB_MARGIN;
        let first =
            LOGLAM_START - 0.5 * LOGLAM_STEP - SUB_MARGIN as f64 * sub_step + 0.5 * sub_step;
        let sub_lam: Vec<f64> = (0..n_sub)
            .map(|j| 10f64.powf(first + sub_step * j as f64))
            .collect();
        // Gaussian of FWHM λ/R in log10 λ, in sub-pixels.
        let sigma = 1.0 / (cfg.resolution * 2.0 * (2.0 * 2f64.ln()).sqrt() * LN_10) / sub_step;
        let half = (4.0 * sigma).ceil() as usize;
        if half > SUB_MARGIN {
            return Err(OptirError::Input(format!(
                "resolution {} is too low for the smoothing margin",
                cfg.resolution
            )));
        }
        let mut kernel: Vec<f64> = (0..=2 * half)
            .map(|i| (-0.5 * ((i as f64 - half as f64) / sigma).powi(2)).exp())
            .collect();
        let s: f64 = kernel.iter().sum();
        kernel.iter_mut().for_each(|k| *k /= s);

        let loglam = sdss_loglam();
        let mut sky_shape = Vec::with_capacity(N_PIX);
        let mut sky_mask = Vec::with_capacity(N_PIX);
        for &ll in &loglam {
            let lam = 10f64.powf(ll);
            let blue = 1.0 + 2.5 * (-(lam - 3800.0) / 300.0).exp();
            let red = if lam > 7000.0 {
                1.0 + 1.5 * ((lam - 7000.0) / 2200.0).powi(2)
            } else {
                1.0
            };
            let lines: f64 = SKY_LINES
                .iter()
                .map(|&(c, a, _)| a * (-0.5 * ((lam - c) / 1.5).powi(2)).exp())
                .sum();
            sky_shape.push(blue * red * (1.0 + lines));
            sky_mask.push(
                SKY_LINES
                    .iter()
                    .any(|&(c, _, w)| w > 0.0 && (lam - c).abs() <= w),
            );
        }

        Ok(Self {
            model,
            cfg: cfg.clone(),
            z_table,
            dl_z0: cfg.z_min,
            dl_h,
            dl_mpc,
            mass,
            tau_edges: ssp.tau_edges.clone(),
            log_met: ssp.met.iter().map(|m| m.log10()).collect(),
            norm,
            pre_z0: cfg.z_min,
            pre_h,
            pre_r,
            fine,
            phot,
            sub_lam,
            kernel,
            sky_shape,
            sky_mask,
        })
    }

    /// Mass formed per library age bin by a delayed-τ history starting at lookback `t_form`,
    /// counting only lookback times ≥ `a_min`, normalised to `mass`. Mass younger than the first
    /// edge goes to the first bin.
    fn delayed_tau(&self, t_form: f64, tau: f64, a_min: f64, mass: f64) -> [f64; 6] {
        // ∫ t e^(−t/τ) dt = −τ (t + τ) e^(−t/τ)
        let g = |t: f64| -tau * (t + tau) * (-t / tau).exp();
        let mut out = [0.0; 6];
        for (j, o) in out.iter_mut().enumerate() {
            let lo = if j == 0 { 0.0 } else { self.tau_edges[j] };
            let hi = if j == 5 {
                f64::INFINITY
            } else {
                self.tau_edges[j + 1]
            };
            let (a1, a2) = (lo.max(a_min), hi.min(t_form));
            if a2 > a1 {
                *o = g(t_form - a1) - g(t_form - a2);
            }
        }
        let total: f64 = out.iter().sum();
        if total > 0.0 {
            out.iter_mut().for_each(|o| *o *= mass / total);
        }
        out
    }

    /// Light-fraction SSP weights of mass per age bin at metallicity log Z, and their luminosity.
    fn weights(&self, mass: &[f64; 6], log_z: f64) -> ([f64; N_SSP], f64) {
        let mut wmet = [0.0; 6];
        let sig = 0.2 * 3f64.sqrt();
        for (off, q) in [(-sig, 1.0 / 6.0), (0.0, 2.0 / 3.0), (sig, 1.0 / 6.0)] {
            let lz = (log_z + off).clamp(self.log_met[0], self.log_met[5]);
            let j = self.log_met.partition_point(|&m| m < lz).clamp(1, 5);
            let w = (lz - self.log_met[j - 1]) / (self.log_met[j] - self.log_met[j - 1]);
            wmet[j - 1] += q * (1.0 - w);
            wmet[j] += q * w;
        }
        let mut light = [0.0; N_SSP];
        for m in 0..6 {
            for a in 0..6 {
                light[6 * m + a] = mass[a] * wmet[m] * self.norm[6 * m + a];
            }
        }
        let total: f64 = light.iter().sum();
        light.iter_mut().for_each(|l| *l /= total);
        (light, total)
    }

    /// One draw from the prior; `None` if outside the emulator's domain.
    fn draw(&self, rng: &mut impl Rng) -> Option<Candidate> {
        let mut normal = || -> f64 { StandardNormal.sample(rng) };
        let n: [f64; 12] = std::array::from_fn(|_| normal());
        let z = self.z_table.sample(rng.random::<f64>());
        let x = self.mass.sample(rng.random::<f64>());
        let quiescent = rng.random::<f64>() < 1.0 / (1.0 + (-(x - 10.5) / 0.3).exp());
        let ms = 0.76 * x - 7.64;
        let mut log_sfr_d = if quiescent {
            ms - rng.random_range(1.0..1.5)
        } else {
            ms
        } + 0.3 * n[0];
        let bt_mass = if quiescent {
            Beta::new(4.0, 3.0).ok()?.sample(rng)
        } else {
            Beta::new(1.0 + 0.6 * (x - 9.0).max(0.0), 6.0)
                .ok()?
                .sample(rng)
        };
        let m_tot = 10f64.powf(x);
        let (m_b, m_d) = (m_tot * bt_mass, m_tot * (1.0 - bt_mass));
        if 10f64.powf(log_sfr_d) * SFR_TIME > 0.5 * m_d {
            log_sfr_d = (0.5 * m_d / SFR_TIME).log10();
        }
        let sfr_d = 10f64.powf(log_sfr_d);
        let t_max = (13.0 - 11.0 * z) * 1e9;
        let t_d = t_max * rng.random_range(0.8..1.0);
        let tau_d = if quiescent {
            rng.random_range(0.7..2.0)
        } else {
            10f64.powf(rng.random_range(2f64.log10()..1.0))
        } * 1e9;
        let t_b = t_max * rng.random_range(0.9..1.0);
        let tau_b = rng.random_range(0.3..1.2) * 1e9;

        let mut mass_d = self.delayed_tau(t_d, tau_d, SFR_TIME, m_d - sfr_d * SFR_TIME);
        for (j, m) in mass_d.iter_mut().enumerate() {
            let lo = if j == 0 { 0.0 } else { self.tau_edges[j] };
            let hi = self.tau_edges[j + 1];
            *m += sfr_d * (hi.min(SFR_TIME) - lo).max(0.0);
        }
        let mass_b = self.delayed_tau(t_b, tau_b, 0.0, m_b);
        // The bulge's own 10⁸-yr star formation (tiny): its delayed-τ mass younger than 10⁸ yr.
        let recent_b = {
            let g = |t: f64| -tau_b * (t + tau_b) * (-t / tau_b).exp();
            let full = g(t_b) - g(0.0);
            m_b * (g(t_b) - g(t_b - SFR_TIME)) / full
        };
        let log_sfr = ((sfr_d * SFR_TIME + recent_b) / SFR_TIME).log10();

        let log_z = (Z_SUN).log10() - 0.15 + 0.35 * ((x - 10.0) / 0.8).tanh() + 0.15 * n[1];
        let (sfh_d, l_d) = self.weights(&mass_d, log_z);
        let (sfh_b, l_b) = self.weights(&mass_b, log_z + 0.05);
        let l_norm = l_d + l_b;
        let b_to_t = l_b / l_norm;

        let log_rd = 0.35 + 0.25 * (x - 10.0) - if quiescent { 0.1 } else { 0.0 } + 0.15 * n[2];
        let log_ratio = 0.15 + 0.15 * n[3];
        let log_rb = 0.35 * (x - 10.5) + 0.15 * n[4];
        let log_mdust = 7.0 + log_sfr + 0.3 * n[5];
        let log_den = log_mdust - (2.0 * PI).log10() - 2.0 * (log_rd + log_ratio);
        let unit = |v: f64, a: f64, b: f64| 2.0 * (v - a) / (b - a) - 1.0;
        let gp = [
            rng.random_range(-1.0..1.0),
            unit(log_den, 3.0, 7.5),
            unit(log_ratio, -0.7, 0.7),
            unit(log_rd, -2.0, 2.5),
            unit(log_rb, -0.5, 1.5),
            unit(l_norm.log10(), 6.0, 14.0),
            2.0 * b_to_t - 1.0,
        ];
        if gp.iter().any(|u| u.is_nan() || u.abs() > 1.0) {
            return None;
        }
        let distmod = 5.0 * interp_uniform(self.dl_z0, self.dl_h, &self.dl_mpc, z).log10() + 25.0;
        Some(Candidate {
            z,
            distmod,
            log_mstar: x,
            log_sfr,
            quiescent,
            gp,
            sfh_d,
            sfh_b,
        })
    }

    /// Dust-free r_AB, a lower bound of the attenuated one.
    fn r_dust_free(&self, c: &Candidate) -> f64 {
        let t = ((c.z - self.pre_z0) / self.pre_h).clamp(0.0, (self.pre_r.len() - 1) as f64);
        let i = (t.floor() as usize).min(self.pre_r.len() - 2);
        let w = t - i as f64;
        let b = 0.5 * (c.gp[6] + 1.0);
        let l = 10f64.powf((c.gp[5] + 1.0) * 4.0 + 6.0);
        let mut f = 0.0;
        for k in 0..N_SSP {
            let fk = self.pre_r[i][k] + w * (self.pre_r[i + 1][k] - self.pre_r[i][k]);
            f += ((1.0 - b) * c.sfh_d[k] + b * c.sfh_b[k]) * fk;
        }
        ab_mag(l * f * distance_factor(c.distmod))
    }

    fn batch(cands: &[&Candidate]) -> Result<Batch, OptirError> {
        let gp = cands.iter().flat_map(|c| c.gp).collect();
        let sd = cands.iter().flat_map(|c| c.sfh_d).collect();
        let sb = cands.iter().flat_map(|c| c.sfh_b).collect();
        Ok(Batch::new(gp, sd, sb, OutOfRange::Clip)?)
    }

    fn run_chunk(&self, chunk: usize, keep_true: bool) -> Result<ChunkOut, OptirError> {
        let cfg = &self.cfg;
        let mut rng = ChaCha8Rng::seed_from_u64(mix(cfg.seed, chunk as u64, 0));
        let mut cands = Vec::new();
        for _ in 0..cfg.candidates_per_chunk {
            if let Some(c) = self.draw(&mut rng)
                && self.r_dust_free(&c) < cfg.r_limit + PRESELECT_MARGIN
            {
                cands.push(c);
            }
        }
        if cands.is_empty() {
            return Ok(ChunkOut::default());
        }
        let refs: Vec<&Candidate> = cands.iter().collect();
        let batch = Self::batch(&refs)?;
        let (ld, lb) = self.model.selector_log_probs(&batch);
        let ln_half = 0.5f32.ln();
        let valid: Vec<&Candidate> = cands
            .iter()
            .enumerate()
            .filter(|&(i, _)| ld[i] > ln_half && lb[i] > ln_half)
            .map(|(_, c)| c)
            .collect();
        if valid.is_empty() {
            return Ok(ChunkOut::default());
        }
        let batch = Self::batch(&valid)?;
        let observers: Vec<Observer> = valid
            .iter()
            .map(|c| Observer::new(c.z, c.distmod))
            .collect::<Result<_, _>>()?;
        let flux = self
            .phot
            .fluxes(self.model, &batch, Component::Combine, &observers)?;
        let keep: Vec<usize> = (0..valid.len())
            .filter(|&i| ab_mag(f64::from(flux[[i, 2]])) < cfg.r_limit)
            .collect();
        if keep.is_empty() {
            return Ok(ChunkOut::default());
        }
        let acc: Vec<&Candidate> = keep.iter().map(|&i| valid[i]).collect();
        let batch = Self::batch(&acc)?;
        let (ad, ab) = attenuation(self.model, &batch);

        let mut rng = ChaCha8Rng::seed_from_u64(mix(cfg.seed, chunk as u64, 1));
        let mut out = ChunkOut::default();
        for (g, (&i, c)) in keep.iter().zip(&acc).enumerate() {
            let sl = |v: &[f32], w: usize| v[g * w..(g + 1) * w].to_vec();
            let f_true = self.observed_spectrum(
                &sl(batch.gp(), N_GP),
                &sl(batch.sfh_disk(), N_SSP),
                &sl(batch.sfh_bulge(), N_SSP),
                &sl(&ad, N_ATT),
                &sl(&ab, N_ATT),
                c.z,
                c.distmod,
            );
            self.add_spectral_noise(&f_true, &mut rng, &mut out);
            if keep_true {
                out.flux_true.extend(f_true.iter().map(|&v| v as f32));
            }
            for b in 0..5 {
                let m = ab_mag(f64::from(flux[[i, b]]));
                let snr = 5.0 * 10f64.powf(-0.4 * (m - SDSS_DEPTH_5SIGMA[b]));
                let err = (SDSS_FLOOR[b].powi(2) + (1.0857 / snr).powi(2)).sqrt();
                let e: f64 = StandardNormal.sample(&mut rng);
                out.ugriz.push(m + err * e);
                out.ugriz_err.push(err);
                out.ugriz_true.push(m);
            }
            let n_exp = rng.random_range(cfg.wise_n_exp.0..=cfg.wise_n_exp.1);
            for b in 0..4 {
                let zp = WISE_ZERO_POINT_JY[b];
                let f_true = f64::from(flux[[i, 5 + b]]);
                let f5 = zp * 10f64.powf(-0.4 * cfg.wise_depth_5sigma[b]);
                let sig_n = f5 / 5.0 * (f64::from(cfg.wise_depth_n_exp) / f64::from(n_exp)).sqrt();
                let sig = (sig_n.powi(2) + (cfg.wise_floor[b] * f_true).powi(2)).sqrt();
                let e: f64 = StandardNormal.sample(&mut rng);
                let f = f_true + sig * e;
                let snr = f / sig_n;
                if snr >= 2.0 {
                    out.wise.push(-2.5 * (f / zp).log10());
                    out.wise_err.push(
                        ((1.0857 / snr).powi(2) + (1.0857 * cfg.wise_floor[b]).powi(2)).sqrt(),
                    );
                } else {
                    out.wise
                        .push(-2.5 * ((f.max(0.0) + 2.0 * sig_n) / zp).log10());
                    out.wise_err.push(UNDETECTED_SIGMA);
                }
                out.wise_true.push(-2.5 * (f_true / zp).log10());
            }
            out.cand.push((*c).clone());
        }
        Ok(out)
    }

    /// Noise-free observed F_λ [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹] on the survey pixels.
    #[allow(clippy::too_many_arguments)]
    fn observed_spectrum(
        &self,
        gp: &[f32],
        sd: &[f32],
        sb: &[f32],
        ad: &[f32],
        ab: &[f32],
        z: f64,
        distmod: f64,
    ) -> Vec<f64> {
        let zp1 = 1.0 + z;
        let lam = &self.fine.lam_um;
        let (s0, s1) = (self.sub_lam[0], self.sub_lam[self.sub_lam.len() - 1]);
        // Fine points bracketing the rest range of the oversampled grid.
        let i0 = lam
            .partition_point(|&l| l * 1e4 * zp1 < s0)
            .saturating_sub(1);
        let i1 = (lam.partition_point(|&l| l * 1e4 * zp1 <= s1) + 1).min(lam.len());
        let lum = self.fine.luminosity(i0..i1, gp, sd, sb, ad, ab);
        // F_λ = λL_λ · L_sun / (4π d_L²) / λ_obs, in 10⁻¹⁷ cgs.
        let d_l_cm = 10.0 * PARSEC_M * 100.0 * 10f64.powf(distmod / 5.0);
        let scale = L_SUN_W * 1e7 / (4.0 * PI * d_l_cm * d_l_cm) / 1e-17;
        let x: Vec<f64> = lam[i0..i1].iter().map(|l| l * 1e4 * zp1).collect();
        let y: Vec<f64> = lum.iter().zip(&x).map(|(v, l)| scale * v / l).collect();
        // Linear interpolation in λ onto the oversampled grid.
        let mut sub = Vec::with_capacity(self.sub_lam.len());
        let mut j = 1;
        for &l in &self.sub_lam {
            while j < x.len() - 1 && x[j] < l {
                j += 1;
            }
            let w = ((l - x[j - 1]) / (x[j] - x[j - 1])).clamp(0.0, 1.0);
            sub.push(y[j - 1] + w * (y[j] - y[j - 1]));
        }
        // Smooth and bin.
        let half = (self.kernel.len() - 1) / 2;
        let mut out = vec![0.0; N_PIX];
        for (k, o) in out.iter_mut().enumerate() {
            let mut acc = 0.0;
            for s in 0..N_SUB {
                let c = SUB_MARGIN + N_SUB * k + s;
                let win = &sub[c - half..=c + half];
                acc += win
                    .iter()
                    .zip(&self.kernel)
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
            }
            *o = acc / N_SUB as f64;
        }
        out
    }

    fn add_spectral_noise(&self, f_true: &[f64], rng: &mut impl Rng, out: &mut ChunkOut) {
        let cond = rng.random_range(0.8..1.25);
        for (k, &f) in f_true.iter().enumerate() {
            let sky = self.cfg.sky_sigma * cond * self.sky_shape[k];
            let sigma = (sky * sky + self.cfg.source_gain * f.max(0.0)).sqrt();
            let e: f64 = StandardNormal.sample(rng);
            out.flux.push((f + sigma * e) as f32);
            if self.sky_mask[k] {
                out.ivar.push(0.0);
                out.mask.push(BRIGHTSKY);
            } else {
                out.ivar.push((1.0 / (sigma * sigma)) as f32);
                out.mask.push(0);
            }
        }
    }
}

/// SplitMix64-style mixing of the seed, the chunk and the stream.
fn mix(seed: u64, chunk: u64, stream: u64) -> u64 {
    let mut x = seed
        ^ chunk.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The first `n` accepted galaxies of the chunks, in chunk order.
fn assemble(parts: Vec<ChunkOut>, n: usize, keep_true: bool) -> (Survey, Array2<f32>, Array2<f64>) {
    let mut flux = Array2::<f32>::zeros((n, N_PIX));
    let mut ivar = Array2::<f32>::zeros((n, N_PIX));
    let mut mask = Array2::<u32>::zeros((n, N_PIX));
    let mut flux_true = if keep_true {
        Array2::<f32>::zeros((n, N_PIX))
    } else {
        Array2::zeros((0, 0))
    };
    let mut ugriz = Array2::zeros((n, 5));
    let mut ugriz_err = Array2::zeros((n, 5));
    let mut ugriz_true = Array2::zeros((n, 5));
    let mut wise = Array2::zeros((n, 4));
    let mut wise_err = Array2::zeros((n, 4));
    let mut wise_true = Array2::zeros((n, 4));
    let mut gp = Array2::zeros((n, N_GP));
    let mut sfh_disk = Array2::zeros((n, N_SSP));
    let mut sfh_bulge = Array2::zeros((n, N_SSP));
    let (mut redshift, mut log_mstar, mut log_sfr, mut quiescent, mut distmod) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut row = 0;
    for part in parts {
        for g in 0..part.len() {
            if row >= n {
                break;
            }
            let px = g * N_PIX..(g + 1) * N_PIX;
            flux.row_mut(row)
                .assign(&ndarray::ArrayView1::from(&part.flux[px.clone()]));
            ivar.row_mut(row)
                .assign(&ndarray::ArrayView1::from(&part.ivar[px.clone()]));
            mask.row_mut(row)
                .assign(&ndarray::ArrayView1::from(&part.mask[px.clone()]));
            if keep_true {
                flux_true
                    .row_mut(row)
                    .assign(&ndarray::ArrayView1::from(&part.flux_true[px]));
            }
            for b in 0..5 {
                ugriz[[row, b]] = part.ugriz[5 * g + b];
                ugriz_err[[row, b]] = part.ugriz_err[5 * g + b];
                ugriz_true[[row, b]] = part.ugriz_true[5 * g + b];
            }
            for b in 0..4 {
                wise[[row, b]] = part.wise[4 * g + b];
                wise_err[[row, b]] = part.wise_err[4 * g + b];
                wise_true[[row, b]] = part.wise_true[4 * g + b];
            }
            let c = &part.cand[g];
            for j in 0..N_GP {
                gp[[row, j]] = c.gp[j] as f32;
            }
            for k in 0..N_SSP {
                sfh_disk[[row, k]] = c.sfh_d[k] as f32;
                sfh_bulge[[row, k]] = c.sfh_b[k] as f32;
            }
            redshift.push(c.z);
            log_mstar.push(c.log_mstar);
            log_sfr.push(c.log_sfr);
            quiescent.push(c.quiescent);
            distmod.push(c.distmod);
            row += 1;
        }
    }
    let survey = Survey {
        id: (0..n as i64).collect(),
        redshift,
        spectra: Spectra {
            loglam: sdss_loglam(),
            flux,
            ivar,
            and_mask: mask,
        },
        ugriz,
        ugriz_err,
        wise,
        wise_err,
        truth: Some(Truth {
            gp,
            sfh_disk,
            sfh_bulge,
            log_mstar,
            log_sfr,
            quiescent,
            distmod,
            wise_true,
        }),
    };
    (survey, flux_true, ugriz_true)
}
