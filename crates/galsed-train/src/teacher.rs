//! Teacher data: training sets computed by an existing model (the published one) instead of
//! radiative transfer, to test the training loop end to end where SKIRT is not available.
//!
//! Samples are drawn from the priors of Qiu & Kang (2022, Table 1): inclination θ from
//! Beta(0.5, 0.5) scaled to [0, π/2]; dust surface density, r_dust/r_disk, r_disk, r_bulge and
//! luminosity log-uniform over their ranges (uniform in unit space); bulge-to-total from
//! Beta(0.5, 0.5). Disk and bulge SFHs are Dirichlet(0.5·1₃₆) light fractions. The teacher labels
//! each sample with its selectors (logit > 0) and gives its attenuation curves, absorbed fraction
//! and dust-emission shape.

use burn::prelude::*;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::{N_GP, N_SSP, Starduster};
use ndarray::Array2;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma};

use crate::data::TrainingSet;
use crate::train::TrainError;

/// Galaxies evaluated per teacher call.
const CHUNK: usize = 1024;

/// Parameters and SFHs drawn from the priors: `gp` (n, 7) in unit space, SFHs (n, 36).
pub struct PriorSample {
    /// Unit-space parameters (n, 7) and light fractions of disk and bulge (n, 36).
    pub gp: Array2<f64>,
    /// Light fractions of the 36 SSPs in the disk, (n, 36).
    pub sfh_disk: Array2<f64>,
    /// Light fractions of the 36 SSPs in the bulge, (n, 36).
    pub sfh_bulge: Array2<f64>,
}

/// Draws `n` samples from the priors (see the module documentation).
pub fn sample_priors(n: usize, rng: &mut impl Rng) -> PriorSample {
    // Both shape parameters are positive constants, so construction cannot fail.
    let beta = Beta::new(0.5, 0.5).expect("Beta(0.5, 0.5)");
    let gamma = Gamma::new(0.5, 1.0).expect("Gamma(0.5, 1)");
    let mut gp = Array2::zeros((n, N_GP));
    let mut sfh_disk = Array2::zeros((n, N_SSP));
    let mut sfh_bulge = Array2::zeros((n, N_SSP));
    for i in 0..n {
        let theta = std::f64::consts::FRAC_PI_2 * beta.sample(rng);
        gp[[i, 0]] = 2.0 * theta.cos() - 1.0;
        for j in 1..6 {
            gp[[i, j]] = rng.random_range(-1.0..=1.0);
        }
        gp[[i, 6]] = 2.0 * beta.sample(rng) - 1.0;
        for sfh in [&mut sfh_disk, &mut sfh_bulge] {
            // Dirichlet(α) = normalised independent Gamma(α, 1) draws.
            let g: Vec<f64> = (0..N_SSP).map(|_| gamma.sample(rng)).collect();
            let total: f64 = g.iter().sum();
            sfh.row_mut(i)
                .iter_mut()
                .zip(&g)
                .for_each(|(s, v)| *s = v / total);
        }
    }
    PriorSample {
        gp,
        sfh_disk,
        sfh_bulge,
    }
}

/// Teacher outputs of one chunk.
struct Labelled {
    curve_disk: Vec<f32>,
    curve_bulge: Vec<f32>,
    frac: Vec<f32>,
    emission: Vec<f32>,
    valid_disk: Vec<bool>,
    valid_bulge: Vec<bool>,
}

fn evaluate(model: &Starduster, batch: &Batch) -> Labelled {
    let device = model.device();
    let n = batch.len();
    let t =
        |v: &[f32], w: usize| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, w]), device);
    let vec = crate::to_f32s::<2>;
    let gp = t(batch.gp(), N_GP);
    let (sd, sb) = (t(batch.sfh_disk(), N_SSP), t(batch.sfh_bulge(), N_SSP));
    let (cd, cb) = model.curves();
    let curve_disk = vec(cd.forward(gp.clone()));
    let curve_bulge = vec(cb.forward(gp.clone()));
    let (fd, fb) = model.absorption(gp.clone(), sd, sb);
    let b = gp.clone().narrow(1, 6, 1).add_scalar(1.0).mul_scalar(0.5);
    let frac = vec(fd.clone() * b.clone().neg().add_scalar(1.0) + fb.clone() * b);
    let emission = vec(model
        .emission()
        .forward(Tensor::cat(vec![gp.clone(), fd, fb], 1)));
    let (ld, lb) = model.selector_logits(gp);
    Labelled {
        curve_disk,
        curve_bulge,
        frac,
        emission,
        valid_disk: vec(ld).iter().map(|&l| l > 0.0).collect(),
        valid_bulge: vec(lb).iter().map(|&l| l > 0.0).collect(),
    }
}

/// A teacher set holding `n_valid` samples inside both selectors' valid region, plus the samples
/// outside it drawn along the way (labelled invalid; they train the selectors).
pub fn teacher_set(
    files: &ModelFiles,
    n_valid: usize,
    seed: u64,
) -> Result<TrainingSet, TrainError> {
    if n_valid == 0 {
        return Err(TrainError::Config("ask for at least one sample".into()));
    }
    let model = Starduster::from_files(files, &WavelengthGrid::Base)?;
    let n_lam = files.ssp.lam_main.len();
    let n_curve = files.config.curve_disk.net.output_size;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut gp, mut sd, mut sb) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cd, mut cb, mut frac, mut em, mut vd, mut vb) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut found = 0;
    let mut draws = 0usize;
    while found < n_valid {
        draws += CHUNK;
        if draws > 1000 * n_valid.max(CHUNK) {
            return Err(TrainError::Config(
                "the teacher's selectors reject almost every prior sample".into(),
            ));
        }
        let s = sample_priors(CHUNK, &mut rng);
        let flat = |a: &Array2<f64>| a.iter().copied().collect::<Vec<f64>>();
        let batch = Batch::new(
            flat(&s.gp),
            flat(&s.sfh_disk),
            flat(&s.sfh_bulge),
            OutOfRange::Clip,
        )?;
        let out = evaluate(&model, &batch);
        for i in 0..CHUNK {
            let ok = out.valid_disk[i] && out.valid_bulge[i];
            if ok && found == n_valid {
                break;
            }
            found += usize::from(ok);
            gp.extend(s.gp.row(i).iter());
            sd.extend(s.sfh_disk.row(i).iter());
            sb.extend(s.sfh_bulge.row(i).iter());
            cd.extend(
                out.curve_disk[i * n_curve..(i + 1) * n_curve]
                    .iter()
                    .map(|&v| f64::from(v)),
            );
            cb.extend(
                out.curve_bulge[i * n_curve..(i + 1) * n_curve]
                    .iter()
                    .map(|&v| f64::from(v)),
            );
            // Float32 rounding can put a fully absorbed sample a hair above 1.
            frac.push(f64::from(out.frac[i]).clamp(0.0, 1.0));
            em.extend(
                out.emission[i * n_lam..(i + 1) * n_lam]
                    .iter()
                    .map(|&v| f64::from(v)),
            );
            vd.push(out.valid_disk[i]);
            vb.push(out.valid_bulge[i]);
        }
    }
    let n = frac.len();
    let arr =
        |v: Vec<f64>, w: usize| Array2::from_shape_vec((n, w), v).expect("rows of equal width");
    let set = TrainingSet {
        lam: files.ssp.lam_main.clone(),
        params: arr(gp, N_GP),
        curve_disk: Some(arr(cd, n_curve)),
        curve_bulge: Some(arr(cb, n_curve)),
        sfh_disk: Some(arr(sd, N_SSP)),
        sfh_bulge: Some(arr(sb, N_SSP)),
        frac_abs: Some(frac),
        dust_emission: Some(arr(em, n_lam)),
        valid_disk: Some(vd),
        valid_bulge: Some(vb),
        valid_emission: None,
    };
    set.check()?;
    Ok(set)
}
