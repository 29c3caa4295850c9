//! The error distributions of a validation ([`galsed_train::validate::ValidationReport`]).

use std::path::Path;

use galsed_train::validate::{ReportRow, ValidationReport};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{FAMILY, draw_legend, legend_line, render};
use crate::{Format, PlotError};

type Result<T> = std::result::Result<T, PlotError>;

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(format!("drawing the validation plot: {e}"))
}

/// Axis label: 0 for the rounding residue at zero, two decimals from 0.1, else mantissa·10ⁿ.
fn tick(v: f64) -> String {
    if v.abs() < 1e-9 {
        "0".into()
    } else if v.abs() >= 0.1 {
        crate::style::minus(&format!("{v:.2}"))
    } else {
        crate::style::minus(&format!("{v:.1e}"))
    }
}

const DISK: RGBColor = RGBColor(31, 119, 180);
const BULGE: RGBColor = RGBColor(214, 39, 40);
const DUST: RGBColor = RGBColor(44, 160, 44);

/// Panels: attenuation error vs λ (disk, bulge), emission error vs λ, magnitude errors per filter
/// (combine, attenuated stars, dust); bands are the 16–84 % (dark) and 2.5–97.5 % (light) ranges,
/// lines the medians.
pub fn plot_validation(path: &Path, format: Format, r: &ValidationReport) -> Result<()> {
    render!(path, format, (1400, 1000), |root| draw(root, r)).map_err(|e| e.at("writing", path))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, r: &ValidationReport) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let areas = root.margin(10, 10, 10, 10).split_evenly((2, 2));
    let att: Vec<(Vec<&ReportRow>, RGBColor, &str)> = vec![
        (r.series("attenuation_disk"), DISK, "disk"),
        (r.series("attenuation_bulge"), BULGE, "bulge"),
    ];
    band_panel(&areas[0], "attenuation curves: Â − A [mag]", &att, true)?;
    band_panel(
        &areas[1],
        "dust emission: −2.5 log₁₀(ŷ/y) [mag]",
        &[(r.series("dust_emission"), DUST, "dust")],
        true,
    )?;
    let mags: Vec<(Vec<&ReportRow>, RGBColor, &str)> = vec![
        (r.series("mag_combine"), RGBColor(20, 20, 20), "total"),
        (r.series("mag_dust_attenuation"), DISK, "attenuated stars"),
        (r.series("mag_dust_emission"), DUST, "dust emission"),
    ];
    band_panel(&areas[2], "20 filters: m̂ − m [AB mag]", &mags, false)?;
    per_sample_panel(&areas[3], r)?;
    root.present().map_err(err)
}

/// Median lines (continuous) or points with bars (filters) and percentile ranges against λ.
fn band_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[(Vec<&ReportRow>, RGBColor, &str)],
    continuous: bool,
) -> Result<()> {
    let rows: Vec<&ReportRow> = series
        .iter()
        .flat_map(|s| s.0.iter().copied())
        .filter(|r| r.summary.n > 0)
        .collect();
    if rows.is_empty() {
        area.titled(&format!("{title}: no data"), (FAMILY, 18))
            .map_err(err)?;
        return Ok(());
    }
    let (xlo, xhi) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.lam_um), b.max(r.lam_um))
    });
    let ymax = rows
        .iter()
        .map(|r| r.summary.p2_5.abs().max(r.summary.p97_5.abs()))
        .filter(|v| v.is_finite())
        .fold(1e-6, f64::max);
    let mut chart = ChartBuilder::on(&area.margin(6, 6, 6, 6))
        .caption(title, (FAMILY, 18))
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d((xlo / 1.2..xhi * 1.2).log_scale(), -ymax * 1.1..ymax * 1.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("λ [µm]")
        .axis_desc_style((FAMILY, 15))
        .label_style((FAMILY, 13))
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(err)?;
    for (k, (rows, color, label)) in series.iter().enumerate() {
        let rows: Vec<&&ReportRow> = rows.iter().filter(|r| r.summary.n > 0).collect();
        let c = *color;
        if continuous {
            let wide = |r: &ReportRow| (r.summary.p2_5, r.summary.p97_5);
            let narrow = |r: &ReportRow| (r.summary.p16, r.summary.p84);
            for (range, alpha) in [
                (&wide as &dyn Fn(&ReportRow) -> (f64, f64), 0.15),
                (&narrow, 0.3),
            ] {
                let mut poly: Vec<(f64, f64)> =
                    rows.iter().map(|r| (r.lam_um, range(r).1)).collect();
                poly.extend(rows.iter().rev().map(|r| (r.lam_um, range(r).0)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(alpha).filled())))
                    .map_err(err)?;
            }
            chart
                .draw_series(LineSeries::new(
                    rows.iter().map(|r| (r.lam_um, r.summary.p50)),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(*label)
                .legend(legend_line(c.stroke_width(2)));
        } else {
            // Side by side: each series shifted by a few per cent in λ.
            let shift = 1.0 + 0.04 * (k as f64 - 1.0);
            chart
                .draw_series(rows.iter().map(|r| {
                    ErrorBar::new_vertical(
                        r.lam_um * shift,
                        r.summary.p2_5,
                        r.summary.p50,
                        r.summary.p97_5,
                        c.stroke_width(1),
                        6,
                    )
                }))
                .map_err(err)?;
            chart
                .draw_series(rows.iter().map(|r| {
                    ErrorBar::new_vertical(
                        r.lam_um * shift,
                        r.summary.p16,
                        r.summary.p50,
                        r.summary.p84,
                        c.stroke_width(3),
                        0,
                    )
                }))
                .map_err(err)?;
            chart
                .draw_series(
                    rows.iter()
                        .map(|r| Circle::new((r.lam_um * shift, r.summary.p50), 3, c.filled())),
                )
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 13).map_err(err)?;
    Ok(())
}

/// The per-sample figures as a table.
fn per_sample_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &ValidationReport,
) -> Result<()> {
    let area = area
        .margin(20, 20, 30, 20)
        .titled("per sample", (FAMILY, 18))
        .map_err(err)?;
    let style = (FAMILY, 15).into_font();
    // Columns at fixed offsets: the font is proportional.
    let columns = [0, 250, 330, 440, 550];
    let line = |y: i32, cells: [String; 5]| -> Result<()> {
        for (x, text) in columns.iter().zip(cells) {
            area.draw(&Text::new(text, (*x, y), style.clone()))
                .map_err(err)?;
        }
        Ok(())
    };
    line(
        0,
        ["quantity", "n", "mean", "median", "p95(|x|)"].map(String::from),
    )?;
    for (i, row) in r.rows.iter().filter(|x| x.key == "sample").enumerate() {
        let m = &row.summary;
        let cells = [
            row.quantity.clone(),
            m.n.to_string(),
            format!("{:.3e}", m.mean),
            format!("{:.3e}", m.p50),
            format!("{:.3e}", m.abs_p95),
        ];
        line(26 * (i as i32 + 1), cells)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use galsed_train::validate::Summary;

    #[test]
    fn writes_png_and_svg() {
        let row = |quantity: &str, key: String, lam_um: f64, shift: f64| ReportRow {
            quantity: quantity.into(),
            key,
            lam_um,
            summary: Summary::of(
                &(0..50)
                    .map(|i| shift + 0.01 * (f64::from(i) - 25.0))
                    .collect::<Vec<f64>>(),
            ),
        };
        let mut rows = vec![];
        for q in ["attenuation_disk", "attenuation_bulge", "dust_emission"] {
            rows.extend((0..20).map(|k| row(q, k.to_string(), 0.1 * 1.3f64.powi(k), 0.01)));
        }
        for q in ["mag_combine", "mag_dust_attenuation", "mag_dust_emission"] {
            rows.extend((0..5).map(|k| row(q, format!("f{k}"), 0.4 * 2f64.powi(k), -0.02)));
        }
        rows.push(row("mag_combine", "sample".into(), f64::NAN, 0.0));
        let report = ValidationReport {
            n_samples: 50,
            rows,
            per_sample: Vec::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("valid.png");
        plot_validation(&png, Format::Png, &report).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        let svg = dir.path().join("valid.svg");
        plot_validation(&svg, Format::Svg, &report).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    }
}
