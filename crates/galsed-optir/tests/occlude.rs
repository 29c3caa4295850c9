//! Multiscale occlusion: attributions land where the encoder looks, and stack in the rest frame.

use galsed_optir::occlude::{Galaxy, OcclusionSettings, RestStack, attribute, choose};
use galsed_optir::survey::{LOGLAM_STEP, sdss_loglam};
use galsed_optir::{OptirError, SpectrumEncoder};
use ndarray::{Array1, Array2, ArrayView2};

/// Reads one latent: the mean flux over pixels `lo..hi` (an encoder that only looks there).
struct WindowMean {
    lo: usize,
    hi: usize,
}

impl SpectrumEncoder for WindowMean {
    fn n_latents(&self) -> usize {
        1
    }
    fn encode(
        &self,
        _: &[f64],
        flux: ArrayView2<f32>,
        _: ArrayView2<f32>,
        _: &[f64],
    ) -> Result<Array2<f32>, OptirError> {
        Ok(Array2::from_shape_fn((flux.nrows(), 1), |(i, _)| {
            flux.row(i)
                .iter()
                .skip(self.lo)
                .take(self.hi - self.lo)
                .sum::<f32>()
                / (self.hi - self.lo) as f32
        }))
    }
}

/// W_b = 10·latent for every band.
fn predict(latents: ArrayView2<f32>, _: &[f64], _: &[f64]) -> Result<Array2<f64>, OptirError> {
    Ok(Array2::from_shape_fn((latents.nrows(), 4), |(i, _)| {
        10.0 * f64::from(latents[[i, 0]])
    }))
}

fn spectrum(n: usize) -> (Array1<f32>, Array1<f32>) {
    // Wiggly, so that windows have a variance and occlusion changes the flux.
    let flux = Array1::from_shape_fn(n, |k| 1.0 + 0.3 * ((k as f32) * 0.37).sin());
    (flux, Array1::from_elem(n, 100.0))
}

#[test]
fn attribution_is_confined_to_windows_that_touch_what_the_encoder_reads() {
    let loglam = sdss_loglam();
    let n = loglam.len();
    let (flux, ivar) = spectrum(n);
    let enc = WindowMean { lo: 2000, hi: 2040 };
    let settings = OcclusionSettings {
        window_lengths: vec![10, 40],
        ..OcclusionSettings::default()
    };
    // W4 undetected: no attribution.
    let galaxy = Galaxy {
        flux: flux.view(),
        ivar: ivar.view(),
        norm: 1.0,
        redshift: 0.1,
        wise_err: [0.05, 0.05, 0.1, 1e4],
    };
    let a = attribute(&enc, &predict, &loglam, galaxy, &settings).unwrap();
    assert_eq!(a.per_scale.len(), 2);
    for k in 0..n {
        let v = a.mean[[0, k]];
        // The longest window reaches 40 pixels beyond the read range.
        if k + 40 <= enc.lo || k >= enc.hi + 40 {
            assert_eq!(v, 0.0, "pixel {k} far from the read range got {v}");
        }
        assert!(
            a.mean[[3, k]].is_nan(),
            "undetected W4 must get no attribution"
        );
    }
    let inside: f64 = (enc.lo..enc.hi).map(|k| a.mean[[0, k]]).sum::<f64>() / 40.0;
    assert!(
        inside > 0.1,
        "occluding the read pixels must move the prediction (mean Δχ {inside})"
    );
    // Bands with larger errors change less in χ.
    assert!((a.mean[[0, 2010]] / a.mean[[2, 2010]] - 2.0).abs() < 1e-9);
}

#[test]
fn occlusion_is_seeded() {
    let loglam = sdss_loglam();
    let (flux, ivar) = spectrum(loglam.len());
    let enc = WindowMean { lo: 100, hi: 300 };
    let g = Galaxy {
        flux: flux.view(),
        ivar: ivar.view(),
        norm: 1.0,
        redshift: 0.05,
        wise_err: [0.1; 4],
    };
    let s = OcclusionSettings {
        window_lengths: vec![50],
        ..OcclusionSettings::default()
    };
    let a = attribute(&enc, &predict, &loglam, g, &s).unwrap();
    let b = attribute(&enc, &predict, &loglam, g, &s).unwrap();
    assert!(
        a.mean.iter().all(|v| v.is_finite()),
        "every pixel is covered by a window"
    );
    assert_eq!(a.mean, b.mean);
    let c = attribute(
        &enc,
        &predict,
        &loglam,
        g,
        &OcclusionSettings { seed: 1, ..s },
    )
    .unwrap();
    assert_ne!(a.mean, c.mean);
}

#[test]
fn bad_settings_and_shapes_are_errors() {
    let loglam = sdss_loglam();
    let (flux, ivar) = spectrum(100);
    let enc = WindowMean { lo: 0, hi: 10 };
    let g = Galaxy {
        flux: flux.view(),
        ivar: ivar.view(),
        norm: 1.0,
        redshift: 0.05,
        wise_err: [0.1; 4],
    };
    let e = attribute(&enc, &predict, &loglam, g, &OcclusionSettings::default()).unwrap_err();
    assert!(e.to_string().contains("pixels"), "{e}");
    let (flux, ivar) = spectrum(loglam.len());
    let g = Galaxy {
        flux: flux.view(),
        ivar: ivar.view(),
        ..g
    };
    for lengths in [vec![], vec![0], vec![loglam.len() + 1]] {
        let s = OcclusionSettings {
            window_lengths: lengths,
            ..OcclusionSettings::default()
        };
        assert!(attribute(&enc, &predict, &loglam, g, &s).is_err());
    }
}

#[test]
fn the_rest_frame_stack_aligns_galaxies_at_different_redshifts() {
    let loglam = sdss_loglam();
    let n = loglam.len();
    let mut stack = RestStack::new((3000.0, 9200.0));
    // A spike at rest 5000 Å in two galaxies at different redshifts.
    for z in [0.05, 0.2] {
        let obs = (5000.0f64 * (1.0 + z)).log10();
        let k = ((obs - loglam[0]) / LOGLAM_STEP).round() as usize;
        let mut a = Array2::<f64>::zeros((4, n));
        a[[1, k]] = 2.0;
        stack.add(&loglam, &a, z);
    }
    let stack = stack.finish();
    let j = stack
        .mean
        .row(1)
        .iter()
        .enumerate()
        .filter(|v| v.1.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    let lam = 10f64.powf(stack.loglam_rest[j]);
    assert!((lam - 5000.0).abs() < 2.0, "peak at {lam} Å");
    assert_eq!(stack.mean[[1, j]], 2.0);
    assert_eq!(stack.count[[1, j]], 2);
    // Rest wavelengths below 3800/1.2 Å are never seen by these two galaxies.
    assert!(stack.mean[[0, 0]].is_nan());
    let table = stack.feature_table(5.0);
    assert_eq!(table.len(), galsed_optir::occlude::LINE_MARKERS.len());
}

#[test]
fn choose_is_a_seeded_subset() {
    let rows: Vec<usize> = (10..60).collect();
    let a = choose(&rows, 7, 3);
    assert_eq!(a, choose(&rows, 7, 3));
    assert_eq!(a.len(), 7);
    assert!(a.iter().all(|r| rows.contains(r)));
    let mut s = a.clone();
    s.sort();
    s.dedup();
    assert_eq!(s.len(), 7);
    assert_eq!(choose(&rows, 100, 0).len(), rows.len());
}
