//! The batch predictions run a fast no-gradient path (plain slices, vectorised kernels); the
//! tensor networks stay the differentiable reference. These tests check that both agree on the
//! 72 golden rows and that gradients flow through the tensor path on an autodiff device.

mod common;

use burn::prelude::*;
use common::*;
use galsed_core::photometry::trapz_weights;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::predict::{Observer, Photometry, SpectralUnits};
use galsed_emulator::{Component, N_GP, N_SSP, Starduster};
use ndarray::Array2;

/// Both paths compute the same float32 formulas; they differ only by rounding (polynomial
/// transcendentals, summation order). Spectra: |a−b| ≤ 2e−5·|b| + 1e−7·max_row|b|.
const RTOL: f64 = 2e-5;
const ATOL_ROW: f64 = 1e-7;

fn arr(t: Tensor<2>) -> Array2<f64> {
    let [n, m] = t.dims();
    let v: Vec<f32> = t.into_data().try_into_vec().unwrap();
    Array2::from_shape_vec((n, m), v.into_iter().map(f64::from).collect()).unwrap()
}

fn tensors(model: &Starduster) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
    let b = golden_batch();
    let d = model.device();
    let t = |v: &[f32], w: usize| Tensor::from_data(TensorData::new(v.to_vec(), [b.len(), w]), d);
    (
        t(b.gp(), N_GP),
        t(b.sfh_disk(), N_SSP),
        t(b.sfh_bulge(), N_SSP),
    )
}

fn check_grid(grid: WavelengthGrid) {
    let tag = format!("{grid:?}");
    let model = model(grid);
    let batch = golden_batch();
    let (gp, sd, sb) = tensors(&model);
    for comp in Component::ALL {
        let fast =
            to_f64(&model.spectrum(&batch, comp, SpectralUnits::Luminosity, Observer::default()));
        let slow = arr(model.luminosity(gp.clone(), sd.clone(), sb.clone(), comp));
        check_spectra(
            &format!("{tag} {}", comp.name()),
            &fast,
            &slow,
            RTOL,
            ATOL_ROW,
        );
    }

    // Band fluxes = trapz(λL_λ·W_f, λ) of the tensor path's spectrum, in float64.
    let phot = Photometry::new(&model, &filters(), Observer::default()).unwrap();
    let lam: Vec<f64> = Observer::default()
        .observed_grid(&model.grid().lam_eval)
        .iter()
        .map(|&l| f64::from(l))
        .collect();
    let omega = trapz_weights(&lam);
    let slow = arr(model.luminosity(gp.clone(), sd.clone(), sb.clone(), Component::Combine));
    let w = phot.filter_weights();
    let want = Array2::from_shape_fn((slow.nrows(), w.nrows()), |(r, f)| {
        (0..lam.len())
            .map(|l| slow[[r, l]] * omega[l] * w[[f, l]])
            .sum::<f64>()
    });
    let fast = to_f64(&model.fluxes(&batch, Component::Combine, &phot));
    check_spectra(&format!("{tag} fluxes"), &fast, &want, 1e-5, 0.0);

    let (fd, fb) = model.absorption(gp.clone(), sd.clone(), sb.clone());
    let bt = gp.clone().narrow(1, 6, 1).add_scalar(1.0).mul_scalar(0.5);
    let frac = arr(fd * bt.clone().neg().add_scalar(1.0) + fb * bt)
        .column(0)
        .to_vec();
    let f64s = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    check_rel(
        "frac",
        &f64s(model.absorption_fraction(&batch)),
        &frac,
        1e-5,
    );

    let (ld, lb) = model.selector_log_prob(gp.clone());
    let (fd, fb) = model.selector_log_probs(&batch);
    // A few float32 ulp of values down to ≈ −30.
    check_abs("log_p_disk", &f64s(fd), &arr(ld).column(0).to_vec(), 5e-6);
    check_abs("log_p_bulge", &f64s(fb), &arr(lb).column(0).to_vec(), 5e-6);

    let att = model.attenuation_curves(&batch);
    let n = att.lam_um.len();
    let f = model.forward(gp, sd, sb, Component::DustAttenuation);
    let ratio = arr(f.l_main(true).narrow(1, 0, n) / f.l_main(false).narrow(1, 0, n));
    let want: Vec<f64> = ratio.iter().map(|r| -2.5 * r.log10()).collect();
    // float32 logarithm vs float64 here: a few ulp of values up to ≈ 4 mag.
    check_abs(
        "attenuation",
        to_f64(&att.mag).as_slice().unwrap(),
        &want,
        4e-6,
    );
}

#[test]
fn fast_path_equals_tensor_path_base() {
    check_grid(WavelengthGrid::Base);
}

#[test]
fn fast_path_equals_tensor_path_auto() {
    check_grid(WavelengthGrid::Auto);
}

/// d(Σ ln flux)/d(gp) through the tensor path on an autodiff device: finite and non-zero.
#[test]
fn gradient_flows_through_tensor_path() {
    let files = files();
    let device = Device::flex().autodiff();
    let model = Starduster::from_files_on(&files, &WavelengthGrid::Base, &device).unwrap();
    let b = golden_batch().rows(0, 4);
    let t = |v: &[f32], w: usize| {
        Tensor::<2>::from_data(TensorData::new(v.to_vec(), [b.len(), w]), &device)
    };
    let gp = t(b.gp(), N_GP).require_grad();
    let sd = t(b.sfh_disk(), N_SSP).require_grad();
    let lum = model.luminosity(
        gp.clone(),
        sd.clone(),
        t(b.sfh_bulge(), N_SSP),
        Component::Combine,
    );
    let loss = lum.log().sum();
    let grads = loss.backward();
    for (name, g) in [("gp", gp.grad(&grads)), ("sfh_disk", sd.grad(&grads))] {
        let g: Vec<f32> = g
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .into_data()
            .try_into_vec()
            .unwrap();
        assert!(
            g.iter().all(|v| v.is_finite()),
            "{name}: non-finite gradient"
        );
        // Every galaxy parameter (and disk SFH weight) changes the spectrum.
        assert!(
            g.iter().all(|&v| v != 0.0),
            "{name}: zero gradient entries {g:?}"
        );
    }
}

/// A galaxy's outputs do not depend on the batch it is evaluated in: the few-rows product rounds
/// exactly as the matrix-product kernel used for larger batches.
#[test]
fn rows_do_not_depend_on_the_batch() {
    for grid in [WavelengthGrid::Base, WavelengthGrid::Auto] {
        let name = format!("{grid:?}");
        let model = model(grid);
        let batch = golden_batch();
        let whole = model.spectrum(
            &batch,
            Component::Combine,
            SpectralUnits::Luminosity,
            Observer::default(),
        );
        for (start, len) in [(0, 1), (5, 3), (20, 7), (40, 9)] {
            let part = model.spectrum(
                &batch.rows(start, start + len),
                Component::Combine,
                SpectralUnits::Luminosity,
                Observer::default(),
            );
            for i in 0..len {
                let (a, b) = (part.row(i), whole.row(start + i));
                assert!(
                    a.iter()
                        .zip(b.iter())
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{name}: row {} differs between a batch of {len} and the whole batch",
                    start + i
                );
            }
        }
    }
}

/// Splitting a batch across workers (chunks of a third of the batch on three threads) gives every
/// galaxy exactly the outputs of one thread.
#[test]
fn rows_do_not_depend_on_the_threads() {
    let model = model(WavelengthGrid::Base);
    let batch = golden_batch();
    let spectrum = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                model.spectrum(
                    &batch,
                    Component::Combine,
                    SpectralUnits::Luminosity,
                    Observer::default(),
                )
            })
    };
    let one = spectrum(1);
    for threads in [2, 3] {
        let many = spectrum(threads);
        assert!(
            one.iter()
                .zip(many.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{threads} threads change the outputs"
        );
    }
}
