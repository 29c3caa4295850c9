//! SED plots (PNG or SVG) with an embedded font, so no system fonts are needed.

use std::path::Path;

use anyhow::{Result, anyhow};
use galsed_emulator::Component;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::PlotFormat;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// One galaxy: its titles and λL_λ [L_sun] of each component on the shared grid.
pub struct Panel {
    pub title: String,
    pub subtitle: String,
    pub series: Vec<(Component, Vec<f64>)>,
}

/// Displayed wavelength range [µm].
const LAM_RANGE: (f64, f64) = (0.1, 1000.0);
/// Decades shown below the highest value.
const DECADES: i32 = 5;

fn style(c: Component) -> (RGBColor, u32, bool, &'static str) {
    match c {
        Component::Combine => (RGBColor(0, 0, 0), 4, false, "total"),
        Component::DustFree => (RGBColor(31, 119, 180), 2, true, "stars without dust"),
        Component::DustAttenuation => (RGBColor(255, 127, 14), 2, false, "attenuated stars"),
        Component::DustEmission => (RGBColor(214, 39, 40), 2, false, "dust emission"),
    }
}

/// Unicode superscript of an integer, for 10ⁿ tick labels.
pub fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// Runs of consecutive points inside the y range (log axes cannot show zeros).
fn segments(lam: &[f64], y: &[f64], ymin: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![];
    let mut cur = vec![];
    for (&l, &v) in lam.iter().zip(y) {
        let inside = (LAM_RANGE.0..=LAM_RANGE.1).contains(&l);
        if inside && v.is_finite() && v >= ymin {
            cur.push((l, v));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Draws one log–log panel per galaxy, stacked vertically.
pub fn sed_panels(path: &Path, format: PlotFormat, lam: &[f64], panels: &[Panel]) -> Result<()> {
    register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font is invalid"))?;
    let size = (1000, LEGEND_H + 430 * panels.len() as u32);
    match format {
        PlotFormat::Png => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            lam,
            panels,
        ),
        PlotFormat::Svg => draw(SVGBackend::new(path, size).into_drawing_area(), lam, panels),
    }
}

/// Height of the shared legend strip [px].
const LEGEND_H: u32 = 44;

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    lam: &[f64],
    panels: &[Panel],
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let (legend, body) = root.split_vertically(LEGEND_H);
    draw_legend(&legend)?;
    let areas = body.split_evenly((panels.len(), 1));
    for (area, p) in areas.iter().zip(panels) {
        draw_panel(area, lam, p)?;
    }
    root.present().map_err(err)
}

/// One legend row for all panels (they share the styles), so no legend hides a curve.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let font = (FAMILY, 16).into_font().color(&BLACK);
    let labels: Vec<(Component, u32)> = Component::ALL
        .iter()
        .map(|&c| {
            let text_w = area
                .estimate_text_size(style(c).3, &font)
                .map_or(200, |s| s.0);
            (c, text_w)
        })
        .collect();
    let (line, gap, pad) = (34i32, 10i32, 30i32);
    let total: i32 = labels
        .iter()
        .map(|&(_, tw)| line + gap + tw as i32 + pad)
        .sum::<i32>()
        - pad;
    let mut x = (w as i32 - total).max(0) / 2;
    let y = h as i32 / 2 + 4;
    for (c, tw) in labels {
        let (color, width, dashed, label) = style(c);
        let st = color.stroke_width(width);
        if dashed {
            for k in 0..3 {
                let x0 = x + k * 13;
                area.draw(&PathElement::new(vec![(x0, y), (x0 + 8, y)], st))
                    .map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + line, y)], st))
                .map_err(err)?;
        }
        let text = Text::new(
            label,
            (x + line + gap, y),
            font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
        );
        area.draw(&text).map_err(err)?;
        x += line + gap + tw as i32 + pad;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lam: &[f64],
    p: &Panel,
) -> Result<()> {
    let area = area.margin(8, 4, 10, 20);
    let area = area.titled(&p.title, (FAMILY, 22)).map_err(err)?;
    let area = area
        .titled(
            &p.subtitle,
            (FAMILY, 16).into_font().color(&RGBColor(70, 70, 70)),
        )
        .map_err(err)?;
    let ymax = p
        .series
        .iter()
        .flat_map(|(_, y)| {
            lam.iter()
                .zip(y)
                .filter(|(l, _)| **l >= LAM_RANGE.0)
                .map(|(_, v)| *v)
        })
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    if ymax <= 0.0 {
        return Err(anyhow!("nothing to plot: every spectrum is zero"));
    }
    let top_exp = (ymax * 1.5).log10().ceil() as i32;
    let bottom_exp = top_exp - DECADES;
    let (ymin, ytop) = (10f64.powi(bottom_exp), 10f64.powi(top_exp));
    let x_major: Vec<f64> = (-1..=3).map(|e| 10f64.powi(e)).collect();
    let x_minor: Vec<f64> = (-1..3)
        .flat_map(|e| (2..10).map(move |m| f64::from(m) * 10f64.powi(e)))
        .collect();
    let y_major: Vec<f64> = (bottom_exp..=top_exp).map(|e| 10f64.powi(e)).collect();
    let y_minor: Vec<f64> = (bottom_exp..top_exp)
        .flat_map(|e| (2..10).map(move |m| f64::from(m) * 10f64.powi(e)))
        .collect();
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(
            (LAM_RANGE.0..LAM_RANGE.1)
                .log_scale()
                .with_key_points(x_major)
                .with_light_points(x_minor),
            (ymin..ytop)
                .log_scale()
                .with_key_points(y_major)
                .with_light_points(y_minor),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("rest-frame wavelength λ [µm]")
        .y_desc("λL_λ [L⊙]")
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 16))
        .x_label_formatter(&|v| {
            if *v < 1.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .y_label_formatter(&|v| format!("10{}", superscript(v.log10().round() as i32)))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .axis_style(BLACK)
        .draw()
        .map_err(err)?;
    // The total first and thick, so that its parts stay visible on top of it.
    for (c, y) in &p.series {
        let (color, width, dashed, _) = style(*c);
        let st = color.stroke_width(width);
        for seg in segments(lam, y, ymin) {
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(seg, 9, 5, st))
                    .map_err(err)?;
            } else {
                chart.draw_series(LineSeries::new(seg, st)).map_err(err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superscripts_and_segments() {
        assert_eq!(superscript(-12), "⁻¹²");
        assert_eq!(superscript(10), "¹⁰");
        let lam = [0.05, 0.2, 0.3, 0.4, 2000.0];
        let s = segments(&lam, &[1.0, 1.0, 0.0, 2.0, 2.0], 0.5);
        assert_eq!(s, vec![vec![(0.2, 1.0)], vec![(0.4, 2.0)]]);
    }
}
