//! The plot of one fit: observed photometry against the best-fit SED and its components
//! (observed frame, F_ν), with the residuals below.

use std::path::Path;

use anyhow::{Result, anyhow};
use galsed_core::filters::Filter;
use galsed_core::units::{ab_mag, ab_to_jy};
use galsed_emulator::Component;
use galsed_emulator::predict::SpectralUnits;
use galsed_fit::fit::FitResult;
use galsed_fit::likelihood::Measurement;
use galsed_fit::posterior::Posterior;
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{FAMILY, register, superscript};

/// Model curves: component, colour, width, dashed, label.
const CURVES: [(Component, RGBColor, u32, bool, &str); 4] = [
    (Component::Combine, RGBColor(20, 20, 20), 3, false, "total"),
    (
        Component::DustFree,
        RGBColor(150, 150, 150),
        2,
        true,
        "stars, no dust",
    ),
    (
        Component::DustAttenuation,
        RGBColor(40, 90, 200),
        2,
        false,
        "attenuated stars",
    ),
    (
        Component::DustEmission,
        RGBColor(200, 60, 40),
        2,
        false,
        "dust emission",
    ),
];
const DATA: RGBColor = RGBColor(230, 120, 0);

/// One observed band as plotted: pivot λ_obs [µm], flux and 1σ [Jy], model flux, residual.
struct Point {
    lam: f64,
    flux: f64,
    err: f64,
    limit: bool,
    model: f64,
    chi: f64,
}

fn points(post: &Posterior<'_>, r: &FitResult, filters: &[Filter]) -> Vec<Point> {
    let settings = post.likelihood().settings();
    let obs = post.likelihood().observations();
    filters
        .iter()
        .zip(obs.measurements())
        .zip(&r.model_flux)
        .map(|((f, m), &model)| {
            let lam = f.pivot_wavelength_angstrom() * 1e-4;
            match *m {
                Measurement::Magnitude { mag, sigma } => {
                    let flux = ab_to_jy(mag);
                    let chi = (mag - ab_mag(model) - settings.mag_offset) / sigma;
                    let err = flux * sigma * std::f64::consts::LN_10 / 2.5;
                    Point {
                        lam,
                        flux,
                        err,
                        limit: false,
                        model,
                        chi,
                    }
                }
                Measurement::Flux { flux, sigma } => {
                    let s = (sigma * sigma + (settings.model_error * model).powi(2)).sqrt();
                    Point {
                        lam,
                        flux,
                        err: sigma,
                        limit: false,
                        model,
                        chi: (flux - model) / s,
                    }
                }
                Measurement::UpperLimit { limit, .. } => Point {
                    lam,
                    flux: limit,
                    err: 0.0,
                    limit: true,
                    model,
                    chi: f64::NAN,
                },
            }
        })
        .collect()
}

/// Writes the plot (PNG or SVG by extension) of fit `r` of the galaxy `title`.
pub fn plot_fit(
    path: &Path,
    post: &Posterior<'_>,
    r: &FitResult,
    filters: &[Filter],
    title: &str,
) -> Result<()> {
    register()?;
    let best = Array2::from_shape_vec((1, r.best.len()), r.best.clone())?;
    let batch = post.batch(best.view())?;
    let observer = post.observer();
    let model = post.model();
    let lam_obs: Vec<f64> = observer
        .observed_grid(&model.grid().lam_eval)
        .iter()
        .map(|&l| f64::from(l))
        .collect();
    let curves: Vec<Vec<f64>> = CURVES
        .iter()
        .map(|c| {
            model
                .spectrum(&batch, c.0, SpectralUnits::Fnu, observer)
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        })
        .collect();
    let pts = points(post, r, filters);
    let subtitle = format!(
        "z = {:.4}, χ² = {:.1} for {} detections, −ln p = {:.2}",
        observer.redshift, r.chi2, r.n_detections, r.best_value
    );
    let size = (1000, 720);
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if is_svg {
        draw(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            &subtitle,
            &lam_obs,
            &curves,
            &pts,
        )
    } else {
        draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            &subtitle,
            &lam_obs,
            &curves,
            &pts,
        )
    }
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the fit plot: {e}")
}

fn decades(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let major = (a..=b).map(|e| 10f64.powi(e)).collect();
    let minor = (a..b)
        .flat_map(|e| (2..10).map(move |m| f64::from(m) * 10f64.powi(e)))
        .collect();
    (major, minor)
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    lam: &[f64],
    curves: &[Vec<f64>],
    pts: &[Point],
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.margin(10, 10, 10, 20);
    let root = root.titled(title, (FAMILY, 24)).map_err(err)?;
    let root = root
        .titled(
            subtitle,
            (FAMILY, 16).into_font().color(&RGBColor(70, 70, 70)),
        )
        .map_err(err)?;
    let (top, bottom) = root.split_vertically(480);

    // Wavelength range: the bands with a margin, at least 0.1–1000 µm observed.
    let lam_lo = pts.iter().map(|p| p.lam).fold(0.1f64, f64::min) / 1.5;
    let lam_hi = pts.iter().map(|p| p.lam).fold(1000.0f64, f64::max) * 1.5;
    let in_range = |l: f64| l >= lam_lo && l <= lam_hi;
    let ymax = curves[0]
        .iter()
        .zip(lam)
        .filter(|(_, l)| in_range(**l))
        .map(|(v, _)| *v)
        .chain(pts.iter().map(|p| p.flux + p.err))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    if ymax <= 0.0 {
        return Err(anyhow!("nothing to plot: the model and the data are zero"));
    }
    let ymin_data = pts
        .iter()
        .map(|p| p.flux.min(p.model))
        .filter(|v| *v > 0.0)
        .fold(ymax, f64::min);
    let top_exp = (ymax * 3.0).log10().ceil() as i32;
    let bottom_exp = ((ymin_data / 10.0).log10().floor() as i32).max(top_exp - 8);
    let (ylo, yhi) = (10f64.powi(bottom_exp), 10f64.powi(top_exp));
    let (xk, xl) = decades(lam_lo, lam_hi);
    let (yk, yl) = decades(ylo, yhi);

    let mut chart = ChartBuilder::on(&top)
        .x_label_area_size(10)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (lam_lo..lam_hi)
                .log_scale()
                .with_key_points(xk.clone())
                .with_light_points(xl.clone()),
            (ylo..yhi)
                .log_scale()
                .with_key_points(yk)
                .with_light_points(yl),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("F_ν [Jy]")
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 16))
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| format!("10{}", superscript(v.log10().round() as i32)))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .draw()
        .map_err(err)?;
    for ((_, color, width, dashed, label), y) in CURVES.iter().zip(curves) {
        let st = color.stroke_width(*width);
        let seg: Vec<(f64, f64)> = lam
            .iter()
            .zip(y)
            .filter(|(l, v)| in_range(**l) && **v >= ylo)
            .map(|(l, v)| (*l, *v))
            .collect();
        let series = if *dashed {
            chart
                .draw_series(DashedLineSeries::new(seg, 9, 5, st))
                .map_err(err)?
        } else {
            chart.draw_series(LineSeries::new(seg, st)).map_err(err)?
        };
        let c = *color;
        series
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
    }
    let model_pts: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| p.model > 0.0)
        .map(|p| (p.lam, p.model))
        .collect();
    chart
        .draw_series(model_pts.iter().map(|&(x, y)| {
            EmptyElement::at((x, y)) + Rectangle::new([(-5, -5), (5, 5)], BLACK.stroke_width(2))
        }))
        .map_err(err)?
        .label("model in the bands")
        .legend(|(x, y)| Rectangle::new([(x + 7, y - 5), (x + 17, y + 5)], BLACK.stroke_width(2)));
    let detections: Vec<&Point> = pts.iter().filter(|p| !p.limit).collect();
    chart
        .draw_series(detections.iter().map(|p| {
            ErrorBar::new_vertical(
                p.lam,
                (p.flux - p.err).max(ylo),
                p.flux,
                p.flux + p.err,
                DATA.filled().stroke_width(2),
                8,
            )
        }))
        .map_err(err)?;
    chart
        .draw_series(
            detections
                .iter()
                .map(|p| Circle::new((p.lam, p.flux), 5, DATA.filled())),
        )
        .map_err(err)?
        .label("observed")
        .legend(|(x, y)| Circle::new((x + 12, y), 5, DATA.filled()));
    chart
        .draw_series(pts.iter().filter(|p| p.limit).map(|p| {
            EmptyElement::at((p.lam, p.flux)) + TriangleMarker::new((0, 6), 7, DATA.filled())
        }))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)?;

    let chi_max = pts
        .iter()
        .map(|p| p.chi.abs())
        .filter(|c| c.is_finite())
        .fold(3.0f64, f64::max)
        .ceil()
        + 0.5;
    let mut res = ChartBuilder::on(&bottom)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (lam_lo..lam_hi)
                .log_scale()
                .with_key_points(xk)
                .with_light_points(xl),
            -chi_max..chi_max,
        )
        .map_err(err)?;
    res.configure_mesh()
        .x_desc("observed wavelength λ [µm]")
        .y_desc("(data − model)/σ")
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 16))
        .x_label_formatter(&|v| {
            if *v < 1.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .y_labels(5)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .draw()
        .map_err(err)?;
    res.draw_series(LineSeries::new(
        vec![(lam_lo, 0.0), (lam_hi, 0.0)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    res.draw_series(
        pts.iter()
            .filter(|p| p.chi.is_finite())
            .map(|p| Circle::new((p.lam, p.chi), 5, DATA.filled())),
    )
    .map_err(err)?;
    root.present().map_err(err)
}
