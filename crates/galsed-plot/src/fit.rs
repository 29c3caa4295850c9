//! The plot of one fit: observed photometry against the best-fit SED and its components
//! (observed frame, flux density Fν), with the residuals below. The legend sits in a strip
//! between the title and the plot, clear of the data.

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

use crate::style::{
    FAMILY, GRID_BOLD, GRID_LIGHT, LEGEND_BORDER, render, superscript, tick_number,
};
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
        render!(path, format, (1000, 780), |root| draw(
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

/// Height of the legend strip above the plot \[px\].
const LEGEND_HEIGHT: u32 = 64;
/// Dash and gap lengths of the dust-free curve and of its legend sample \[px\].
const DASH: (u32, u32) = (9, 5);

/// What a legend entry shows.
#[derive(Clone, Copy)]
enum Sample {
    /// A line of this colour and width, dashed or not.
    Line(RGBColor, u32, bool),
    /// The open black square of the model in the bands.
    Square,
    /// The filled circle with an error bar of the observations.
    Observed,
}

/// Draws the legend in its own strip (two rows of three entries in a bordered box), so that it
/// never covers the data. Samples look like the series: the dust-free line is dashed.
fn draw_legend_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let entries: Vec<(Sample, &str)> = CURVES
        .iter()
        .map(|(_, c, w, dashed, label)| (Sample::Line(*c, *w + 1, *dashed), *label))
        .chain([
            (Sample::Square, "model in the bands"),
            (Sample::Observed, "observed (±1σ)"),
        ])
        .collect();
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (x0, y0, x1, y1) = (90, 4, w - 10, h - 6);
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        LEGEND_BORDER.stroke_width(1),
    ))?;
    let col = (x1 - x0) / 3;
    let row = (y1 - y0) / 2;
    for (k, (sample, label)) in entries.iter().enumerate() {
        let x = x0 + 12 + (k as i32 % 3) * col;
        let y = y0 + row / 2 + (k as i32 / 3) * row;
        match *sample {
            Sample::Line(c, width, false) => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 32, y)],
                    c.stroke_width(width),
                ))?;
            }
            Sample::Line(c, width, true) => {
                let (dash, gap) = (DASH.0 as i32, DASH.1 as i32);
                let mut a = x;
                while a < x + 32 {
                    area.draw(&PathElement::new(
                        vec![(a, y), ((a + dash).min(x + 32), y)],
                        c.stroke_width(width),
                    ))?;
                    a += dash + gap;
                }
            }
            Sample::Square => {
                area.draw(&Rectangle::new(
                    [(x + 11, y - 5), (x + 21, y + 5)],
                    BLACK.stroke_width(2),
                ))?;
            }
            Sample::Observed => {
                area.draw(&PathElement::new(
                    vec![(x + 16, y - 9), (x + 16, y + 9)],
                    DATA.stroke_width(2),
                ))?;
                area.draw(&Circle::new((x + 16, y), 5, DATA.filled()))?;
            }
        }
        area.draw(&Text::new(
            *label,
            (x + 42, y - 8),
            (FAMILY, 15).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
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
    let (strip, rest) = root.split_vertically(LEGEND_HEIGHT);
    draw_legend_strip(&strip).map_err(err)?;
    let (top, bottom) = rest.split_vertically(480);

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
        .y_desc("flux density Fν [Jy]")
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 16))
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| format!("10{}", superscript(v.log10().round() as i32)))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()
        .map_err(err)?;
    for ((_, color, width, dashed, _), y) in CURVES.iter().zip(curves) {
        let st = color.stroke_width(*width);
        let seg: Vec<(f64, f64)> = lam
            .iter()
            .zip(y)
            .filter(|(l, v)| in_range(**l) && **v >= ylo)
            .map(|(l, v)| (*l, *v))
            .collect();
        if *dashed {
            chart
                .draw_series(DashedLineSeries::new(seg, DASH.0, DASH.1, st))
                .map_err(err)?;
        } else {
            chart.draw_series(LineSeries::new(seg, st)).map_err(err)?;
        }
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
        .map_err(err)?;
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
        .map_err(err)?;
    chart
        .draw_series(pts.iter().filter(|p| p.limit).map(|p| {
            EmptyElement::at((p.lam, p.flux)) + TriangleMarker::new((0, 6), 7, DATA.filled())
        }))
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
        .y_label_formatter(&|v| tick_number(*v))
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

    /// The numeric attribute `name` of an SVG element.
    fn attr(el: &str, name: &str) -> Option<f64> {
        let el = format!(" {el}");
        let key = format!(" {name}=\"");
        let start = el.find(&key)? + key.len();
        el[start..].split('"').next()?.parse().ok()
    }

    /// SVG elements named `tag` (the text from `<tag` to the end of the tag).
    fn elements<'a>(svg: &'a str, tag: &str) -> Vec<&'a str> {
        svg.split(&format!("<{tag} "))
            .skip(1)
            .map(|e| e.split('>').next().unwrap_or(""))
            .collect()
    }

    fn figure() -> FitFigure {
        let lam: Vec<f64> = (0..400).map(|k| 0.09 * 1.03f64.powi(k)).collect();
        let bump = |c: f64, s: f64| -> Vec<f64> {
            lam.iter()
                .map(|l| 1e-3 * (-(l.ln() - c).powi(2) / s).exp())
                .collect()
        };
        // A bright point at the upper left and one at the upper right, where a legend in a
        // corner of the plot would sit.
        let points: Vec<Point> = [(0.2, 2e-3), (0.6, 5e-4), (3.4, 5e-4), (500.0, 2e-3)]
            .iter()
            .map(|&(lam, flux)| Point {
                lam,
                flux,
                err: 0.1 * flux,
                limit: false,
                model: 0.8 * flux,
                chi: -2.5,
            })
            .collect();
        FitFigure {
            title: "galaxy 2".into(),
            subtitle: "z = 0.0100".into(),
            curves: [
                bump(0.0, 3.0),
                bump(-0.5, 1.0),
                bump(0.0, 2.0),
                bump(4.0, 1.0),
            ],
            lam,
            points,
        }
    }

    #[test]
    fn legend_clear_of_the_data_with_a_dashed_dust_free_sample() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fit.svg");
        figure().write(&path, Format::Svg).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // The legend box: the rectangles drawn in the legend's border colour.
        let border = format!(
            "#{:02X}{:02X}{:02X}",
            LEGEND_BORDER.0, LEGEND_BORDER.1, LEGEND_BORDER.2
        );
        let boxes: Vec<(f64, f64, f64, f64)> = elements(&svg, "rect")
            .into_iter()
            .filter(|r| r.to_ascii_uppercase().contains(&border))
            .map(|r| {
                let (x, y) = (attr(r, "x").unwrap(), attr(r, "y").unwrap());
                (
                    x,
                    y,
                    x + attr(r, "width").unwrap(),
                    y + attr(r, "height").unwrap(),
                )
            })
            .collect();
        assert!(!boxes.is_empty(), "no legend box in the SVG");
        let data = format!("#{:02X}{:02X}{:02X}", DATA.0, DATA.1, DATA.2);
        let circles: Vec<(f64, f64)> = elements(&svg, "circle")
            .into_iter()
            .filter(|c| c.to_ascii_uppercase().contains(&data))
            .map(|c| (attr(c, "cx").unwrap(), attr(c, "cy").unwrap()))
            .collect();
        assert!(circles.len() >= 8, "{} data markers", circles.len());
        // The legend's own "observed" sample is the one marker allowed inside its box.
        for &b in &boxes {
            assert!(
                circles_in_box(&circles, b) <= 1,
                "data markers under the legend box {b:?}: {circles:?}"
            );
        }
        // The dust-free line's legend sample is dashed: several short segments in its colour.
        let (c, w) = (CURVES[1].1, CURVES[1].2 + 1);
        let grey = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        let dashes = elements(&svg, "polyline")
            .into_iter()
            .filter(|p| {
                p.to_ascii_uppercase().contains(&grey)
                    && attr(p, "stroke-width") == Some(f64::from(w))
            })
            .count();
        assert!(
            dashes >= 2,
            "the dust-free legend sample is not dashed ({dashes} segments)"
        );
    }

    fn circles_in_box(c: &[(f64, f64)], (x0, y0, x1, y1): (f64, f64, f64, f64)) -> usize {
        c.iter()
            .filter(|&&(cx, cy)| cx > x0 && cx < x1 && cy > y0 && cy < y1)
            .count()
    }

    #[test]
    fn greek_nu_and_true_minus_signs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fit.svg");
        figure().write(&path, Format::Svg).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("Fν [Jy]"), "no Fν axis label");
        assert!(!svg.contains("F_ν") && !svg.contains("F_nu") && !svg.contains("\\nu"));
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .map(str::trim)
            .collect();
        assert!(
            texts.iter().any(|t| t.starts_with('−')),
            "no negative tick label: {texts:?}"
        );
        assert!(
            !texts.iter().any(|t| t.contains('-')),
            "a hyphen-minus in the figure's text: {texts:?}"
        );
        // The DejaVu Sans bundled with the crate has the glyphs drawn in the figures.
        let font =
            ab_glyph::FontRef::try_from_slice(include_bytes!("../assets/DejaVuSans.ttf")).unwrap();
        use ab_glyph::Font;
        for ch in ['ν', '−', 'σ', 'χ', 'λ', 'µ', '²', '⁻', '±'] {
            assert_ne!(font.glyph_id(ch).0, 0, "no glyph for {ch}");
        }
    }

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
