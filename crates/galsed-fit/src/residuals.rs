//! Per-band residuals over a fitted catalogue: which bands the model reproduces and which it
//! misses systematically (what `galsed fit` writes as `<output>.residuals.csv` and plots).
//!
//! For every galaxy fitted and every band it detected, the residual is observed − model in AB
//! magnitudes (the model with the likelihood's `mag_offset` for magnitude measurements) and χ is
//! the residual in units of the total error the fit used
//! ([`total_sigma`]). Per band the summary gives the median
//! residual and its 16–84 % range, the robust scatter, the median and RMS of χ, and
//! `model_error_needed`: the fractional model error that, added in quadrature to the
//! observational errors alone, brings the mean χ² of the band to 1 — a starting value for
//! `[likelihood.band_model_error]`, so that a systematic misfit is not read as signal.

use std::collections::BTreeMap;

use galsed_core::numeric::{QuantileMethod, quantile_sorted};
use galsed_core::units::{ab_mag, ab_to_jy};
use galsed_io::table::{Column, Table};

use crate::catalog::{Galaxy, Record};
use crate::likelihood::{LikelihoodSettings, Measurement, total_sigma};

/// One detection of one galaxy: what the residual plot draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Index of the band in [`Residuals::bands`].
    pub band: usize,
    /// Observed − model \[AB mag\] (NaN for a flux ≤ 0).
    pub residual: f64,
    /// (observed − model)/σ_tot.
    pub chi: f64,
}

/// The summary of one band over the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct BandSummary {
    /// Band name.
    pub band: String,
    /// Pivot wavelength \[µm\] (observed frame).
    pub wavelength_um: f64,
    /// Galaxies fitted with a detection in the band.
    pub n_detections: usize,
    /// Galaxies fitted with an upper limit in the band.
    pub n_limits: usize,
    /// Median observed − model \[mag\].
    pub median: f64,
    /// 16th percentile of observed − model \[mag\].
    pub p16: f64,
    /// 84th percentile of observed − model \[mag\].
    pub p84: f64,
    /// 1.4826 × the median absolute deviation of observed − model \[mag\].
    pub scatter: f64,
    /// Median χ.
    pub median_chi: f64,
    /// √(mean χ²).
    pub rms_chi: f64,
    /// Fractional model error that makes the band's mean χ² 1 with the observational errors
    /// (0 when they already account for the residuals).
    pub model_error_needed: f64,
}

/// Residuals of a fitted catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Residuals {
    /// One summary per band, in the catalogue's band order (bands nobody detected have
    /// `n_detections = 0` and NaN statistics).
    pub bands: Vec<BandSummary>,
    /// Every detection of every galaxy fitted.
    pub points: Vec<Point>,
    /// Galaxies fitted ("ok" records).
    pub n_galaxies: usize,
}

/// One detection before summarising: residual, χ, and what `model_error_needed` needs.
struct Detection {
    residual: f64,
    chi: f64,
    /// (observed − model)² in the measurement's own units, the observational σ², and the
    /// factor k with σ_model = k·f in those units.
    diff2: f64,
    sigma2: f64,
    k: f64,
}

/// The residuals of `records` (the results of a fit) against the observations of `galaxies` (as
/// read from the catalogue, indexed by row), for the catalogue's `bands` with their pivot
/// wavelengths in µm. Records that are not "ok", or whose row has no observations, are skipped.
pub fn residuals(
    galaxies: &[Galaxy],
    records: &[Record],
    bands: &[(String, f64)],
    settings: &LikelihoodSettings,
) -> Residuals {
    let mut detections: Vec<Vec<Detection>> = bands.iter().map(|_| vec![]).collect();
    let mut limits = vec![0usize; bands.len()];
    let index: BTreeMap<&str, usize> = bands
        .iter()
        .enumerate()
        .map(|(i, (b, _))| (b.as_str(), i))
        .collect();
    let mut points = vec![];
    let mut n_galaxies = 0;
    for rec in records.iter().filter(|r| r.status == "ok") {
        let Some(Ok((_, obs))) = galaxies.get(rec.row).map(|g| g.input.as_ref()) else {
            continue;
        };
        n_galaxies += 1;
        for (name, m) in obs.bands().iter().zip(obs.measurements()) {
            let Some(&b) = index.get(name.as_str()) else {
                continue;
            };
            let model_mag = rec
                .values
                .get(&format!("model_{name}"))
                .copied()
                .flatten()
                .unwrap_or(f64::NAN);
            if !model_mag.is_finite() {
                continue;
            }
            let model = ab_to_jy(model_mag);
            let f = settings.model_error_of(name);
            let d = match *m {
                Measurement::Magnitude { mag, sigma } => {
                    let residual = mag - model_mag - settings.mag_offset;
                    Detection {
                        residual,
                        chi: residual / total_sigma(m, f, model),
                        diff2: residual * residual,
                        sigma2: sigma * sigma,
                        k: 2.5 / std::f64::consts::LN_10,
                    }
                }
                Measurement::Flux { flux, sigma } => Detection {
                    residual: if flux > 0.0 {
                        ab_mag(flux) - model_mag
                    } else {
                        f64::NAN
                    },
                    chi: (flux - model) / total_sigma(m, f, model),
                    diff2: (flux - model).powi(2),
                    sigma2: sigma * sigma,
                    k: model,
                },
                Measurement::UpperLimit { .. } => {
                    limits[b] += 1;
                    continue;
                }
            };
            points.push(Point {
                band: b,
                residual: d.residual,
                chi: d.chi,
            });
            detections[b].push(d);
        }
    }
    let bands = bands
        .iter()
        .zip(detections)
        .zip(limits)
        .map(|(((band, lam), dets), n_limits)| summarise(band, *lam, &dets, n_limits))
        .collect();
    Residuals {
        bands,
        points,
        n_galaxies,
    }
}

fn summarise(band: &str, wavelength_um: f64, dets: &[Detection], n_limits: usize) -> BandSummary {
    let q = |sorted: &[f64], p: f64| quantile_sorted(sorted, p, QuantileMethod::Linear);
    let sorted = |v: Vec<f64>| {
        let mut v: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let res = sorted(dets.iter().map(|d| d.residual).collect());
    let median = q(&res, 0.5);
    let mad = sorted(res.iter().map(|r| (r - median).abs()).collect());
    let chi = sorted(dets.iter().map(|d| d.chi).collect());
    let rms_chi = if chi.is_empty() {
        f64::NAN
    } else {
        (chi.iter().map(|c| c * c).sum::<f64>() / chi.len() as f64).sqrt()
    };
    BandSummary {
        band: band.to_owned(),
        wavelength_um,
        n_detections: dets.len(),
        n_limits,
        median,
        p16: q(&res, 0.16),
        p84: q(&res, 0.84),
        scatter: 1.4826 * q(&mad, 0.5),
        median_chi: q(&chi, 0.5),
        rms_chi,
        model_error_needed: model_error_needed(dets),
    }
}

/// The f ≥ 0 with mean(diff²/(σ² + (k f)²)) = 1, by bisection (the mean decreases with f); 0
/// when the observational errors alone give a mean χ² ≤ 1, NaN without detections.
fn model_error_needed(dets: &[Detection]) -> f64 {
    if dets.is_empty() {
        return f64::NAN;
    }
    let mean_chi2 = |f: f64| {
        dets.iter()
            .map(|d| d.diff2 / (d.sigma2 + (d.k * f).powi(2)))
            .sum::<f64>()
            / dets.len() as f64
    };
    let at_zero = mean_chi2(0.0);
    if at_zero.is_nan() {
        return f64::NAN;
    }
    if at_zero <= 1.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while mean_chi2(hi) > 1.0 {
        hi *= 2.0;
        if hi > 1e6 {
            return f64::INFINITY;
        }
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mean_chi2(mid) > 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

impl Residuals {
    /// The summary as a table: one row per band, columns `band`, `wavelength_um`,
    /// `n_detections`, `n_limits`, `median_residual_mag`, `p16_residual_mag`,
    /// `p84_residual_mag`, `scatter_mag`, `median_chi`, `rms_chi`, `model_error_needed`.
    pub fn table(&self) -> Table {
        let b = &self.bands;
        let f = |name: &str, get: &dyn Fn(&BandSummary) -> f64| {
            let c = Column::f64(name, b.iter().map(get).collect());
            match name {
                "wavelength_um" => c.with_unit("um"),
                _ if name.ends_with("_mag") => c.with_unit("mag"),
                _ => c,
            }
        };
        let n = |name: &str, get: &dyn Fn(&BandSummary) -> usize| {
            Column::i64(name, b.iter().map(|s| get(s) as i64).collect())
        };
        Table::new(vec![
            Column::str("band", b.iter().map(|s| s.band.clone()).collect()),
            f("wavelength_um", &|s| s.wavelength_um),
            n("n_detections", &|s| s.n_detections),
            n("n_limits", &|s| s.n_limits),
            f("median_residual_mag", &|s| s.median),
            f("p16_residual_mag", &|s| s.p16),
            f("p84_residual_mag", &|s| s.p84),
            f("scatter_mag", &|s| s.scatter),
            f("median_chi", &|s| s.median_chi),
            f("rms_chi", &|s| s.rms_chi),
            f("model_error_needed", &|s| s.model_error_needed),
        ])
        .expect("columns of one length, one per band")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likelihood::Observations;

    fn galaxy(row: usize, bands: Vec<(&str, Measurement)>) -> Galaxy {
        let obs = Observations::new(bands.into_iter().map(|(b, m)| (b.into(), m)).collect());
        Galaxy {
            row,
            id: row.to_string(),
            redshift: 0.01,
            distmod: 33.0,
            input: Ok((vec![], obs.unwrap())),
            known: Default::default(),
        }
    }

    fn record(row: usize, status: &str, model: &[(&str, f64)]) -> Record {
        Record {
            row,
            id: row.to_string(),
            status: status.into(),
            values: model
                .iter()
                .map(|(b, m)| (format!("model_{b}"), Some(*m)))
                .collect(),
        }
    }

    /// Hand-computed residuals: magnitudes with the offset, fluxes in magnitudes, limits
    /// counted, failed fits skipped, and the model error that makes χ² = 1 solved exactly.
    #[test]
    fn residuals_by_hand() {
        let mag = |mag, sigma| Measurement::Magnitude { mag, sigma };
        let galaxies = vec![
            galaxy(
                0,
                vec![
                    ("a", mag(15.3, 0.1)),
                    (
                        "b",
                        Measurement::Flux {
                            flux: ab_to_jy(12.0),
                            sigma: 0.01 * ab_to_jy(12.0),
                        },
                    ),
                ],
            ),
            galaxy(
                1,
                vec![
                    ("a", mag(14.7, 0.1)),
                    (
                        "b",
                        Measurement::UpperLimit {
                            limit: 1e-3,
                            sigma: 3e-4,
                        },
                    ),
                ],
            ),
            galaxy(2, vec![("a", mag(30.0, 0.1))]),
        ];
        let records = vec![
            record(0, "ok", &[("a", 15.0), ("b", 12.1)]),
            record(1, "ok", &[("a", 15.0), ("b", 20.0)]),
            record(2, "optimizer failed", &[("a", 15.0)]),
        ];
        let settings = LikelihoodSettings {
            mag_offset: -0.1,
            ..Default::default()
        };
        let bands = [("a".to_string(), 0.5), ("b".to_string(), 22.0)];
        let r = residuals(&galaxies, &records, &bands, &settings);
        assert_eq!(r.n_galaxies, 2);
        assert_eq!(r.points.len(), 3);
        let a = &r.bands[0];
        // 15.3 − (15.0 − 0.1) = 0.4 and 14.7 − 14.9 = −0.2.
        assert_eq!((a.n_detections, a.n_limits), (2, 0));
        assert!((a.median - 0.1).abs() < 1e-12, "{}", a.median);
        assert!((a.rms_chi - ((16.0 + 4.0) / 2.0f64).sqrt()).abs() < 1e-9);
        assert!((a.scatter - 1.4826 * 0.3).abs() < 1e-12);
        // mean(r²/(0.01 + (k f)²)) = 1 → (k f)² = (0.16 + 0.04)/2 − 0.01 = 0.09.
        let k = 2.5 / std::f64::consts::LN_10;
        assert!(
            (a.model_error_needed - 0.3 / k).abs() < 1e-9,
            "{}",
            a.model_error_needed
        );
        let b = &r.bands[1];
        assert_eq!((b.n_detections, b.n_limits), (1, 1));
        assert!((b.median + 0.1).abs() < 1e-9, "{}", b.median);
        // The flux band: (F − M)² = (f M)² + (0.01 F)² with F = 10^0.04 M.
        let ratio = 10f64.powf(0.04);
        let want = ((ratio - 1.0).powi(2) - (0.01 * ratio).powi(2)).sqrt();
        assert!(
            (b.model_error_needed - want).abs() < 1e-9,
            "{}",
            b.model_error_needed
        );
    }

    /// A band within its errors needs no model error; a band nobody observed has NaN statistics.
    #[test]
    fn good_and_empty_bands() {
        let galaxies = vec![galaxy(
            0,
            vec![(
                "a",
                Measurement::Magnitude {
                    mag: 15.05,
                    sigma: 0.1,
                },
            )],
        )];
        let records = vec![record(0, "ok", &[("a", 15.0)])];
        let bands = [("a".to_string(), 0.5), ("c".to_string(), 1.0)];
        let r = residuals(&galaxies, &records, &bands, &LikelihoodSettings::default());
        assert_eq!(r.bands[0].model_error_needed, 0.0);
        assert!((r.bands[0].median_chi - 0.5).abs() < 1e-9);
        assert_eq!(r.bands[1].n_detections, 0);
        assert!(r.bands[1].median.is_nan() && r.bands[1].model_error_needed.is_nan());
        assert_eq!(r.table().n_rows(), 2);
    }
}
