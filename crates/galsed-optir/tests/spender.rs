//! The spender autoencoder and the PCA baseline on toy spectra generated here: three rest-frame
//! templates (quiescent with a 4000 Å break and absorption lines, star-forming with emission
//! lines, post-starburst with Balmer absorption), random amplitudes, redshifts, noise and masks.

use std::time::Instant;

use galsed_optir::SpectrumEncoder;
use galsed_optir::pca::{Pca, PcaSettings};
use galsed_optir::spender::{self, Autoencoder, SpenderConfig, TrainSettings};
use galsed_optir::survey::{self, Spectra};
use ndarray::{Array2, ArrayView2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Toy {
    loglam: Vec<f64>,
    flux: Array2<f32>,
    ivar: Array2<f32>,
    z: Vec<f64>,
    class: Vec<usize>,
}

fn gauss(l: f64, c: f64, s: f64) -> f64 {
    (-0.5 * ((l - c) / s).powi(2)).exp()
}

/// Rest-frame template `class` at λ [Å] with random parameters `a`.
fn template(class: usize, lam: f64, a: &[f64; 4]) -> f64 {
    let x = lam / 5500.0;
    match class {
        0 => {
            let brk = 0.55 + 0.45 * (0.5 + 0.5 * ((lam - 4000.0) / 60.0).tanh());
            let abs = 1.0
                - 0.3 * (gauss(lam, 3934.0, 6.0) + gauss(lam, 3969.0, 6.0))
                - 0.15 * a[1] * gauss(lam, 5175.0, 8.0)
                - 0.15 * gauss(lam, 5893.0, 6.0);
            x.powf(0.8 + 0.4 * a[0]) * brk * abs
        }
        1 => {
            let lines = a[1]
                * (1.5 * gauss(lam, 6563.0, 3.0)
                    + 0.5 * gauss(lam, 4861.0, 3.0)
                    + 0.5 * gauss(lam, 6583.0, 3.0))
                + a[2] * (1.2 * gauss(lam, 5007.0, 3.0) + 0.4 * gauss(lam, 4959.0, 3.0))
                + a[3] * gauss(lam, 3727.0, 3.0);
            x.powf(-1.2 + 0.5 * a[0]) + 2.0 * lines
        }
        _ => {
            let balmer = 0.25
                * a[1]
                * [4102.0, 4340.0, 4861.0, 6563.0]
                    .iter()
                    .map(|&c| gauss(lam, c, 12.0))
                    .sum::<f64>();
            x.powf(-0.3 + 0.4 * a[0])
                * (1.0 - balmer)
                * (0.8 + 0.2 * (0.5 + 0.5 * ((lam - 4000.0) / 60.0).tanh()))
        }
    }
}

/// `n` normalised toy spectra on `n_pix` pixels of step `step` from log10 λ = 3.5798.
fn toy(n: usize, n_pix: usize, step: f64, seed: u64) -> Toy {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let loglam: Vec<f64> = (0..n_pix)
        .map(|k| survey::LOGLAM_START + step * k as f64)
        .collect();
    let mut flux = Array2::<f32>::zeros((n, n_pix));
    let mut ivar = Array2::<f32>::zeros((n, n_pix));
    let mut z = Vec::with_capacity(n);
    let mut class = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        let zi = 0.02 + 0.26 * rng.random::<f64>();
        let a: [f64; 4] = std::array::from_fn(|_| 0.3 + 0.7 * rng.random::<f64>());
        let scale = 5.0 + 20.0 * rng.random::<f64>();
        let sigma = 0.04 * scale;
        for (j, &l) in loglam.iter().enumerate() {
            let rest = 10f64.powf(l) / (1.0 + zi);
            let obs_lam = 10f64.powf(l);
            let masked = rng.random::<f64>() < 0.02 || (obs_lam - 5577.0).abs() < 8.0;
            let noise: f64 = rng.sample(rand_distr::StandardNormal);
            flux[[i, j]] = (scale * template(c, rest, &a) + sigma * noise) as f32;
            ivar[[i, j]] = if masked {
                0.0
            } else {
                (1.0 / (sigma * sigma)) as f32
            };
        }
        z.push(zi);
        class.push(c);
    }
    let spectra = Spectra {
        loglam: loglam.clone(),
        flux,
        ivar,
        and_mask: Array2::zeros((n, n_pix)),
    };
    let (flux, ivar, _) = survey::normalise(&spectra, &z).expect("toy spectra normalise");
    Toy {
        loglam,
        flux,
        ivar,
        z,
        class,
    }
}

/// A tiny autoencoder for toy spectra of 960 pixels of step 4·10⁻⁴ (3800–9200 Å).
fn tiny() -> SpenderConfig {
    SpenderConfig {
        channels: [8, 16, 32],
        encoder_hidden: vec![32, 16],
        n_latents: 4,
        decoder_hidden: vec![32, 64],
        rest_loglam_step: 4e-4,
        ..SpenderConfig::cpu()
    }
}

const TOY_PIX: usize = 960;
const TOY_STEP: f64 = 4e-4;

fn short_settings(epochs: usize, seed: u64) -> TrainSettings {
    TrainSettings {
        epochs,
        batch_size: 32,
        learning_rate: 3e-3,
        seed,
        patience: None,
        ..TrainSettings::default()
    }
}

fn train_toy(
    t: &Toy,
    n_train: usize,
    settings: &TrainSettings,
    dir: Option<&std::path::Path>,
) -> (Autoencoder, spender::TrainReport) {
    let train: Vec<usize> = (0..n_train).collect();
    let val: Vec<usize> = (n_train..t.z.len()).collect();
    spender::train(
        &t.loglam,
        t.flux.view(),
        t.ivar.view(),
        &t.z,
        &train,
        &val,
        &tiny(),
        settings,
        &mut |r| {
            eprintln!(
                "epoch {} train {:.4} val {:.4} ({:.2} s)",
                r.epoch, r.train_loss, r.val_loss, r.seconds
            )
        },
        dir,
    )
    .expect("training runs")
}

#[test]
fn config_grids() {
    for cfg in [SpenderConfig::cpu(), SpenderConfig::paper()] {
        cfg.check().unwrap();
        let r = cfg.rest_loglam();
        assert_eq!(r.len(), cfg.n_rest());
        assert!((10f64.powf(r[0]) - 3800.0 / 1.3).abs() < 1e-6);
        assert!(10f64.powf(*r.last().unwrap()) >= 9200.0 - 1e-6);
        // Every SDSS pixel of a galaxy at z ∈ [0, z_max] lies on the rest grid.
        let sdss = survey::sdss_loglam();
        assert!(sdss[0] - 1.3f64.log10() >= r[0] - 1e-9);
        assert!(sdss[survey::N_PIX - 1] <= *r.last().unwrap() + 1e-9);
    }
    assert_eq!(SpenderConfig::paper().n_rest(), 4981);
    assert_eq!(SpenderConfig::paper().channels, [128, 256, 512]);
}

#[test]
fn trains_reconstructs_and_separates_classes() {
    let t = toy(480, TOY_PIX, TOY_STEP, 1);
    let settings = TrainSettings {
        epochs: 60,
        batch_size: 32,
        learning_rate: 5e-3,
        seed: 3,
        patience: Some(10),
        ..TrainSettings::default()
    };
    let start = Instant::now();
    let (ae, report) = train_toy(&t, 360, &settings, None);
    eprintln!(
        "trained in {:.1} s, best epoch {}",
        start.elapsed().as_secs_f64(),
        report.best_epoch
    );
    let first = &report.history[0];
    eprintln!(
        "initial val {:.3}, first train {:.3}, best val {:.4}",
        report.initial_val_loss, first.train_loss, report.best_val_loss
    );
    assert!(
        report.best_val_loss < 0.05 * report.initial_val_loss,
        "{report:?}"
    );
    let last_train = report.history.last().unwrap().train_loss;
    assert!(last_train < 0.05 * first.train_loss);

    // χ² per unmasked pixel on the validation galaxies, from the reconstructions.
    let val: Vec<usize> = (360..480).collect();
    let sel = |a: &Array2<f32>| a.select(ndarray::Axis(0), &val);
    let (vf, vi) = (sel(&t.flux), sel(&t.ivar));
    let vz: Vec<f64> = val.iter().map(|&i| t.z[i]).collect();
    let rec = ae
        .reconstruct(&t.loglam, vf.view(), vi.view(), &vz)
        .unwrap();
    let mut chi2 = 0.0;
    for i in 0..val.len() {
        let (mut s, mut m) = (0.0, 0usize);
        for j in 0..TOY_PIX {
            let w = f64::from(vi[[i, j]]);
            if w > 0.0 {
                s += w * f64::from(vf[[i, j]] - rec[[i, j]]).powi(2);
                m += 1;
            }
        }
        chi2 += s / m as f64;
    }
    chi2 /= val.len() as f64;
    eprintln!("validation χ²/pixel {chi2:.3}");
    assert!(
        (chi2 - report.best_val_loss).abs() < 1e-3 * chi2.max(1.0),
        "{chi2} vs {}",
        report.best_val_loss
    );
    assert!(chi2 < 1.8, "validation χ² per pixel {chi2}");
    let loss = ae.loss(&t.loglam, vf.view(), vi.view(), &vz).unwrap();
    assert!((loss - chi2).abs() < 1e-3 * chi2);

    // Latents separate the templates: 5-nearest-neighbour classification of the validation set.
    let lat = ae
        .encode(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    assert_eq!(lat.dim(), (480, 4));
    let sd: Vec<f32> = (0..4)
        .map(|k| {
            let c = lat.column(k);
            let m = c.mean().unwrap();
            (c.iter().map(|v| (v - m).powi(2)).sum::<f32>() / c.len() as f32)
                .sqrt()
                .max(1e-12)
        })
        .collect();
    let dist = |a: usize, b: usize| {
        (0..4)
            .map(|k| ((lat[[a, k]] - lat[[b, k]]) / sd[k]).powi(2))
            .sum::<f32>()
    };
    let mut correct = 0;
    for &v in &val {
        let mut d: Vec<(f32, usize)> = (0..360).map(|i| (dist(v, i), t.class[i])).collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut votes = [0; 3];
        for &(_, c) in &d[..5] {
            votes[c] += 1;
        }
        let pred = (0..3).max_by_key(|&c| votes[c]).unwrap();
        correct += usize::from(pred == t.class[v]);
    }
    let acc = correct as f64 / val.len() as f64;
    eprintln!("kNN accuracy of the latents {acc:.3}");
    assert!(acc > 0.95, "latent kNN accuracy {acc}");
}

#[test]
fn resampling_matches_a_direct_interpolation() {
    let t = toy(12, TOY_PIX, TOY_STEP, 2);
    let cfg = tiny();
    let ae = Autoencoder::new(cfg.clone(), t.loglam.clone(), 5).unwrap();
    let lat = ae
        .encode(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    let rest = ae.decode(lat.view()).unwrap();
    let rec = ae
        .reconstruct(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    let rl = cfg.rest_loglam();
    for i in 0..12 {
        for (j, &l) in t.loglam.iter().enumerate() {
            let x = l - (1.0 + t.z[i]).log10();
            let k = rl.partition_point(|&r| r <= x) - 1;
            let f = (x - rl[k]) / (rl[k + 1] - rl[k]);
            let want = f64::from(rest[[i, k]]) * (1.0 - f) + f64::from(rest[[i, k + 1]]) * f;
            assert!(
                (want - f64::from(rec[[i, j]])).abs() < 1e-4 * want.abs().max(1.0),
                "{i} {j}: {want} vs {}",
                rec[[i, j]]
            );
        }
    }
    // An untrained decoder predicts ≈ 1 + small terms: finite everywhere.
    assert!(rec.iter().all(|v| v.is_finite()));
}

#[test]
fn same_seed_same_weights_and_save_load() {
    let t = toy(96, TOY_PIX, TOY_STEP, 4);
    let s = short_settings(2, 11);
    let (a, ra) = train_toy(&t, 64, &s, None);
    let (b, rb) = train_toy(&t, 64, &s, None);
    assert_eq!(ra, {
        let mut r = rb.clone();
        for (x, y) in r.history.iter_mut().zip(&ra.history) {
            x.seconds = y.seconds;
        }
        r
    });
    let (wa, wb) = (a.flat_weights(), b.flat_weights());
    assert_eq!(wa.len(), wb.len());
    assert!(
        wa.iter().zip(&wb).all(|(x, y)| x.to_bits() == y.to_bits()),
        "same seed, different weights"
    );
    let la = a
        .encode(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    let lb = b
        .encode(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    assert_eq!(la, lb);
    let (c, _) = train_toy(&t, 64, &short_settings(2, 12), None);
    assert_ne!(c.flat_weights(), wa, "another seed gives other weights");

    let dir = tempfile::tempdir().unwrap();
    a.save(dir.path()).unwrap();
    let back = Autoencoder::load(dir.path()).unwrap();
    assert_eq!(back.config, a.config);
    assert_eq!(back.flat_weights(), wa);
    let lback = back
        .encode(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    assert_eq!(lback, la);
    assert!(Autoencoder::load(&dir.path().join("missing")).is_err());
}

#[test]
fn checkpoints_resume_and_refuse_other_settings() {
    let t = toy(96, TOY_PIX, TOY_STEP, 6);
    let dir = tempfile::tempdir().unwrap();
    let s = short_settings(2, 21);
    let (a, ra) = train_toy(&t, 64, &s, Some(dir.path()));
    assert!(dir.path().join("state.json").is_file());
    assert!(dir.path().join("best.bpk").is_file());
    // A second call finds every epoch done and returns the kept weights without training.
    let mut calls = 0;
    let train: Vec<usize> = (0..64).collect();
    let val: Vec<usize> = (64..96).collect();
    let (b, rb) = spender::train(
        &t.loglam,
        t.flux.view(),
        t.ivar.view(),
        &t.z,
        &train,
        &val,
        &tiny(),
        &s,
        &mut |_| calls += 1,
        Some(dir.path()),
    )
    .unwrap();
    assert_eq!(calls, 0);
    assert_eq!(ra, rb);
    assert_eq!(a.flat_weights(), b.flat_weights());
    // The same run without checkpoints gives the same weights.
    let (c, _) = train_toy(&t, 64, &s, None);
    assert_eq!(a.flat_weights(), c.flat_weights());
    // Other settings in the same directory are refused.
    let err = spender::train(
        &t.loglam,
        t.flux.view(),
        t.ivar.view(),
        &t.z,
        &train,
        &val,
        &tiny(),
        &short_settings(3, 21),
        &mut |_| {},
        Some(dir.path()),
    );
    assert!(err.is_err());
}

#[test]
fn bad_inputs_are_errors() {
    let t = toy(8, TOY_PIX, TOY_STEP, 7);
    let cfg = tiny();
    let ae = Autoencoder::new(cfg.clone(), t.loglam.clone(), 0).unwrap();
    let enc = |loglam: &[f64], f: ArrayView2<f32>, w: ArrayView2<f32>, z: &[f64]| {
        ae.encode(loglam, f, w, z)
    };
    assert!(enc(&t.loglam, t.flux.view(), t.ivar.view(), &t.z).is_ok());
    // Shapes.
    assert!(enc(&t.loglam, t.flux.view(), t.ivar.view(), &t.z[..7]).is_err());
    assert!(enc(&t.loglam[..900], t.flux.view(), t.ivar.view(), &t.z).is_err());
    let short = t.ivar.slice(ndarray::s![..7, ..]);
    assert!(enc(&t.loglam, t.flux.view(), short, &t.z).is_err());
    // Redshifts.
    for bad in [f64::NAN, f64::INFINITY, 0.5, -0.05, -2.0] {
        let mut z = t.z.clone();
        z[3] = bad;
        let e = enc(&t.loglam, t.flux.view(), t.ivar.view(), &z).unwrap_err();
        assert!(e.to_string().contains("galaxy 3"), "{e}");
        assert!(
            ae.reconstruct(&t.loglam, t.flux.view(), t.ivar.view(), &z)
                .is_err()
        );
    }
    // Non-finite values.
    let mut f = t.flux.clone();
    f[[2, 10]] = f32::NAN;
    assert!(enc(&t.loglam, f.view(), t.ivar.view(), &t.z).is_err());
    let mut w = t.ivar.clone();
    w[[2, 10]] = 0.0;
    assert!(
        enc(&t.loglam, f.view(), w.view(), &t.z).is_ok(),
        "NaN flux at a masked pixel is ignored"
    );
    w[[2, 11]] = -1.0;
    assert!(enc(&t.loglam, t.flux.view(), w.view(), &t.z).is_err());
    // Another grid than the model's.
    let shifted: Vec<f64> = t.loglam.iter().map(|l| l + 1e-4).collect();
    assert!(enc(&shifted, t.flux.view(), t.ivar.view(), &t.z).is_err());
    assert!(ae.decode(Array2::<f32>::zeros((2, 3)).view()).is_err());
    // Training: indices, empty sets, settings, configurations.
    let s = short_settings(1, 0);
    let run = |train: &[usize], val: &[usize], cfg: &SpenderConfig, s: &TrainSettings| {
        spender::train(
            &t.loglam,
            t.flux.view(),
            t.ivar.view(),
            &t.z,
            train,
            val,
            cfg,
            s,
            &mut |_| {},
            None,
        )
    };
    assert!(run(&[0, 1, 2], &[], &cfg, &s).is_err());
    assert!(run(&[0, 1, 99], &[4], &cfg, &s).is_err());
    assert!(
        run(
            &[0, 1, 2],
            &[4],
            &cfg,
            &TrainSettings {
                batch_size: 0,
                ..s.clone()
            }
        )
        .is_err()
    );
    assert!(
        run(
            &[0, 1, 2],
            &[4],
            &cfg,
            &TrainSettings {
                learning_rate: f64::NAN,
                ..s.clone()
            }
        )
        .is_err()
    );
    assert!(
        run(
            &[0, 1, 2],
            &[4],
            &SpenderConfig {
                channels: [8, 16, 31],
                ..cfg.clone()
            },
            &s
        )
        .is_err()
    );
    assert!(
        run(
            &[0, 1, 2],
            &[4],
            &SpenderConfig {
                kernels: [4, 11, 21],
                ..cfg.clone()
            },
            &s
        )
        .is_err()
    );
    let mut w = t.ivar.clone();
    w.row_mut(1).fill(0.0);
    assert!(
        spender::train(
            &t.loglam,
            t.flux.view(),
            w.view(),
            &t.z,
            &[0, 1],
            &[4],
            &cfg,
            &s,
            &mut |_| {},
            None
        )
        .is_err()
    );
    assert!(
        Autoencoder::new(
            SpenderConfig {
                n_latents: 0,
                ..cfg
            },
            t.loglam.clone(),
            0
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// PCA

/// Eigenpairs of a symmetric matrix by power iteration with deflation (the reference).
fn power_eigs(c: &Array2<f64>, k: usize) -> Vec<(f64, Vec<f64>)> {
    let p = c.nrows();
    let mut a = c.clone();
    let mut out = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for _ in 0..k {
        let mut v: Vec<f64> = (0..p).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut lam = 0.0;
        for _ in 0..20000 {
            let w: Vec<f64> = (0..p)
                .map(|i| (0..p).map(|j| a[[i, j]] * v[j]).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            let new: Vec<f64> = w.iter().map(|x| x / norm).collect();
            let change: f64 = new.iter().zip(&v).map(|(x, y)| (x - y).abs()).sum();
            v = new;
            lam = norm;
            if change < 1e-13 {
                break;
            }
        }
        for i in 0..p {
            for j in 0..p {
                a[[i, j]] -= lam * v[i] * v[j];
            }
        }
        out.push((lam, v));
    }
    out
}

#[test]
fn pca_matches_a_brute_force_eigendecomposition() {
    let (n, p, k) = (300, 60, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // Data with a decaying spectrum: 8 directions of scales 5, 3, 2, 1.2, 0.7, … plus noise.
    let basis = Array2::from_shape_fn((8, p), |_| rng.random::<f64>() - 0.5);
    let mut flux = Array2::<f32>::zeros((n, p));
    let mut ivar = Array2::<f32>::from_elem((n, p), 1.0);
    let scales = [5.0, 3.0, 2.0, 1.2, 0.7, 0.3, 0.2, 0.1];
    for i in 0..n {
        let a: Vec<f64> = scales
            .iter()
            .map(|s| s * rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        for j in 0..p {
            let v = 1.0
                + (0..8).map(|q| a[q] * basis[[q, j]]).sum::<f64>()
                + 0.01 * rng.sample::<f64, _>(rand_distr::StandardNormal);
            flux[[i, j]] = v as f32;
        }
    }
    // A few masked pixels, with garbage flux.
    for &(i, j) in &[(3, 4), (10, 50), (100, 0), (250, 59)] {
        ivar[[i, j]] = 0.0;
        flux[[i, j]] = f32::NAN;
    }
    let loglam: Vec<f64> = (0..p).map(|j| 3.6 + 1e-3 * j as f64).collect();
    let rows: Vec<usize> = (0..n).collect();
    let pca = Pca::fit(
        &loglam,
        flux.view(),
        ivar.view(),
        &rows,
        k,
        PcaSettings::default(),
    )
    .unwrap();

    // Brute force: mean over unmasked values, masked pixels filled with it, covariance (n − 1).
    let mut mean = vec![0f64; p];
    for j in 0..p {
        let (mut s, mut c) = (0.0, 0);
        for i in 0..n {
            if ivar[[i, j]] > 0.0 {
                s += f64::from(flux[[i, j]]);
                c += 1;
            }
        }
        mean[j] = s / c as f64;
        assert!((mean[j] - f64::from(pca.mean[j])).abs() < 1e-5);
    }
    let x = Array2::from_shape_fn((n, p), |(i, j)| {
        if ivar[[i, j]] > 0.0 {
            f64::from(flux[[i, j]]) - mean[j]
        } else {
            0.0
        }
    });
    let cov = x.t().dot(&x) / (n - 1) as f64;
    let trace: f64 = (0..p).map(|j| cov[[j, j]]).sum();
    assert!((pca.total_variance - trace).abs() < 1e-6 * trace);
    let reference = power_eigs(&cov, k);
    for (c, (lam, v)) in reference.iter().enumerate() {
        let got = pca.explained_variance[c];
        assert!(
            (got - lam).abs() < 1e-5 * lam,
            "component {c}: {got} vs {lam}"
        );
        let dot: f64 = (0..p)
            .map(|j| f64::from(pca.components[[c, j]]) * v[j])
            .sum();
        assert!(
            dot.abs() > 1.0 - 1e-5,
            "component {c}: |cos| = {}",
            dot.abs()
        );
    }
    // Orthonormal components.
    for a in 0..k {
        for b in 0..k {
            let d: f64 = (0..p)
                .map(|j| f64::from(pca.components[[a, j]]) * f64::from(pca.components[[b, j]]))
                .sum();
            assert!(
                (d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-5,
                "{a}·{b} = {d}"
            );
        }
    }
    let ratio: f64 = pca.explained_variance_ratio().iter().sum();
    assert!(ratio > 0.9 && ratio <= 1.0 + 1e-9);

    // Latents: projections of the centred, filled spectra; their variances are the eigenvalues.
    let z = vec![0.1; n];
    let lat = pca.encode(&loglam, flux.view(), ivar.view(), &z).unwrap();
    for c in 0..k {
        let col = lat.column(c);
        let var = col.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!((var - pca.explained_variance[c]).abs() < 1e-4 * pca.explained_variance[c]);
    }
    let rec = pca.reconstruct(lat.view()).unwrap();
    assert_eq!(rec.dim(), (n, p));

    // Save → load → encode identical.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pca.json");
    pca.save(&path).unwrap();
    let back = Pca::load(&path).unwrap();
    assert_eq!(back, pca);
    assert_eq!(
        back.encode(&loglam, flux.view(), ivar.view(), &z).unwrap(),
        lat
    );
    assert_eq!(back.n_latents(), k);

    // Errors.
    assert!(
        Pca::fit(
            &loglam,
            flux.view(),
            ivar.view(),
            &rows,
            0,
            PcaSettings::default()
        )
        .is_err()
    );
    assert!(
        Pca::fit(
            &loglam,
            flux.view(),
            ivar.view(),
            &[0],
            1,
            PcaSettings::default()
        )
        .is_err()
    );
    assert!(
        Pca::fit(
            &loglam,
            flux.view(),
            ivar.view(),
            &[0, 400],
            1,
            PcaSettings::default()
        )
        .is_err()
    );
    assert!(
        Pca::fit(
            &loglam[..10],
            flux.view(),
            ivar.view(),
            &rows,
            1,
            PcaSettings::default()
        )
        .is_err()
    );
    assert!(
        pca.encode(&loglam, flux.view(), ivar.view(), &z[..5])
            .is_err()
    );
    assert!(
        pca.encode(
            &loglam[..59],
            flux.slice(ndarray::s![.., ..59]),
            ivar.slice(ndarray::s![.., ..59]),
            &z
        )
        .is_err()
    );
    let mut bad = ivar.clone();
    bad[[0, 0]] = f32::NAN;
    assert!(pca.encode(&loglam, flux.view(), bad.view(), &z).is_err());
    assert!(
        pca.reconstruct(Array2::<f32>::zeros((2, 3)).view())
            .is_err()
    );
}

#[test]
fn pca_separates_toy_templates() {
    let t = toy(300, TOY_PIX, TOY_STEP, 8);
    let rows: Vec<usize> = (0..300).collect();
    let pca = Pca::fit(
        &t.loglam,
        t.flux.view(),
        t.ivar.view(),
        &rows,
        6,
        PcaSettings::default(),
    )
    .unwrap();
    let ratio = pca.explained_variance_ratio();
    assert!(ratio.windows(2).all(|w| w[0] >= w[1]));
    let lat = pca
        .encode(&t.loglam, t.flux.view(), t.ivar.view(), &t.z)
        .unwrap();
    assert_eq!(lat.dim(), (300, 6));
    assert!(lat.iter().all(|v| v.is_finite()));
}

/// Timing of the CPU and paper configurations on 3840-pixel spectra, and of PCA on
/// 24,500 × 3840: `cargo test --release -p galsed-optir --test spender -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_timings() {
    let n_batches: usize = std::env::var("BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let t = toy(64 * n_batches + 64, survey::N_PIX, survey::LOGLAM_STEP, 9);
    let train: Vec<usize> = (0..64 * n_batches).collect();
    let val: Vec<usize> = (64 * n_batches..64 * n_batches + 64).collect();
    let wide = SpenderConfig {
        channels: [16, 32, 64],
        ..SpenderConfig::cpu()
    };
    for (name, cfg, batches) in [
        ("cpu", SpenderConfig::cpu(), n_batches),
        ("cpu, 16/32/64 channels", wide, n_batches),
        ("paper", SpenderConfig::paper(), 4),
    ] {
        let settings = TrainSettings {
            epochs: 1,
            batch_size: 64,
            patience: None,
            ..TrainSettings::default()
        };
        let start = Instant::now();
        let mut secs = 0.0;
        spender::train(
            &t.loglam,
            t.flux.view(),
            t.ivar.view(),
            &t.z,
            &train[..64 * batches],
            &val,
            &cfg,
            &settings,
            &mut |r| secs = r.seconds,
            None,
        )
        .unwrap();
        let per_batch = secs / batches as f64;
        eprintln!(
            "{name}: {batches} batches of 64 in {secs:.2} s (total call {:.2} s): {:.3} s/batch → {:.1} min per 35,000-spectrum epoch",
            start.elapsed().as_secs_f64(),
            per_batch,
            per_batch * (35000.0 / 64.0) / 60.0
        );
    }
    let n = 24_500;
    let flux = Array2::from_shape_fn((n, survey::N_PIX), |(i, j)| {
        ((i * 7 + j * 13) % 101) as f32 * 0.01 + (j as f32 * 1e-3 * (1 + i % 5) as f32).sin()
    });
    let ivar = Array2::from_elem((n, survey::N_PIX), 1.0f32);
    let rows: Vec<usize> = (0..n).collect();
    let start = Instant::now();
    let pca = Pca::fit(
        &survey::sdss_loglam(),
        flux.view(),
        ivar.view(),
        &rows,
        10,
        PcaSettings::default(),
    )
    .unwrap();
    eprintln!(
        "pca: 24,500 × 3840, 10 components in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(pca.n_latents(), 10);
}
