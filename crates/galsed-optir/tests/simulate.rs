//! The synthetic survey and survey files.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use galsed_core::filters::Filter;
use galsed_core::photometry::{filter_weights, trapz_weights};
use galsed_core::ssp::WavelengthGrid;
use galsed_core::units::ab_mag;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::{ObservedPhotometry, Observer};
use galsed_emulator::{Component, Starduster};
use galsed_optir::OptirError;
use galsed_optir::simulate::{
    SimulateConfig, Simulated, fine_rest_spectra, simulate, simulate_detailed,
};
use galsed_optir::survey::{
    BRIGHTSKY, R_LIMIT, Spectra, Survey, Truth, UNDETECTED_SIGMA, sdss_loglam,
};
use galsed_optir::survey_io::{read_survey, write_survey};
use ndarray::Array2;

fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster")
}

fn setup() -> &'static (ModelFiles, Starduster) {
    static M: OnceLock<(ModelFiles, Starduster)> = OnceLock::new();
    M.get_or_init(|| {
        let files = ModelFiles::load(&reference().join("original")).expect("published model");
        let model = Starduster::from_files(&files, &WavelengthGrid::Auto).expect("model");
        (files, model)
    })
}

fn small(n: usize, seed: u64) -> SimulateConfig {
    SimulateConfig {
        n_galaxies: n,
        seed,
        ..SimulateConfig::default()
    }
}

/// The 300-galaxy survey shared by several tests (with noise-free spectra).
fn survey300() -> &'static Simulated {
    static S: OnceLock<Simulated> = OnceLock::new();
    S.get_or_init(|| {
        let (files, model) = setup();
        let t = Instant::now();
        let s =
            simulate_detailed(files, model, &small(300, 7), &|_, _| {}, true).expect("simulate");
        eprintln!(
            "300 galaxies in {:.2} s ({} candidates)",
            t.elapsed().as_secs_f64(),
            s.n_candidates
        );
        s
    })
}

fn truth_batch(t: &Truth, rows: std::ops::Range<usize>) -> Batch {
    let gp =
        t.gp.slice(ndarray::s![rows.clone(), ..])
            .iter()
            .map(|&v| f64::from(v))
            .collect();
    let sd = t
        .sfh_disk
        .slice(ndarray::s![rows.clone(), ..])
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let sb = t
        .sfh_bulge
        .slice(ndarray::s![rows, ..])
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    Batch::new(gp, sd, sb, OutOfRange::Clip).unwrap()
}

/// The key check: the fine spectrum on the SSP wavelengths, integrated through g, r, i exactly as
/// the emulator integrates its own grid, gives the emulator's magnitudes; and the observed survey
/// spectra (smoothed, on the SDSS pixels, in 10⁻¹⁷ erg/s/cm²/Å) give them too.
#[test]
fn fine_spectra_reproduce_emulator_photometry() {
    let (files, model) = setup();
    let sim = survey300();
    let truth = sim.survey.truth.as_ref().unwrap();
    let n = 40;
    let batch = truth_batch(truth, 0..n);
    let (lam, lum) = fine_rest_spectra(files, model, &batch, 0.25, 0.95).unwrap();
    let names = ["sdss_g0", "sdss_r0", "sdss_i0"];
    let filters: Vec<Filter> = names.iter().map(|n| Filter::builtin(n).unwrap()).collect();
    let phot = ObservedPhotometry::new(model, &filters);
    let observers: Vec<Observer> = (0..n)
        .map(|i| Observer::new(sim.survey.redshift[i], truth.distmod[i]).unwrap())
        .collect();
    let emu = phot
        .magnitudes(model, &batch, Component::Combine, &observers)
        .unwrap();
    let (mut worst, mut worst_obs) = (0.0f64, 0.0f64);
    let pix_lam: Vec<f64> = sdss_loglam().iter().map(|l| 10f64.powf(*l)).collect();
    for i in 0..n {
        let z = sim.survey.redshift[i];
        let lam_obs: Vec<f64> = lam.iter().map(|l| l * (1.0 + z)).collect();
        let om = trapz_weights(&lam_obs);
        for (b, f) in filters.iter().enumerate() {
            let w = filter_weights(
                &f.name,
                &lam_obs,
                &f.wavelength_angstrom,
                &f.transmission,
                false,
            )
            .unwrap();
            let flux: f64 = (0..lam.len())
                .map(|l| om[l] * w[l] * lum[[i, l]])
                .sum::<f64>()
                * galsed_core::units::distance_factor(truth.distmod[i]);
            let d = ab_mag(flux) - emu[[i, b]];
            worst = worst.max(d.abs());
            // Survey spectrum (noise-free) through the same filter; g starts below 3800 Å.
            if b > 0 {
                let t: Vec<f64> = pix_lam
                    .iter()
                    .map(|&l| {
                        galsed_core::numeric::interp_linear(
                            &f.wavelength_angstrom,
                            &f.transmission,
                            l,
                            0.0,
                        )
                    })
                    .collect();
                let fl = sim.flux_true.row(i);
                let num: f64 = (0..pix_lam.len() - 1)
                    .map(|k| f64::from(fl[k]) * t[k] * pix_lam[k] * (pix_lam[k + 1] - pix_lam[k]))
                    .sum();
                let den: f64 = (0..pix_lam.len() - 1)
                    .map(|k| t[k] / pix_lam[k] * (pix_lam[k + 1] - pix_lam[k]))
                    .sum();
                let fnu_jy = 1e-17 * num / den / 2.99792458e18 * 1e23;
                let dobs = ab_mag(fnu_jy) - emu[[i, b]];
                worst_obs = worst_obs.max(dobs.abs());
            }
        }
    }
    eprintln!(
        "fine spectrum vs emulator g/r/i: worst {worst:.4} mag; survey spectra r/i: worst {worst_obs:.4} mag"
    );
    assert!(worst < 0.02, "fine-spectrum photometry off by {worst} mag");
    assert!(
        worst_obs < 0.03,
        "survey-spectrum photometry off by {worst_obs} mag"
    );
}

#[test]
fn reduced_survey_is_sane() {
    let sim = survey300();
    let s = &sim.survey;
    let t = s.truth.as_ref().unwrap();
    assert_eq!(s.len(), 300);
    assert_eq!(s.spectra.flux.dim(), (300, 3840));
    assert!(s.redshift.iter().all(|&z| (0.01..=0.3).contains(&z)));
    assert!(
        sim.ugriz_true.column(2).iter().all(|&r| r < R_LIMIT),
        "all r < 17.77"
    );
    let zmed = median(s.redshift.clone());
    eprintln!(
        "median z {zmed:.3}, median log M {:.2}",
        median(t.log_mstar.clone())
    );
    assert!((0.04..0.2).contains(&zmed), "median z {zmed}");
    let q = t.quiescent.iter().filter(|&&q| q).count() as f64 / 300.0;
    let sfr_q = median(
        t.log_sfr
            .iter()
            .zip(&t.log_mstar)
            .zip(&t.quiescent)
            .filter(|(_, q)| **q)
            .map(|((s, m), _)| s - m)
            .collect(),
    );
    let sfr_sf = median(
        t.log_sfr
            .iter()
            .zip(&t.log_mstar)
            .zip(&t.quiescent)
            .filter(|(_, q)| !**q)
            .map(|((s, m), _)| s - m)
            .collect(),
    );
    eprintln!(
        "quiescent fraction {q:.2}; median log sSFR quiescent {sfr_q:.2}, star-forming {sfr_sf:.2}"
    );
    assert!((0.1..0.8).contains(&q));
    assert!(sfr_sf - sfr_q > 0.7);
    assert!(t.gp.iter().all(|v| v.abs() <= 1.0));
    for sfh in [&t.sfh_disk, &t.sfh_bulge] {
        for row in sfh.rows() {
            let sum: f32 = row.sum();
            assert!((sum - 1.0).abs() < 1e-4 && row.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }

    // Noise: (flux − noise-free)·√ivar is unit normal on unmasked pixels; masked pixels flagged.
    let (mut sum2, mut cnt, mut masked) = (0.0f64, 0usize, 0usize);
    for ((f, w), (m, tr)) in s
        .spectra
        .flux
        .iter()
        .zip(&s.spectra.ivar)
        .zip(s.spectra.and_mask.iter().zip(&sim.flux_true))
    {
        if *w > 0.0 {
            let chi = f64::from(f - tr) * f64::from(*w).sqrt();
            sum2 += chi * chi;
            cnt += 1;
            assert_eq!(*m & BRIGHTSKY, 0);
        } else {
            masked += 1;
            assert_ne!(*m & BRIGHTSKY, 0);
        }
    }
    let rms = (sum2 / cnt as f64).sqrt();
    eprintln!(
        "chi rms {rms:.4}, masked fraction {:.4}",
        masked as f64 / (cnt + masked) as f64
    );
    assert!((rms - 1.0).abs() < 0.01, "chi rms {rms}");
    assert!(masked > 0);

    // S/N per pixel in r (5600–6800 Å observed) of the faintest galaxies.
    let lam: Vec<f64> = s.spectra.loglam.iter().map(|l| 10f64.powf(*l)).collect();
    let mut snr_faint = Vec::new();
    let mut snr_all = Vec::new();
    for i in 0..s.len() {
        let v: Vec<f64> = (0..lam.len())
            .filter(|&k| (5600.0..6800.0).contains(&lam[k]) && s.spectra.ivar[[i, k]] > 0.0)
            .map(|k| f64::from(sim.flux_true[[i, k]]) * f64::from(s.spectra.ivar[[i, k]]).sqrt())
            .collect();
        let m = median(v);
        snr_all.push(m);
        if sim.ugriz_true[[i, 2]] > 17.4 {
            snr_faint.push(m);
        }
    }
    let (sf, sa) = (median(snr_faint.clone()), median(snr_all));
    eprintln!(
        "median S/N per pixel in r: {sf:.1} at r > 17.4 ({} galaxies), {sa:.1} overall",
        snr_faint.len()
    );
    assert!((4.0..12.0).contains(&sf), "S/N {sf}");

    // ugriz errors and WISE detections.
    assert!(s.ugriz_err.iter().all(|&e| (0.02..0.5).contains(&e)));
    let mut frac = [0.0; 4];
    for i in 0..s.len() {
        let det = s.detected(i);
        for b in 0..4 {
            let e = s.wise_err[[i, b]];
            if det[b] {
                frac[b] += 1.0 / s.len() as f64;
                assert!(e < 0.6, "detected with error {e}");
                // Compared in flux, where the noise is Gaussian (magnitudes are skewed at S/N ≈ 2):
                // σ_F = F·e/1.0857.
                let f = 10f64.powf(-0.4 * s.wise[[i, b]]);
                let f_true = 10f64.powf(-0.4 * t.wise_true[[i, b]]);
                assert!(
                    (f - f_true).abs() < 6.0 * f * e / 1.0857,
                    "band {b}: {} vs true {}",
                    s.wise[[i, b]],
                    t.wise_true[[i, b]]
                );
            } else {
                assert_eq!(e, UNDETECTED_SIGMA);
                assert!(s.wise[[i, b]].is_finite());
                // An upper limit lies above the truth in all but rare cases.
                assert!(s.wise[[i, b]] < t.wise_true[[i, b]] + 1.5);
            }
        }
    }
    eprintln!("WISE detection fractions W1–W4: {frac:.3?}");
    assert!(frac[0] > 0.97 && frac[1] > 0.95, "{frac:?}");
    assert!(
        frac[2] > 0.3 && frac[3] > 0.05 && frac[3] < 0.99,
        "{frac:?}"
    );
}

#[test]
fn reproducible_and_thread_independent() {
    let (files, model) = setup();
    let big = survey300();
    // Same seed, fewer galaxies, one thread: the first galaxies of the 300-galaxy run.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let a = pool
        .install(|| simulate(files, model, &small(60, 7), &|_, _| {}))
        .unwrap();
    assert_eq!(a.redshift[..], big.survey.redshift[..60]);
    assert_eq!(
        a.spectra.flux,
        big.survey.spectra.flux.slice(ndarray::s![..60, ..])
    );
    assert_eq!(a.wise, big.survey.wise.slice(ndarray::s![..60, ..]));
    assert_eq!(
        a.truth.as_ref().unwrap().gp,
        big.survey
            .truth
            .as_ref()
            .unwrap()
            .gp
            .slice(ndarray::s![..60, ..])
    );
    let b = simulate(files, model, &small(60, 8), &|_, _| {}).unwrap();
    assert_ne!(a.redshift, b.redshift);
    assert_ne!(a.spectra.flux, b.spectra.flux);
}

#[test]
fn bad_config_is_refused() {
    let (files, model) = setup();
    for cfg in [
        SimulateConfig {
            n_galaxies: 0,
            ..small(1, 0)
        },
        SimulateConfig {
            z_min: 0.3,
            z_max: 0.1,
            ..small(1, 0)
        },
        SimulateConfig {
            wise_n_exp: (0, 3),
            ..small(1, 0)
        },
    ] {
        assert!(matches!(
            simulate(files, model, &cfg, &|_, _| {}),
            Err(OptirError::Input(_))
        ));
    }
}

/// Timing of a 2000-galaxy survey (run with `--ignored`).
#[test]
#[ignore]
fn timing_2000() {
    let (files, model) = setup();
    let t = Instant::now();
    let s = simulate_detailed(
        files,
        model,
        &small(2000, 1),
        &|a, n| eprint!("\r{a}/{n}"),
        false,
    )
    .unwrap();
    let dt = t.elapsed().as_secs_f64();
    let mut frac = [0.0; 4];
    for i in 0..s.survey.len() {
        for (b, d) in s.survey.detected(i).iter().enumerate() {
            frac[b] += f64::from(u8::from(*d)) / 2000.0;
        }
    }
    eprintln!(
        "\n2000 galaxies in {dt:.1} s ({} candidates, {} threads); 50k ≈ {:.0} s; WISE detected {frac:.3?}",
        s.n_candidates,
        rayon::current_num_threads(),
        dt * 25.0
    );
}

// ------------------------------------------------------------------------------------------------
// Files

fn fake_survey(n: usize, truth: bool) -> Survey {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut f32s = |r, c| {
        Array2::from_shape_fn((r, c), |_| {
            f32::from_bits((next() as u32) & 0x3fff_ffff) - 1.0
        })
    };
    let flux = f32s(n, 3840);
    let ivar = f32s(n, 3840);
    let gp = f32s(n, 7);
    let sd = f32s(n, 36);
    let sb = f32s(n, 36);
    let f64s = |r, c, k: f64| {
        Array2::from_shape_fn((r, c), |(i, j)| {
            k * (i as f64 + 1.0).sqrt() / (j as f64 + 3.0)
        })
    };
    Survey {
        id: (0..n as i64).map(|i| i * 7 - 3).collect(),
        redshift: (0..n).map(|i| 0.01 + i as f64 / 997.0).collect(),
        spectra: Spectra {
            loglam: sdss_loglam(),
            flux,
            ivar,
            and_mask: Array2::from_shape_fn((n, 3840), |(i, j)| {
                if (i + j) % 17 == 0 { BRIGHTSKY } else { 0 }
            }),
        },
        ugriz: f64s(n, 5, 17.1),
        ugriz_err: f64s(n, 5, 0.013),
        wise: f64s(n, 4, 11.7),
        wise_err: Array2::from_shape_fn((n, 4), |(i, j)| {
            if (i + j) % 3 == 0 {
                UNDETECTED_SIGMA
            } else {
                0.1
            }
        }),
        truth: truth.then(|| Truth {
            gp,
            sfh_disk: sd,
            sfh_bulge: sb,
            log_mstar: (0..n).map(|i| 10.0 + i as f64 / 3.0).collect(),
            log_sfr: (0..n).map(|i| -1.0 + i as f64 / 7.0).collect(),
            quiescent: (0..n).map(|i| i % 2 == 0).collect(),
            distmod: (0..n).map(|i| 38.0 + i as f64 / 11.0).collect(),
            wise_true: f64s(n, 4, 12.3),
        }),
    }
}

#[test]
fn files_round_trip_bitwise() {
    let dir = tempfile::tempdir().unwrap();
    for truth in [true, false] {
        // 2500 rows span two Parquet record batches.
        for n in [3usize, 2500] {
            let s = fake_survey(n, truth);
            for ext in ["h5", "hdf5", "parquet"] {
                let p = dir.path().join(format!("s_{truth}_{n}.{ext}"));
                write_survey(&p, &s).unwrap();
                let r = read_survey(&p).unwrap();
                assert_eq!(r, s, "{ext} truth={truth} n={n}");
                let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&r.spectra.flux), bits(&s.spectra.flux));
            }
        }
    }
}

#[test]
fn simulated_survey_round_trips() {
    let s = &survey300().survey;
    let dir = tempfile::tempdir().unwrap();
    for ext in ["h5", "parquet"] {
        let p = dir.path().join(format!("sim.{ext}"));
        write_survey(&p, s).unwrap();
        assert_eq!(&read_survey(&p).unwrap(), s);
    }
}

#[test]
fn file_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let s = fake_survey(2, true);
    let msg = |e: OptirError| match e {
        OptirError::File { message, .. } => message,
        other => panic!("expected a file error, got {other}"),
    };
    let m = msg(write_survey(dir.path().join("s.csv"), &s).unwrap_err());
    assert!(m.contains(".parquet"), "{m}");
    assert!(msg(read_survey(dir.path().join("s.fits")).unwrap_err()).contains(".h5"));

    let mut bad = s.clone();
    bad.spectra.ivar = Array2::zeros((2, 10));
    let m = msg(write_survey(dir.path().join("bad.h5"), &bad).unwrap_err());
    assert!(m.contains("ivar"), "{m}");

    // An HDF5 file without the spectra.
    let p = dir.path().join("partial.h5");
    {
        let f = hdf5_metno::File::create(&p).unwrap();
        f.new_dataset_builder()
            .with_data(&ndarray::Array1::from(sdss_loglam()))
            .create("loglam")
            .unwrap();
    }
    let m = msg(read_survey(&p).unwrap_err());
    assert!(m.contains("flux"), "{m}");

    // A Parquet file that is not a survey.
    let p = dir.path().join("other.parquet");
    std::fs::write(&p, b"not parquet").unwrap();
    let _ = msg(read_survey(&p).unwrap_err());
    assert!(
        msg(read_survey(dir.path().join("missing.parquet")).unwrap_err()).contains("No such file")
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}
