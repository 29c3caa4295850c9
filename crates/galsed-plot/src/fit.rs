//! The plot of one fit: observed photometry against the best-fit SED and its components
//! (observed frame, F_ν), with the residuals below.

use std::path::Path;

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

use crate::style::{FAMILY, GRID_BOLD, GRID_LIGHT, draw_legend, render, superscript};
use crate::{Format, PlotError};

type Result<T> = std::result::Result<T, PlotError>;

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

/// One observed band as plotted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Pivot wavelength, observed frame \[µm\].
    pub lam: f64,
    /// Observed flux (or upper limit) \[Jy\].
    pub flux: f64,
    /// Its 1σ error \[Jy\] (0 for a limit).
    pub err: f64,
    /// Whether `flux` is an upper limit.
    pub limit: bool,
    /// Model flux in the band \[Jy\].
    pub model: f64,
    /// Residual (data − model)/σ (NaN for a limit).
    pub chi: f64,
}

/// Everything the fit plot draws, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct FitFigure {
    /// Title (the galaxy's name).
    pub title: String,
    /// Second line of the title.
    pub subtitle: String,
    /// Observed-frame wavelengths of the model spectra \[µm\].
    pub lam: Vec<f64>,
    /// F_ν \[Jy\] at `lam` of the total, the dust-free stars, the attenuated stars and the dust
    /// emission, in this order.
    pub curves: [Vec<f64>; 4],
    /// The observed bands.
    pub points: Vec<Point>,
}

fn points(post: &Posterior<'_>, r: &FitResult, filters: &[Filter]) -> Vec<Point> {
    let like = post.likelihood();
    let settings = like.settings();
    let obs = like.observations();
    filters
        .iter()
        .zip(obs.measurements())
        .zip(&r.model_flux)
        .enumerate()
        .map(|(i, ((f, m), &model))| {
            // χ against the total error (observation and model error), as the fit saw it.
            let sigma_total = like.sigma_total(i, model);
            let lam = f.pivot_wavelength_angstrom() * 1e-4;
            match *m {
                Measurement::Magnitude { mag, sigma } => {
                    let flux = ab_to_jy(mag);
                    let chi = (mag - ab_mag(model) - settings.mag_offset) / sigma_total;
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
                Measurement::Flux { flux, sigma } => Point {
                    lam,
                    flux,
                    err: sigma,
                    limit: false,
                    model,
                    chi: (flux - model) / sigma_total,
                },
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

impl FitFigure {
    /// The figure of fit `r` of the galaxy `title`, observed with `filters` (in the order of the
    /// likelihood's measurements): the model spectra at the best fit and the bands.
    pub fn new(
        post: &Posterior<'_>,
        r: &FitResult,
        filters: &[Filter],
        title: &str,
    ) -> Result<Self> {
        let best = Array2::from_shape_vec((1, r.best.len()), r.best.clone())?;
        let batch = post.batch(best.view())?;
        let observer = post.observer();
        let model = post.model();
        let lam: Vec<f64> = observer
            .observed_grid(&model.grid().lam_eval)
            .iter()
            .map(|&l| f64::from(l))
            .collect();
        let curves = CURVES.map(|c| {
            model
                .spectrum(&batch, c.0, SpectralUnits::Fnu, observer)
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        });
        let subtitle = format!(
            "z = {:.4}, χ² = {:.1} for {} detections, −ln p = {:.2}",
            observer.redshift, r.chi2, r.n_detections, r.best_value
        );
        Ok(Self {
            title: title.to_owned(),
            subtitle,
            lam,
            curves,
            points: points(post, r, filters),
        })
    }

    /// Writes the figure to `path` in `format`.
    pub fn write(&self, path: &Path, format: Format) -> Result<()> {
        render!(path, format, (1000, 720), |root| draw(
            root,
            &self.title,
            &self.subtitle,
            &self.lam,
            &self.curves,
            &self.points
        ))
    }
}

/// Writes the plot of fit `r` of the galaxy `title` (observed with `filters`, in the order of
/// the likelihood's measurements) to `path` in `format`.
pub fn plot_fit(
    path: &Path,
    format: Format,
    post: &Posterior<'_>,
    r: &FitResult,
    filters: &[Filter],
    title: &str,
) -> Result<()> {
    FitFigure::new(post, r, filters, title)?.write(path, format)
}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(format!("drawing the fit plot: {e}"))
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
        return Err(PlotError::Input(
            "nothing to plot: the model and the data are zero".into(),
        ));
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
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
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
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 15).map_err(err)?;

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
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg() {
        let lam: Vec<f64> = (0..400).map(|k| 0.09 * 1.03f64.powi(k)).collect();
        let bump = |c: f64, s: f64| -> Vec<f64> {
            lam.iter()
                .map(|l| 1e-3 * (-(l.ln() - c).powi(2) / s).exp())
                .collect()
        };
        let points: Vec<Point> = [0.35, 0.6, 1.2, 3.4, 22.0, 250.0]
            .iter()
            .enumerate()
            .map(|(k, &l)| Point {
                lam: l,
                flux: 5e-4,
                err: if k == 5 { 0.0 } else { 5e-5 },
                limit: k == 5,
                model: 4.5e-4,
                chi: if k == 5 { f64::NAN } else { 1.0 },
            })
            .collect();
        let fig = FitFigure {
            title: "galaxy 1".into(),
            subtitle: "z = 0.1000".into(),
            curves: [
                bump(0.0, 3.0),
                bump(-0.5, 1.0),
                bump(0.0, 2.0),
                bump(4.0, 1.0),
            ],
            lam,
            points,
        };
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("fit.png");
        fig.write(&png, Format::Png).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        let svg = dir.path().join("fit.svg");
        fig.write(&svg, Format::Svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("galaxy 1"));
        let mut empty = fig.clone();
        empty.curves[0].fill(0.0);
        empty.points.clear();
        assert!(empty.write(&png, Format::Png).is_err());
    }
}
