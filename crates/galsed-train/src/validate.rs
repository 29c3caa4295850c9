//! Validation of a model against a data set (radiative-transfer outputs or a teacher's): the
//! error distributions of Qiu & Kang (2022, Figures 3, 5 and 7) — per wavelength for the
//! attenuation curves and the dust emission, per sample for the losses, and in 20 filters in AB
//! magnitudes for the SEDs assembled from the data's own curves, absorbed fraction and emission.
//!
//! Every distribution is summarised by its mean and percentiles (numpy's linear interpolation).
//!
//! | quantity | key | values |
//! |---|---|---|
//! | `attenuation_<part>` | λ index | Â(λ) − A(λ) \[mag\], samples with a valid curve |
//! | `attenuation_<part>_maxabs` | `sample` | max_λ \|Â − A\| \[mag\] |
//! | `dust_emission` | λ index | −2.5 log10(ŷ/y) \[mag\] where y ≥ 10⁻⁴·max(y) |
//! | `emission_kl` | `sample` | trapezoid KL(y‖ŷ) over ln λ |
//! | `frac_abs_kl` | `sample` | binary KL(f‖f̂) |
//! | `frac_abs_rel` | `sample` | f̂/f − 1 |
//! | `selector_<part>_correct` | `sample` | 1 if the selector (logit > 0) agrees with the label, else 0 (mean = accuracy) |
//! | `mag_<component>` | filter | m̂ − m \[AB mag\] of the SED component at z = 0 |
//!
//! For `mag_dust_emission` and `mag_dust_attenuation` a band counts for a sample only where the
//! component holds at least 10⁻³ of the total flux there (elsewhere its magnitude is not
//! observable).

use std::io::Write;
use std::path::Path;

use burn::prelude::*;
use galsed_core::filters::Filter;
use galsed_core::numeric::{QuantileMethod, quantile_sorted};
use galsed_core::ssp::WavelengthGrid;
use galsed_core::units::ab_mag;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_emulator::{Component, N_GP, N_SSP, Starduster};
use ndarray::Array2;
use serde::Serialize;

use crate::data::{Part, TrainingSet};
use crate::losses;
use crate::train::TrainError;

/// The 20 filters of the reference's photometry (spec §7.1).
pub const FILTERS20: [&str; 20] = [
    "galex_FUV",
    "galex_NUV",
    "sdss_u0",
    "sdss_g0",
    "sdss_r0",
    "sdss_i0",
    "sdss_z0",
    "twomass_J",
    "twomass_H",
    "twomass_Ks",
    "wise_w1",
    "wise_w2",
    "wise_w3",
    "wise_w4",
    "herschel_pacs_70",
    "herschel_pacs_100",
    "herschel_pacs_160",
    "herschel_spire_250",
    "herschel_spire_350",
    "herschel_spire_500",
];

/// Relative level below which the dust emission is left out of its per-wavelength errors.
const EMISSION_FLOOR: f64 = 1e-4;
/// Share of the total band flux below which a component's magnitude is left out.
const COMPONENT_FLOOR: f64 = 1e-3;
/// Samples evaluated at once.
const CHUNK: usize = 1024;

/// Summary of one distribution of errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Number of finite values, their mean and percentiles.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// 2.5th percentile.
    pub p2_5: f64,
    /// 16th percentile.
    pub p16: f64,
    /// Median.
    pub p50: f64,
    /// 84th percentile.
    pub p84: f64,
    /// 97.5th percentile.
    pub p97_5: f64,
    /// Median and 95th percentile of the absolute values.
    pub abs_p50: f64,
    /// 95th percentile of the absolute values.
    pub abs_p95: f64,
}

/// numpy's `percentile` (linear interpolation) of sorted values, q in [0, 100] (NaN for none).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    // + 0.0: the top order statistic was always returned as x + 0·0, which turns a single −0.0
    // into +0.0; kept so that the reports stay bit for bit.
    quantile_sorted(sorted, q / 100.0, QuantileMethod::Linear) + 0.0
}

impl Summary {
    /// Summarises the finite values.
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
        a.sort_by(f64::total_cmp);
        let n = v.len();
        Self {
            n,
            mean: if n == 0 {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / n as f64
            },
            p2_5: percentile(&v, 2.5),
            p16: percentile(&v, 16.0),
            p50: percentile(&v, 50.0),
            p84: percentile(&v, 84.0),
            p97_5: percentile(&v, 97.5),
            abs_p50: percentile(&a, 50.0),
            abs_p95: percentile(&a, 95.0),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// What the values are (see the module documentation).
    pub quantity: String,
    /// Wavelength index, filter name or `sample`.
    pub key: String,
    /// Wavelength \[µm\] (pivot wavelength for filters); NaN for per-sample rows.
    pub lam_um: f64,
    /// Statistics of the values.
    pub summary: Summary,
}

/// All error distributions of a model on a data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationReport {
    /// Samples in the data set.
    pub n_samples: usize,
    /// Every distribution, grouped by quantity.
    pub rows: Vec<ReportRow>,
    /// The per-sample values behind the `sample` rows and the filter errors, as (quantity,
    /// (data row, value)) for the samples that have them.
    pub per_sample: Vec<(String, Vec<(usize, f64)>)>,
}

impl ValidationReport {
    /// The row of `quantity` and `key`.
    pub fn get(&self, quantity: &str, key: &str) -> Option<&ReportRow> {
        self.rows
            .iter()
            .find(|r| r.quantity == quantity && r.key == key)
    }

    /// All rows of `quantity`, in order.
    pub fn series(&self, quantity: &str) -> Vec<&ReportRow> {
        self.rows
            .iter()
            .filter(|r| r.quantity == quantity)
            .collect()
    }

    /// Writes the report as CSV: quantity, key, lam_um, n, mean, p2.5, p16, p50, p84, p97.5,
    /// abs_p50, abs_p95.
    pub fn write_csv(&self, path: &Path) -> Result<(), TrainError> {
        let err =
            |e: std::io::Error| TrainError::Config(format!("cannot write {}: {e}", path.display()));
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
        writeln!(
            f,
            "quantity,key,lam_um,n,mean,p2.5,p16,p50,p84,p97.5,abs_p50,abs_p95"
        )
        .map_err(err)?;
        for r in &self.rows {
            let s = &r.summary;
            let lam = if r.lam_um.is_finite() {
                format!("{}", r.lam_um)
            } else {
                String::new()
            };
            writeln!(
                f,
                "{},{},{lam},{},{:e},{:e},{:e},{:e},{:e},{:e},{:e},{:e}",
                r.quantity,
                r.key,
                s.n,
                s.mean,
                s.p2_5,
                s.p16,
                s.p50,
                s.p84,
                s.p97_5,
                s.abs_p50,
                s.abs_p95
            )
            .map_err(err)?;
        }
        f.flush().map_err(err)
    }

    /// Writes one line per sample of the data set: `row` (0-based, the order of the set, which
    /// is the index's for `galsed skirt collect`) and one column per per-sample quantity (empty
    /// where the sample has no value, e.g. no valid label).
    pub fn write_samples_csv(&self, path: &Path) -> Result<(), TrainError> {
        let err =
            |e: std::io::Error| TrainError::Config(format!("cannot write {}: {e}", path.display()));
        let mut table = vec![vec![String::new(); self.per_sample.len()]; self.n_samples];
        for (c, (_, values)) in self.per_sample.iter().enumerate() {
            for &(row, v) in values {
                table[row][c] = format!("{v:e}");
            }
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
        let header: Vec<&str> = self.per_sample.iter().map(|(q, _)| q.as_str()).collect();
        writeln!(f, "row,{}", header.join(",")).map_err(err)?;
        for (row, cells) in table.iter().enumerate() {
            writeln!(f, "{row},{}", cells.join(",")).map_err(err)?;
        }
        f.flush().map_err(err)
    }
}

/// Collects values into report rows.
struct Builder {
    rows: Vec<ReportRow>,
    per_sample: Vec<(String, Vec<(usize, f64)>)>,
}

impl Builder {
    /// Values of the data rows `rows`, one per sample.
    fn per_sample(&mut self, quantity: &str, rows: &[usize], values: &[f64]) {
        self.rows.push(ReportRow {
            quantity: quantity.into(),
            key: "sample".into(),
            lam_um: f64::NAN,
            summary: Summary::of(values),
        });
        self.per_sample.push((
            quantity.into(),
            rows.iter().copied().zip(values.iter().copied()).collect(),
        ));
    }

    /// `columns[j]` holds the values at wavelength or filter j.
    fn per_key(&mut self, quantity: &str, keys: &[(String, f64)], columns: &[Vec<f64>]) {
        for ((key, lam), values) in keys.iter().zip(columns) {
            self.rows.push(ReportRow {
                quantity: quantity.into(),
                key: key.clone(),
                lam_um: *lam,
                summary: Summary::of(values),
            });
        }
    }
}

/// Validates `model` on `set` (the set as prepared for training: its labels select the samples).
pub fn validate(model: &ModelFiles, set: &TrainingSet) -> Result<ValidationReport, TrainError> {
    set.check()?;
    let lam_main = &model.ssp.lam_main;
    if !set.on_grid(lam_main) {
        return Err(TrainError::Config(
            "the data set's 'lam' is not the model's grid lam_main".into(),
        ));
    }
    let emu = Starduster::from_files(model, &WavelengthGrid::Base)?;
    let n = set.len();
    let sfh = |s: &Option<Array2<f64>>| -> Vec<f64> {
        s.as_ref().map_or_else(
            || vec![1.0 / N_SSP as f64; n * N_SSP],
            |a| a.iter().copied().collect(),
        )
    };
    let batch = Batch::new(
        set.params.iter().copied().collect(),
        sfh(&set.sfh_disk),
        sfh(&set.sfh_bulge),
        OutOfRange::Error,
    )?;
    let mut b = Builder {
        rows: Vec::new(),
        per_sample: Vec::new(),
    };
    let lam_keys =
        |m: usize| -> Vec<(String, f64)> { (0..m).map(|j| (j.to_string(), set.lam[j])).collect() };

    // Attenuation curves and selectors, per component.
    let log_p = emu.selector_log_probs(&batch);
    for part in Part::BOTH {
        if let Some(curve) = set.curve(part) {
            let rows = set.curve_rows(part);
            let m = curve.ncols();
            let mut per_lam = vec![Vec::with_capacity(rows.len()); m];
            let mut maxabs = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(CHUNK) {
                let pred = predict_curves(&emu, &batch, chunk, part);
                for (i, &r) in chunk.iter().enumerate() {
                    let mut worst = 0f64;
                    for (j, col) in per_lam.iter_mut().enumerate() {
                        let d = f64::from(pred[i * m + j]) - curve[[r, j]];
                        col.push(d);
                        worst = worst.max(d.abs());
                    }
                    maxabs.push(worst);
                }
            }
            b.per_key(
                &format!("attenuation_{}", part.name()),
                &lam_keys(m),
                &per_lam,
            );
            b.per_sample(
                &format!("attenuation_{}_maxabs", part.name()),
                &rows,
                &maxabs,
            );
        }
        let labels = set.valid(part);
        let lp = match part {
            Part::Disk => &log_p.0,
            Part::Bulge => &log_p.1,
        };
        let correct: Vec<f64> = lp
            .iter()
            .zip(&labels)
            .map(|(&l, &v)| if (l > 0.5f32.ln()) == v { 1.0 } else { 0.0 })
            .collect();
        let all: Vec<usize> = (0..n).collect();
        b.per_sample(&format!("selector_{}_correct", part.name()), &all, &correct);
    }

    // Dust emission and absorbed fraction.
    if let (Some(y), Some(frac)) = (&set.dust_emission, &set.frac_abs) {
        let rows = set.valid_rows();
        let m = y.ncols();
        let dx = model.config.distri.dx;
        let (mut kl, mut bkl, mut rel) = (Vec::new(), Vec::new(), Vec::new());
        let mut per_lam = vec![Vec::new(); m];
        for chunk in rows.chunks(CHUNK) {
            let (f_pred, y_pred) = predict_emission(&emu, &batch, chunk);
            let k = chunk.len();
            let dev = Device::flex();
            let yt: Vec<f32> = chunk
                .iter()
                .flat_map(|&r| y.row(r).iter().map(|&v| v as f32).collect::<Vec<_>>())
                .collect();
            let ft: Vec<f32> = chunk.iter().map(|&r| frac[r] as f32).collect();
            let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [k, m]), &dev);
            let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [k]), &dev);
            let kl_t = losses::kl_trapz(t2(yt), t2(y_pred.clone()), dx);
            let bkl_t = losses::binary_kl(t1(ft), t1(f_pred.clone()));
            kl.extend(crate::to_f32s(kl_t).iter().map(|&v| f64::from(v)));
            bkl.extend(crate::to_f32s(bkl_t).iter().map(|&v| f64::from(v)));
            for (i, &r) in chunk.iter().enumerate() {
                rel.push(f64::from(f_pred[i]) / frac[r] - 1.0);
                let row = y.row(r);
                let top = row.iter().copied().fold(0.0, f64::max);
                for (j, col) in per_lam.iter_mut().enumerate() {
                    let (t, p) = (row[j], f64::from(y_pred[i * m + j]));
                    if t >= EMISSION_FLOOR * top && p > 0.0 {
                        col.push(-2.5 * (p / t).log10());
                    }
                }
            }
        }
        b.per_key("dust_emission", &lam_keys(m), &per_lam);
        b.per_sample("emission_kl", &rows, &kl);
        b.per_sample("frac_abs_kl", &rows, &bkl);
        b.per_sample("frac_abs_rel", &rows, &rel);
    }

    // Photometry of the SEDs assembled from the data against the model's.
    if let (Some(cd), Some(cb), Some(y), Some(frac)) = (
        &set.curve_disk,
        &set.curve_bulge,
        &set.dust_emission,
        &set.frac_abs,
    ) {
        let filters = FILTERS20
            .iter()
            .map(|f| Filter::builtin(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrainError::Config(e.to_string()))?;
        let phot = Photometry::new(&emu, &filters, Observer::default())?;
        let keys: Vec<(String, f64)> = filters
            .iter()
            .map(|f| (f.name.clone(), f.pivot_wavelength_angstrom() * 1e-4))
            .collect();
        let rows = set.valid_rows();
        let comps = [
            Component::Combine,
            Component::DustAttenuation,
            Component::DustEmission,
        ];
        let mut cols = vec![vec![Vec::new(); filters.len()]; comps.len()];
        // The total SED's errors by galaxy, for the per-sample table.
        let mut combine_by_row = vec![Vec::new(); filters.len()];
        let l_ssp = &emu.grid().l_ssp;
        for chunk in rows.chunks(CHUNK) {
            let sub = batch_rows(&batch, chunk)?;
            let truth = true_seds(&sub, l_ssp, chunk, cd, cb, y, frac);
            let flux = |lum: &Array2<f64>| -> Vec<f32> {
                let (k, m) = lum.dim();
                let t = Tensor::<2>::from_data(
                    TensorData::new(lum.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [k, m]),
                    &Device::flex(),
                );
                crate::to_f32s(phot.band_fluxes(t))
            };
            let true_flux: Vec<Vec<f32>> = truth.iter().map(flux).collect();
            let nf = filters.len();
            for (c, comp) in comps.iter().enumerate() {
                let pred = emu.fluxes(&sub, *comp, &phot);
                for i in 0..chunk.len() {
                    for f in 0..nf {
                        let (p, t, total) = (
                            f64::from(pred[[i, f]]),
                            f64::from(true_flux[c][i * nf + f]),
                            f64::from(true_flux[0][i * nf + f]),
                        );
                        if t > 0.0 && p > 0.0 && t >= COMPONENT_FLOOR * total {
                            let d = ab_mag(p) - ab_mag(t);
                            cols[c][f].push(d);
                            if *comp == Component::Combine {
                                combine_by_row[f].push((chunk[i], d));
                            }
                        }
                    }
                }
            }
        }
        for (c, comp) in comps.iter().enumerate() {
            b.per_key(&format!("mag_{}", comp.name()), &keys, &cols[c]);
        }
        for ((name, _), values) in keys.iter().zip(combine_by_row) {
            b.per_sample.push((format!("mag_combine_{name}"), values));
        }
    }
    Ok(ValidationReport {
        n_samples: n,
        rows: b.rows,
        per_sample: b.per_sample,
    })
}

/// The galaxies `rows` of a batch.
fn batch_rows(batch: &Batch, rows: &[usize]) -> Result<Batch, TrainError> {
    let pick = |v: &[f32], w: usize| -> Vec<f32> {
        rows.iter()
            .flat_map(|&r| v[r * w..(r + 1) * w].to_vec())
            .collect()
    };
    Ok(Batch::from_adapted(
        pick(batch.gp(), N_GP),
        pick(batch.sfh_disk(), N_SSP),
        pick(batch.sfh_bulge(), N_SSP),
    )?)
}

fn gp_tensor(batch: &Batch, rows: &[usize]) -> Tensor<2> {
    let gp: Vec<f32> = rows
        .iter()
        .flat_map(|&r| batch.gp()[r * N_GP..(r + 1) * N_GP].to_vec())
        .collect();
    Tensor::from_data(TensorData::new(gp, [rows.len(), N_GP]), &Device::flex())
}

fn predict_curves(emu: &Starduster, batch: &Batch, rows: &[usize], part: Part) -> Vec<f32> {
    let (cd, cb) = emu.curves();
    let net = match part {
        Part::Disk => cd,
        Part::Bulge => cb,
    };
    crate::to_f32s(net.forward(gp_tensor(batch, rows)))
}

/// Predicted absorbed fraction (k) and emission shape (k × n_λ) of `rows`.
fn predict_emission(emu: &Starduster, batch: &Batch, rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let k = rows.len();
    let dev = Device::flex();
    let sfh = |v: &[f32]| -> Tensor<2> {
        let s: Vec<f32> = rows
            .iter()
            .flat_map(|&r| v[r * N_SSP..(r + 1) * N_SSP].to_vec())
            .collect();
        Tensor::from_data(TensorData::new(s, [k, N_SSP]), &dev)
    };
    let gp = gp_tensor(batch, rows);
    let (fd, fb) = emu.absorption(gp.clone(), sfh(batch.sfh_disk()), sfh(batch.sfh_bulge()));
    let bt = gp.clone().narrow(1, 6, 1).add_scalar(1.0).mul_scalar(0.5);
    let frac = fd.clone() * bt.clone().neg().add_scalar(1.0) + fb.clone() * bt;
    let y = emu.emission().forward(Tensor::cat(vec![gp, fd, fb], 1));
    (crate::to_f32s(frac), crate::to_f32s(y))
}

/// λL_λ \[L_sun\] on the base grid of (combine, dust_attenuation, dust_emission) assembled from the
/// data's curves, absorbed fraction and emission shape, for the galaxies of `sub` (data rows
/// `rows`): L·[(1−b)·T_d·I_d + b·T_b·I_b + frac·y] (spec §5.2).
fn true_seds(
    sub: &Batch,
    l_ssp: &Array2<f64>,
    rows: &[usize],
    cd: &Array2<f64>,
    cb: &Array2<f64>,
    y: &Array2<f64>,
    frac: &[f64],
) -> [Array2<f64>; 3] {
    let (k, m) = (rows.len(), l_ssp.ncols());
    let n_curve = cd.ncols();
    let mut att = Array2::zeros((k, m));
    let mut dust = Array2::zeros((k, m));
    for (i, &r) in rows.iter().enumerate() {
        let gp = &sub.gp()[i * N_GP..(i + 1) * N_GP];
        let b = (f64::from(gp[6]) + 1.0) * 0.5;
        let l_norm = 10f64.powf(4.0 * (f64::from(gp[5]) + 1.0) + 6.0);
        let sd = &sub.sfh_disk()[i * N_SSP..(i + 1) * N_SSP];
        let sb = &sub.sfh_bulge()[i * N_SSP..(i + 1) * N_SSP];
        for j in 0..m {
            let (mut id, mut ib) = (0.0, 0.0);
            for s in 0..N_SSP {
                id += f64::from(sd[s]) * l_ssp[[s, j]];
                ib += f64::from(sb[s]) * l_ssp[[s, j]];
            }
            let t = |c: &Array2<f64>| {
                if j < n_curve {
                    10f64.powf(-0.4 * c[[r, j]])
                } else {
                    1.0
                }
            };
            att[[i, j]] = l_norm * ((1.0 - b) * t(cd) * id + b * t(cb) * ib);
            dust[[i, j]] = l_norm * frac[r] * y[[r, j]];
        }
    }
    [&att + &dust, att, dust]
}
