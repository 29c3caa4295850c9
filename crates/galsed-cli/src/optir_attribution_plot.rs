//! The occlusion attribution plot: mean |Δχ| per rest-frame pixel for each WISE band, one panel
//! per galaxy class, with the spectral features of [`LINE_MARKERS`] marked.

use std::path::Path;

use anyhow::{Result, anyhow};
use galsed_optir::occlude::{LINE_MARKERS, RestStack};
use galsed_optir::survey::WISE_BANDS;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{FAMILY, register};

const BAND_COLOURS: [RGBColor; 4] = [
    RGBColor(40, 90, 200),
    RGBColor(40, 150, 70),
    RGBColor(220, 90, 30),
    RGBColor(200, 40, 90),
];

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the attribution plot: {e}")
}

/// One panel per (class name, number of galaxies, stack). PNG or SVG by the extension.
pub fn attribution_plot(path: &Path, stacks: &[(&str, usize, RestStack)]) -> Result<()> {
    if stacks.is_empty() {
        return Err(anyhow!("no attribution to plot"));
    }
    register()?;
    let size = (1400, 420 * stacks.len() as u32);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        draw(SVGBackend::new(path, size).into_drawing_area(), stacks)
    } else {
        draw(BitMapBackend::new(path, size).into_drawing_area(), stacks)
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    stacks: &[(&str, usize, RestStack)],
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .margin(10, 10, 10, 10)
        .titled(
            "Multiscale occlusion: mean |Δχ| of the predicted WISE bands per rest-frame pixel",
            (FAMILY, 22),
        )
        .map_err(err)?;
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
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("rest-frame wavelength [Å]")
            .y_desc("mean |Δχ|")
            .axis_desc_style((FAMILY, 15))
            .label_style((FAMILY, 13))
            .light_line_style(RGBColor(245, 245, 245))
            .draw()
            .map_err(err)?;
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
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.to_string(),
                    (l, y_label),
                    (FAMILY, 11),
                )))
                .map_err(err)?;
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
                    .map_err(err)?;
                if first {
                    series.label(WISE_BANDS[b]).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                    });
                    first = false;
                }
            }
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
