//! Photometry with one observer per galaxy against the dense one-observer path.

mod common;

use common::*;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::Component;
use galsed_emulator::predict::{ObservedPhotometry, Observer, Photometry};

/// The per-galaxy weights are the dense ones on fewer points; only the summation differs
/// (f64 here, blocked f32 in the dense matrix product).
const RTOL: f64 = 2e-6;

#[test]
fn per_galaxy_observers_match_dense_photometry() {
    for grid in [WavelengthGrid::Base, WavelengthGrid::Auto] {
        let model = model(grid);
        let batch = golden_batch();
        let filters = filters();
        let observed = ObservedPhotometry::new(&model, &filters);
        // Three observers in runs of consecutive rows, so the weight cache is exercised.
        let observers: Vec<Observer> = (0..batch.len())
            .map(|i| match i % 24 {
                0..8 => Observer::new(0.0, 0.0).unwrap(),
                8..16 => Observer::new(0.05, 36.80751187885012).unwrap(),
                _ => Observer::new(0.3, 41.0).unwrap(),
            })
            .collect();
        let got = observed
            .fluxes(&model, &batch, Component::Combine, &observers)
            .unwrap();
        for obs in [observers[0], observers[8], observers[16]] {
            let dense = Photometry::new(&model, &filters, obs).unwrap();
            let want = model.fluxes(&batch, Component::Combine, &dense);
            for (i, row) in want.outer_iter().enumerate() {
                if observers[i] != obs {
                    continue;
                }
                for (f, &w) in row.iter().enumerate() {
                    let g = got[[i, f]];
                    let (g, w) = (f64::from(g), f64::from(w));
                    assert!(
                        (g - w).abs() <= RTOL * w.abs() + 1e-30,
                        "row {i} band {f} z={}: {g} vs {w}",
                        obs.redshift
                    );
                }
            }
        }
    }
}

#[test]
fn bands_outside_the_model_at_a_redshift_are_nan() {
    let model = model(WavelengthGrid::Base);
    let batch = golden_batch().rows(0, 2);
    let filters = filters();
    let observed = ObservedPhotometry::new(&model, &filters);
    // At z = 0.5 the far-UV band lies blueward of the redshifted grid start (0.1011 µm × 1.5).
    let far = Observer::new(0.5, 42.0).unwrap();
    let near = Observer::new(0.01, 33.0).unwrap();
    let uncovered = observed.uncovered(far);
    assert!(uncovered.contains(&"galex_FUV"), "{uncovered:?}");
    assert!(observed.uncovered(near).is_empty());
    let mags = observed
        .magnitudes(&model, &batch, Component::Combine, &[near, far])
        .unwrap();
    let fuv = observed
        .names()
        .iter()
        .position(|n| n == "galex_FUV")
        .unwrap();
    assert!(mags[[0, fuv]].is_finite());
    assert!(mags[[1, fuv]].is_nan());
    assert!(
        mags.row(1).iter().filter(|m| m.is_finite()).count() >= filters.len() - uncovered.len()
    );
    assert!(
        observed
            .fluxes(&model, &batch, Component::Combine, &[near])
            .is_err()
    );
}
