//! The hand-written reverse pass of the parametrisations (`ParamTrace::vjp`) against
//! burn-autodiff of the same burn code run in float64 (this test binary configures the flex
//! device for float64 before any tensor exists; the constants are the same float32 values).
//! Both then compute the derivative of the same formulas in float64, so every derivative is
//! checked on its own scale: |vjp − autodiff| ≤ 1e−6 · s_j, s_j the largest |autodiff| of
//! parameter j over the case's rows. What remains is the branch decisions, which burn takes on
//! float64 values here and the trace on float32 values as the float32 forward pass does (e.g.
//! clipped values differ by float32 rounding, ~1e−7 relative).

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
        1e-6,
        false,
    );
    eprintln!("{n} cases, worst {worst:.2e}");
}
