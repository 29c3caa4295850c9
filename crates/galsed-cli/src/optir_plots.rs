//! Plots of the optical–infrared evaluation ([`galsed_optir::evaluate::Report`]): PP curves,
//! χ histograms and W1−W2 vs W2−W3 colour–colour diagrams. PNG or SVG by the file extension.

use std::path::Path;

use anyhow::{Result, anyhow};
use galsed_optir::evaluate::{ColourColour, Report};
use galsed_optir::survey::WISE_BANDS;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{FAMILY, register};

/// Line colours of the methods, in report order (cycled).
const COLOURS: [RGBColor; 6] = [
    RGBColor(40, 90, 200),
    RGBColor(220, 90, 30),
    RGBColor(40, 150, 70),
    RGBColor(150, 60, 170),
    RGBColor(120, 120, 120),
    RGBColor(200, 40, 90),
];
const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(242, 242, 242);

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the optical–infrared plot: {e}")
}

fn is_svg(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
}

/// Calls `$draw(root)` on an SVG or bitmap drawing area for `$path` of `$size`.
macro_rules! render {
    ($path:expr, $size:expr, $draw:expr) => {{
        register()?;
        if is_svg($path) {
            $draw(SVGBackend::new($path, $size).into_drawing_area())
        } else {
            $draw(BitMapBackend::new($path, $size).into_drawing_area())
        }
    }};
}

fn check(report: &Report) -> Result<()> {
    if report.details.is_empty() {
        return Err(anyhow!("the report holds no method to plot"));
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
pub fn pp_plot(path: &Path, report: &Report) -> Result<()> {
    check(report)?;
    render!(path, (1000, 900), |root| draw_pp(root, report))
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
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Histograms of χ = (ŷ − y)/σ per band (all methods, as densities in [−5, 5]) with the N(0, 1)
/// density.
pub fn chi_histograms(path: &Path, report: &Report) -> Result<()> {
    check(report)?;
    render!(path, (1000, 900), |root| draw_chi(root, report))
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
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
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
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// W1−W2 against W2−W3: the observed colours in the first panel, each method's predicted
/// colours of the same galaxies in the next ones, on common axes (the 0.5–99.5 percentiles of
/// the data, widened by 10 %).
pub fn colour_colour(path: &Path, report: &Report) -> Result<()> {
    check(report)?;
    let data = &report.details[0].colours;
    if data.data.is_empty() {
        return Err(anyhow!("no galaxy is detected in W1, W2 and W3"));
    }
    let n = report.details.len() + 1;
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let size = (360 * cols as u32 + 20, 340 * rows as u32 + 50);
    render!(path, size, |root| draw_cc(root, report, (rows, cols)))
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
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
        let (lo, hi) = (percentile(&mut v, 0.005), percentile(&mut v, 0.995));
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
        type Plot = fn(&Path, &Report) -> Result<()>;
        let plots: [(&str, Plot); 3] = [
            ("pp", pp_plot),
            ("chi", chi_histograms),
            ("cc", colour_colour),
        ];
        for (name, f) in plots {
            let png = dir.path().join(format!("{name}.png"));
            f(&png, &rep).unwrap();
            let bytes = std::fs::read(&png).unwrap();
            assert!(bytes.len() > 1000, "{name}.png is {} bytes", bytes.len());
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}.png is not a PNG");
            let svg = dir.path().join(format!("{name}.svg"));
            f(&svg, &rep).unwrap();
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
        assert!(pp_plot(&dir.path().join("x.png"), &empty).is_err());
    }
}
