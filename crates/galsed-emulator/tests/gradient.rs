//! The hand-written reverse pass (`Starduster::flux_tape`) against burn-autodiff of the tensor
//! path, on golden input rows, for both grids; its values against the batch predictions; and
//! its use from many threads at once.

mod common;

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use common::{files, filters, golden_batch};
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::gradient::InputGradient;
use galsed_emulator::inputs::Batch;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_emulator::{Component, N_GP, N_SSP, Starduster};
use ndarray::Array2;

/// Weights of the scalar Σ g_f·F_f/F̂_f + Σ g_d ln p_d + Σ g_b ln p_b: each band enters relative
/// to the row's flux, as in a likelihood, so that faint bands are tested too.
fn weights(fluxes: &Array2<f32>) -> (Array2<f32>, Vec<f32>, Vec<f32>) {
    let g = Array2::from_shape_fn(fluxes.dim(), |(r, f)| {
        let s = ((r * 7 + f * 3) % 11) as f32 / 5.0 - 1.0;
        s / fluxes[[r, f]]
    });
    let n = fluxes.nrows();
    let gd = (0..n).map(|r| 0.5 + r as f32 * 0.1).collect();
    let gb = (0..n).map(|r| -0.3 + r as f32 * 0.05).collect();
    (g, gd, gb)
}

/// The same gradient by burn-autodiff of the tensor path (model on an autodiff device).
fn autodiff(
    model: &Starduster,
    phot: &Photometry,
    b: &Batch,
    g: &Array2<f32>,
    gd: &[f32],
    gb: &[f32],
) -> InputGradient {
    let device = model.device();
    let n = b.len();
    let t =
        |v: &[f32], w: usize| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, w]), device);
    let gp = t(b.gp(), N_GP).require_grad();
    let sd = t(b.sfh_disk(), N_SSP).require_grad();
    let sb = t(b.sfh_bulge(), N_SSP).require_grad();
    let lum = model.luminosity(gp.clone(), sd.clone(), sb.clone(), Component::Combine);
    let flux = phot.band_fluxes(lum);
    let (ld, lb) = model.selector_logits(gp.clone());
    let gw = t(g.as_slice().unwrap(), g.ncols());
    let loss =
        (flux * gw).sum() + (log_sigmoid(ld) * t(gd, 1)).sum() + (log_sigmoid(lb) * t(gb, 1)).sum();
    let grads = loss.backward();
    let get = |x: &Tensor<2>| -> Vec<f32> {
        x.grad(&grads)
            .expect("gradient")
            .into_data()
            .try_into_vec()
            .unwrap()
    };
    InputGradient {
        gp: get(&gp),
        sfh_disk: get(&sd),
        sfh_bulge: get(&sb),
    }
}

/// Worst |a − b| / (rtol·|b| + atol·max_row|b|) over rows of `width`.
fn worst(got: &[f32], want: &[f32], width: usize, rtol: f64, atol: f64) -> f64 {
    let mut w = 0f64;
    for (a, b) in got.chunks(width).zip(want.chunks(width)) {
        let scale = b.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
        for (x, y) in a.iter().zip(b) {
            let allowed = rtol * f64::from(y.abs()) + atol * scale;
            w = w.max(f64::from((x - y).abs()) / allowed);
        }
    }
    w
}

/// One test for both grids: burn-autodiff must not run from parallel tests.
#[test]
fn reverse_pass_matches_autodiff_and_values_match_predictions() {
    let files = files();
    let batch = golden_batch();
    for grid in [WavelengthGrid::Base, WavelengthGrid::Auto] {
        let model = Starduster::from_files_on(&files, &grid, &Device::flex().autodiff()).unwrap();
        let phot = Photometry::new(&model, &filters(), Observer::new(0.0, 30.0).unwrap()).unwrap();
        // A few rows (the few-rows product) and many (the matrix product) in the forward.
        for (start, end) in [(0, 3), (3, 19)] {
            let b = batch.rows(start, end);
            let tape = model.flux_tape(&b, &phot);
            // Values: bitwise those of the batch predictions.
            assert_eq!(tape.fluxes(), model.fluxes(&b, Component::Combine, &phot));
            let (ld, lb) = model.selector_log_probs(&b);
            assert_eq!(tape.selector_log_probs(), (ld.as_slice(), lb.as_slice()));

            let (g, gd, gb) = weights(&tape.fluxes().to_owned());
            let got = tape.backward(g.view(), Some((&gd, &gb)));
            let want = autodiff(&model, &phot, &b, &g, &gd, &gb);
            // Both are float32 sums over thousands of terms in different orders.
            for (name, a, w, width) in [
                ("gp", &got.gp, &want.gp, N_GP),
                ("sfh_disk", &got.sfh_disk, &want.sfh_disk, N_SSP),
                ("sfh_bulge", &got.sfh_bulge, &want.sfh_bulge, N_SSP),
            ] {
                let r = worst(a, w, width, 2e-4, 2e-5);
                println!("{grid:?} rows {start}..{end} {name}: worst {r:.3}");
                assert!(
                    r <= 1.0,
                    "{grid:?} rows {start}..{end} {name}: {a:?}\nvs\n{w:?}"
                );
            }
        }
    }
}

/// Central differences of the fast path's values (an oracle independent of burn) on the galaxy
/// parameters of one row: agreement to the differences' own truncation error.
#[test]
fn reverse_pass_matches_central_differences() {
    let model = common::model(WavelengthGrid::Auto);
    let phot = Photometry::new(&model, &filters(), Observer::new(0.0, 30.0).unwrap()).unwrap();
    let b = golden_batch().rows(5, 6);
    let tape = model.flux_tape(&b, &phot);
    let (g, gd, gb) = weights(&tape.fluxes().to_owned());
    let got = tape.backward(g.view(), Some((&gd, &gb)));
    let scalar = |gp: &[f32]| -> f64 {
        let b = Batch::from_adapted(gp.to_vec(), b.sfh_disk().to_vec(), b.sfh_bulge().to_vec())
            .unwrap();
        let t = model.flux_tape(&b, &phot);
        let (pd, pb) = t.selector_log_probs();
        t.fluxes()
            .iter()
            .zip(g.iter())
            .map(|(f, w)| f64::from(f * w))
            .sum::<f64>()
            + f64::from(pd[0] * gd[0] + pb[0] * gb[0])
    };
    let h = 2e-3f32;
    let scale = got.gp.iter().fold(0f32, |m, v| m.max(v.abs()));
    for k in 0..N_GP {
        let (mut up, mut down) = (b.gp().to_vec(), b.gp().to_vec());
        up[k] += h;
        down[k] -= h;
        let num = (scalar(&up) - scalar(&down)) / (2.0 * f64::from(h));
        let err = (num - f64::from(got.gp[k])).abs();
        println!("gp[{k}]: reverse {} differences {num}", got.gp[k]);
        assert!(
            err <= 1e-2 * f64::from(got.gp[k].abs()) + 2e-3 * f64::from(scale),
            "gp[{k}]: reverse {} differences {num}",
            got.gp[k]
        );
    }
}

/// Many threads at once, each its own tape: identical to the single-threaded results, and a
/// row's gradient does not depend on the rows evaluated with it.
#[test]
fn reverse_pass_is_thread_safe_and_batch_independent() {
    let model = common::model(WavelengthGrid::Auto);
    let phot = Photometry::new(&model, &filters(), Observer::new(0.0, 30.0).unwrap()).unwrap();
    let batch = golden_batch().rows(0, 16);
    let (g, gd, gb) = weights(&model.fluxes(&batch, Component::Combine, &phot));
    let run = |r0: usize, r1: usize| {
        let tape = model.flux_tape(&batch.rows(r0, r1), &phot);
        let g = g.slice(ndarray::s![r0..r1, ..]);
        tape.backward(g, Some((&gd[r0..r1], &gb[r0..r1])))
    };
    let whole = run(0, 16);
    let single: Vec<InputGradient> = (0..16).map(|r| run(r, r + 1)).collect();
    for (r, s) in single.iter().enumerate() {
        assert_eq!(s.gp, whole.gp[r * N_GP..][..N_GP], "row {r}");
        assert_eq!(s.sfh_disk, whole.sfh_disk[r * N_SSP..][..N_SSP], "row {r}");
        assert_eq!(
            s.sfh_bulge,
            whole.sfh_bulge[r * N_SSP..][..N_SSP],
            "row {r}"
        );
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (run, single) = (&run, &single);
                scope.spawn(move || {
                    for rep in 0..20 {
                        let r = (t * 5 + rep) % 16;
                        assert_eq!(&run(r, r + 1), &single[r]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker");
        }
    });
}
