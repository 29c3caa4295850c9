//! Evaluation of WISE predictions as in Jespersen et al. (2025): reduced χ², the probability of
//! the data, PP curves, colour–colour diagrams, and the same per subset of the survey.
//!
//! For one band, over the detected galaxies (error < [`UNDETECTED_SIGMA`]) of a subset, with
//! χ = (ŷ − y)/σ:
//! * χ²_N = mean χ² (1 for a perfect model with correct errors);
//! * p̂ = mean exp(−χ²/2), the mean probability density of the data relative to its peak
//!   (for χ ~ N(0, 1) its expectation is 1/√2 ≈ 0.707; a model that is too far off drives it to
//!   0, and it never exceeds 1);
//! * the PP curve: u = Φ(χ) sorted against the empirical CDF (i + 1)/n, with the
//!   Kolmogorov–Smirnov distance max |ECDF − u| as summary.
//!
//! Subsets ([`standard_splits`]): all, redshift terciles, bright and faint halves in r, and
//! star-forming vs quiescent galaxies — from the simulation truth when there is one, otherwise
//! from the 4000 Å break of the spectrum ([`star_forming_from_spectrum`]).

use std::fmt::Write as _;
use std::path::Path;

use galsed_core::numeric::{QuantileMethod, quantile_sorted};
use ndarray::{Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::survey::{Survey, UNDETECTED_SIGMA, WISE_BANDS};
use crate::{OptirError, input_err};

const N_BANDS: usize = 4;

/// 1/√2: the expected p̂ of a perfect model.
pub const P_HAT_PERFECT: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Complementary error function, to about 1e-14: the Taylor series of erf for |x| < 1.5, the
/// continued fraction of erfc beyond.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let z = x.abs();
    let r = if z < 1.5 {
        // erf z = 2/√π Σ (−1)ⁿ z^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, mut n) = (z, z, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -z * z / n;
            sum += term / (2.0 * n + 1.0);
        }
        1.0 - sum * std::f64::consts::FRAC_2_SQRT_PI
    } else if z > 27.0 {
        0.0
    } else {
        // erfc z = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
        let mut f = z;
        for k in (1..=120).rev() {
            f = z + f64::from(k) / 2.0 / f;
        }
        (-z * z).exp() / std::f64::consts::PI.sqrt() / f
    };
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Metrics of one band over one subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandStats {
    /// 0-based band (W1 = 0).
    pub band: usize,
    /// Detected galaxies of the subset.
    pub n: usize,
    /// Mean χ² (NaN if n = 0).
    pub chi2_n: f64,
    /// Mean exp(−χ²/2) (NaN if n = 0).
    pub p_hat: f64,
    /// χ = (ŷ − y)/σ of each detected galaxy, in subset order.
    pub chi: Vec<f64>,
}

fn check_arrays(
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    pred: ArrayView2<f64>,
    rows: &[usize],
) -> Result<(), OptirError> {
    let n = wise.nrows();
    if wise.ncols() != N_BANDS || err.dim() != wise.dim() || pred.dim() != wise.dim() {
        return Err(input_err(format!(
            "observed {:?}, errors {:?} and predictions {:?} must all be (n, 4)",
            wise.dim(),
            err.dim(),
            pred.dim()
        )));
    }
    if let Some(&r) = rows.iter().find(|&&r| r >= n) {
        return Err(input_err(format!("row {r} is beyond the {n} galaxies")));
    }
    Ok(())
}

/// χ²_N, p̂ and χ of each band over `rows`. Fails on shape mismatches and, for detected bands,
/// on non-finite data, errors or predictions.
pub fn band_stats(
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    pred: ArrayView2<f64>,
    rows: &[usize],
) -> Result<Vec<BandStats>, OptirError> {
    check_arrays(wise, err, pred, rows)?;
    let mut out = Vec::with_capacity(N_BANDS);
    for b in 0..N_BANDS {
        let mut chi = Vec::new();
        for &r in rows {
            let s = err[[r, b]];
            if s.is_nan() {
                return Err(input_err(format!(
                    "galaxy {r}: {} error is NaN",
                    WISE_BANDS[b]
                )));
            }
            if s >= UNDETECTED_SIGMA {
                continue;
            }
            let (y, p) = (wise[[r, b]], pred[[r, b]]);
            if !(y.is_finite() && p.is_finite() && s > 0.0) {
                return Err(input_err(format!(
                    "galaxy {r}: {} observed {y} ± {s}, predicted {p} (need finite values and error > 0)",
                    WISE_BANDS[b]
                )));
            }
            chi.push((p - y) / s);
        }
        let n = chi.len();
        let (chi2_n, p_hat) = if n == 0 {
            (f64::NAN, f64::NAN)
        } else {
            (
                chi.iter().map(|c| c * c).sum::<f64>() / n as f64,
                chi.iter().map(|c| (-0.5 * c * c).exp()).sum::<f64>() / n as f64,
            )
        };
        out.push(BandStats {
            band: b,
            n,
            chi2_n,
            p_hat,
            chi,
        });
    }
    Ok(out)
}

/// A PP curve: sorted u = Φ(χ) against the empirical CDF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PpCurve {
    /// Φ(χ), ascending.
    pub u: Vec<f64>,
    /// Empirical CDF at each u: (i + 1)/n.
    pub ecdf: Vec<f64>,
    /// Kolmogorov–Smirnov distance to the uniform: max_i max((i+1)/n − u_i, u_i − i/n); NaN if
    /// empty.
    pub max_deviation: f64,
}

/// The PP curve of residuals χ (a perfect model gives the diagonal).
pub fn pp_curve(chi: &[f64]) -> PpCurve {
    let mut u: Vec<f64> = chi.iter().map(|&c| normal_cdf(c)).collect();
    u.sort_by(f64::total_cmp);
    let n = u.len();
    let ecdf: Vec<f64> = (0..n).map(|i| (i + 1) as f64 / n as f64).collect();
    let max_deviation = if n == 0 {
        f64::NAN
    } else {
        u.iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f64 / n as f64 - v).max(v - i as f64 / n as f64))
            .fold(0.0, f64::max)
    };
    PpCurve {
        u,
        ecdf,
        max_deviation,
    }
}

/// W1−W2 against W2−W3 of the galaxies detected in W1, W2 and W3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourColour {
    /// Rows used.
    pub rows: Vec<usize>,
    /// (W2−W3, W1−W2) observed.
    pub data: Vec<[f64; 2]>,
    /// (W2−W3, W1−W2) predicted.
    pub predicted: Vec<[f64; 2]>,
}

/// The colour–colour points of `rows` detected in W1–W3 (x = W2−W3, y = W1−W2).
pub fn colour_colour(
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    pred: ArrayView2<f64>,
    rows: &[usize],
) -> Result<ColourColour, OptirError> {
    check_arrays(wise, err, pred, rows)?;
    let mut out = ColourColour {
        rows: Vec::new(),
        data: Vec::new(),
        predicted: Vec::new(),
    };
    for &r in rows {
        if (0..3).all(|b| err[[r, b]] < UNDETECTED_SIGMA) {
            let c = |m: ArrayView1<f64>| [m[1] - m[2], m[0] - m[1]];
            let (d, p) = (c(wise.row(r)), c(pred.row(r)));
            if d.iter().chain(&p).any(|v| !v.is_finite()) {
                return Err(input_err(format!("galaxy {r}: non-finite W1–W3 colour")));
            }
            out.rows.push(r);
            out.data.push(d);
            out.predicted.push(p);
        }
    }
    Ok(out)
}

/// A named subset of the survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subset {
    /// Short name (CSV-friendly): all, z_low, z_mid, z_high, r_bright, r_faint, star_forming,
    /// quiescent.
    pub name: String,
    /// How it was selected, e.g. "0.05 ≤ z < 0.08".
    pub description: String,
    /// Survey rows in the subset.
    pub rows: Vec<usize>,
}

/// Rest-frame band windows of the narrow 4000 Å break (Balogh et al. 1999) \[Å\].
pub const DN4000_BLUE: (f64, f64) = (3850.0, 3950.0);
/// Red window of Dn4000 \[Å\] (rest frame).
pub const DN4000_RED: (f64, f64) = (4000.0, 4100.0);
/// Galaxies with Dn4000 below this are called star-forming (Kauffmann et al. 2003 place the
/// division of the bimodal distribution near 1.5–1.6).
pub const DN4000_STAR_FORMING: f64 = 1.55;

/// The narrow 4000 Å break: mean F_ν in rest 4000–4100 Å over mean F_ν in rest 3850–3950 Å,
/// over unmasked pixels (ivar > 0; F_ν ∝ F_λ λ²). `None` with fewer than 5 pixels in a window
/// or a non-positive blue flux.
pub fn dn4000(
    loglam: &[f64],
    flux: ArrayView1<f32>,
    ivar: ArrayView1<f32>,
    redshift: f64,
) -> Option<f64> {
    let mean = |(lo, hi): (f64, f64)| -> Option<f64> {
        let (mut s, mut k) = (0.0, 0usize);
        for ((&l, &f), &w) in loglam.iter().zip(flux.iter()).zip(ivar.iter()) {
            let rest = 10f64.powf(l) / (1.0 + redshift);
            if rest >= lo && rest <= hi && w > 0.0 && f.is_finite() {
                s += f64::from(f) * rest * rest;
                k += 1;
            }
        }
        (k >= 5).then(|| s / k as f64)
    };
    let (blue, red) = (mean(DN4000_BLUE)?, mean(DN4000_RED)?);
    (blue > 0.0 && red.is_finite()).then(|| red / blue)
}

/// Star-forming (Dn4000 < [`DN4000_STAR_FORMING`]) or quiescent from the spectrum; `None` if the
/// break cannot be measured.
pub fn star_forming_from_spectrum(
    loglam: &[f64],
    flux: ArrayView1<f32>,
    ivar: ArrayView1<f32>,
    redshift: f64,
) -> Option<bool> {
    dn4000(loglam, flux, ivar, redshift).map(|d| d < DN4000_STAR_FORMING)
}

/// The paper's subsets of `rows`: all, redshift terciles, bright/faint halves in r (split at the
/// median r of `rows`), star-forming/quiescent ([`Truth::quiescent`](crate::survey::Truth) if the
/// survey has a truth, otherwise [`star_forming_from_spectrum`]; unmeasurable galaxies are in
/// neither). Empty subsets are left out.
pub fn standard_splits(survey: &Survey, rows: &[usize]) -> Result<Vec<Subset>, OptirError> {
    let n = survey.len();
    if let Some(&r) = rows.iter().find(|&&r| r >= n) {
        return Err(input_err(format!(
            "row {r} is beyond the {n} galaxies of the survey"
        )));
    }
    let mut out = vec![Subset {
        name: "all".into(),
        description: "all galaxies".into(),
        rows: rows.to_vec(),
    }];
    if rows.is_empty() {
        return Ok(out);
    }
    let mut z: Vec<f64> = rows.iter().map(|&r| survey.redshift[r]).collect();
    z.sort_by(f64::total_cmp);
    let (z1, z2) = (
        quantile_sorted(&z, 1.0 / 3.0, QuantileMethod::LinearBlend),
        quantile_sorted(&z, 2.0 / 3.0, QuantileMethod::LinearBlend),
    );
    let pick =
        |f: &dyn Fn(usize) -> bool| rows.iter().copied().filter(|&r| f(r)).collect::<Vec<_>>();
    let zr = |r: usize| survey.redshift[r];
    out.push(Subset {
        name: "z_low".into(),
        description: format!("z < {z1:.4}"),
        rows: pick(&|r| zr(r) < z1),
    });
    out.push(Subset {
        name: "z_mid".into(),
        description: format!("{z1:.4} ≤ z < {z2:.4}"),
        rows: pick(&|r| zr(r) >= z1 && zr(r) < z2),
    });
    out.push(Subset {
        name: "z_high".into(),
        description: format!("z ≥ {z2:.4}"),
        rows: pick(&|r| zr(r) >= z2),
    });
    if survey.ugriz.dim() == (n, 5) {
        let mut rm: Vec<f64> = rows
            .iter()
            .map(|&r| survey.ugriz[[r, 2]])
            .filter(|v| v.is_finite())
            .collect();
        if !rm.is_empty() {
            rm.sort_by(f64::total_cmp);
            let med = quantile_sorted(&rm, 0.5, QuantileMethod::LinearBlend);
            let r_of = |r: usize| survey.ugriz[[r, 2]];
            out.push(Subset {
                name: "r_bright".into(),
                description: format!("r < {med:.2}"),
                rows: pick(&|r| r_of(r) < med),
            });
            out.push(Subset {
                name: "r_faint".into(),
                description: format!("r ≥ {med:.2}"),
                rows: pick(&|r| r_of(r) >= med),
            });
        }
    }
    let (sf, how): (Vec<Option<bool>>, String) = match &survey.truth {
        Some(t) if t.quiescent.len() == n => (
            t.quiescent.iter().map(|&q| Some(!q)).collect(),
            "from the simulation truth".into(),
        ),
        _ => {
            let s = &survey.spectra;
            let sf = (0..n)
                .map(|r| {
                    if rows.contains(&r) && s.flux.nrows() == n {
                        star_forming_from_spectrum(
                            &s.loglam,
                            s.flux.row(r),
                            s.ivar.row(r),
                            survey.redshift[r],
                        )
                    } else {
                        None
                    }
                })
                .collect();
            (sf, format!("Dn4000 vs {DN4000_STAR_FORMING}"))
        }
    };
    out.push(Subset {
        name: "star_forming".into(),
        description: format!("star-forming ({how})"),
        rows: pick(&|r| sf[r] == Some(true)),
    });
    out.push(Subset {
        name: "quiescent".into(),
        description: format!("quiescent ({how})"),
        rows: pick(&|r| sf[r] == Some(false)),
    });
    out.retain(|s| s.name == "all" || !s.rows.is_empty());
    Ok(out)
}

/// Predictions of one method for every galaxy of the survey, (n_survey, 4); rows not evaluated
/// may hold anything (NaN).
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    /// Name of the method (e.g. `sedfit_full`).
    pub name: String,
    /// Predicted WISE magnitudes, (n_survey, 4).
    pub predictions: Array2<f64>,
}

/// One line of the long-format table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Name of the method.
    pub method: String,
    /// Name of the subset (see [`Subset::name`]).
    pub split: String,
    /// Name of the WISE band.
    pub band: String,
    /// Detected galaxies of the subset in this band.
    pub n: usize,
    /// Mean χ² (NaN if n = 0).
    pub chi2_n: f64,
    /// Mean exp(−χ²/2) (NaN if n = 0).
    pub p_hat: f64,
    /// Kolmogorov–Smirnov distance of the PP curve.
    pub pp_max_deviation: f64,
}

/// Everything about one method on the whole evaluated set (for plots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodDetail {
    /// Name of the method.
    pub name: String,
    /// Per band, over all evaluated rows.
    pub bands: Vec<BandStats>,
    /// Per band.
    pub pp: Vec<PpCurve>,
    /// Colour–colour comparison of predictions and observations.
    pub colours: ColourColour,
}

/// The evaluation of several methods on one set of galaxies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The subsets evaluated.
    pub subsets: Vec<Subset>,
    /// method × subset × band.
    pub rows: Vec<ReportRow>,
    /// One per method, in the order given.
    pub details: Vec<MethodDetail>,
}

/// Evaluates each method on `rows` of the survey and on the [`standard_splits`] of `rows`.
pub fn evaluate(
    survey: &Survey,
    rows: &[usize],
    methods: &[MethodResult],
) -> Result<Report, OptirError> {
    let subsets = standard_splits(survey, rows)?;
    evaluate_subsets(
        survey.wise.view(),
        survey.wise_err.view(),
        &subsets,
        methods,
    )
}

/// Evaluates each method on each subset; the first subset gives the [`MethodDetail`]s.
pub fn evaluate_subsets(
    wise: ArrayView2<f64>,
    err: ArrayView2<f64>,
    subsets: &[Subset],
    methods: &[MethodResult],
) -> Result<Report, OptirError> {
    if subsets.is_empty() {
        return Err(input_err("no subset to evaluate"));
    }
    let mut rows = Vec::new();
    let mut details = Vec::new();
    for m in methods {
        if m.predictions.dim() != wise.dim() {
            return Err(input_err(format!(
                "method {}: predictions {:?} but observations {:?}",
                m.name,
                m.predictions.dim(),
                wise.dim()
            )));
        }
        for (k, s) in subsets.iter().enumerate() {
            let stats = band_stats(wise, err, m.predictions.view(), &s.rows)
                .map_err(|e| input_err(format!("method {}, subset {}: {e}", m.name, s.name)))?;
            let pp: Vec<PpCurve> = stats.iter().map(|b| pp_curve(&b.chi)).collect();
            for (b, p) in stats.iter().zip(&pp) {
                rows.push(ReportRow {
                    method: m.name.clone(),
                    split: s.name.clone(),
                    band: WISE_BANDS[b.band].into(),
                    n: b.n,
                    chi2_n: b.chi2_n,
                    p_hat: b.p_hat,
                    pp_max_deviation: p.max_deviation,
                });
            }
            if k == 0 {
                let colours = colour_colour(wise, err, m.predictions.view(), &s.rows)?;
                details.push(MethodDetail {
                    name: m.name.clone(),
                    bands: stats,
                    pp,
                    colours,
                });
            }
        }
    }
    Ok(Report {
        subsets: subsets.to_vec(),
        rows,
        details,
    })
}

impl Report {
    /// The row of `method`, `split`, `band` (e.g. "W3").
    pub fn get(&self, method: &str, split: &str, band: &str) -> Option<&ReportRow> {
        self.rows
            .iter()
            .find(|r| r.method == method && r.split == split && r.band == band)
    }

    /// Writes the long-format table: method, split, band, n, chi2_n, p_hat, pp_max_deviation.
    pub fn write_csv(&self, path: &Path) -> Result<(), OptirError> {
        let ferr = |e: &dyn std::fmt::Display| OptirError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut w = csv::Writer::from_path(path).map_err(|e| ferr(&e))?;
        for r in &self.rows {
            w.serialize(r).map_err(|e| ferr(&e))?;
        }
        w.flush().map_err(|e| ferr(&e))
    }

    /// A Markdown table: one line per method and subset, "χ²_N / p̂" per band, and the numbers
    /// of detected galaxies.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| method | subset | W1 χ²_N / p̂ | W2 χ²_N / p̂ | W3 χ²_N / p̂ | W4 χ²_N / p̂ | n (W1/W2/W3/W4) |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        let mut seen: Vec<(String, String)> = Vec::new();
        for r in &self.rows {
            let key = (r.method.clone(), r.split.clone());
            if seen.contains(&key) {
                continue;
            }
            let cells: Vec<Option<&ReportRow>> = WISE_BANDS
                .iter()
                .map(|b| self.get(&key.0, &key.1, b))
                .collect();
            let _ = write!(s, "| {} | {} |", key.0, key.1);
            for c in &cells {
                match c {
                    Some(c) if c.n > 0 => {
                        let _ = write!(s, " {:.2} / {:.3} |", c.chi2_n, c.p_hat);
                    }
                    _ => s.push_str(" – |"),
                }
            }
            let ns: Vec<String> = cells
                .iter()
                .map(|c| c.map_or("0".into(), |c| c.n.to_string()))
                .collect();
            let _ = writeln!(s, " {} |", ns.join("/"));
            seen.push(key);
        }
        let _ = writeln!(
            s,
            "\nA perfect model with correct errors has χ²_N = 1 and p̂ = 1/√2 ≈ 0.707."
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_values() {
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_543).abs() < 1e-14);
        assert!((normal_cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-14);
        for (x, want) in [
            (0.5, 0.479_500_122_186_953_5),
            (2.999, 2.223_016_859_983_405_8e-5),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (-1.0, 1.842_700_792_949_715),
        ] {
            assert!(
                (erfc(x) - want).abs() < 1e-13 * want.abs().max(1e-300) + 1e-16,
                "erfc({x}) = {}",
                erfc(x)
            );
        }
    }
}
