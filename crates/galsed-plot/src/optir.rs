//! Plots of the optical–infrared evaluation ([`galsed_optir::evaluate::Report`]): PP curves,
//! χ histograms and W1−W2 vs W2−W3 colour–colour diagrams; and the occlusion attribution
//! ([`attribution_plot`]).

use std::path::Path;

use galsed_core::numeric::{QuantileMethod, quantile_sorted};
use galsed_optir::evaluate::{ColourColour, Report};
use galsed_optir::occlude::{LINE_MARKERS, RestStack};
use galsed_optir::survey::WISE_BANDS;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{FAMILY, GRID_BOLD, GRID_LIGHT, draw_legend, legend_line, render, tick_number};
use crate::{Format, PlotError};

type Result<T> = std::result::Result<T, PlotError>;

/// Line colours of the methods, in report order (cycled).
const COLOURS: [RGBColor; 6] = [
    RGBColor(40, 90, 200),
    RGBColor(220, 90, 30),
    RGBColor(40, 150, 70),
    RGBColor(150, 60, 170),
    RGBColor(120, 120, 120),
    RGBColor(200, 40, 90),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(format!("drawing the optical–infrared plot: {e}"))
}

fn check(report: &Report) -> Result<()> {
    if report.details.is_empty() {
        return Err(PlotError::Input(
            "the report holds no method to plot".into(),
        ));
    }
    Ok(())
}

/// At most `max` evenly spaced indices of `0..n` (always the first and the last).
fn thin(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|k| k * (n - 1) / (max - 1)).collect()
}

/// PP plot: one panel per band, the curve of every method, and the diagonal.
pub fn pp_plot(path: &Path, format: Format, report: &Report) -> Result<()> {
    check(report)?;
    render!(path, format, (1000, 900), |root| draw_pp(root, report))
}

fn draw_pp<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &Report) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .margin(10, 10, 10, 10)
        .titled("PP plot: Φ(χ) against its empirical CDF", (FAMILY, 22))
        .map_err(err)?;
    for (b, panel) in root.split_evenly((2, 2)).iter().enumerate() {
        let mut chart = ChartBuilder::on(panel)
            .caption(WISE_BANDS[b], (FAMILY, 18))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("Φ(χ)")
            .y_desc("empirical CDF")
            .axis_desc_style((FAMILY, 15))
            .label_style((FAMILY, 13))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                8,
                5,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        for (m, d) in report.details.iter().enumerate() {
            let Some(pp) = d.pp.get(b) else { continue };
            if pp.u.is_empty() {
                continue;
            }
            let pts: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
                .chain(
                    thin(pp.u.len(), 600)
                        .into_iter()
                        .map(|i| (pp.u[i], pp.ecdf[i])),
                )
                .collect();
            let c = colour(m);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{} (KS {:.3})", d.name, pp.max_deviation))
                .legend(legend_line(c.stroke_width(3)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 13).map_err(err)?;
    }
    root.present().map_err(err)
}

/// Histograms of χ = (ŷ − y)/σ per band (all methods, as densities in [−5, 5]) with the N(0, 1)
/// density.
pub fn chi_histograms(path: &Path, format: Format, report: &Report) -> Result<()> {
    check(report)?;
    render!(path, format, (1000, 900), |root| draw_chi(root, report))
}

const CHI_RANGE: f64 = 5.0;
const CHI_BINS: usize = 40;

/// Density histogram of `chi` in [−CHI_RANGE, CHI_RANGE] (values outside count in the total only).
fn histogram(chi: &[f64]) -> Vec<f64> {
    let width = 2.0 * CHI_RANGE / CHI_BINS as f64;
    let mut h = vec![0.0; CHI_BINS];
    for &c in chi {
        let k = ((c + CHI_RANGE) / width).floor();
        if k >= 0.0 && (k as usize) < CHI_BINS {
            h[k as usize] += 1.0;
        }
    }
    let norm = chi.len().max(1) as f64 * width;
    h.iter().map(|v| v / norm).collect()
}

fn draw_chi<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &Report) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .margin(10, 10, 10, 10)
        .titled("χ = (predicted − observed)/σ", (FAMILY, 22))
        .map_err(err)?;
    let width = 2.0 * CHI_RANGE / CHI_BINS as f64;
    let gauss = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    for (b, panel) in root.split_evenly((2, 2)).iter().enumerate() {
        let hists: Vec<Vec<f64>> = report
            .details
            .iter()
            .map(|d| d.bands.get(b).map_or_else(Vec::new, |s| histogram(&s.chi)))
            .collect();
        let ymax = hists.iter().flatten().copied().fold(gauss(0.0), f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(WISE_BANDS[b], (FAMILY, 18))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-CHI_RANGE..CHI_RANGE, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("χ")
            .y_desc("density")
            .x_label_formatter(&|v| tick_number(*v))
            .axis_desc_style((FAMILY, 15))
            .label_style((FAMILY, 13))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .draw()
            .map_err(err)?;
        let curve: Vec<(f64, f64)> = (0..=200)
            .map(|k| -CHI_RANGE + 2.0 * CHI_RANGE * k as f64 / 200.0)
            .map(|x| (x, gauss(x)))
            .collect();
        chart
            .draw_series(DashedLineSeries::new(curve, 8, 5, BLACK.stroke_width(2)))
            .map_err(err)?
            .label("N(0, 1)")
            .legend(legend_line(BLACK.stroke_width(2)));
        for (m, (d, h)) in report.details.iter().zip(&hists).enumerate() {
            if h.is_empty() || d.bands[b].n == 0 {
                continue;
            }
            // Step outline of the histogram.
            let mut pts = vec![(-CHI_RANGE, 0.0)];
            for (k, &v) in h.iter().enumerate() {
                let x0 = -CHI_RANGE + k as f64 * width;
                pts.push((x0, v));
                pts.push((x0 + width, v));
            }
            pts.push((CHI_RANGE, 0.0));
            let c = colour(m);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{} (χ²_N {:.2})", d.name, d.bands[b].chi2_n))
                .legend(legend_line(c.stroke_width(3)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 13).map_err(err)?;
    }
    root.present().map_err(err)
}

/// W1−W2 against W2−W3: the observed colours in the first panel, each method's predicted
/// colours of the same galaxies in the next ones, on common axes (the 0.5–99.5 percentiles of
/// the data, widened by 10 %).
pub fn colour_colour(path: &Path, format: Format, report: &Report) -> Result<()> {
    check(report)?;
    let data = &report.details[0].colours;
    if data.data.is_empty() {
        return Err(PlotError::Input(
            "no galaxy is detected in W1, W2 and W3".into(),
        ));
    }
    let n = report.details.len() + 1;
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let size = (360 * cols as u32 + 20, 340 * rows as u32 + 50);
    render!(path, format, size, |root| draw_cc(
        root,
        report,
        (rows, cols)
    ))
}

fn draw_cc<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &Report,
    grid: (usize, usize),
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .margin(10, 10, 10, 10)
        .titled("W1−W2 vs W2−W3", (FAMILY, 22))
        .map_err(err)?;
    let data = &report.details[0].colours;
    let range = |k: usize| {
        let mut v: Vec<f64> = data.data.iter().map(|p| p[k]).collect();
        v.sort_by(f64::total_cmp);
        let (lo, hi) = (
            quantile_sorted(&v, 0.005, QuantileMethod::Nearest),
            quantile_sorted(&v, 0.995, QuantileMethod::Nearest),
        );
        let pad = 0.1 * (hi - lo).max(0.1);
        (lo - pad)..(hi + pad)
    };
    let (xr, yr) = (range(0), range(1));
    let panels: Vec<(String, &ColourColour, bool, RGBColor)> =
        std::iter::once(("observed".to_string(), data, true, BLACK))
            .chain(
                report
                    .details
                    .iter()
                    .enumerate()
                    .map(|(m, d)| (d.name.clone(), &d.colours, false, colour(m))),
            )
            .collect();
    for (area, (name, cc, observed, c)) in root.split_evenly(grid).iter().zip(&panels) {
        let pts = if *observed { &cc.data } else { &cc.predicted };
        let mut chart = ChartBuilder::on(area)
            .caption(name, (FAMILY, 16))
            .margin(6)
            .x_label_area_size(36)
            .y_label_area_size(46)
            .build_cartesian_2d(xr.clone(), yr.clone())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("W2 − W3")
            .y_desc("W1 − W2")
            .x_label_formatter(&|v| tick_number(*v))
            .y_label_formatter(&|v| tick_number(*v))
            .axis_desc_style((FAMILY, 13))
            .label_style((FAMILY, 11))
            .x_labels(6)
            .y_labels(6)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .draw()
            .map_err(err)?;
        let style = c.mix(0.35).filled();
        chart
            .draw_series(
                thin(pts.len(), 20_000)
                    .into_iter()
                    .map(|i| pts[i])
                    .filter(|p| xr.contains(&p[0]) && yr.contains(&p[1]))
                    .map(|p| Circle::new((p[0], p[1]), 1, style)),
            )
            .map_err(err)?;
    }
    root.present().map_err(err)
}

const BAND_COLOURS: [RGBColor; 4] = [
    RGBColor(40, 90, 200),
    RGBColor(40, 150, 70),
    RGBColor(220, 90, 30),
    RGBColor(200, 40, 90),
];

fn attribution_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(format!("drawing the attribution plot: {e}"))
}

/// The occlusion attribution plot: mean |Δχ| per rest-frame pixel for each WISE band, one panel
/// per (class name, number of galaxies, stack), with the spectral features of [`LINE_MARKERS`]
/// marked.
pub fn attribution_plot(
    path: &Path,
    format: Format,
    stacks: &[(&str, usize, RestStack)],
) -> Result<()> {
    if stacks.is_empty() {
        return Err(PlotError::Input("no attribution to plot".into()));
    }
    let size = (1400, 420 * stacks.len() as u32);
    render!(path, format, size, |root| draw_attribution(root, stacks))
}

fn draw_attribution<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    stacks: &[(&str, usize, RestStack)],
) -> Result<()> {
    root.fill(&WHITE).map_err(attribution_err)?;
    let root = root
        .margin(10, 10, 10, 10)
        .titled(
            "Multiscale occlusion: mean |Δχ| of the predicted WISE bands per rest-frame pixel",
            (FAMILY, 22),
        )
        .map_err(attribution_err)?;
    for (panel, (name, n, stack)) in root.split_evenly((stacks.len(), 1)).iter().zip(stacks) {
        let lam: Vec<f64> = stack.loglam_rest.iter().map(|l| 10f64.powf(*l)).collect();
        let (x0, x1) = (lam[0], lam[lam.len() - 1]);
        let y_max = stack
            .mean
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-6)
            * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{} ({n} test galaxies)", name.replace('_', "-")),
                (FAMILY, 18),
            )
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0f64..y_max)
            .map_err(attribution_err)?;
        chart
            .configure_mesh()
            .x_desc("rest-frame wavelength [Å]")
            .y_desc("mean |Δχ|")
            .axis_desc_style((FAMILY, 15))
            .label_style((FAMILY, 13))
            .light_line_style(RGBColor(245, 245, 245))
            .draw()
            .map_err(attribution_err)?;
        for (k, &(label, l)) in LINE_MARKERS.iter().enumerate() {
            if l < x0 || l > x1 {
                continue;
            }
            // Neighbouring features are close: stagger their labels over three heights.
            let y_label = y_max * (0.97 - 0.06 * (k % 3) as f64);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(l, 0.0), (l, y_max)],
                    RGBColor(190, 190, 190),
                )))
                .map_err(attribution_err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.to_string(),
                    (l, y_label),
                    (FAMILY, 11),
                )))
                .map_err(attribution_err)?;
        }
        for b in 0..4 {
            // Pixels no galaxy covers (NaN) break the line.
            let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for (j, &m) in stack.mean.row(b).iter().enumerate() {
                if m.is_finite() {
                    segments
                        .last_mut()
                        .expect("at least one segment")
                        .push((lam[j], m));
                } else if !segments.last().expect("at least one segment").is_empty() {
                    segments.push(Vec::new());
                }
            }
            let c = BAND_COLOURS[b];
            let mut first = true;
            for seg in segments.into_iter().filter(|s| !s.is_empty()) {
                let series = chart
                    .draw_series(LineSeries::new(seg, c.stroke_width(1)))
                    .map_err(attribution_err)?;
                if first {
                    series
                        .label(WISE_BANDS[b])
                        .legend(legend_line(c.stroke_width(3)));
                    first = false;
                }
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 13).map_err(attribution_err)?;
    }
    root.present().map_err(attribution_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use galsed_optir::evaluate::{MethodResult, Subset, evaluate_subsets};
    use galsed_optir::survey::UNDETECTED_SIGMA;
    use ndarray::Array2;

    fn report() -> Report {
        let n = 300;
        let mut wise = Array2::zeros((n, 4));
        let mut err = Array2::from_elem((n, 4), 0.1);
        let mut a = Array2::zeros((n, 4));
        let mut b = Array2::zeros((n, 4));
        for i in 0..n {
            let t = i as f64 / n as f64;
            for k in 0..4 {
                wise[[i, k]] = 14.0 - k as f64 * (0.5 + t);
                // Deterministic "noise" of about one σ, and a biased second method.
                let e = 0.1 * ((i * 7 + k * 3) as f64).sin() * 1.5;
                a[[i, k]] = wise[[i, k]] + e;
                b[[i, k]] = wise[[i, k]] + e + 0.1;
            }
            if i % 3 == 0 {
                err[[i, 3]] = UNDETECTED_SIGMA;
            }
        }
        let subsets = vec![Subset {
            name: "all".into(),
            description: "all".into(),
            rows: (0..n).collect(),
        }];
        let methods = vec![
            MethodResult {
                name: "mlp".into(),
                predictions: a,
            },
            MethodResult {
                name: "linear".into(),
                predictions: b,
            },
        ];
        evaluate_subsets(wise.view(), err.view(), &subsets, &methods).unwrap()
    }

    #[test]
    fn plots_write_png_and_svg() {
        let rep = report();
        let dir = tempfile::tempdir().unwrap();
        type Plot = fn(&Path, Format, &Report) -> Result<()>;
        let plots: [(&str, Plot); 3] = [
            ("pp", pp_plot),
            ("chi", chi_histograms),
            ("cc", colour_colour),
        ];
        for (name, f) in plots {
            let png = dir.path().join(format!("{name}.png"));
            f(&png, Format::Png, &rep).unwrap();
            let bytes = std::fs::read(&png).unwrap();
            assert!(bytes.len() > 1000, "{name}.png is {} bytes", bytes.len());
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}.png is not a PNG");
            let svg = dir.path().join(format!("{name}.svg"));
            f(&svg, Format::Svg, &rep).unwrap();
            let text = std::fs::read_to_string(&svg).unwrap();
            assert!(
                text.contains("<svg") && text.trim_end().ends_with("</svg>"),
                "{name}.svg is not an SVG"
            );
        }
        let empty = Report {
            subsets: vec![],
            rows: vec![],
            details: vec![],
        };
        assert!(pp_plot(&dir.path().join("x.png"), Format::Png, &empty).is_err());
    }

    #[test]
    fn attribution_writes_png_and_svg() {
        let mut stack = RestStack::new((3600.0, 7000.0));
        let n = stack.loglam_rest.len();
        for b in 0..4 {
            for k in 0..n {
                // A gap of uncovered pixels (NaN) in the middle.
                stack.mean[[b, k]] = if (n / 3..n / 2).contains(&k) {
                    f64::NAN
                } else {
                    0.1 * (b + 1) as f64 * (1.0 + (k as f64 * 0.01).sin())
                };
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let stacks = [("star_forming", 12, stack.clone()), ("quiescent", 7, stack)];
        let png = dir.path().join("attribution.png");
        attribution_plot(&png, Format::Png, &stacks).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        let svg = dir.path().join("attribution.svg");
        attribution_plot(&svg, Format::Svg, &stacks).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
        assert!(attribution_plot(&png, Format::Png, &[]).is_err());
    }
}
