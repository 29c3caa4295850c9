//! The residuals of a fitted catalogue against wavelength
//! ([`galsed_fit::residuals::Residuals`]): every detection as a grey point, each band's median
//! with its 16–84 % range on top.

use std::path::Path;

use galsed_core::numeric::{QuantileMethod, quantile_sorted};
use galsed_fit::residuals::Residuals;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{FAMILY, draw_legend, render};
use crate::{Format, PlotError};

type Result<T> = std::result::Result<T, PlotError>;

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(format!("drawing the residual plot: {e}"))
}

const MEDIAN: RGBColor = RGBColor(31, 119, 180);

/// Observed − model \[mag\] of every detection against the band's pivot wavelength, with each
/// band's median and 16–84 % range, and the band names along the top.
///
/// ```
/// use galsed_fit::residuals::{BandSummary, Point, Residuals};
/// use galsed_plot::{Format, residuals::plot_residuals};
/// let band = |band: &str, wavelength_um| BandSummary {
///     band: band.into(), wavelength_um, n_detections: 2, n_limits: 0, median: 0.1, p16: -0.1,
///     p84: 0.3, scatter: 0.2, median_chi: 1.0, rms_chi: 1.2, model_error_needed: 0.05,
/// };
/// let r = Residuals {
///     bands: vec![band("sdss_r0", 0.62), band("wise_w4", 22.0)],
///     points: vec![Point { band: 0, residual: 0.2, chi: 2.0 }, Point { band: 1, residual: -0.3, chi: -1.0 }],
///     n_galaxies: 2,
/// };
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("residuals.svg");
/// plot_residuals(&path, Format::Svg, &r).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("wise_w4"));
/// ```
pub fn plot_residuals(path: &Path, format: Format, r: &Residuals) -> Result<()> {
    let used: Vec<usize> = (0..r.bands.len())
        .filter(|&b| r.bands[b].n_detections > 0 && r.bands[b].wavelength_um > 0.0)
        .collect();
    if used.is_empty() {
        return Err(PlotError::Input(
            "no detections to plot residuals of".into(),
        ));
    }
    render!(path, format, (1200, 600), |root| draw(root, r, &used))
        .map_err(|e| e.at("writing", path))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    r: &Residuals,
    used: &[usize],
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let lam = |b: usize| r.bands[b].wavelength_um;
    let (xlo, xhi) = used.iter().fold((f64::MAX, f64::MIN), |(a, z), &b| {
        (a.min(lam(b)), z.max(lam(b)))
    });
    // The y range holds 98 % of the points and every band's 16–84 % range; the rest are drawn
    // at the edge.
    let mut res: Vec<f64> = r
        .points
        .iter()
        .map(|p| p.residual)
        .filter(|v| v.is_finite())
        .collect();
    res.sort_by(f64::total_cmp);
    let q = |p| quantile_sorted(&res, p, QuantileMethod::Nearest);
    let span = used
        .iter()
        .flat_map(|&b| [r.bands[b].p16.abs(), r.bands[b].p84.abs()])
        .chain([q(0.01).abs(), q(0.99).abs(), 0.2])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        * 1.15;
    let title = format!(
        "observed − model over {} fitted galax{}",
        r.n_galaxies,
        if r.n_galaxies == 1 { "y" } else { "ies" }
    );
    let mut chart = ChartBuilder::on(&root.margin(10, 10, 10, 10))
        .caption(title, (FAMILY, 20))
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d((xlo / 1.3..xhi * 1.3).log_scale(), -span..span)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("observed wavelength [µm]")
        .y_desc("observed − model [mag]")
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, 14))
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| {
            if v.abs() < 1e-9 {
                "0".into()
            } else {
                format!("{v:.2}").replace('-', "−")
            }
        })
        .draw()
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(xlo / 1.3, 0.0), (xhi * 1.3, 0.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(err)?;
    // Points jittered by ±3 % in λ so that a band's galaxies do not sit on one line.
    let jitter = |i: usize| 1.0 + 0.03 * (((i * 7919) % 61) as f64 / 30.0 - 1.0);
    chart
        .draw_series(
            r.points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.residual.is_finite() && used.contains(&p.band))
                .map(|(i, p)| {
                    Circle::new(
                        (lam(p.band) * jitter(i), p.residual.clamp(-span, span)),
                        2,
                        RGBColor(120, 120, 120).mix(0.5).filled(),
                    )
                }),
        )
        .map_err(err)?
        .label("one galaxy, one band")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, RGBColor(120, 120, 120).filled()));
    chart
        .draw_series(used.iter().map(|&b| {
            let s = &r.bands[b];
            ErrorBar::new_vertical(lam(b), s.p16, s.median, s.p84, MEDIAN.stroke_width(2), 10)
        }))
        .map_err(err)?
        .label("median and 16–84 % range")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, MEDIAN.filled()));
    chart
        .draw_series(used.iter().map(|&b| {
            Text::new(
                r.bands[b].band.clone(),
                (lam(b), span * 0.97),
                (FAMILY, 11)
                    .into_font()
                    .transform(FontTransform::Rotate90)
                    .color(&RGBColor(90, 90, 90)),
            )
        }))
        .map_err(err)?;
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft, 14).map_err(err)?;
    root.present().map_err(err)
}
