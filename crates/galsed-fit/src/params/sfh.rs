//! Star-formation-history components (spec §5.5): free parameters → weights of the n_age SSP
//! ages, (N, n_age). Discrete and interpolated models give light fractions directly; the
//! analytic (exponential) models give stellar masses formed in each age bin, which
//! [`CompositeGrid`](super::CompositeGrid) converts to light fractions.

use burn::prelude::*;
use galsed_core::ssp::SspLibrary;

use super::ParamError;
use super::tensor::{const2, index1, interp_weights, pow10, simplex};

/// Float32 copies of the library axes, as the reference's `SSPLibrary` stores them.
pub(crate) fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// log10 of float32 values, rounded to float32 (the reference's `torch.log10` on float32).
pub(crate) fn log10_f32(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| f64::from(x).log10() as f32).collect()
}

/// Free weights in age bins (the reference's `DiscreteSFH`).
///
/// Without bins the n_age parameters `c_0 …` are the age weights. With bins `[(b, e), …]`
/// (half-open ranges of age indices, ascending, not overlapping): one bin has no parameter and
/// spreads weight 1 evenly over its ages; two bins have one parameter c (weights c and 1 − c);
/// three or more have one parameter per bin. A bin's weight is spread evenly over its ages;
/// ages outside every bin get 0. With `simplex` (and more than two parameters) the parameters
/// are first mapped from the unit cube to the simplex (x → −ln(1−x), divided by the sum), so
/// the weights sum to 1. Light fractions; bounds [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteSfh {
    pub(super) n_age: usize,
    pub(super) bins: Option<Vec<(usize, usize)>>,
    pub(super) simplex: bool,
}

impl DiscreteSfh {
    /// A discrete SFH on a library with `n_age` ages. Bins are checked (0 ≤ b < e ≤ n_age,
    /// ascending, no overlap, at least one bin).
    pub fn new(
        n_age: usize,
        bins: Option<Vec<(usize, usize)>>,
        simplex: bool,
    ) -> Result<Self, ParamError> {
        if let Some(bins) = &bins {
            if bins.is_empty() {
                return Err(ParamError::SfhBins("at least one bin is needed".into()));
            }
            let mut prev_end = 0;
            for (i, &(b, e)) in bins.iter().enumerate() {
                if e > n_age {
                    return Err(ParamError::SfhBins(format!(
                        "bin {i} = [{b}, {e}] ends beyond the {n_age} ages (indices are 0 … {n_age}, end exclusive)"
                    )));
                }
                if b >= e {
                    return Err(ParamError::SfhBins(format!(
                        "bin {i} = [{b}, {e}] is empty (need start < end)"
                    )));
                }
                if i > 0 && b < prev_end {
                    return Err(ParamError::SfhBins(format!(
                        "bin {i} = [{b}, {e}] overlaps or precedes the previous bin (ending at {prev_end})"
                    )));
                }
                prev_end = e;
            }
        } else if n_age < 3 {
            return Err(ParamError::SfhBins(format!(
                "a discrete SFH without bins needs at least 3 ages, the library has {n_age}"
            )));
        }
        Ok(Self {
            n_age,
            bins,
            simplex,
        })
    }

    /// Number of bins (n_age without bins).
    pub fn n_bins(&self) -> usize {
        self.bins.as_ref().map_or(self.n_age, Vec::len)
    }

    /// Parameter names: none (one bin), `c_0` (two bins) or `c_0 … c_{n−1}`.
    pub fn param_names(&self) -> Vec<String> {
        match self.n_bins() {
            1 => vec![],
            2 => vec!["c_0".into()],
            n => (0..n).map(|i| format!("c_{i}")).collect(),
        }
    }

    /// Model domain of the parameters: [0, 1] each.
    pub fn domain(&self) -> Vec<(f64, f64)> {
        vec![(0.0, 1.0); self.param_names().len()]
    }

    /// Age weights (N, n_age) of parameters (N, n_params) (`None` when there is no parameter).
    pub fn forward(&self, p: Option<Tensor<2>>, n: usize, device: &Device) -> Tensor<2> {
        let n_bins = self.n_bins();
        let Some(bins) = &self.bins else {
            let p = p.expect("a discrete SFH without bins has parameters");
            return if self.simplex { simplex(p) } else { p };
        };
        if n_bins == 1 {
            let (b, e) = bins[0];
            let w = (1.0 / (e - b) as f64) as f32;
            let row: Vec<f32> = (0..self.n_age)
                .map(|a| if (b..e).contains(&a) { w } else { 0.0 })
                .collect();
            return const2(row, [1, self.n_age], device).repeat_dim(0, n);
        }
        let p = p.expect("a discrete SFH with two or more bins has parameters");
        let per_bin = if n_bins == 2 {
            Tensor::cat(vec![p.clone(), p.neg().add_scalar(1.0)], 1)
        } else if self.simplex {
            simplex(p)
        } else {
            p
        };
        // Column a takes its bin's value divided by the bin width (0 outside every bin).
        let mut src = vec![0i64; self.n_age];
        let mut width = vec![1.0f32; self.n_age];
        let mut mask = vec![0.0f32; self.n_age];
        for (i, &(b, e)) in bins.iter().enumerate() {
            for a in b..e {
                src[a] = i as i64;
                width[a] = (e - b) as f32;
                mask[a] = 1.0;
            }
        }
        let spread =
            per_bin.select(1, index1(src, device)) / const2(width, [1, self.n_age], device);
        spread * const2(mask, [1, self.n_age], device)
    }
}

/// One parameter `log_tau` (log10 of the age in yr): linear interpolation weights in log10 τ
/// between the two neighbouring library ages (the reference's `InterpolatedSFH`). Light
/// fractions; bounds [log10 τ_0, log10 τ_last] in float32 (6.345510 … 9.800617 for the built-in
/// library).
#[derive(Debug, Clone, PartialEq)]
pub struct InterpolatedSfh {
    log_tau: Vec<f32>,
}

impl InterpolatedSfh {
    /// The model on a library's ages.
    pub fn new(ssp: &SspLibrary) -> Self {
        Self {
            log_tau: log10_f32(&f32s(&ssp.tau)),
        }
    }

    /// The float32 grid log10 τ.
    pub fn grid(&self) -> &[f32] {
        &self.log_tau
    }

    /// `["log_tau"]`.
    pub fn param_names(&self) -> Vec<String> {
        vec!["log_tau".into()]
    }

    /// [log10 τ_0, log10 τ_last] (float32 values).
    pub fn domain(&self) -> Vec<(f64, f64)> {
        vec![(
            f64::from(self.log_tau[0]),
            f64::from(*self.log_tau.last().expect("ages")),
        )]
    }

    /// Age weights (N, n_age) of `log_tau` (N, 1).
    pub fn forward(&self, p: Tensor<2>) -> Tensor<2> {
        interp_weights(p, &self.log_tau)
    }
}

/// Shape of an analytic star-formation rate as a function of stellar age t (look-back time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticKind {
    /// SFR(t) = exp(t/τ_sf) for t ≤ t₀ (t₀ = age at which star formation started).
    Exponential,
    /// SFR(t) = (t₀ − t)·exp(t/τ_sf) for t ≤ t₀.
    DelayedExponential,
}

/// Exponential or delayed-exponential SFH (the reference's `ExponentialSFH` and
/// `DelayedExponentialSFH`), parameters `log10_tau` (log10 τ_sf \[yr\]) and `log10_t0` (log10 t₀
/// \[yr\]).
///
/// Each age bin (between `tau_edges`) is split into `n_sub` log-uniform sub-steps; the SFR is
/// evaluated at t = min(t_age, t₀) and integrated with the trapezoid rule per sub-step, then
/// summed per bin: the output (N, n_age) is the stellar mass formed in each bin (arbitrary
/// normalisation), which [`CompositeGrid`](super::CompositeGrid) turns into light fractions.
/// Domain: log10_tau ∈ log10 t_max ± 1.5; log10_t0 ∈ [log10 t_min, log10 t_max] with t_min the
/// first edge (exponential) or the second edge (delayed), t_max the last edge.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticSfh {
    kind: AnalyticKind,
    n_sub: usize,
    t_age: Vec<f32>,
    domain: Vec<(f64, f64)>,
}

impl AnalyticSfh {
    /// The model on a library's age bins with `n_sub` ≥ 1 sub-steps per bin (the reference's
    /// default is 16).
    pub fn new(kind: AnalyticKind, ssp: &SspLibrary, n_sub: usize) -> Result<Self, ParamError> {
        if n_sub == 0 {
            return Err(ParamError::Config("n_sub must be at least 1".into()));
        }
        let edges = f32s(&ssp.tau_edges);
        if edges.len() < 3 {
            return Err(ParamError::Ssp(
                "an analytic SFH needs at least two age bins".into(),
            ));
        }
        let log_max = f64::from(*edges.last().expect("edges")).log10();
        let log_min = match kind {
            AnalyticKind::Exponential => f64::from(edges[0]).log10(),
            AnalyticKind::DelayedExponential => f64::from(edges[1]).log10(),
        };
        Ok(Self {
            kind,
            n_sub,
            t_age: t_age_grid(&edges, n_sub),
            domain: vec![(log_max - 1.5, log_max + 1.5), (log_min, log_max)],
        })
    }

    /// Like [`AnalyticSfh::new`] with a given sub-grid of stellar ages \[yr\] instead of the
    /// log-uniform one: n_age·n_sub + 1 finite, positive, strictly increasing values, each run of
    /// `n_sub` steps making up one age bin.
    pub fn with_t_age(
        kind: AnalyticKind,
        ssp: &SspLibrary,
        n_sub: usize,
        t_age: Vec<f32>,
    ) -> Result<Self, ParamError> {
        let mut model = Self::new(kind, ssp, n_sub)?;
        if t_age.len() != model.t_age.len() {
            return Err(ParamError::Config(format!(
                "the age sub-grid needs {} values (n_age·n_sub + 1), got {}",
                model.t_age.len(),
                t_age.len()
            )));
        }
        if !(t_age.iter().all(|t| t.is_finite() && *t > 0.0)
            && t_age.windows(2).all(|w| w[0] < w[1]))
        {
            return Err(ParamError::Config(
                "the age sub-grid must be positive and strictly increasing".into(),
            ));
        }
        model.t_age = t_age;
        Ok(model)
    }

    /// Which SFR shape.
    pub fn kind(&self) -> AnalyticKind {
        self.kind
    }

    /// Sub-steps per age bin.
    pub fn n_sub(&self) -> usize {
        self.n_sub
    }

    /// The float32 sub-grid of stellar ages \[yr\] (n_age·n_sub + 1 points).
    pub fn t_age(&self) -> &[f32] {
        &self.t_age
    }

    /// `["log10_tau", "log10_t0"]`.
    pub fn param_names(&self) -> Vec<String> {
        vec!["log10_tau".into(), "log10_t0".into()]
    }

    /// Model domain of the parameters.
    pub fn domain(&self) -> Vec<(f64, f64)> {
        self.domain.clone()
    }

    /// Mass formed in each age bin (N, n_age) of (log10 τ_sf, log10 t₀) (N, 2).
    pub fn forward(&self, p: Tensor<2>) -> Tensor<2> {
        let device = p.device();
        let [n, _] = p.dims();
        let m = self.t_age.len();
        let pw = pow10(p);
        let tau = pw.clone().narrow(1, 0, 1);
        let t0 = pw.narrow(1, 1, 1);
        // t = t₀·clamp(t_age/t₀, −1, 1) (= min(t_age, t₀), in the reference's float32 order).
        let t_age = const2(self.t_age.clone(), [1, m], &device);
        let t = (t_age / t0.clone()).clamp(-1.0, 1.0) * t0.clone();
        let e = (t.clone() / tau).exp();
        let sfr = match self.kind {
            AnalyticKind::Exponential => e,
            AnalyticKind::DelayedExponential => (t0 - t.clone()) * e,
        };
        let y0 = sfr.clone().narrow(1, 0, m - 1);
        let y1 = sfr.narrow(1, 1, m - 1);
        let dt = t.clone().narrow(1, 1, m - 1) - t.narrow(1, 0, m - 1);
        let mass = (y1 + y0).mul_scalar(0.5) * dt;
        if self.n_sub == 1 {
            mass
        } else {
            let n_age = (m - 1) / self.n_sub;
            mass.reshape([n, n_age, self.n_sub])
                .sum_dim(2)
                .reshape([n, n_age])
        }
    }
}

/// The sub-grid of stellar ages: each bin [e_i, e_{i+1}] split into `n_sub` steps uniform in
/// log10 t, plus the last edge; with `n_sub` = 1 the edges themselves. Reproduces the
/// reference's float32 `torch.logspace` (exponents in float32, the power in float64).
fn t_age_grid(edges: &[f32], n_sub: usize) -> Vec<f32> {
    if n_sub == 1 {
        return edges.to_vec();
    }
    let log_e = log10_f32(edges);
    let steps = n_sub + 1;
    let half = steps / 2;
    let mut t = Vec::with_capacity((edges.len() - 1) * n_sub + 1);
    for w in log_e.windows(2) {
        let (start, end) = (w[0], w[1]);
        let step = (end - start) / (steps - 1) as f32;
        for idx in 0..n_sub {
            let x = if idx < half {
                start + step * idx as f32
            } else {
                end - step * (steps - idx - 1) as f32
            };
            t.push(10f64.powf(f64::from(x)) as f32);
        }
    }
    t.push(*edges.last().expect("edges"));
    t
}

/// A star-formation-history model for [`CompositeGrid`](super::CompositeGrid).
#[derive(Debug, Clone, PartialEq)]
pub enum SfhModel {
    /// Free weights in age bins.
    Discrete(DiscreteSfh),
    /// A single age, interpolated between library ages.
    Interpolated(InterpolatedSfh),
    /// Exponential or delayed-exponential star formation (mass-weighted).
    Analytic(AnalyticSfh),
}

impl SfhModel {
    /// Parameter names (without component suffix).
    pub fn param_names(&self) -> Vec<String> {
        match self {
            SfhModel::Discrete(m) => m.param_names(),
            SfhModel::Interpolated(m) => m.param_names(),
            SfhModel::Analytic(m) => m.param_names(),
        }
    }

    /// Model domain (default bounds) of the parameters.
    pub fn domain(&self) -> Vec<(f64, f64)> {
        match self {
            SfhModel::Discrete(m) => m.domain(),
            SfhModel::Interpolated(m) => m.domain(),
            SfhModel::Analytic(m) => m.domain(),
        }
    }

    /// Whether the output is stellar mass (true) or light fractions (false).
    pub fn is_mass_weighted(&self) -> bool {
        matches!(self, SfhModel::Analytic(_))
    }

    /// Age weights (N, n_age) of parameters (N, n_params) (`None` when there is none).
    pub fn forward(&self, p: Option<Tensor<2>>, n: usize, device: &Device) -> Tensor<2> {
        match self {
            SfhModel::Discrete(m) => m.forward(p, n, device),
            SfhModel::Interpolated(m) => m.forward(p.expect("log_tau")),
            SfhModel::Analytic(m) => m.forward(p.expect("log10_tau, log10_t0")),
        }
    }
}
