//! Layer-by-layer comparison with the reference's float32 intermediates (spec §7.3).

mod common;

use burn::prelude::*;
use common::*;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::{Component, N_GP, N_SSP, Starduster};
use ndarray::Array2;

const RTOL: f64 = 1e-4;
const ATOL_ROW: f64 = 1e-6;
/// Attenuation in magnitudes (spec §6).
const ATT_TOL: f64 = 1e-5;

fn arr(t: Tensor<2>) -> Array2<f64> {
    let [n, m] = t.dims();
    let v: Vec<f32> = t.into_data().try_into_vec().unwrap();
    Array2::from_shape_vec((n, m), v.into_iter().map(f64::from).collect()).unwrap()
}

fn first_rows(a: &Array2<f64>, n: usize) -> Array2<f64> {
    a.slice(ndarray::s![..n, ..]).to_owned()
}

fn inputs(model: &Starduster) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
    let b = golden_batch();
    let d = model.device();
    let t = |v: &[f32], w: usize| Tensor::from_data(TensorData::new(v.to_vec(), [b.len(), w]), d);
    (
        t(b.gp(), N_GP),
        t(b.sfh_disk(), N_SSP),
        t(b.sfh_bulge(), N_SSP),
    )
}

#[test]
fn clipped_inputs_are_bitwise_those_of_the_reference() {
    let gold = npz("golden/intermediates_base_f32.npz");
    let b = golden_batch();
    for (key, got) in [
        ("adapter_gp", b.gp()),
        ("adapter_sfh_disk", b.sfh_disk()),
        ("adapter_sfh_bulge", b.sfh_bulge()),
    ] {
        let want: Vec<f32> = get2(&gold, key).iter().map(|&v| v as f32).collect();
        assert_eq!(got, &want[..], "{key}");
    }
}

#[test]
fn base_grid_layers() {
    let model = model(WavelengthGrid::Base);
    let gold = npz("golden/intermediates_base_f32.npz");
    let (gp, sd, sb) = inputs(&model);
    let spectra = |name: &str, got: Array2<f64>| {
        let want = get2(&gold, name);
        let got = first_rows(&got, want.nrows());
        check_spectra(name, &got, &want, RTOL, ATOL_ROW);
    };

    let f = model.forward(gp.clone(), sd.clone(), sb.clone(), Component::Combine);
    check_rel(
        "b_to_t",
        &arr(f.b_to_t.clone()).column(0).to_vec(),
        &get1(&gold, "b_to_t"),
        1e-6,
    );
    check_rel(
        "l_norm",
        &arr(f.l_norm.clone()).column(0).to_vec(),
        &get1(&gold, "l_norm"),
        1e-5,
    );

    let (curve_disk, curve_bulge) = model.curves();
    for (name, curve) in [("curve_disk", curve_disk), ("curve_bulge", curve_bulge)] {
        let t = curve.trace(gp.clone());
        for (i, h) in t.hidden.iter().enumerate() {
            spectra(&format!("{name}.h{}", i + 1), arr(h.clone()));
        }
        // Baseline, bumps and trough add up to the curve before normalisation: compare them in
        // the curve's own unit (≈ mag), where a relative criterion would be meaningless near
        // the bumps' zero ends.
        let mag = |key: String, got: Tensor<2>| {
            let want = get2(&gold, &key);
            check_abs(
                &key,
                arr(got).as_slice().unwrap(),
                want.as_slice().unwrap(),
                ATT_TOL,
            );
        };
        mag(format!("{name}.baseline_smoothed"), t.baseline_smoothed);
        for (q, bump) in t.bumps.into_iter().enumerate() {
            mag(format!("{name}.bump{q}"), bump);
        }
        mag(format!("{name}.trough"), t.trough);
        mag(format!("{name}.y_unnormalised"), t.y_unnormalised);
        check_rel(
            &format!("{name}.norm"),
            &arr(t.norm).column(0).to_vec(),
            &get1(&gold, &format!("{name}.norm")),
            RTOL,
        );
        let a = arr(t.a_mag);
        check_abs(
            &format!("{name}.A_mag"),
            a.as_slice().unwrap(),
            get2(&gold, &format!("{name}.A_mag")).as_slice().unwrap(),
            ATT_TOL,
        );
    }

    spectra("trans_disk", arr(f.trans_disk.clone().unwrap()));
    spectra("trans_bulge", arr(f.trans_bulge.clone().unwrap()));
    spectra("l_disk_intrinsic", arr(f.l_disk_intrinsic.clone()));
    spectra("l_bulge_intrinsic", arr(f.l_bulge_intrinsic.clone()));
    spectra("l_main", arr(f.l_main(true)));
    spectra("l_dust", arr(f.l_dust.clone().unwrap()));

    let (frac_disk, frac_bulge) = model.absorption(gp.clone(), sd, sb);
    check_rel(
        "frac_disk",
        &arr(frac_disk.clone()).column(0).to_vec(),
        &get1(&gold, "frac_disk"),
        1e-5,
    );
    check_rel(
        "frac_bulge",
        &arr(frac_bulge.clone()).column(0).to_vec(),
        &get1(&gold, "frac_bulge"),
        1e-5,
    );
    check_rel(
        "frac",
        &arr(f.frac.clone().unwrap()).column(0).to_vec(),
        &get1(&gold, "frac"),
        1e-5,
    );

    let x = Tensor::cat(vec![gp.clone(), frac_disk, frac_bulge], 1);
    spectra("distri_input", arr(x.clone()));
    let t = model.emission().trace(x);
    for (i, h) in t.hidden.iter().enumerate() {
        spectra(&format!("distri.h{}", i + 1), arr(h.clone()));
    }
    spectra("distri.mu", arr(t.mu));
    spectra("distri.w", arr(t.w));
    spectra("distri.y0", arr(t.y0));
    spectra("distri.y1", arr(t.y1));

    let (ld, lb) = model.selector_logits(gp);
    check_abs(
        "selector_disk_logit",
        &arr(ld).column(0).to_vec(),
        &get1(&gold, "selector_disk_logit"),
        1e-5,
    );
    check_abs(
        "selector_bulge_logit",
        &arr(lb).column(0).to_vec(),
        &get1(&gold, "selector_bulge_logit"),
        1e-5,
    );
}

#[test]
fn auto_grid_layers() {
    let model = model(WavelengthGrid::Auto);
    let gold = npz("golden/intermediates_auto_f32.npz");
    let (gp, sd, sb) = inputs(&model);
    let f = model.forward(gp, sd, sb, Component::Combine);
    for (name, t) in [
        ("l_disk_intrinsic", f.l_disk_intrinsic.clone()),
        ("l_bulge_intrinsic", f.l_bulge_intrinsic.clone()),
        ("trans_disk", f.trans_disk.clone().unwrap()),
        ("trans_bulge", f.trans_bulge.clone().unwrap()),
        ("l_main", f.l_main(true)),
        ("l_dust", f.l_dust.clone().unwrap()),
    ] {
        let want = get2(&gold, name);
        check_spectra(
            name,
            &first_rows(&arr(t), want.nrows()),
            &want,
            RTOL,
            ATOL_ROW,
        );
    }
}
