//! Bad input gives a clear error, never a panic or silent NaN.

mod common;

use common::*;
use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::predict::{Observer, Photometry};

fn uniform() -> Vec<f64> {
    vec![1.0 / 36.0; 36]
}

fn err(r: Result<Batch, galsed_emulator::ModelError>) -> String {
    r.expect_err("must be refused").to_string()
}

#[test]
fn non_finite_parameters_are_refused_even_when_clipping() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut gp = vec![0.0; 14];
        gp[9] = bad;
        let msg = err(Batch::new(
            gp,
            [uniform(), uniform()].concat(),
            [uniform(), uniform()].concat(),
            OutOfRange::Clip,
        ));
        assert!(msg.contains("gp[1, 2]"), "{msg}");
    }
    let mut sfh = uniform();
    sfh[3] = f64::NAN;
    let msg = err(Batch::new(vec![0.0; 7], sfh, uniform(), OutOfRange::Clip));
    assert!(msg.contains("sfh_disk[0, 3]"), "{msg}");
}

#[test]
fn wrong_shapes_are_refused() {
    let msg = err(Batch::new(
        vec![0.0; 6],
        uniform(),
        uniform(),
        OutOfRange::Error,
    ));
    assert!(msg.contains("rows of 7"), "{msg}");
    let msg = err(Batch::new(vec![], vec![], vec![], OutOfRange::Error));
    assert!(msg.contains("rows of 7"), "{msg}");
    let msg = err(Batch::new(
        vec![0.0; 14],
        uniform(),
        [uniform(), uniform()].concat(),
        OutOfRange::Error,
    ));
    assert!(
        msg.contains("sfh_disk has 36 values, expected 2 rows"),
        "{msg}"
    );
}

#[test]
fn out_of_range_values_are_refused_unless_clipping_is_asked_for() {
    let mut sfh = uniform();
    sfh[0] = -0.1;
    let msg = err(Batch::new(
        vec![0.0; 7],
        uniform(),
        sfh.clone(),
        OutOfRange::Error,
    ));
    assert!(
        msg.contains("sfh_bulge[0, 0] = -0.1") && msg.contains("clipping"),
        "{msg}"
    );
    let mut gp = vec![0.0; 7];
    gp[5] = 1.5;
    let msg = err(Batch::new(
        gp.clone(),
        uniform(),
        uniform(),
        OutOfRange::Error,
    ));
    assert!(msg.contains("gp[0, 5] = 1.5"), "{msg}");
    // Clipping reproduces the library: the values land on the clip limits.
    let b = Batch::new(gp, uniform(), sfh, OutOfRange::Clip).unwrap();
    assert_eq!(b.gp()[5], 0.999_999_f32);
    assert_eq!(b.sfh_bulge()[0], 5.066_395e-7_f32);
}

#[test]
fn filters_outside_the_model_range_are_refused() {
    let model = model(WavelengthGrid::Base);
    // A filter at 100–200 Å lies below the model's 0.1 µm edge.
    let far_uv = Filter::new("far_uv", vec![100.0, 150.0, 200.0], vec![0.5, 1.0, 0.5]).unwrap();
    let msg = Photometry::new(&model, &[far_uv], Observer::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("far_uv") && msg.contains("does not overlap"),
        "{msg}"
    );
    // A filter straddling the grid's blue edge would be silently truncated.
    let edge = Filter::new("edge", vec![500.0, 1000.0, 1500.0], vec![1.0, 1.0, 1.0]).unwrap();
    let msg = Photometry::new(&model, &[edge], Observer::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("edge") && msg.contains("truncated"), "{msg}");
    // GALEX FUV (1340–1810 Å) is inside the model range at z = 0.
    let fuv = Filter::builtin("galex_FUV").unwrap();
    assert!(Photometry::new(&model, &[fuv], Observer::default()).is_ok());
    assert!(Filter::builtin("no_such_band").is_err());
}

#[test]
fn bad_observers_and_windows_are_refused() {
    assert!(Observer::new(-0.1, 0.0).is_err());
    assert!(Observer::new(f64::NAN, 0.0).is_err());
    assert!(Observer::new(0.1, f64::INFINITY).is_err());
    let model = model(WavelengthGrid::Base);
    let batch = Batch::new(vec![0.0; 7], uniform(), uniform(), OutOfRange::Error).unwrap();
    assert!(
        model
            .windowed_attenuation(&batch, &[(5550.0, 5450.0)], Observer::default())
            .is_err()
    );
    // A window between two grid points holds no point at all.
    assert!(
        model
            .windowed_attenuation(&batch, &[(5500.0, 5501.0)], Observer::default())
            .is_err()
    );
}
