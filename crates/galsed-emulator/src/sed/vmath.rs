//! Float32 transcendental functions written as branch-free scalar code, so that loops over slices
//! run inside [`pulp::Arch::dispatch`] are auto-vectorised for the CPU at hand (AVX-512/AVX2).
//! glibc's `expf`/`tanhf`/`log1pf` are called one element at a time and dominated the profile.
//!
//! Polynomials are those of Cephes (`expf`, `logf`, `tanhf`); errors are a few float32 ulp.

use pulp::{Arch, Simd, WithSimd};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in float32 and a correction (Cephes).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x for x ≤ 88 (larger x give e^88); x below −87 gives e^−87 (no denormals).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 0.166_666_65);
    p = p.mul_add(r, 0.5);
    let e = (p * r).mul_add(r, r) + 1.0;
    // 2^n from the bits of n + 2^23 + 127 (n is integral in [−126, 127]); `n as i32` would be a
    // saturating conversion that LLVM does not vectorise.
    e * f32::from_bits((n + 8_388_735.0).to_bits() << 23)
}

/// ln x for finite x > 0 (normal numbers).
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 126;
    // Mantissa in [0.5, 1).
    let m = f32::from_bits((bits & 0x807f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    let e = (if small { e - 1 } else { e }) as f32;
    let m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut p = 7.037_683_6e-2f32;
    p = p.mul_add(m, -1.151_461e-1);
    p = p.mul_add(m, 1.167_699_9e-1);
    p = p.mul_add(m, -1.242_014_1e-1);
    p = p.mul_add(m, 1.424_932_3e-1);
    p = p.mul_add(m, -1.666_805_8e-1);
    p = p.mul_add(m, 2.000_071_4e-1);
    p = p.mul_add(m, -2.499_999_4e-1);
    p = p.mul_add(m, 3.333_333e-1);
    let y = (p * m * z).mul_add(1.0, e * LN2_LO) - 0.5 * z;
    e.mul_add(LN2_HI, m + y)
}

/// ln(1 + t) for t ≥ 0, accurate also for tiny t.
#[inline(always)]
fn ln_1p(t: f32) -> f32 {
    let u = 1.0 + t;
    // ln(u) corrected for the rounding of 1 + t (Goldberg's trick); exact 0 when u == 1.
    if u == 1.0 { t } else { ln(u) * (t / (u - 1.0)) }
}

/// PyTorch's softplus: x for x > 20, else ln(1 + e^x), evaluated stably as max(x,0) + ln(1+e^−|x|).
#[inline(always)]
pub(crate) fn softplus(x: f32) -> f32 {
    let s = x.max(0.0) + ln_1p(exp(-x.abs()));
    if x > 20.0 { x } else { s }
}

/// 1 / (1 + e^−x).
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x: odd polynomial for |x| < 0.625, 1 − 2/(e^{2|x|} + 1) above (Cephes `tanhf`).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = p.mul_add(z, 2.063_909e-2);
    p = p.mul_add(z, -5.373_971_6e-2);
    p = p.mul_add(z, 1.333_144_2e-1);
    p = p.mul_add(z, -3.333_328e-1);
    let near = (p * z).mul_add(x, x);
    let far = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 { near } else { far }
}

/// A computation to run compiled for the best instruction set of the running CPU.
///
/// `run` must be `#[inline(always)]`, and so must every function it calls that should be
/// vectorised: pulp wraps it in a target-feature function, and only code inlined there is compiled
/// for AVX-512/AVX2 (a closure or fn-item call stays out of line as baseline x86-64 code, calling
/// `fmaf` per element).
pub(crate) trait Kernel {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs a [`Kernel`] for the best instruction set of the running CPU.
pub(crate) fn simd<K: Kernel>(kernel: K) -> K::Output {
    struct Dispatch<K>(K);
    impl<K: Kernel> WithSimd for Dispatch<K> {
        type Output = K::Output;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> K::Output {
            self.0.run()
        }
    }
    Arch::new().dispatch(Dispatch(kernel))
}

/// Element-wise functions applied by [`map_inplace`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Func {
    Tanh,
    Sigmoid,
    Softplus,
    /// 10^(−0.4 x): transmission of an attenuation in magnitudes.
    Transmission,
}

struct MapInplace<'a>(&'a mut [f32], Func);

impl Kernel for MapInplace<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let v = self.0;
        let k = (-0.4 * std::f64::consts::LN_10) as f32;
        match self.1 {
            Func::Tanh => v.iter_mut().for_each(|x| *x = tanh(*x)),
            Func::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
            Func::Softplus => v.iter_mut().for_each(|x| *x = softplus(*x)),
            Func::Transmission => v.iter_mut().for_each(|x| *x = exp(*x * k)),
        }
    }
}

/// Applies `f` to every element, vectorised for the running CPU.
pub(crate) fn map_inplace(v: &mut [f32], f: Func) {
    simd(MapInplace(v, f));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worst relative error against the float64 function over a dense sweep of [lo, hi].
    fn worst(f: impl Fn(f32) -> f32, g: impl Fn(f64) -> f64, lo: f32, hi: f32) -> f64 {
        let n = 200_001;
        (0..n)
            .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
            .map(|x| {
                let want = g(f64::from(x));
                (f64::from(f(x)) - want).abs() / want.abs().max(1e-30)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn accuracy_within_a_few_ulp() {
        let ulp = f64::from(f32::EPSILON);
        assert!(worst(exp, f64::exp, -87.0, 88.0) < 3.0 * ulp);
        assert!(worst(ln, f64::ln, 1e-30, 1e30) < 3.0 * ulp);
        assert!(worst(ln, f64::ln, 0.5, 2.0) < 3.0 * ulp);
        assert!(worst(ln_1p, f64::ln_1p, 0.0, 1.0) < 3.0 * ulp);
        assert!(worst(ln_1p, f64::ln_1p, 0.0, 1e-6) < 3.0 * ulp);
        let softplus64 = |x: f64| if x > 20.0 { x } else { x.exp().ln_1p() };
        assert!(worst(softplus, softplus64, -80.0, 40.0) < 4.0 * ulp);
        assert!(worst(sigmoid, |x| 1.0 / (1.0 + (-x).exp()), -80.0, 80.0) < 4.0 * ulp);
        assert!(worst(tanh, f64::tanh, -12.0, 12.0) < 4.0 * ulp);
        assert!(worst(tanh, f64::tanh, -1e-3, 1e-3) < 4.0 * ulp);
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(30.0), 1.0);
        assert_eq!(tanh(-30.0), -1.0);
        assert_eq!(softplus(25.0), 25.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn vectorised_map_equals_scalar() {
        let v: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let mut w = v.clone();
        map_inplace(&mut w, Func::Tanh);
        for (a, b) in v.iter().zip(&w) {
            assert_eq!(tanh(*a), *b);
        }
    }
}
