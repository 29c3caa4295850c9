//! A Wolfe line search for objectives evaluated in single precision ([`NoisyWolfe`]).

use ganesh::core::{EvalCounts, NalgebraProvider, Vector};
use ganesh::traits::{Gradient, LineSearch, LineSearchOutput, LineSearchResult, LineSearchStart};

/// Relative size of the objective's rounding noise that the line search tolerates. The
/// emulator computes in float32 (unit roundoff 6e-8), and −ln p sums tens of terms, so values
/// of the same point moved by 1e-7 of a box width differ by ~1e-6 of |−ln p|.
const NOISE: f64 = 1e-5;
/// Wolfe constants: sufficient decrease and curvature (those of L-BFGS, Nocedal & Wright).
const DELTA: f64 = 1e-4;
const SIGMA: f64 = 0.9;
/// Most objective evaluations per line search.
const MAX_EVALS: usize = 30;

/// Line search for L-BFGS-B on the float32 emulator.
///
/// Strong-Wolfe searches compare values, and near a well-determined optimum the decrease they
/// ask for (≈ α·|∇f|²) falls below the objective's float32 rounding noise long before the
/// gradient is small: they fail, and L-BFGS-B stops far from the minimum. This search tries the
/// quasi-Newton step α = 1 first and accepts a step by the Wolfe conditions or by Hager &
/// Zhang's (2005) approximate-Wolfe conditions, which judge the decrease by the directional
/// derivative and allow the value to rise by the noise level `NOISE`·max(|f|, 1). The bracket
/// is refined by the derivative's sign (safeguarded secant steps), which rounding does not
/// flip. A point where the objective is +∞ (outside the valid region) shortens the step.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoisyWolfe;

impl<P, U, E> LineSearch<f64, NalgebraProvider, P, U, E> for NoisyWolfe
where
    P: Gradient<f64, NalgebraProvider, U, E> + ?Sized,
{
    fn search_from(
        &mut self,
        start: LineSearchStart<'_, f64, NalgebraProvider>,
        direction: &Vector<f64, NalgebraProvider>,
        max_step: Option<f64>,
        problem: &P,
        args: &U,
        evals: &mut EvalCounts,
    ) -> Result<LineSearchResult<f64, NalgebraProvider>, E> {
        let (f0, g0) = (start.fx, start.gradient.dot(direction));
        let failed = || LineSearchOutput {
            alpha: 0.0,
            fx: f0,
            gradient: start.gradient.clone(),
        };
        let alpha_max = max_step.unwrap_or(f64::INFINITY);
        // Not a descent direction (or NaN), or no room to move.
        let descent = g0 < 0.0 && alpha_max > 0.0;
        if !descent {
            return Ok(Err(failed()));
        }
        let eps = NOISE * f0.abs().max(1.0);
        let accept = |a: f64, f: f64, g: f64| {
            let wolfe = f - f0 <= DELTA * a * g0 && g >= SIGMA * g0;
            let approximate = f <= f0 + eps && g <= (2.0 * DELTA - 1.0) * g0 && g >= SIGMA * g0;
            wolfe || approximate
        };
        // Bracket ends as (step, derivative); `lo` always has f ≤ f0 + eps and g < 0.
        let mut lo = (0.0, g0);
        let mut hi: Option<(f64, f64)> = None;
        let mut best: Option<LineSearchOutput<f64, NalgebraProvider>> = None;
        let mut a = alpha_max.min(1.0);
        for _ in 0..MAX_EVALS {
            let x = start.x.add_scaled(direction, a);
            evals.record_fg();
            let (f, grad) = problem.evaluate_with_gradient(&x, args)?;
            let g = grad.dot(direction);
            if f.is_finite() && g.is_finite() {
                if accept(a, f, g) {
                    return Ok(Ok(LineSearchOutput {
                        alpha: a,
                        fx: f,
                        gradient: grad,
                    }));
                }
                if f < best.as_ref().map_or(f0, |b| b.fx) {
                    best = Some(LineSearchOutput {
                        alpha: a,
                        fx: f,
                        gradient: grad,
                    });
                }
            }
            if !f.is_finite() || !g.is_finite() || f > f0 + eps || g >= 0.0 {
                // Past the minimum along the line (or off the valid region).
                hi = Some((a, if g.is_finite() { g } else { f64::NAN }));
            } else {
                // Still descending steeply: the minimum lies beyond `a`.
                lo = (a, g);
                if hi.is_none() && a >= alpha_max {
                    break;
                }
            }
            a = match hi {
                None => (4.0 * a).min(alpha_max),
                Some((b, gb)) => {
                    let (l, gl) = lo;
                    let secant = if gb.is_finite() && gb > gl {
                        l - gl * (b - l) / (gb - gl)
                    } else {
                        0.5 * (l + b)
                    };
                    let margin = 0.1 * (b - l);
                    secant.clamp(l + margin, b - margin)
                }
            };
            if hi.is_some_and(|(b, _)| b - lo.0 <= 1e-12 * b) {
                break;
            }
        }
        // No step met the conditions: take the lowest value seen, if it is lower than f0.
        Ok(best.map_or_else(|| Err(failed()), Ok))
    }
}
