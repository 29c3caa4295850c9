//! The hand-written reverse pass of the parametrisations (`ParamTrace::vjp`) against
//! burn-autodiff of the same burn code run in float64 (this test binary configures the flex
//! device for float64 before any tensor exists; the constants are the same float32 values).
//! Both then compute the derivative of the same formulas in float64, so every derivative is
//! checked on its own scale, including those float32 autodiff cannot resolve (see
//! `param_vjp.rs`): |vjp − autodiff| ≤ 1e−9 · s_j, s_j the largest |autodiff| of parameter j
//! over the case's rows.
//!
//! Boundaries `none` and `absorbing` only: they pass float32 values or float32 draws unchanged,
//! so both passes evaluate at the same point. Clipping and reflecting compute the transformed
//! value in the device's float type, float64 here but float32 in the traced forward pass, and
//! some maps amplify that difference (the simplex's −ln(1 − x) at a value clipped to
//! 1 − 5e−7 changes by 1 % between the two); their derivatives are checked against float32
//! autodiff and by hand in `param_vjp.rs`.

mod common;
mod vjp_cases;

use burn::prelude::*;
use burn::tensor::FloatDType;
use galsed_fit::params::Boundary;
use vjp_cases::{Scale, check_all};

#[test]
fn vjp_matches_float64_autodiff() {
    let mut device = Device::flex();
    device
        .configure(FloatDType::F64)
        .expect("float64 before any tensor is created");
    let (n, worst) = check_all(
        2024,
        &[Boundary::None, Boundary::Absorbing],
        Scale::Column,
        1e-9,
        false,
    );
    eprintln!("{n} cases, worst {worst:.2e}");
}
