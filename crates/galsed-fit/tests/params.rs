//! The parametrisations against the reference (spec §5.5, golden files §7.5–7.6): every
//! component of `golden/parametrizations.npz`, the tutorial parametrisation on the 64-row batch
//! of `golden/fitting_tutorial.npz`, gradients against finite differences, and configuration
//! errors.
//!
//! Tolerance for float32 outputs (the reference ran in float32, so do we): unless stated
//! otherwise |a − b| ≤ 1e−6 + 1e−5·|b| elementwise, i.e. a few float32 ulps of relative error
//! plus an absolute floor for values near 0 (interpolation weights, SFH fractions).

mod common;

use std::collections::HashMap;

use burn::prelude::*;
use common::{get1, get2, npz, reference};
use galsed_core::ssp::SspLibrary;
use galsed_fit::params::{
    AnalyticKind, AnalyticSfh, Boundary, ClosedBoxMh, CompositeGrid, DiscreteSfh, InterpolatedMh,
    InterpolatedSfh, MhConfig, MhModel, ParamBlock, ParamConfig, ParamError, Parametrization,
    SfhConfig, SfhModel, VanillaGrid,
};
use ndarray::{Array2, ArrayD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Absolute floor and relative part of the float32 tolerance (see the module docs).
const ATOL: f64 = 1e-6;
const RTOL: f64 = 1e-5;

fn ssp() -> SspLibrary {
    SspLibrary::from_npz(reference().join("ssp/ssp_library.npz")).expect("SSP library")
}

fn golden() -> HashMap<String, ArrayD<f64>> {
    npz("golden/parametrizations.npz")
}

fn meta() -> serde_json::Value {
    let path = reference().join("golden/index_parametrizations.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str::<serde_json::Value>(&text).expect("json")["meta"].clone()
}

/// (N, C) float32 tensor on the plain flex device.
fn tensor(a: &Array2<f64>) -> Tensor<2> {
    let (n, c) = a.dim();
    let v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [n, c]), &Device::flex())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("f32")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Elementwise |a − b| ≤ atol + rtol·|b|; prints the worst absolute and relative errors and the
/// worst ratio to the tolerance. Returns the worst ratio.
fn check(name: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let (mut worst, mut at, mut max_abs, mut max_rel) = (0.0f64, 0usize, 0.0f64, 0.0f64);
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        let d = (a - b).abs();
        assert!(!d.is_nan(), "{name}[{i}]: NaN (got {a}, want {b})");
        let ratio = d / (atol + rtol * b.abs());
        max_abs = max_abs.max(d);
        if b != 0.0 {
            max_rel = max_rel.max(d / b.abs());
        }
        if ratio > worst {
            (worst, at) = (ratio, i);
        }
    }
    eprintln!("{name}: max |a-b| = {max_abs:.3e}, max rel = {max_rel:.3e}, worst/tol = {worst:.3}");
    assert!(
        worst <= 1.0,
        "{name}[{at}]: got {} want {} ({worst:.2}× the tolerance)",
        got[at],
        want[at]
    );
    worst
}

fn check_f32(name: &str, got: &[f64], want: &[f64]) -> f64 {
    check(name, got, want, ATOL, RTOL)
}

fn flat(a: &ArrayD<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

fn bounds_flat(b: &[(f64, f64)]) -> Vec<f64> {
    b.iter().flat_map(|&(l, h)| [l, h]).collect()
}

fn json_bounds(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("bounds")
        .iter()
        .flat_map(|p| {
            p.as_array()
                .expect("pair")
                .iter()
                .map(|x| x.as_f64().expect("number"))
        })
        .collect()
}

fn json_names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("names")
        .iter()
        .map(|x| x.as_str().expect("name").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Components (`golden/parametrizations.npz`)
// ---------------------------------------------------------------------------------------------

#[test]
fn discrete_sfh() {
    let g = golden();
    let m = meta();
    let dev = Device::flex();
    type Bins = Option<Vec<(usize, usize)>>;
    let cases: [(&str, Bins); 3] = [
        ("DiscreteSFH_default_simplex", None),
        ("DiscreteSFH_bins_1-2_3-6", Some(vec![(1, 2), (3, 6)])),
        (
            "DiscreteSFH_bins_0-1_1-2_3-6",
            Some(vec![(0, 1), (1, 2), (3, 6)]),
        ),
    ];
    for (name, bins) in cases {
        let model = DiscreteSfh::new(6, bins, true).unwrap();
        assert_eq!(
            model.param_names(),
            json_names(&m[name]["param_names"]),
            "{name}"
        );
        check(
            &format!("{name}.domain"),
            &bounds_flat(&model.domain()),
            &json_bounds(&m[name]["bounds_default"]),
            0.0,
            0.0,
        );
        let inp = get2(&g, &format!("{name}.in"));
        let out = model.forward(Some(tensor(&inp)), inp.nrows(), &dev);
        check_f32(name, &values(out), &flat(&g[&format!("{name}.out")]));
    }
    // One bin: no parameter, uniform weight inside the bin.
    let one = DiscreteSfh::new(6, Some(vec![(2, 5)]), false).unwrap();
    assert!(one.param_names().is_empty());
    let w = values(one.forward(None, 2, &dev));
    let third = f64::from((1.0f64 / 3.0) as f32);
    assert_eq!(&w[..6], &[0.0, 0.0, third, third, third, 0.0]);
    assert_eq!(&w[..6], &w[6..]);
}

#[test]
fn analytic_sfh() {
    let g = golden();
    let m = meta();
    let lib = ssp();
    for (name, kind, n_sub) in [
        ("ExponentialSFH_nsub16", AnalyticKind::Exponential, 16),
        ("ExponentialSFH_nsub1", AnalyticKind::Exponential, 1),
        (
            "DelayedExponentialSFH_nsub16",
            AnalyticKind::DelayedExponential,
            16,
        ),
    ] {
        let model = AnalyticSfh::new(kind, &lib, n_sub).unwrap();
        assert_eq!(model.param_names(), json_names(&m[name]["param_names"]));
        // Default bounds: float64 arithmetic on float32 ages, as the reference.
        check(
            &format!("{name}.domain"),
            &bounds_flat(&model.domain()),
            &json_bounds(&m[name]["bounds_default"]),
            1e-13,
            0.0,
        );
        // The sub-grid of ages: the reference takes log10 of the float32 bin edges with NumPy's
        // vectorised float32 log10, which is not correctly rounded (log10(1e6) = 6 + 1 ulp; we
        // round correctly). Every exponent of the float32 logspace may therefore differ by up to
        // ~2 float32 ulps (≤ 1.9e−6 for exponents in [8, 16)), i.e. t by ≤ ln10·1.9e−6 ≈ 4.4e−6
        // relative. Tolerance: 5e−6 relative. (The bin masses below still meet the general
        // tolerance: the shifted nodes only move mass between sub-steps of a bin.)
        let t_age: Vec<f64> = model.t_age().iter().map(|&t| f64::from(t)).collect();
        check(
            &format!("{name}.t_age"),
            &t_age,
            &get1(&g, &format!("{name}.t_age")),
            0.0,
            5e-6,
        );
        let inp = get2(&g, &format!("{name}.in"));
        let want = flat(&g[&format!("{name}.out")]);
        // The formula, on the reference's own sub-grid: the general float32 tolerance.
        let golden_grid: Vec<f32> = get1(&g, &format!("{name}.t_age"))
            .iter()
            .map(|&t| t as f32)
            .collect();
        let on_ref_grid = AnalyticSfh::with_t_age(kind, &lib, n_sub, golden_grid).unwrap();
        check_f32(
            &format!("{name} (reference t_age)"),
            &values(on_ref_grid.forward(tensor(&inp))),
            &want,
        );
        // On our correctly rounded grid: in the bin holding t₀ the delayed SFR (t₀ − t)·e^{t/τ}
        // nearly vanishes and the few-ppm shift of the nodes next to t₀ changes that bin's tiny
        // mass by up to ~2e−4 of itself (≈1e−7 of the row's largest bin). Tolerance relative to
        // the row: |a − b| ≤ 1e−5·max_row|b| (the weights are used normalised).
        let got = values(model.forward(tensor(&inp)));
        let scale: Vec<f64> = want
            .chunks(6)
            .flat_map(|r| [r.iter().fold(0.0f64, |m, v| m.max(v.abs())); 6])
            .collect();
        let got_s: Vec<f64> = got.iter().zip(&scale).map(|(a, s)| a / s).collect();
        let want_s: Vec<f64> = want.iter().zip(&scale).map(|(a, s)| a / s).collect();
        check(
            &format!("{name} (own t_age, / row max)"),
            &got_s,
            &want_s,
            1e-5,
            0.0,
        );
    }
    assert!(AnalyticSfh::new(AnalyticKind::Exponential, &lib, 0).is_err());
}

#[test]
fn interpolated_sfh_and_mh() {
    let g = golden();
    let m = meta();
    let lib = ssp();
    let sfh = InterpolatedSfh::new(&lib);
    assert_eq!(
        sfh.param_names(),
        json_names(&m["InterpolatedSFH"]["param_names"])
    );
    // The grid is float32 log10 of the float32 ages: the bounds are float32 values, exactly.
    check(
        "InterpolatedSFH.domain",
        &bounds_flat(&sfh.domain()),
        &json_bounds(&m["InterpolatedSFH"]["bounds_default"]),
        0.0,
        0.0,
    );
    let inp = get2(&g, "InterpolatedSFH.in");
    check_f32(
        "InterpolatedSFH",
        &values(sfh.forward(tensor(&inp))),
        &flat(&g["InterpolatedSFH.out"]),
    );

    let mh = InterpolatedMh::new(&lib);
    assert_eq!(
        mh.param_names(),
        json_names(&m["InterpolatedMH"]["param_names"])
    );
    check(
        "InterpolatedMH.domain",
        &bounds_flat(&mh.domain()),
        &json_bounds(&m["InterpolatedMH"]["bounds_default"]),
        0.0,
        0.0,
    );
    let inp = get2(&g, "InterpolatedMH.in");
    let out = mh.forward(tensor(&inp));
    assert_eq!(out.dims(), [16, 6, 1]);
    check_f32(
        "InterpolatedMH",
        &values(out),
        &flat(&g["InterpolatedMH.out"]),
    );
}

#[test]
fn closed_box_mh() {
    let g = golden();
    let m = meta();
    let mh = ClosedBoxMh::new(&ssp());
    assert_eq!(
        mh.param_names(),
        json_names(&m["ClosedBoxMH"]["param_names"])
    );
    check(
        "ClosedBoxMH.domain",
        &bounds_flat(&mh.domain()),
        &json_bounds(&m["ClosedBoxMH"]["bounds_default"]),
        1e-13,
        0.0,
    );
    let inp = get2(&g, "ClosedBoxMH.in");
    let sfh = get2(&g, "mh.sfh_in");
    let out = mh.forward(tensor(&inp), tensor(&sfh));
    assert_eq!(out.dims(), [16, 6, 6]);
    check_f32("ClosedBoxMH", &values(out), &flat(&g["ClosedBoxMH.out"]));
}

/// Runs a block on `<name>.in` and compares with `<name>.out`, names and `<name>.bounds`.
fn check_block(
    g: &HashMap<String, ArrayD<f64>>,
    m: &serde_json::Value,
    name: &str,
    block: &ParamBlock,
) {
    assert_eq!(
        block.free_names(),
        json_names(&m[name]["param_names"]),
        "{name}: names"
    );
    assert_eq!(
        block.boundary().name(),
        m[name]["boundary"].as_str().unwrap(),
        "{name}: boundary"
    );
    // Bounds: float64 (the physical → unit conversions agree to rounding).
    check(
        &format!("{name}.bounds"),
        &bounds_flat(&block.free_bounds()),
        &flat(&g[&format!("{name}.bounds")]),
        1e-14,
        1e-14,
    );
    let inp = get2(g, &format!("{name}.in"));
    let out = block.apply_with_rng(
        Some(tensor(&inp)),
        inp.nrows(),
        &Device::flex(),
        &mut ChaCha8Rng::seed_from_u64(0),
    );
    check_f32(name, &values(out), &flat(&g[&format!("{name}.out")]));
}

#[test]
fn galaxy_parameter() {
    let g = golden();
    let m = meta();
    for (name, boundary) in [
        ("GalaxyParameter_default", Boundary::Clipping),
        ("GalaxyParameter_reflecting", Boundary::Reflecting),
        ("GalaxyParameter_none", Boundary::None),
    ] {
        check_block(&g, &m, name, &ParamBlock::galaxy(boundary));
    }
    // Physical bounds and fixed values: theta 10–60 deg (swapped in unit space), l_norm
    // 1e8–1e11 L_sun, b_to_t 0.1–0.8; den_dust = 1e5 M_sun/kpc², r_bulge = 1 kpc fixed.
    let name = "GalaxyParameter_bounds_fixed";
    let mut block = ParamBlock::galaxy(Boundary::Clipping);
    block.set_physical_bounds("theta", 10.0, 60.0).unwrap();
    block.set_physical_bounds("l_norm", 1e8, 1e11).unwrap();
    block.set_physical_bounds("b_to_t", 0.1, 0.8).unwrap();
    block.fix_physical("den_dust", 1e5).unwrap();
    block.fix_physical("r_bulge", 1.0).unwrap();
    let defaults: Vec<f64> = block
        .fixed()
        .iter()
        .map(|f| f64::from(f.unwrap_or(0.0) as f32))
        .collect();
    check(
        "params_default",
        &defaults,
        &json_bounds(&serde_json::json!([m[name]["params_default"]])),
        0.0,
        0.0,
    );
    check_block(&g, &m, name, &block);
}

#[test]
fn vanilla_grid() {
    let g = golden();
    let m = meta();
    let lib = ssp();
    for (name, simplex) in [
        ("VanillaGrid_default", false),
        ("VanillaGrid_simplex", true),
    ] {
        check_block(
            &g,
            &m,
            name,
            &ParamBlock::vanilla(VanillaGrid::new(&lib, simplex), Boundary::Clipping),
        );
    }
}

#[test]
fn composite_grid() {
    let g = golden();
    let m = meta();
    let lib = ssp();
    let exp = || SfhModel::Analytic(AnalyticSfh::new(AnalyticKind::Exponential, &lib, 16).unwrap());
    let dexp = || {
        SfhModel::Analytic(AnalyticSfh::new(AnalyticKind::DelayedExponential, &lib, 16).unwrap())
    };
    let cases = [
        (
            "CompositeGrid_Interp_Interp",
            SfhModel::Interpolated(InterpolatedSfh::new(&lib)),
            MhModel::Interpolated(InterpolatedMh::new(&lib)),
        ),
        (
            "CompositeGrid_Exp_ClosedBox",
            exp(),
            MhModel::ClosedBox(ClosedBoxMh::new(&lib)),
        ),
        (
            "CompositeGrid_DelayedExp_Interp",
            dexp(),
            MhModel::Interpolated(InterpolatedMh::new(&lib)),
        ),
    ];
    for (name, sfh, mh) in cases {
        let block = ParamBlock::composite(CompositeGrid::new(sfh, mh, &lib), Boundary::Clipping);
        check_block(&g, &m, name, &block);
    }
}

// ---------------------------------------------------------------------------------------------
// The tutorial parametrisation (`golden/fitting_tutorial.npz`)
// ---------------------------------------------------------------------------------------------

#[test]
fn tutorial_batch() {
    let t = npz("golden/fitting_tutorial.npz");
    let param = Parametrization::tutorial(&ssp());
    assert_eq!(param.n_params(), 11);
    assert_eq!(
        param.names(),
        [
            "theta",
            "den_dust",
            "r_dust_to_rd",
            "r_disk",
            "r_bulge",
            "l_norm",
            "b_to_t",
            "log_tau_disk",
            "log_met_disk",
            "log_tau_bulge",
            "log_met_bulge"
        ]
    );
    check(
        "tutorial.bounds",
        &bounds_flat(&param.bounds()),
        &flat(&t["bounds"]),
        0.0,
        0.0,
    );
    let p = get2(&t, "batch_params");
    let out = param.apply(tensor(&p));
    check_f32(
        "batch_adapter_gp_f32",
        &values(out.gp),
        &flat(&t["batch_adapter_gp_f32"]),
    );
    check_f32(
        "batch_adapter_sfh_disk_f32",
        &values(out.sfh_disk),
        &flat(&t["batch_adapter_sfh_disk_f32"]),
    );
    check_f32(
        "batch_adapter_sfh_bulge_f32",
        &values(out.sfh_bulge),
        &flat(&t["batch_adapter_sfh_bulge_f32"]),
    );
    // The gradient-free convenience gives the same numbers.
    let (gp, sd, sb) = param.apply_rows(p.view());
    let f = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    check_f32("apply_rows gp", &f(gp), &flat(&t["batch_adapter_gp_f32"]));
    check_f32(
        "apply_rows sfh_disk",
        &f(sd),
        &flat(&t["batch_adapter_sfh_disk_f32"]),
    );
    check_f32(
        "apply_rows sfh_bulge",
        &f(sb),
        &flat(&t["batch_adapter_sfh_bulge_f32"]),
    );
    // The batch is drawn inside the bounds.
    assert!(
        p.rows()
            .into_iter()
            .all(|r| !param.out_of_bounds(&r.to_vec()))
    );
    // The tutorial is `ParamConfig::tutorial`; the default has one simplex weight per age.
    let from_cfg = Parametrization::from_config(&ParamConfig::tutorial(), &ssp()).unwrap();
    assert_eq!(from_cfg.names(), param.names());
    let default = Parametrization::from_config(&ParamConfig::default(), &ssp()).unwrap();
    assert_eq!(default.n_params(), 7 + 2 * (6 + 1));
}

// ---------------------------------------------------------------------------------------------
// Gradients through `apply` on an autodiff device
// ---------------------------------------------------------------------------------------------

/// Fixed weights c_k ∈ [0.5, 1.5] of the scalar test function L = Σ c·(gp, sfh_disk, sfh_bulge).
fn weights(n: usize, salt: f64) -> Vec<f64> {
    (0..n)
        .map(|k| 1.0 + 0.5 * ((k as f64 + 1.0) * 0.7 + salt).sin())
        .collect()
}

/// Per-row L of the model inputs, summed in float64 from the float32 outputs.
fn row_losses(param: &Parametrization, p: &Array2<f64>) -> Vec<f64> {
    let (gp, sd, sb) = param.apply_rows(p.view());
    let (cg, cd, cb) = (weights(7, 0.1), weights(36, 0.2), weights(36, 0.3));
    (0..p.nrows())
        .map(|r| {
            let dot = |v: &[f32], c: &[f64]| {
                let w = c.len();
                v[r * w..(r + 1) * w]
                    .iter()
                    .zip(c)
                    .map(|(&a, &b)| f64::from(a) * b)
                    .sum::<f64>()
            };
            dot(&gp, &cg) + dot(&sd, &cd) + dot(&sb, &cb)
        })
        .collect()
}

/// dL/dp by autodiff (through `apply` on `Device::flex().autodiff()`), one row per input row.
fn autodiff_grad(param: &Parametrization, p: &Array2<f64>) -> Array2<f64> {
    let device = Device::flex().autodiff();
    let (n, w) = p.dim();
    let v: Vec<f32> = p.iter().map(|&x| x as f32).collect();
    let x = Tensor::<2>::from_data(TensorData::new(v, [n, w]), &device).require_grad();
    let out = param.apply(x.clone());
    let row = |c: Vec<f64>| {
        let k = c.len();
        Tensor::<2>::from_data(
            TensorData::new(c.into_iter().map(|v| v as f32).collect::<Vec<_>>(), [1, k]),
            &device,
        )
    };
    let loss = (out.gp * row(weights(7, 0.1))).sum()
        + (out.sfh_disk * row(weights(36, 0.2))).sum()
        + (out.sfh_bulge * row(weights(36, 0.3))).sum();
    let grads = loss.backward();
    let g = x.grad(&grads).expect("gradient of the parameters");
    Array2::from_shape_vec((n, w), values(g)).unwrap()
}

/// Compares autodiff gradients with central differences of the float32 forward map.
///
/// Step h = 1e−3 × (bound width); the float32 rounding of L (≈1e−7 relative, L ≈ 5–60) then
/// contributes ≲ 1e−4 to the difference quotient and the truncation error O(h²·L‴) is of the
/// same order for these smooth, moderately curved maps. Tolerance |g − fd| ≤ 2e−3 + 2e−3·|fd|.
/// Test points avoid kinks (interpolation nodes, sub-grid ages, the bounds of clipping).
fn check_gradient(name: &str, param: &Parametrization, p: &Array2<f64>) {
    let g = autodiff_grad(param, p);
    let bounds = param.bounds();
    let names = param.names();
    let (mut worst, mut worst_abs) = (0.0f64, 0.0f64);
    for j in 0..p.ncols() {
        let h = 1e-3 * (bounds[j].1 - bounds[j].0);
        let (mut hi, mut lo) = (p.clone(), p.clone());
        hi.column_mut(j).mapv_inplace(|v| v + h);
        lo.column_mut(j).mapv_inplace(|v| v - h);
        let (lh, ll) = (row_losses(param, &hi), row_losses(param, &lo));
        for r in 0..p.nrows() {
            // The parameters the device sees are float32: use the actual step.
            let step = f64::from((p[[r, j]] + h) as f32) - f64::from((p[[r, j]] - h) as f32);
            let fd = (lh[r] - ll[r]) / step;
            let d = (g[[r, j]] - fd).abs();
            let ratio = d / (2e-3 + 2e-3 * fd.abs());
            worst_abs = worst_abs.max(d);
            worst = worst.max(ratio);
            assert!(
                ratio <= 1.0,
                "{name}: d/d{} row {r}: autodiff {} vs finite difference {fd}",
                names[j],
                g[[r, j]]
            );
        }
    }
    eprintln!("{name}: max |autodiff − fd| = {worst_abs:.3e}, worst/tol = {worst:.3}");
}

/// Rows at fractions `f` of each parameter's bound width.
fn rows_at(param: &Parametrization, fracs: &[&[f64]]) -> Array2<f64> {
    let b = param.bounds();
    let mut a = Array2::zeros((fracs.len(), b.len()));
    for (r, f) in fracs.iter().enumerate() {
        for (j, &(lo, hi)) in b.iter().enumerate() {
            a[[r, j]] = lo + f[j % f.len()] * (hi - lo);
        }
    }
    a
}

#[test]
fn gradient_tutorial() {
    let param = Parametrization::tutorial(&ssp());
    let p = rows_at(
        &param,
        &[
            &[0.31, 0.62, 0.47, 0.23, 0.71, 0.55, 0.38],
            &[0.77, 0.13, 0.66, 0.41, 0.29],
        ],
    );
    check_gradient("tutorial", &param, &p);
    // Clipping: zero derivative beyond the bounds, 1 inside (the galaxy block is the identity).
    let mut out = p.clone();
    out[[0, 0]] = 1.2;
    let g = autodiff_grad(&param, &out);
    assert_eq!(g[[0, 0]], 0.0);
    let c = weights(7, 0.1);
    assert!((g[[0, 1]] - c[1]).abs() < 1e-6 && (g[[1, 0]] - c[0]).abs() < 1e-6);
}

#[test]
fn gradient_analytic_closed_box_reflecting() {
    let lib = ssp();
    let cfg = ParamConfig {
        boundary: Boundary::Reflecting,
        sfh: SfhConfig::DelayedExponential { n_sub: 16 },
        mh: Some(MhConfig::ClosedBox {}),
        fixed: [("r_bulge".to_string(), 1.0)].into(),
        bounds: [("theta".to_string(), [10.0, 70.0])].into(),
        ..Default::default()
    };
    let param = Parametrization::from_config(&cfg, &lib).unwrap();
    assert_eq!(param.n_params(), 6 + 4 + 4);
    let mut p = rows_at(
        &param,
        &[
            &[0.35, 0.6, 0.45, 0.52, 0.3, 0.7],
            &[0.65, 0.25, 0.4, 0.48, 0.55, 0.62, 0.8],
        ],
    );
    // log10 t0 midway between two sub-grid ages (the truncation has kinks at the nodes).
    let t_age = AnalyticSfh::new(AnalyticKind::DelayedExponential, &lib, 16)
        .unwrap()
        .t_age()
        .to_vec();
    let mid = |i: usize| 0.5 * (f64::from(t_age[i]).log10() + f64::from(t_age[i + 1]).log10());
    for (r, (i_d, i_b)) in [(60, 75), (82, 40)].into_iter().enumerate() {
        p[[r, param.index_of("log10_t0_disk").unwrap()]] = mid(i_d);
        p[[r, param.index_of("log10_t0_bulge").unwrap()]] = mid(i_b);
    }
    // Reflecting is smooth outside the bounds too.
    p[[0, 0]] = 1.08;
    p[[1, 2]] = -1.1;
    check_gradient("delayed exponential + closed box, reflecting", &param, &p);
}

#[test]
fn gradient_discrete_vanilla_exponential() {
    let lib = ssp();
    let discrete = ParamConfig {
        sfh: SfhConfig::Discrete {
            bins: Some(vec![[0, 2], [2, 3], [3, 6]]),
            simplex: true,
        },
        shared_sfh: true,
        boundary: Boundary::None,
        ..Default::default()
    };
    let param = Parametrization::from_config(&discrete, &lib).unwrap();
    assert_eq!(param.names()[7..], ["c_0", "c_1", "c_2", "log_met"]);
    let p = rows_at(
        &param,
        &[
            &[0.3, 0.6, 0.45, 0.52, 0.7],
            &[0.65, 0.25, 0.4, 0.18, 0.55, 0.62],
        ],
    );
    check_gradient("discrete (shared, simplex)", &param, &p);

    let vanilla = ParamConfig {
        sfh: SfhConfig::Vanilla { simplex: true },
        ..Default::default()
    };
    let param = Parametrization::from_config(&vanilla, &lib).unwrap();
    assert_eq!(param.n_params(), 7 + 72);
    let p = rows_at(&param, &[&[0.3, 0.6, 0.45, 0.52, 0.7, 0.2, 0.9, 0.35]]);
    check_gradient("vanilla (simplex)", &param, &p);

    let exp = ParamConfig {
        sfh: SfhConfig::Exponential { n_sub: 16 },
        ..Default::default()
    };
    let param = Parametrization::from_config(&exp, &lib).unwrap();
    let mut p = rows_at(&param, &[&[0.3, 0.6, 0.45, 0.52, 0.7, 0.2, 0.9, 0.35, 0.5]]);
    let t_age = AnalyticSfh::new(AnalyticKind::Exponential, &lib, 16)
        .unwrap()
        .t_age()
        .to_vec();
    let mid = |i: usize| 0.5 * (f64::from(t_age[i]).log10() + f64::from(t_age[i + 1]).log10());
    p[[0, param.index_of("log10_t0_disk").unwrap()]] = mid(70);
    p[[0, param.index_of("log10_t0_bulge").unwrap()]] = mid(90);
    check_gradient("exponential", &param, &p);
}

// ---------------------------------------------------------------------------------------------
// Boundaries, sharing, bounds checks
// ---------------------------------------------------------------------------------------------

#[test]
fn absorbing_is_seeded() {
    let lib = ssp();
    let cfg = ParamConfig {
        boundary: Boundary::Absorbing,
        seed: 7,
        ..Default::default()
    };
    let param = Parametrization::from_config(&cfg, &lib).unwrap();
    let mut p = rows_at(&param, &[&[0.3, 0.6, 0.45], &[0.65, 0.25, 0.4, 0.18]]);
    p[[0, 0]] = 1.5; // outside: replaced by a draw in [−1, 1)
    p[[1, 7]] = 12.0; // log_tau_disk outside: replaced
    let clone = param.clone();
    let a = param.apply_rows(p.view());
    let b = clone.apply_rows(p.view());
    assert_eq!(a, b, "clones continue the same stream");
    let c = param.apply_rows(p.view());
    assert_ne!(a.0[0], c.0[0], "the stream advances");
    param.reseed(7);
    assert_eq!(
        param.apply_rows(p.view()),
        a,
        "reseeding restarts the stream"
    );
    assert!(a.0[0].abs() <= 1.0 && a.0[0] != 1.5);
    // In-range values pass unchanged.
    for j in 1..7 {
        assert_eq!(f64::from(a.0[j]), f64::from(p[[0, j]] as f32));
    }
    let s: f32 = a.1[36..].iter().sum();
    assert!((s - 1.0).abs() < 1e-5);
}

#[test]
fn shared_sfh_and_bounds() {
    let lib = ssp();
    let cfg = ParamConfig {
        shared_sfh: true,
        ..ParamConfig::tutorial()
    };
    let param = Parametrization::from_config(&cfg, &lib).unwrap();
    assert_eq!(param.n_params(), 9);
    assert_eq!(param.names()[7..], ["log_tau", "log_met"]);
    assert!(param.shared_sfh());
    let p = rows_at(&param, &[&[0.3, 0.6, 0.45, 0.52]]);
    let (_, sd, sb) = param.apply_rows(p.view());
    assert_eq!(sd, sb);

    let tut = Parametrization::tutorial(&lib);
    let mut row = vec![0.0; 11];
    row[7] = 8.0;
    row[8] = -1.0;
    row[9] = 8.0;
    row[10] = -1.0;
    assert!(!tut.out_of_bounds(&row));
    row[0] = 1.0; // on the bound: outside the open box, like the reference's check_bounds
    assert!(tut.out_of_bounds(&row));
    row[0] = f64::NAN;
    assert!(tut.out_of_bounds(&row));
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

fn from_json(text: &str) -> Result<Parametrization, ParamError> {
    let cfg: ParamConfig = serde_json::from_str(text).expect("valid config syntax");
    Parametrization::from_config(&cfg, &ssp())
}

#[test]
fn config_parses_and_round_trips() {
    let text = r#"{
        "boundary": "reflecting", "seed": 3, "shared_sfh": false,
        "sfh": {"model": "discrete", "bins": [[0, 2], [2, 6]]},
        "mh": {"model": "closed_box"},
        "bounds": {"theta": [10.0, 60.0], "l_norm": [1e8, 1e11], "c_0_bulge": [0.1, 0.9]},
        "fixed": {"r_bulge": 1.0, "log10_frac_disk": -1.0}
    }"#;
    let cfg: ParamConfig = serde_json::from_str(text).unwrap();
    let param = Parametrization::from_config(&cfg, &ssp()).unwrap();
    assert_eq!(
        param.names(),
        [
            "theta",
            "den_dust",
            "r_dust_to_rd",
            "r_disk",
            "l_norm",
            "b_to_t",
            "c_0_disk",
            "log10_met_max_disk",
            "c_0_bulge",
            "log10_met_max_bulge",
            "log10_frac_bulge"
        ]
    );
    let b = param.bounds();
    assert!(
        (b[0].0 - 0.0).abs() < 1e-15
            && (b[0].1 - (2.0 * 10f64.to_radians().cos() - 1.0)).abs() < 1e-15
    );
    assert_eq!(b[4], (-0.5, 0.25));
    assert_eq!(b[8], (0.1, 0.9));
    let back: ParamConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
    // Defaults: an empty document is the default set-up.
    let empty: ParamConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, ParamConfig::default());
    let exp: ParamConfig = serde_json::from_str(r#"{"sfh": {"model": "exponential"}}"#).unwrap();
    assert_eq!(exp.sfh, SfhConfig::Exponential { n_sub: 16 });
    // Syntax errors are serde errors.
    for bad in [
        r#"{"boundary": "sticky"}"#,
        r#"{"sfh": {"model": "bursty"}}"#,
        r#"{"sfh": {"model": "exponential", "nsub": 4}}"#,
        r#"{"sfh": {"model": "interpolated", "n_sub": 4}}"#,
        r#"{"mh": {"model": "closed_box", "simplex": true}}"#,
        r#"{"unknown": 1}"#,
        r#"{"bounds": {"theta": [1.0]}}"#,
    ] {
        assert!(
            serde_json::from_str::<ParamConfig>(bad).is_err(),
            "{bad} should not parse"
        );
    }
}

#[test]
fn config_errors() {
    let err = |text: &str| from_json(text).expect_err(text);
    let show = |e: &ParamError| eprintln!("{e}");

    let e = err(r#"{"bounds": {"inclination": [0, 30]}}"#);
    show(&e);
    assert!(
        matches!(&e, ParamError::UnknownName { name, valid } if name == "inclination" && valid.contains("c_0_disk"))
    );
    // With a shared SFH the suffixes do not exist.
    let e = err(r#"{"shared_sfh": true, "fixed": {"log_met_disk": 0.0}}"#);
    assert!(matches!(e, ParamError::UnknownName { .. }));

    for text in [
        r#"{"bounds": {"theta": [60, 10]}}"#,
        r#"{"bounds": {"l_norm": [1e9, 1e9]}}"#,
    ] {
        let e = err(text);
        show(&e);
        assert!(
            matches!(e, ParamError::InvalidBounds { .. }),
            "{text}: {e:?}"
        );
    }
    for (name, b) in [
        ("b_to_t", [f64::NAN, 0.5]),
        ("log_tau_disk", [7.0, f64::INFINITY]),
    ] {
        let cfg = ParamConfig {
            bounds: [(name.to_string(), b)].into(),
            ..ParamConfig::tutorial()
        };
        assert!(
            matches!(
                Parametrization::from_config(&cfg, &ssp()),
                Err(ParamError::InvalidBounds { .. })
            ),
            "{name}"
        );
    }

    for text in [
        r#"{"bounds": {"theta": [0, 100]}}"#,
        r#"{"bounds": {"l_norm": [1e5, 1e10]}}"#,
        r#"{"bounds": {"r_disk": [-1, 1]}}"#,
        r#"{"sfh": {"model": "interpolated"}, "bounds": {"log_tau_bulge": [5.0, 9.0]}}"#,
        r#"{"sfh": {"model": "exponential"}, "bounds": {"log10_t0_disk": [8.0, 10.5]}}"#,
    ] {
        let e = err(text);
        show(&e);
        assert!(
            matches!(e, ParamError::BoundsOutsideDomain { .. }),
            "{text}: {e:?}"
        );
    }
    let e = err(r#"{"bounds": {"theta": [0, 100]}}"#);
    assert!(e.to_string().contains("[0, 90] deg"), "{e}");

    for text in [
        r#"{"fixed": {"b_to_t": 1.5}}"#,
        r#"{"fixed": {"r_bulge": 0.0}}"#,
        r#"{"fixed": {"log_met_disk": 1.0}}"#,
    ] {
        let e = err(text);
        show(&e);
        assert!(
            matches!(e, ParamError::FixedOutsideDomain { .. }),
            "{text}: {e:?}"
        );
    }

    let e = err(r#"{"fixed": {"theta": 30}, "bounds": {"theta": [10, 60]}}"#);
    show(&e);
    assert!(matches!(e, ParamError::FixedAndBounded { .. }));

    for text in [
        r#"{"sfh": {"model": "discrete", "bins": [[0, 2], [1, 6]]}}"#,
        r#"{"sfh": {"model": "discrete", "bins": [[2, 2]]}}"#,
        r#"{"sfh": {"model": "discrete", "bins": [[0, 7]]}}"#,
        r#"{"sfh": {"model": "discrete", "bins": []}}"#,
    ] {
        let e = err(text);
        show(&e);
        assert!(matches!(e, ParamError::SfhBins(_)), "{text}: {e:?}");
    }
    for text in [
        r#"{"sfh": {"model": "exponential", "n_sub": 0}}"#,
        r#"{"sfh": {"model": "vanilla"}, "mh": {"model": "interpolated"}}"#,
        r#"{"shared_sfh": true, "sfh": {"model": "interpolated"}, "fixed": {"theta": 30, "den_dust": 1e5, "r_dust_to_rd": 1, "r_disk": 3,
            "r_bulge": 1, "l_norm": 1e10, "b_to_t": 0.2, "log_tau": 8, "log_met": 0}}"#,
    ] {
        let e = err(text);
        show(&e);
        assert!(matches!(e, ParamError::Config(_)), "{text}: {e:?}");
    }
}
