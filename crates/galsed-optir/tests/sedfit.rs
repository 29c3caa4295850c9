//! The SED-fitting baseline: top-hat photometry of spectra and fits that predict WISE.

#[path = "../../galsed-emulator/tests/common/mod.rs"]
mod common;

use burn::prelude::Device;
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::predict::{Observer, Photometry, SpectralUnits};
use galsed_emulator::{Component, Starduster};
use galsed_optir::sedfit::{
    SedFitSettings, SedModel, boxcar_filters, boxcar_fluxes, fit_and_predict,
};
use galsed_optir::survey::{WISE_FILTERS, WISE_ZERO_POINT_JY, sdss_loglam};
use ndarray::{Array1, Array2};

const C_ANGSTROM_PER_S: f64 = 2.997_924_58e18;

/// F_λ [10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹] on the SDSS pixels of F_ν [Jy] given on `lam_um`.
fn to_sdss_flambda(lam_um: &[f32], fnu: &[f32]) -> Array1<f32> {
    sdss_loglam()
        .iter()
        .map(|&l| {
            let lam = 10f64.powf(l);
            let x = lam * 1e-4;
            let j = lam_um.partition_point(|&v| f64::from(v) < x);
            let (x0, x1) = (f64::from(lam_um[j - 1]), f64::from(lam_um[j]));
            let t = (x - x0) / (x1 - x0);
            let f = f64::from(fnu[j - 1]) * (1.0 - t) + f64::from(fnu[j]) * t;
            (f * 1e-23 * C_ANGSTROM_PER_S / (lam * lam) * 1e17) as f32
        })
        .collect()
}

#[test]
fn top_hats_of_a_flat_fnu_spectrum_return_that_fnu() {
    let loglam = sdss_loglam();
    let jy = 3.5e-4;
    let flux: Array1<f32> = loglam
        .iter()
        .map(|&l| (jy * 1e-23 * C_ANGSTROM_PER_S / 10f64.powf(2.0 * l) * 1e17) as f32)
        .collect();
    let mut ivar = Array1::from_elem(loglam.len(), 4.0f32);
    // Mask 60 % of the first band: it must be dropped; 30 % of the second: kept.
    let filters = boxcar_filters();
    let in_band = |i: usize| {
        let (a, b) = (
            filters[i].wavelength_angstrom[1],
            filters[i].wavelength_angstrom[2],
        );
        loglam
            .iter()
            .enumerate()
            .filter(move |&(_, &l)| (a..=b).contains(&10f64.powf(l)))
            .map(|(k, _)| k)
    };
    let first: Vec<usize> = in_band(0).collect();
    for &k in &first[..first.len() * 6 / 10] {
        ivar[k] = 0.0;
    }
    let second: Vec<usize> = in_band(1).collect();
    for &k in &second[..second.len() * 3 / 10] {
        ivar[k] = 0.0;
    }
    let got = boxcar_fluxes(&loglam, flux.view(), ivar.view(), &filters);
    assert!(
        got[0].is_none(),
        "a band with 60 % masked pixels must be dropped"
    );
    for (i, g) in got.iter().enumerate().skip(1) {
        let (f, s) = g.expect("band with data");
        assert!((f / jy - 1.0).abs() < 1e-5, "band {i}: {f} Jy, want {jy}");
        // σ of a mean of n pixels with σ_pix = 0.5 (in F_λ units) each, converted per pixel.
        assert!(s > 0.0 && s < jy, "band {i}: σ = {s}");
    }
}

#[test]
fn top_hat_fluxes_of_a_model_spectrum_match_the_model_photometry() {
    let model = common::model(WavelengthGrid::Auto);
    let batch = common::golden_batch().rows(0, 4);
    let z = 0.08;
    let observer = Observer::new(z, Cosmology::planck18().distance_modulus(z).unwrap()).unwrap();
    let fnu = model.spectrum(&batch, Component::Combine, SpectralUnits::Fnu, observer);
    let lam_obs = observer.observed_grid(&model.grid().lam_eval);
    let filters = boxcar_filters();
    let phot = Photometry::new(&model, &filters, observer).unwrap();
    let want = model.fluxes(&batch, Component::Combine, &phot);
    let loglam = sdss_loglam();
    for g in 0..batch.len() {
        let flux = to_sdss_flambda(&lam_obs, fnu.row(g).as_slice().unwrap());
        let ivar = Array1::from_elem(loglam.len(), 1.0f32);
        let got = boxcar_fluxes(&loglam, flux.view(), ivar.view(), &filters);
        for (b, m) in got.iter().enumerate() {
            let (f, _) = m.expect("unmasked");
            let w = f64::from(want[[g, b]]);
            // Only the sampling differs: SDSS pixels against the model grid's trapezoids, which
            // place each band edge somewhere between two grid points. Allow one grid step at
            // each edge relative to the band width.
            let (a, e) = (
                filters[b].wavelength_angstrom[1] * 1e-4,
                filters[b].wavelength_angstrom[2] * 1e-4,
            );
            let step = lam_obs
                .windows(2)
                .filter(|p| f64::from(p[1]) >= a && f64::from(p[0]) <= e)
                .map(|p| f64::from(p[1] - p[0]))
                .fold(0.0, f64::max);
            let tol = 2.0 * step / (e - a);
            assert!(
                (f / w - 1.0).abs() < tol,
                "galaxy {g} band {b}: {f} vs model {w} (tolerance {tol:.2e})"
            );
        }
    }
}

#[test]
fn the_posterior_prediction_of_wise_covers_the_truth() {
    let files = common::files();
    let model =
        Starduster::from_files_on(&files, &WavelengthGrid::Auto, &Device::flex().autodiff())
            .unwrap();
    let param = SedModel::Full.parametrization(&files.ssp).unwrap();
    // A point inside the box: the centre nudged, away from the walls.
    let x: Vec<f64> = param
        .bounds()
        .iter()
        .enumerate()
        .map(|(i, b)| b.0 + (b.1 - b.0) * (0.35 + 0.03 * i as f64))
        .collect();
    let x = Array2::from_shape_vec((1, x.len()), x).unwrap();
    let (gp, sd, sb) = param.apply_rows(x.view());
    let batch = galsed_emulator::inputs::Batch::from_adapted(gp, sd, sb).unwrap();
    let z = 0.1;
    let observer = Observer::new(z, Cosmology::planck18().distance_modulus(z).unwrap()).unwrap();
    let fnu = model.spectrum(&batch, Component::Combine, SpectralUnits::Fnu, observer);
    let flux = to_sdss_flambda(
        &observer.observed_grid(&model.grid().lam_eval),
        fnu.row(0).as_slice().unwrap(),
    );
    // 2 % errors per pixel.
    let ivar: Array1<f32> = flux.iter().map(|&f| 1.0 / (0.02 * f).powi(2)).collect();
    let wise: Vec<Filter> = WISE_FILTERS
        .iter()
        .map(|n| Filter::builtin(n).unwrap())
        .collect();
    let truth = model.fluxes(
        &batch,
        Component::Combine,
        &Photometry::new(&model, &wise, observer).unwrap(),
    );
    let settings = SedFitSettings {
        particles: 24,
        iterations: 150,
        restarts: 1,
        walkers: 32,
        steps: 300,
        ..SedFitSettings::default()
    };
    let pred = fit_and_predict(
        &model,
        &files.ssp,
        SedModel::Full,
        &sdss_loglam(),
        flux.view(),
        ivar.view(),
        z,
        &settings,
    )
    .unwrap();
    eprintln!("{pred:?}");
    assert_eq!(pred.n_bands, 10);
    assert!(
        pred.chi2 < 10.0,
        "χ² {} of a noise-free spectrum the model made",
        pred.chi2
    );
    // Even W1 and W2 hold hot-dust and PAH emission at z = 0.1, which the optical constrains only
    // loosely: the posterior must be wide enough to cover the truth.
    for b in 0..4 {
        let m = -2.5 * (f64::from(truth[[0, b]]) / WISE_ZERO_POINT_JY[b]).log10();
        let (p, s) = (pred.wise[b], pred.wise_std[b]);
        eprintln!("W{}: predicted {p:.3} ± {s:.3}, true {m:.3}", b + 1);
        assert!(
            s > 0.0 && (p - m).abs() < 3.0 * s + 0.05,
            "W{}: predicted {p} ± {s}, true {m}",
            b + 1
        );
    }
    // A redshift the fit cannot use is an error, not garbage.
    let bad = fit_and_predict(
        &model,
        &files.ssp,
        SedModel::Separable,
        &sdss_loglam(),
        flux.view(),
        ivar.view(),
        f64::NAN,
        &settings,
    );
    assert!(bad.unwrap_err().to_string().contains("redshift"));
}

#[test]
fn the_separable_model_has_five_free_parameters() {
    let files = common::files();
    let full = SedModel::Full.parametrization(&files.ssp).unwrap();
    let sep = SedModel::Separable.parametrization(&files.ssp).unwrap();
    assert_eq!(full.n_params(), 13, "{:?}", full.names());
    assert_eq!(sep.n_params(), 5, "{:?}", sep.names());
}
