//! Loss curves of a training run (the networks of a [`galsed_train::train::TrainReport`]).

use std::path::Path;

use galsed_train::train::{EpochRecord, NetworkReport};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{FAMILY, draw_legend, legend_line, render};
use crate::{Format, PlotError};

type Result<T> = std::result::Result<T, PlotError>;

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(format!("drawing the loss curves: {e}"))
}

/// Ticks m·10ⁿ (m = 1, 2, 5, or every m when that gives fewer than three) inside [lo, hi].
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32);
    let ticks = |ms: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|e| ms.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let coarse = ticks(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        coarse
    } else {
        ticks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    }
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// One panel per network: training (dashed) and validation (solid) loss per epoch, one colour per
/// maximum learning rate, log scale.
pub fn plot_losses(path: &Path, format: Format, networks: &[NetworkReport]) -> Result<()> {
    let n = networks.len();
    if n == 0 {
        return Err(PlotError::Input(
            "the report holds no network to plot".into(),
        ));
    }
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let size = (460 * cols as u32, 380 * rows as u32);
    render!(path, format, size, |root| draw_losses(
        root, networks, rows, cols
    ))
    .map_err(|e| e.at("writing", path))
}

fn draw_losses<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    networks: &[NetworkReport],
    rows: usize,
    cols: usize,
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    for (area, net) in root.split_evenly((rows, cols)).iter().zip(networks) {
        let values = net
            .runs
            .iter()
            .flat_map(|r| r.history.iter().flat_map(|e| [e.train_loss, e.valid_loss]));
        let (lo, hi) = values
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        if lo > hi {
            continue;
        }
        let epochs = net
            .runs
            .iter()
            .map(|r| r.history.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let (ylo, yhi) = (lo / 1.3, hi * 1.3);
        let mut chart = ChartBuilder::on(&area.margin(8, 8, 8, 8))
            .caption(net.network.name(), (FAMILY, 20))
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(
                1f64..epochs as f64,
                (ylo..yhi).log_scale().with_key_points(log_ticks(ylo, yhi)),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("loss per sample")
            .axis_desc_style((FAMILY, 15))
            .label_style((FAMILY, 13))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(err)?;
        for (i, run) in net.runs.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let pts = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
                run.history
                    .iter()
                    .map(|e| ((e.epoch + 1) as f64, f(e)))
                    .filter(|(_, v)| v.is_finite() && *v > 0.0)
                    .collect()
            };
            chart
                .draw_series(DashedLineSeries::new(
                    pts(|e| e.train_loss),
                    6,
                    4,
                    c.stroke_width(1),
                ))
                .map_err(err)?;
            let kept = if i == net.best { " (kept)" } else { "" };
            chart
                .draw_series(LineSeries::new(pts(|e| e.valid_loss), c.stroke_width(2)))
                .map_err(err)?
                .label(format!("max lr {:.0e}{kept}", run.max_lr))
                .legend(legend_line(c.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 13).map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use galsed_train::train::{Network, RunReport};

    #[test]
    fn writes_png_and_svg() {
        let run = |max_lr: f64, scale: f64| RunReport {
            max_lr,
            history: (0..30)
                .map(|epoch| EpochRecord {
                    epoch,
                    train_loss: scale / (1.0 + epoch as f64),
                    valid_loss: 1.2 * scale / (1.0 + epoch as f64),
                    lr: max_lr,
                    seconds: 1.0,
                })
                .collect(),
            diverged: false,
        };
        let networks: Vec<NetworkReport> = [Network::CurveDisk, Network::DustEmission]
            .into_iter()
            .map(|network| NetworkReport {
                network,
                n_train: 100,
                n_valid: 20,
                runs: vec![run(1e-3, 1.0), run(3e-3, 0.5)],
                best: 1,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("loss.png");
        plot_losses(&png, Format::Png, &networks).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        let svg = dir.path().join("loss.svg");
        plot_losses(&svg, Format::Svg, &networks).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
        assert!(plot_losses(&png, Format::Png, &[]).is_err());
    }
}
