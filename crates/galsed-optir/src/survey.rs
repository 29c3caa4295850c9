//! The survey data model: what a spectroscopic survey with a WISE crossmatch holds per galaxy.
//!
//! Spectra are observed-frame, on the SDSS log-λ grid, in SDSS units (10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹)
//! with inverse variances and SDSS pixel-mask bits. ugriz are AB magnitudes, WISE W1–W4 Vega
//! magnitudes; a WISE non-detection carries its 2σ upper limit as magnitude and
//! [`UNDETECTED_SIGMA`] as error, which is how the predictor's likelihood ignores it.

use ndarray::{Array2, ArrayView1, Axis};

use crate::OptirError;

/// log10(λ/Å) of the first SDSS pixel used here (3800 Å).
pub const LOGLAM_START: f64 = 3.5798;
/// SDSS pixel width in log10 λ.
pub const LOGLAM_STEP: f64 = 1e-4;
/// Pixels from 3800 to 9200 Å.
pub const N_PIX: usize = 3840;
/// SDSS `and_mask` bit of pixels near bright sky lines.
pub const BRIGHTSKY: u32 = 1 << 23;
/// SDSS `and_mask` bit of pixels without data.
pub const NODATA: u32 = 1 << 24;

/// WISE bands, in column order.
pub const WISE_BANDS: [&str; 4] = ["W1", "W2", "W3", "W4"];
/// Built-in filter names of the WISE bands.
pub const WISE_FILTERS: [&str; 4] = ["wise_w1", "wise_w2", "wise_w3", "wise_w4"];
/// Vega zero points of W1–W4 \[Jy\] (Jarrett et al. 2011), as the paper uses.
pub const WISE_ZERO_POINT_JY: [f64; 4] = [309.540, 171.787, 31.674, 8.363];
/// Single-exposure 5σ point-source depths of W1–W4 [Vega mag].
pub const WISE_DEPTH_5SIGMA: [f64; 4] = [16.8, 15.6, 11.3, 8.0];
/// Error \[mag\] given to undetected bands, so that they carry no weight in the likelihood.
pub const UNDETECTED_SIGMA: f64 = 1e4;

/// SDSS bands, in column order.
pub const SDSS_BANDS: [&str; 5] = ["u", "g", "r", "i", "z"];
/// Built-in filter names of the SDSS bands.
pub const SDSS_FILTERS: [&str; 5] = ["sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0"];
/// SDSS main-sample limit: Petrosian r < 17.77.
pub const R_LIMIT: f64 = 17.77;

/// Rest-frame window of the flux normalisation \[Å\] (spender).
pub const NORM_WINDOW: (f64, f64) = (5300.0, 5850.0);

/// log10(λ/Å) of the survey pixels.
pub fn sdss_loglam() -> Vec<f64> {
    (0..N_PIX)
        .map(|k| LOGLAM_START + LOGLAM_STEP * k as f64)
        .collect()
}

/// Observed-frame spectra on a common log-λ grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectra {
    /// log10(λ/Å), (n_pix).
    pub loglam: Vec<f64>,
    /// F_λ [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹], (n, n_pix).
    pub flux: Array2<f32>,
    /// Inverse variance of `flux`, 0 where masked, (n, n_pix).
    pub ivar: Array2<f32>,
    /// SDSS `and_mask` bits, (n, n_pix).
    pub and_mask: Array2<u32>,
}

/// What the simulator knows and an observer does not: the inputs of the emulator and derived
/// physical properties, for splits and diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Emulator galaxy parameters in unit space, (n, 7).
    pub gp: Array2<f32>,
    /// Disk and bulge SSP weights, (n, 36) each.
    pub sfh_disk: Array2<f32>,
    /// Bulge SSP weights, (n, 36).
    pub sfh_bulge: Array2<f32>,
    /// log10 stellar mass \[M_sun\] and star-formation rate [M_sun/yr] (averaged over 100 Myr).
    pub log_mstar: Vec<f64>,
    /// log10 star-formation rate [M_sun/yr], averaged over 100 Myr.
    pub log_sfr: Vec<f64>,
    /// Drawn as quiescent by the population model.
    pub quiescent: Vec<bool>,
    /// Luminosity-distance modulus.
    pub distmod: Vec<f64>,
    /// Noise-free WISE Vega magnitudes, (n, 4).
    pub wise_true: Array2<f64>,
}

/// A survey: spectra, photometry and (for synthetic surveys) the truth behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    /// Identifier of each galaxy.
    pub id: Vec<i64>,
    /// Redshift of each galaxy.
    pub redshift: Vec<f64>,
    /// The spectra, their inverse variances and masks.
    pub spectra: Spectra,
    /// AB magnitudes and errors, (n, 5).
    pub ugriz: Array2<f64>,
    /// Errors of the ugriz magnitudes \[mag\], (n, 5).
    pub ugriz_err: Array2<f64>,
    /// Vega magnitudes and errors, (n, 4); see [`UNDETECTED_SIGMA`].
    pub wise: Array2<f64>,
    /// Errors of the WISE magnitudes \[mag\], (n, 4).
    pub wise_err: Array2<f64>,
    /// What the simulator drew (synthetic surveys only).
    pub truth: Option<Truth>,
}

impl Survey {
    /// Number of galaxies.
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// True if the survey holds no galaxy.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Whether each WISE band of a galaxy is detected.
    pub fn detected(&self, galaxy: usize) -> [bool; 4] {
        let e: ArrayView1<f64> = self.wise_err.row(galaxy);
        std::array::from_fn(|b| e[b] < UNDETECTED_SIGMA)
    }
}

/// Which part of the survey a galaxy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 70% the predictors are trained on.
    Train,
    /// The 10% used for early stopping.
    Validation,
    /// The 20% held out for the evaluation.
    Test,
}

impl Split {
    /// The split's name in tables: `train`, `validation` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// The paper's 70/10/20 split, as a seeded permutation of `n` galaxies.
///
/// ```
/// use galsed_optir::survey::{Split, split};
/// let s = split(1000, 7);
/// assert_eq!(s.iter().filter(|&&x| x == Split::Train).count(), 700);
/// assert_eq!(s.iter().filter(|&&x| x == Split::Test).count(), 200);
/// assert_eq!(s, split(1000, 7)); // the same seed, the same split
/// ```
pub fn split(n: usize, seed: u64) -> Vec<Split> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let n_train = n * 7 / 10;
    let n_val = n / 10;
    let mut out = vec![Split::Test; n];
    for (rank, &i) in order.iter().enumerate() {
        out[i] = if rank < n_train {
            Split::Train
        } else if rank < n_train + n_val {
            Split::Validation
        } else {
            Split::Test
        };
    }
    out
}

/// Rows of the training, validation and test splits of [`split`], each in survey order.
///
/// ```
/// use galsed_optir::survey::split_rows;
/// let [train, validation, test] = split_rows(1000, 7);
/// assert_eq!((train.len(), validation.len(), test.len()), (700, 100, 200));
/// assert!(test.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn split_rows(n: usize, seed: u64) -> [Vec<usize>; 3] {
    let s = split(n, seed);
    let rows = |which| (0..n).filter(|&i| s[i] == which).collect::<Vec<_>>();
    [
        rows(Split::Train),
        rows(Split::Validation),
        rows(Split::Test),
    ]
}

/// Median observed flux of a spectrum in the rest-frame [`NORM_WINDOW`], over unmasked pixels
/// (ivar > 0). `None` if no such pixel exists or the median is not positive.
///
/// ```
/// use galsed_optir::survey::{N_PIX, normalisation, sdss_loglam};
/// use ndarray::Array1;
/// let loglam = sdss_loglam();
/// let flux = Array1::from_elem(N_PIX, 3.0f32);
/// let ivar = Array1::from_elem(N_PIX, 1.0f32);
/// assert_eq!(normalisation(&loglam, flux.view(), ivar.view(), 0.1), Some(3.0));
/// // Everything masked: no normalisation.
/// let masked = Array1::zeros(N_PIX);
/// assert_eq!(normalisation(&loglam, flux.view(), masked.view(), 0.1), None);
/// ```
pub fn normalisation(
    loglam: &[f64],
    flux: ArrayView1<f32>,
    ivar: ArrayView1<f32>,
    redshift: f64,
) -> Option<f64> {
    let shift = (1.0 + redshift).log10();
    let (lo, hi) = (NORM_WINDOW.0.log10() + shift, NORM_WINDOW.1.log10() + shift);
    let mut v: Vec<f32> = loglam
        .iter()
        .zip(flux.iter().zip(ivar.iter()))
        .filter(|&(&l, (_, &w))| l >= lo && l <= hi && w > 0.0)
        .map(|(_, (&f, _))| f)
        .collect();
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, &mut m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    (m > 0.0 && m.is_finite()).then_some(f64::from(m))
}

/// Normalised fluxes (n, n_pix), their inverse variances and the normalisations (n).
pub type Normalised = (Array2<f32>, Array2<f32>, Vec<f64>);

/// Spectra divided by their [`normalisation`] (inverse variances multiplied by its square), and
/// the normalisations. Fails, naming the galaxy, if one cannot be normalised.
pub fn normalise(spectra: &Spectra, redshift: &[f64]) -> Result<Normalised, OptirError> {
    let n = spectra.flux.nrows();
    if redshift.len() != n
        || spectra.ivar.nrows() != n
        || spectra.flux.ncols() != spectra.loglam.len()
    {
        return Err(OptirError::Input(format!(
            "spectra ({} × {}), inverse variances ({} rows) and redshifts ({}) do not match",
            n,
            spectra.flux.ncols(),
            spectra.ivar.nrows(),
            redshift.len()
        )));
    }
    let mut flux = spectra.flux.clone();
    let mut ivar = spectra.ivar.clone();
    let mut norms = Vec::with_capacity(n);
    for (i, &z) in redshift.iter().enumerate() {
        let norm = normalisation(&spectra.loglam, spectra.flux.row(i), spectra.ivar.row(i), z)
            .ok_or_else(|| {
                OptirError::Input(format!(
                    "galaxy {i} (z = {z}): no positive median flux in rest-frame {}–{} Å",
                    NORM_WINDOW.0, NORM_WINDOW.1
                ))
            })?;
        flux.row_mut(i)
            .mapv_inplace(|f| (f64::from(f) / norm) as f32);
        ivar.row_mut(i)
            .mapv_inplace(|w| (f64::from(w) * norm * norm) as f32);
        norms.push(norm);
    }
    Ok((flux, ivar, norms))
}

/// [`normalise`] for the galaxies `rows` of a survey only (a whole survey's normalised copy
/// would be gigabytes), with their redshifts.
pub fn normalise_rows(
    survey: &Survey,
    rows: &[usize],
) -> Result<(Normalised, Vec<f64>), OptirError> {
    if let Some(&i) = rows.iter().find(|&&i| i >= survey.len()) {
        return Err(OptirError::Input(format!(
            "galaxy {i} is not in the survey ({} galaxies)",
            survey.len()
        )));
    }
    let z: Vec<f64> = rows.iter().map(|&i| survey.redshift[i]).collect();
    let spectra = Spectra {
        loglam: survey.spectra.loglam.clone(),
        flux: survey.spectra.flux.select(Axis(0), rows),
        ivar: survey.spectra.ivar.select(Axis(0), rows),
        and_mask: survey.spectra.and_mask.select(Axis(0), rows),
    };
    Ok((normalise(&spectra, &z)?, z))
}
