//! Swarm-seeded multi-start L-BFGS-B ([`MultiStart`]): a short particle swarm finds the
//! basins, local searches with exact gradients find their minima.

use serde::{Deserialize, Serialize};

use super::{Lbfgsb, Objective, OptimError, ParticleSwarm, checked_bounds, non_negative, positive};

/// Multi-start L-BFGS-B seeded by a short particle swarm.
///
/// 1. **Swarm:** [`ParticleSwarm`] with few iterations (default 32 particles × 100 iterations ×
///    8 independent restarts, all evaluated in one batch per iteration). It does not converge,
///    but each restart's best lies in a deep basin, and the restarts explore different ones.
/// 2. **Local searches:** L-BFGS-B from each restart's best, in order of value, skipping one that
///    lies within `min_separation` (a fraction of each box width, in the infinity norm) of an
///    earlier start or of an optimum already found.
///
/// The result is the lowest local minimum; [`MultiStartResult::n_agree`] counts the searches
/// that ended within `agree_tol` of it. On the tutorial posterior this reaches the optimum of
/// the paper's swarm (32 × 2000 × 10, 640 320 evaluations) with about a twentieth of the work;
/// `docs/fitting.md` has the measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultiStart {
    /// The swarm that seeds the local searches (default 32 particles × 100 iterations × 8
    /// restarts, otherwise [`ParticleSwarm`]'s defaults).
    pub swarm: ParticleSwarm,
    /// Settings of the local searches (default: `ftol` 1e-7, otherwise [`Lbfgsb`]'s defaults).
    pub local: Lbfgsb,
    /// Starts closer than this to an earlier start or optimum, in each coordinate as a fraction
    /// of its box width, are skipped (default 0.01).
    pub min_separation: f64,
    /// Local searches "agree" when their values are within this of the best (default 0.05 in
    /// −ln p).
    pub agree_tol: f64,
}

impl Default for MultiStart {
    fn default() -> Self {
        Self {
            swarm: ParticleSwarm {
                n_iterations: 100,
                n_restarts: 8,
                ..ParticleSwarm::default()
            },
            local: Lbfgsb {
                ftol: 1e-7,
                ..Lbfgsb::default()
            },
            min_separation: 0.01,
            agree_tol: 0.05,
        }
    }
}

/// One local search of [`MultiStart`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalSearch {
    /// Starting point (a swarm restart's best).
    pub start: Vec<f64>,
    /// Objective at `start`.
    pub start_value: f64,
    /// End point.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Objective evaluations (values and gradients) spent.
    pub n_evaluations: usize,
}

/// Result of [`MultiStart::minimize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiStartResult {
    /// Best point found.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Every local search, in the order they ran.
    pub searches: Vec<LocalSearch>,
    /// Objective evaluations in total (swarm, values and gradients).
    pub n_evaluations: usize,
    /// Local searches whose value is within `agree_tol` of the best.
    pub n_agree: usize,
    /// At least two local searches, from different swarms, ended at the best value.
    pub agree: bool,
    /// `max − min` of the local searches' values.
    pub spread: f64,
}

impl MultiStart {
    fn validate(&self) -> Result<(), OptimError> {
        positive("agree_tol", self.agree_tol)?;
        non_negative("min_separation", self.min_separation)
    }

    /// Minimise `obj` over its box.
    pub fn minimize<O: Objective + ?Sized>(&self, obj: &O) -> Result<MultiStartResult, OptimError> {
        self.minimize_with_progress(obj, &mut |_, _| {})
    }

    /// [`minimize`](Self::minimize), calling `progress(step, total)` after every swarm
    /// iteration and every local search (total = swarm iterations + swarm restarts).
    pub fn minimize_with_progress<O: Objective + ?Sized>(
        &self,
        obj: &O,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<MultiStartResult, OptimError> {
        self.validate()?;
        let bounds = checked_bounds(obj)?;
        let n_swarm = self.swarm.n_iterations;
        let total = n_swarm + self.swarm.n_restarts;
        let swarm = self
            .swarm
            .minimize_with_progress(obj, &mut |i, _| progress(i, total))?;
        let mut starts: Vec<(f64, Vec<f64>)> = swarm
            .restarts
            .into_iter()
            .filter(|r| r.value.is_finite())
            .map(|r| (r.value, r.x))
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));

        let width: Vec<f64> = bounds.iter().map(|(lo, hi)| hi - lo).collect();
        let near = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .zip(&width)
                .all(|((p, q), w)| (p - q).abs() <= self.min_separation * w)
        };
        let mut searches: Vec<LocalSearch> = vec![];
        let mut n_evaluations = swarm.n_evaluations;
        for (k, (start_value, start)) in starts.into_iter().enumerate() {
            progress(n_swarm + k + 1, total);
            if searches
                .iter()
                .any(|s| near(&start, &s.start) || near(&start, &s.x))
            {
                continue;
            }
            let r = self.local.minimize(obj, &start)?;
            let spent = r.n_value_evals + r.n_grad_evals;
            n_evaluations += spent;
            // A local search never returns a point worse than its start.
            let (x, value) = if r.value <= start_value {
                (r.x, r.value)
            } else {
                (start.clone(), start_value)
            };
            searches.push(LocalSearch {
                start,
                start_value,
                x,
                value,
                n_evaluations: spent,
            });
        }
        let Some(best) = searches
            .iter()
            .min_by(|a, b| a.value.total_cmp(&b.value))
            .cloned()
        else {
            return Err(OptimError::NoFiniteValue(
                "every swarm of the multi-start ended without a valid point".into(),
            ));
        };
        let n_agree = searches
            .iter()
            .filter(|s| s.value <= best.value + self.agree_tol)
            .count();
        let worst = searches.iter().map(|s| s.value).fold(best.value, f64::max);
        Ok(MultiStartResult {
            x: best.x,
            value: best.value,
            n_agree,
            agree: n_agree >= 2,
            spread: worst - best.value,
            searches,
            n_evaluations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayView2;

    /// Two wells on [−2, 2]²: a shallow one at (−1, −1) with the larger basin, and the global
    /// one, 0.5 deeper, at (1.2, 1.2).
    struct TwoWells;

    impl TwoWells {
        fn f(x: &[f64]) -> f64 {
            let a: f64 = x.iter().map(|v| (v + 1.0).powi(2)).sum();
            let b: f64 = x.iter().map(|v| (v - 1.2).powi(2)).sum();
            -(-a).exp() - 1.5 * (-4.0 * b).exp()
        }
    }

    impl Objective for TwoWells {
        fn dim(&self) -> usize {
            2
        }
        fn bounds(&self) -> Vec<(f64, f64)> {
            vec![(-2.0, 2.0); 2]
        }
        fn values(&self, x: ArrayView2<f64>) -> Vec<f64> {
            x.rows()
                .into_iter()
                .map(|r| Self::f(r.as_slice().unwrap()))
                .collect()
        }
        fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
            let a: f64 = x.iter().map(|v| (v + 1.0).powi(2)).sum();
            let b: f64 = x.iter().map(|v| (v - 1.2).powi(2)).sum();
            let (ea, eb) = ((-a).exp(), 1.5 * (-4.0 * b).exp());
            let g = x
                .iter()
                .map(|v| 2.0 * (v + 1.0) * ea + 8.0 * (v - 1.2) * eb)
                .collect();
            (-ea - eb, g)
        }
    }

    #[test]
    fn local_searches_finish_a_rough_swarm_in_the_deeper_well() {
        // A swarm far too short to converge: the local searches do the rest.
        let ms = MultiStart {
            swarm: ParticleSwarm {
                n_particles: 8,
                n_iterations: 5,
                n_restarts: 4,
                ..ParticleSwarm::default()
            },
            ..MultiStart::default()
        };
        let r = ms.minimize(&TwoWells).unwrap();
        assert!(r.x.iter().all(|v| (v - 1.2).abs() < 1e-4), "{:?}", r.x);
        // The minimum lies a hair from (1.2, 1.2), pulled by the other well: a stationary point.
        assert!(r.value <= TwoWells::f(&[1.2, 1.2]), "{}", r.value);
        let (_, g) = TwoWells.value_grad(&r.x);
        assert!(g.iter().all(|v| v.abs() < 1e-5), "{g:?}");
        let best_start = r
            .searches
            .iter()
            .map(|s| s.start_value)
            .fold(f64::INFINITY, f64::min);
        assert!(
            best_start > r.value + 1e-6,
            "the swarm alone was already converged"
        );
        assert_eq!(
            r.n_agree,
            r.searches.iter().filter(|s| s.value < -1.45).count()
        );
        assert!(r.spread >= 0.0);
    }

    #[test]
    fn bad_settings_are_errors() {
        let ms = MultiStart {
            agree_tol: 0.0,
            ..MultiStart::default()
        };
        assert!(matches!(ms.minimize(&TwoWells), Err(OptimError::Config(_))));
        let ms = MultiStart {
            min_separation: f64::NAN,
            ..MultiStart::default()
        };
        assert!(matches!(ms.minimize(&TwoWells), Err(OptimError::Config(_))));
    }
}
