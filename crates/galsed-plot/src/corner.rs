//! Corner plots of posterior samples (in the manner of corner.py); the statistics are
//! [`galsed_fit::marginals`].
//!
//! Diagonal: the weighted 1-D histogram of each parameter, its 16th, 50th and 84th percentiles
//! (dashed) and a title `name = median +upper −lower`. Below the diagonal: each pair as a
//! shaded 2-D histogram with the contours enclosing 39.3 % and 86.5 % of the weight (1σ and 2σ
//! of a 2-D Gaussian), or as a scatter of the samples when there are few. Panels of a column
//! share their x axis and panels of a row their y axis; tick labels are drawn on the outer
//! panels only. Truths and best-fit values, when given, are drawn as lines (and markers).
//!
//! Axis ranges cover the weighted 0.1–99.9 % quantiles (so that the low-weight tail of nested
//! sampling does not squash the posterior), widened to include truths and best-fit values.
//! Samples with a non-finite value in any parameter are left out and counted in the legend;
//! a parameter that never has a finite value, bad weights or inconsistent lengths are errors.

use std::path::Path;

use galsed_fit::marginals::{LEVELS, Marginals, histogram, histogram2, smooth, thresholds};
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::style::{FAMILY, render, superscript};
use crate::{Format, PlotError};

pub use galsed_fit::marginals::MAX_PARAMS;

type Result<T> = std::result::Result<T, PlotError>;

const INK: RGBColor = RGBColor(20, 40, 90);
const HIST_FILL: RGBColor = RGBColor(208, 220, 240);
const DENSE: RGBColor = RGBColor(40, 80, 150);
const TRUTH: RGBColor = RGBColor(230, 120, 20);
const BEST: RGBColor = RGBColor(200, 20, 60);
const FRAME: RGBColor = RGBColor(60, 60, 60);

/// Writes a corner plot of `samples` (n_samples × dim, one column per name) to `path` in
/// `format`. `weights` (one per sample, ≥ 0) default to equal; `truths` and `best` (one per
/// parameter, NaN to skip one) are drawn when given.
pub fn corner_plot(
    path: &Path,
    format: Format,
    names: &[String],
    samples: &Array2<f64>,
    weights: Option<&[f64]>,
    truths: Option<&[f64]>,
    best: Option<&[f64]>,
) -> Result<()> {
    let prep = Marginals::new(names, samples, weights, truths, best)
        .map_err(|e| PlotError::from(e).at("corner plot", path))?;
    let layout = Layout::new(&prep);
    let size = (layout.width, layout.height);
    render!(path, format, size, |root| draw(root, &prep, &layout))
        .map_err(|e| e.at("writing", path))
}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

// ---- Contours -------------------------------------------------------------------------------

/// Marching squares on `g[iy][ix]` (a grid of points): segments in grid coordinates.
fn contour_segments(g: &[Vec<f64>], t: f64) -> Vec<((f64, f64), (f64, f64))> {
    let mut out = vec![];
    let ny = g.len();
    let nx = g.first().map_or(0, Vec::len);
    let lerp = |p: (f64, f64, f64), q: (f64, f64, f64)| {
        let f = if q.2 != p.2 {
            (t - p.2) / (q.2 - p.2)
        } else {
            0.5
        };
        (p.0 + f * (q.0 - p.0), p.1 + f * (q.1 - p.1))
    };
    for iy in 0..ny.saturating_sub(1) {
        for ix in 0..nx.saturating_sub(1) {
            let (x0, x1, y0, y1) = (ix as f64, ix as f64 + 1.0, iy as f64, iy as f64 + 1.0);
            let a = (x0, y0, g[iy][ix]);
            let b = (x1, y0, g[iy][ix + 1]);
            let c = (x1, y1, g[iy + 1][ix + 1]);
            let d = (x0, y1, g[iy + 1][ix]);
            let case = usize::from(a.2 >= t)
                | usize::from(b.2 >= t) << 1
                | usize::from(c.2 >= t) << 2
                | usize::from(d.2 >= t) << 3;
            let e = [lerp(a, b), lerp(b, c), lerp(c, d), lerp(d, a)];
            let centre_up = (a.2 + b.2 + c.2 + d.2) / 4.0 >= t;
            let pairs: &[(usize, usize)] = match case {
                1 | 14 => &[(3, 0)],
                2 | 13 => &[(0, 1)],
                3 | 12 => &[(3, 1)],
                4 | 11 => &[(1, 2)],
                6 | 9 => &[(0, 2)],
                7 | 8 => &[(3, 2)],
                5 if centre_up => &[(0, 1), (2, 3)],
                5 => &[(3, 0), (1, 2)],
                10 if centre_up => &[(3, 0), (1, 2)],
                10 => &[(0, 1), (2, 3)],
                _ => &[],
            };
            out.extend(pairs.iter().map(|&(p, q)| (e[p], e[q])));
        }
    }
    out
}

// ---- Number formatting ------------------------------------------------------------------------

/// Nice tick positions inside `range`: at most `max` of them, steps of 1, 2 or 5 × 10ⁿ.
fn ticks(range: (f64, f64), max: usize) -> (Vec<f64>, f64) {
    let span = range.1 - range.0;
    let raw = span / max.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= max as f64)
        .unwrap_or(10.0 * mag);
    let first = (range.0 / step).ceil() as i64;
    let last = (range.1 / step).floor() as i64;
    let t = (first..=last).map(|k| k as f64 * step).collect();
    (t, step)
}

/// Power of ten factored out of the labels of an axis (0 for ordinary magnitudes).
fn axis_exponent(range: (f64, f64)) -> i32 {
    let big = range.0.abs().max(range.1.abs());
    if big >= 1e5 || (big < 1e-3 && big > 0.0) {
        big.log10().floor() as i32
    } else {
        0
    }
}

/// Decimals that tell values `step` apart (one more for steps of 2.5).
fn step_decimals(step: f64) -> usize {
    if step <= 0.0 || !step.is_finite() {
        return 3;
    }
    // (1 + 1e-9): 0.0999… from rounding counts as 0.1.
    let e = (step * (1.0 + 1e-9)).log10().floor();
    let mantissa = step / 10f64.powf(e);
    ((-e).max(0.0) as usize + usize::from((mantissa - 2.5).abs() < 1e-6)).min(12)
}

/// Fixed-point text with a Unicode minus and no "−0.0".
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s.replace('-', "−")
    }
}

/// Label of tick `v` on an axis with ticks `step` apart, in units of 10^`exp`.
fn tick_label(v: f64, step: f64, exp: i32) -> String {
    let s = 10f64.powi(exp);
    fixed(v / s, step_decimals(step / s))
}

/// " (×10⁶)" after an axis name, or nothing.
fn exp_suffix(exp: i32) -> String {
    if exp == 0 {
        String::new()
    } else {
        format!(" (×10{})", superscript(exp))
    }
}

/// "1.23 +0.45 −0.06": two significant digits in the smaller error (as corner.py), a common
/// power of ten for extreme magnitudes, only the value when there is no spread.
fn title_value(q: [f64; 3]) -> String {
    let exp = axis_exponent((q[0], q[2]));
    let s = 10f64.powi(exp);
    let (med, up, down) = (q[1] / s, (q[2] - q[1]) / s, (q[1] - q[0]) / s);
    let err = up.min(down);
    let body = if up.max(down) <= 0.0 {
        let m = med.abs();
        let decimals = if m > 0.0 {
            ((3.0 - m.log10().floor()).max(0.0) as usize).min(8)
        } else {
            1
        };
        fixed(med, decimals)
    } else {
        let err = if err > 0.0 { err } else { up.max(down) };
        let decimals = ((1.0 - (err * (1.0 + 1e-9)).log10().floor()).max(0.0) as usize).min(8);
        format!(
            "{} +{} −{}",
            fixed(med, decimals),
            fixed(up, decimals),
            fixed(down, decimals)
        )
    };
    if exp == 0 {
        body
    } else if up.max(down) <= 0.0 {
        format!("{body}×10{}", superscript(exp))
    } else {
        format!("({body})×10{}", superscript(exp))
    }
}

// ---- Layout and drawing -----------------------------------------------------------------------

/// Pixel geometry of the grid of panels.
struct Layout {
    panel: i32,
    gap: i32,
    left: i32,
    top: i32,
    width: u32,
    height: u32,
    tick_font: u32,
    label_font: u32,
    title_font: u32,
}

impl Layout {
    fn new(p: &Marginals) -> Self {
        let dim = p.dim();
        let panel = (2400 / dim as i32).clamp(150, 360);
        let gap = (panel / 30).max(5);
        let tick_font = (panel as u32 / 14).clamp(11, 15);
        let label_font = (panel as u32 / 11).clamp(13, 19);
        let title_font = label_font;
        // Tick labels are at most ~10 characters; the y ones are measured when drawn.
        let left = if dim > 1 {
            (tick_font * 6 + label_font * 2 + 16) as i32
        } else {
            24
        };
        let bottom = (tick_font * 2 + label_font * 2 + 20) as i32;
        let top = (title_font * 3 + 12) as i32;
        let right = 36;
        let grid = dim as i32 * panel + (dim as i32 - 1) * gap;
        Self {
            panel,
            gap,
            left,
            top,
            width: (left + grid + right) as u32,
            height: (top + grid + bottom) as u32,
            tick_font,
            label_font,
            title_font,
        }
    }

    /// Top-left corner of panel (row, col).
    fn origin(&self, row: usize, col: usize) -> (i32, i32) {
        (
            self.left + col as i32 * (self.panel + self.gap),
            self.top + row as i32 * (self.panel + self.gap),
        )
    }
}

/// Data → pixel mapping of one panel.
#[derive(Clone, Copy)]
struct Frame {
    x0: i32,
    y0: i32,
    size: i32,
    rx: (f64, f64),
    ry: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        f64::from(self.x0) + (x - self.rx.0) / (self.rx.1 - self.rx.0) * f64::from(self.size)
    }

    fn py(&self, y: f64) -> f64 {
        f64::from(self.y0 + self.size)
            - (y - self.ry.0) / (self.ry.1 - self.ry.0) * f64::from(self.size)
    }

    /// Pixel point, clamped into the panel.
    fn pt(&self, x: f64, y: f64) -> (i32, i32) {
        let (lo, hi) = (f64::from(self.x0), f64::from(self.x0 + self.size));
        let (top, bottom) = (f64::from(self.y0), f64::from(self.y0 + self.size));
        (
            self.px(x).clamp(lo, hi).round() as i32,
            self.py(y).clamp(top, bottom).round() as i32,
        )
    }

    fn contains_x(&self, x: f64) -> bool {
        x.is_finite() && x >= self.rx.0 && x <= self.rx.1
    }

    fn contains_y(&self, y: f64) -> bool {
        y.is_finite() && y >= self.ry.0 && y <= self.ry.1
    }
}

type Area<DB> = DrawingArea<DB, Shift>;

fn line<DB: DrawingBackend>(
    a: &Area<DB>,
    p: (i32, i32),
    q: (i32, i32),
    style: ShapeStyle,
) -> Result<()> {
    a.draw(&PathElement::new(vec![p, q], style)).map_err(err)
}

fn dashed<DB: DrawingBackend>(
    a: &Area<DB>,
    p: (i32, i32),
    q: (i32, i32),
    style: ShapeStyle,
) -> Result<()> {
    let (dx, dy) = (f64::from(q.0 - p.0), f64::from(q.1 - p.1));
    let len = dx.hypot(dy);
    let (dash, gap) = (6.0, 4.0);
    let mut s = 0.0;
    while s < len {
        let e = (s + dash).min(len);
        let at = |t: f64| {
            (
                p.0 + (dx * t / len).round() as i32,
                p.1 + (dy * t / len).round() as i32,
            )
        };
        line(a, at(s), at(e), style)?;
        s += dash + gap;
    }
    Ok(())
}

fn text<DB: DrawingBackend>(
    a: &Area<DB>,
    s: &str,
    at: (i32, i32),
    size: u32,
    pos: (HPos, VPos),
    color: RGBColor,
) -> Result<()> {
    let style = (FAMILY, size)
        .into_font()
        .color(&color)
        .pos(Pos::new(pos.0, pos.1));
    a.draw(&Text::new(s.to_owned(), at, style)).map_err(err)
}

fn text_width<DB: DrawingBackend>(a: &Area<DB>, s: &str, size: u32) -> u32 {
    a.estimate_text_size(s, &(FAMILY, size).into_font().color(&BLACK))
        .map_or(s.chars().count() as u32 * size * 6 / 10, |t| t.0)
}

/// Largest font size ≤ `size` (≥ `min`) at which `s` is at most `width` wide.
fn fit_font<DB: DrawingBackend>(a: &Area<DB>, s: &str, size: u32, min: u32, width: u32) -> u32 {
    let mut f = size;
    while f > min && text_width(a, s, f) > width {
        f -= 1;
    }
    f
}

/// Ticks of one axis (value, label): at most as many as fit side by side.
fn axis_ticks<DB: DrawingBackend>(
    a: &Area<DB>,
    range: (f64, f64),
    exp: i32,
    panel: i32,
    font: u32,
) -> Vec<(f64, String)> {
    for max in (2..=5).rev() {
        let (t, step) = ticks(range, max);
        let labels: Vec<(f64, String)> = t.iter().map(|&v| (v, tick_label(v, step, exp))).collect();
        let widest = labels
            .iter()
            .map(|(_, s)| text_width(a, s, font))
            .max()
            .unwrap_or(0);
        if (widest as i32 + 10) * labels.len() as i32 <= panel || max == 2 {
            return labels;
        }
    }
    vec![]
}

/// Whether a label `extent` px long centred `offset` px into a panel stays within the panel's
/// width (or height), clear of the neighbouring panels' labels.
fn clear_of_edges(offset: i32, extent: i32, l: &Layout) -> bool {
    let half = extent / 2 + 1;
    offset >= half && l.panel - offset >= half
}

fn draw<DB: DrawingBackend>(root: Area<DB>, p: &Marginals, l: &Layout) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let dim = p.dim();
    let exps: Vec<i32> = p.ranges.iter().map(|&r| axis_exponent(r)).collect();
    // Ticks of each parameter's axis, shared by its column (x) and its row (y).
    let axes: Vec<Vec<(f64, String)>> = p
        .ranges
        .iter()
        .zip(&exps)
        .map(|(&r, &e)| axis_ticks(&root, r, e, l.panel, l.tick_font))
        .collect();
    let tick = FRAME.stroke_width(1);
    for row in 0..dim {
        for col in 0..=row {
            let (x0, y0) = l.origin(row, col);
            let f = Frame {
                x0,
                y0,
                size: l.panel,
                rx: p.ranges[col],
                ry: p.ranges[row],
            };
            if row == col {
                draw_diagonal(&root, p, l, row, (x0, y0))?;
            } else {
                draw_pair(&root, p, f, row, col)?;
                for (v, _) in &axes[row] {
                    let y = f.py(*v).round() as i32;
                    line(&root, (x0, y), (x0 + 5, y), tick)?;
                    line(&root, (x0 + l.panel - 5, y), (x0 + l.panel, y), tick)?;
                }
            }
            // x ticks on every panel, labels on the bottom row.
            for (v, s) in &axes[col] {
                let x = f.px(*v).round() as i32;
                line(&root, (x, y0 + l.panel - 5), (x, y0 + l.panel), tick)?;
                if row != col {
                    line(&root, (x, y0), (x, y0 + 5), tick)?;
                }
                let w = text_width(&root, s, l.tick_font) as i32;
                if row + 1 == dim && clear_of_edges(x - x0, w, l) {
                    text(
                        &root,
                        s,
                        (x, y0 + l.panel + 5),
                        l.tick_font,
                        (HPos::Center, VPos::Top),
                        BLACK,
                    )?;
                }
            }
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + l.panel, y0 + l.panel)],
                FRAME.stroke_width(1),
            ))
            .map_err(err)?;
        }
    }
    // y tick labels and names on the left column (rows below the first).
    for row in 1..dim {
        let (x0, y0) = l.origin(row, 0);
        let f = Frame {
            x0,
            y0,
            size: l.panel,
            rx: (0.0, 1.0),
            ry: p.ranges[row],
        };
        let mut widest = 0;
        for (v, s) in &axes[row] {
            let y = f.py(*v).round() as i32;
            if clear_of_edges(y - y0, l.tick_font as i32 + 2, l) {
                text(
                    &root,
                    s,
                    (x0 - 5, y),
                    l.tick_font,
                    (HPos::Right, VPos::Center),
                    BLACK,
                )?;
                widest = widest.max(text_width(&root, s, l.tick_font) as i32);
            }
        }
        let name = format!("{}{}", p.names[row], exp_suffix(exps[row]));
        let size = fit_font(&root, &name, l.label_font, 9, l.panel as u32);
        let style = (FAMILY, size)
            .into_font()
            .transform(FontTransform::Rotate270)
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        let x = (x0 - widest - 10).max(size as i32 + 2);
        root.draw(&Text::new(name, (x, y0 + l.panel / 2), style))
            .map_err(err)?;
    }
    // x names on the bottom row.
    for (col, (name, &exp)) in p.names.iter().zip(&exps).enumerate() {
        let (x0, y0) = l.origin(dim - 1, col);
        let name = format!("{name}{}", exp_suffix(exp));
        let size = fit_font(&root, &name, l.label_font, 9, (l.panel + l.gap) as u32);
        text(
            &root,
            &name,
            (x0 + l.panel / 2, y0 + l.panel + l.tick_font as i32 + 14),
            size,
            (HPos::Center, VPos::Top),
            BLACK,
        )?;
    }
    draw_legend(&root, p, l)?;
    root.present().map_err(err)
}

fn draw_diagonal<DB: DrawingBackend>(
    a: &Area<DB>,
    p: &Marginals,
    l: &Layout,
    k: usize,
    (x0, y0): (i32, i32),
) -> Result<()> {
    let range = p.ranges[k];
    let h = histogram(&p.cols[k], &p.w, range, p.bins1);
    let hmax = h.iter().copied().fold(0.0, f64::max);
    let f = Frame {
        x0,
        y0,
        size: l.panel,
        rx: range,
        ry: (0.0, if hmax > 0.0 { hmax * 1.12 } else { 1.0 }),
    };
    let width = (range.1 - range.0) / p.bins1 as f64;
    let mut outline = vec![f.pt(range.0, 0.0)];
    for (b, &v) in h.iter().enumerate() {
        let (xa, xb) = (range.0 + b as f64 * width, range.0 + (b + 1) as f64 * width);
        if v > 0.0 {
            a.draw(&Rectangle::new(
                [f.pt(xa, v), f.pt(xb, 0.0)],
                HIST_FILL.filled(),
            ))
            .map_err(err)?;
        }
        outline.push(f.pt(xa, v));
        outline.push(f.pt(xb, v));
    }
    outline.push(f.pt(range.1, 0.0));
    a.draw(&PathElement::new(outline, INK.stroke_width(2)))
        .map_err(err)?;
    let top = f.y0;
    let bottom = f.y0 + f.size;
    for q in p.quantiles[k] {
        if f.contains_x(q) {
            let x = f.px(q).round() as i32;
            dashed(a, (x, top), (x, bottom), INK.stroke_width(1))?;
        }
    }
    for (vals, color) in [(&p.truths, TRUTH), (&p.best, BEST)] {
        if let Some(v) = vals.as_ref().map(|v| v[k]).filter(|v| f.contains_x(*v)) {
            let x = f.px(v).round() as i32;
            line(a, (x, top), (x, bottom), color.stroke_width(2))?;
        }
    }
    // Title: "name = med +up −down", on two lines when one is too wide.
    let value = title_value(p.quantiles[k]);
    let one = format!("{} = {value}", p.names[k]);
    let room = (l.panel + l.gap) as u32;
    let cx = x0 + l.panel / 2;
    if text_width(a, &one, l.title_font) <= room {
        text(
            a,
            &one,
            (cx, y0 - 5),
            l.title_font,
            (HPos::Center, VPos::Bottom),
            BLACK,
        )?;
    } else {
        let size = fit_font(a, &value, l.title_font, 8, room).min(fit_font(
            a,
            &p.names[k],
            l.title_font,
            8,
            room,
        ));
        text(
            a,
            &value,
            (cx, y0 - 5),
            size,
            (HPos::Center, VPos::Bottom),
            BLACK,
        )?;
        text(
            a,
            &format!("{} =", p.names[k]),
            (cx, y0 - 7 - size as i32),
            size,
            (HPos::Center, VPos::Bottom),
            BLACK,
        )?;
    }
    Ok(())
}

fn draw_pair<DB: DrawingBackend>(
    a: &Area<DB>,
    p: &Marginals,
    f: Frame,
    row: usize,
    col: usize,
) -> Result<()> {
    let (x, y) = (&p.cols[col], &p.cols[row]);
    if p.scatter {
        let wmax = p.w.iter().copied().fold(0.0, f64::max);
        let r = if x.len() < 50 { 3 } else { 2 };
        for ((&u, &v), &w) in x.iter().zip(y).zip(&p.w) {
            if f.contains_x(u) && f.contains_y(v) && w > 0.0 {
                let alpha = 0.25 + 0.6 * w / wmax;
                a.draw(&Circle::new(f.pt(u, v), r, INK.mix(alpha).filled()))
                    .map_err(err)?;
            }
        }
    } else {
        let n = p.bins2;
        let h = smooth(&histogram2(x, y, &p.w, f.rx, f.ry, n));
        let hmax = h.iter().flatten().copied().fold(0.0, f64::max);
        let (wx, wy) = ((f.rx.1 - f.rx.0) / n as f64, (f.ry.1 - f.ry.0) / n as f64);
        // The shading as one image of the panel's size (embedded as a PNG in SVGs).
        let size = f.size.max(1) as usize;
        let colour = |v: f64| -> [u8; 3] {
            let t = if hmax > 0.0 {
                (v / hmax).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let s = t.powf(0.6);
            let mix = |d: u8| (255.0 + s * (f64::from(d) - 255.0)).round() as u8;
            [mix(DENSE.0), mix(DENSE.1), mix(DENSE.2)]
        };
        let cells: Vec<Vec<[u8; 3]>> = h
            .iter()
            .map(|row| row.iter().map(|&v| colour(v)).collect())
            .collect();
        let mut image = Vec::with_capacity(size * size * 3);
        for py in 0..size {
            let iy = (n - 1).saturating_sub(py * n / size);
            for px in 0..size {
                image.extend(cells[iy][(px * n / size).min(n - 1)]);
            }
        }
        let element =
            BitMapElement::with_owned_buffer((f.x0, f.y0), (size as u32, size as u32), image)
                .ok_or_else(|| PlotError::Draw("internal error: bad image size".into()))?;
        a.draw(&element).map_err(err)?;
        // Contours on the grid of bin centres, padded with zeros so that they close.
        let mut g = vec![vec![0.0; n + 2]; n + 2];
        for (iy, hrow) in h.iter().enumerate() {
            g[iy + 1][1..=n].copy_from_slice(hrow);
        }
        let mut levels = thresholds(&h, &LEVELS);
        levels.dedup_by(|a, b| (*a - *b).abs() <= 1e-12 * b.abs());
        for (li, &t) in levels.iter().enumerate() {
            if t <= 0.0 {
                continue;
            }
            let style = if li == 0 {
                BLACK.stroke_width(2)
            } else {
                BLACK.stroke_width(1)
            };
            for (s, e) in contour_segments(&g, t) {
                let to_data =
                    |(gx, gy): (f64, f64)| (f.rx.0 + (gx - 0.5) * wx, f.ry.0 + (gy - 0.5) * wy);
                let (s, e) = (to_data(s), to_data(e));
                line(a, f.pt(s.0, s.1), f.pt(e.0, e.1), style)?;
            }
        }
    }
    let (top, bottom) = (f.y0, f.y0 + f.size);
    let (left, right) = (f.x0, f.x0 + f.size);
    for (vals, color) in [(&p.truths, TRUTH), (&p.best, BEST)] {
        let Some(vals) = vals else { continue };
        let (u, v) = (vals[col], vals[row]);
        if f.contains_x(u) {
            let px = f.px(u).round() as i32;
            line(a, (px, top), (px, bottom), color.mix(0.9).stroke_width(2))?;
        }
        if f.contains_y(v) {
            let py = f.py(v).round() as i32;
            line(a, (left, py), (right, py), color.mix(0.9).stroke_width(2))?;
        }
        if f.contains_x(u) && f.contains_y(v) {
            let c = f.pt(u, v);
            a.draw(&Rectangle::new(
                [(c.0 - 4, c.1 - 4), (c.0 + 4, c.1 + 4)],
                color.filled(),
            ))
            .map_err(err)?;
        }
    }
    Ok(())
}

/// Key and sample counts in the empty upper-right triangle.
fn draw_legend<DB: DrawingBackend>(a: &Area<DB>, p: &Marginals, l: &Layout) -> Result<()> {
    let dim = p.dim();
    let font = l.tick_font + 1;
    let n = p.cols[0].len();
    let mut counts = format!("{n} sample{}", if n == 1 { "" } else { "s" });
    if p.weighted {
        counts.push_str(&format!(", effective {:.0}", p.n_eff));
    }
    if p.dropped > 0 {
        counts.push_str(&format!(" ({} non-finite left out)", p.dropped));
    }
    if dim == 1 {
        // No free panel: the counts go in the top-right corner.
        let (x0, _) = l.origin(0, 0);
        let s = fit_font(a, &counts, font, 8, l.panel as u32);
        return text(
            a,
            &counts,
            (x0 + l.panel, 4),
            s,
            (HPos::Right, VPos::Top),
            FRAME,
        );
    }
    let (x_right, _) = l.origin(0, dim - 1);
    let x_right = x_right + l.panel;
    let width = (l.panel * (dim as i32 - 1) / 2 + l.panel / 2).max(l.panel);
    let x = x_right - width;
    let mut y = l.top + 6;
    let step = font as i32 + 10;
    let mut entries: Vec<(&str, RGBColor, bool)> =
        vec![("16th, 50th, 84th percentiles", INK, true)];
    if p.truths.is_some() {
        entries.push(("true value", TRUTH, false));
    }
    if p.best.is_some() {
        entries.push(("best fit", BEST, false));
    }
    let contour_label = if p.scatter {
        "samples".to_owned()
    } else {
        "contours: 39% and 86% of the weight".to_owned()
    };
    let size = fit_font(a, &contour_label, font, 8, (width - 40).max(60) as u32).min(fit_font(
        a,
        &counts,
        font,
        8,
        width as u32,
    ));
    for (label, color, is_dashed) in entries {
        let yc = y + size as i32 / 2;
        if is_dashed {
            dashed(a, (x, yc), (x + 30, yc), color.stroke_width(1))?;
        } else {
            line(a, (x, yc), (x + 30, yc), color.stroke_width(2))?;
        }
        text(a, label, (x + 38, y), size, (HPos::Left, VPos::Top), BLACK)?;
        y += step;
    }
    let yc = y + size as i32 / 2;
    if p.scatter {
        a.draw(&Circle::new((x + 15, yc), 3, INK.mix(0.8).filled()))
            .map_err(err)?;
    } else {
        line(a, (x, yc), (x + 30, yc), BLACK.stroke_width(2))?;
    }
    text(
        a,
        &contour_label,
        (x + 38, y),
        size,
        (HPos::Left, VPos::Top),
        BLACK,
    )?;
    y += step;
    text(a, &counts, (x, y), size, (HPos::Left, VPos::Top), FRAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::corner_plot`] in the format of the file name.
    fn corner_plot(
        path: &Path,
        names: &[String],
        samples: &Array2<f64>,
        weights: Option<&[f64]>,
        truths: Option<&[f64]>,
        best: Option<&[f64]>,
    ) -> Result<()> {
        super::corner_plot(
            path,
            Format::from_path(path)?,
            names,
            samples,
            weights,
            truths,
            best,
        )
    }

    /// n samples of a correlated Gaussian in `dim` dimensions (deterministic).
    fn gaussian(n: usize, dim: usize, seed: u64) -> Array2<f64> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut uniform = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut normal = move || {
            let (u, v) = (uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut a = Array2::zeros((n, dim));
        for i in 0..n {
            let z: Vec<f64> = (0..dim).map(|_| normal()).collect();
            for j in 0..dim {
                // Each parameter correlated with the previous one.
                let prev = if j > 0 { z[j - 1] } else { 0.0 };
                a[[i, j]] = 10.0 * j as f64 + (0.8 * prev + 0.6 * z[j]) * (1.0 + j as f64 * 0.5);
            }
        }
        a
    }

    fn names(dim: usize) -> Vec<String> {
        let base = ["log_M_star", "SFR", "tau_V", "r_disk", "b_over_t", "theta"];
        (0..dim)
            .map(|j| {
                base.get(j)
                    .map_or_else(|| format!("p{j}"), |s| (*s).to_string())
            })
            .collect()
    }

    fn size(p: &Path) -> u64 {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn writes_png_and_svg_for_a_correlated_gaussian() {
        let dir = tempfile::tempdir().unwrap();
        let s = gaussian(20_000, 4, 1);
        let truths = [0.2, 10.0, 19.0, 31.0];
        let best = [0.0, 10.5, 20.0, f64::NAN];
        for ext in ["png", "svg"] {
            let p = dir.path().join(format!("corner.{ext}"));
            corner_plot(&p, &names(4), &s, None, Some(&truths), Some(&best)).unwrap();
            assert!(size(&p) > 20_000, "{ext}: {} bytes", size(&p));
        }
        let png = std::fs::read(dir.path().join("corner.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let svg = std::fs::read_to_string(dir.path().join("corner.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("log_M_star"));
        assert!(svg.len() < 3_000_000, "{} bytes", svg.len());
    }

    #[test]
    fn degenerate_inputs_give_a_plot() {
        let dir = tempfile::tempdir().unwrap();
        // A constant column and NaN samples.
        let mut s = gaussian(2_000, 3, 2);
        s.column_mut(1).fill(5.0);
        s[[3, 0]] = f64::NAN;
        s[[7, 2]] = f64::INFINITY;
        let p = dir.path().join("const.png");
        corner_plot(&p, &names(3), &s, None, None, None).unwrap();
        assert!(size(&p) > 10_000);
        // One sample; one parameter; few weighted samples (scatter).
        let one = gaussian(1, 3, 3);
        corner_plot(
            &dir.path().join("one.svg"),
            &names(3),
            &one,
            None,
            None,
            None,
        )
        .unwrap();
        let single = gaussian(500, 1, 4);
        corner_plot(
            &dir.path().join("single.png"),
            &names(1),
            &single,
            None,
            Some(&[0.0]),
            None,
        )
        .unwrap();
        let few = gaussian(40, 2, 5);
        let w: Vec<f64> = (0..40).map(|i| f64::from(i % 5)).collect();
        corner_plot(
            &dir.path().join("few.png"),
            &names(2),
            &few,
            Some(&w),
            None,
            None,
        )
        .unwrap();
        // Huge and tiny magnitudes.
        let mut big = gaussian(3_000, 2, 6);
        big.column_mut(0).mapv_inplace(|v| 1e10 + 1e8 * v);
        big.column_mut(1).mapv_inplace(|v| 1e-6 * (v - 10.0));
        corner_plot(
            &dir.path().join("big.png"),
            &names(2),
            &big,
            None,
            None,
            None,
        )
        .unwrap();
    }

    #[test]
    fn fifteen_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let s = gaussian(5_000, 15, 7);
        let p = dir.path().join("many.png");
        corner_plot(&p, &names(15), &s, None, None, None).unwrap();
        assert!(size(&p) > 100_000);
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        let s = gaussian(100, 2, 8);
        let msg = |r: Result<()>| format!("{:#}", r.unwrap_err());
        assert!(
            msg(corner_plot(&p, &names(3), &s, None, None, None)).contains("3 parameter names")
        );
        assert!(
            msg(corner_plot(
                &dir.path().join("x.jpg"),
                &names(2),
                &s,
                None,
                None,
                None
            ))
            .contains(".png or .svg")
        );
        assert!(
            msg(corner_plot(&p, &names(2), &s, Some(&[1.0; 3]), None, None)).contains("3 weights")
        );
        assert!(msg(corner_plot(&p, &names(2), &s, None, Some(&[1.0]), None)).contains("1 truths"));
        let mut w = vec![1.0; 100];
        w[5] = -1.0;
        assert!(msg(corner_plot(&p, &names(2), &s, Some(&w), None, None)).contains("sample 6"));
        assert!(
            msg(corner_plot(
                &p,
                &names(2),
                &s,
                Some(&[0.0; 100]),
                None,
                None
            ))
            .contains("sum to 0")
        );
        let mut nan = s.clone();
        nan.column_mut(1).fill(f64::NAN);
        let e = msg(corner_plot(&p, &names(2), &nan, None, None, None));
        assert!(
            e.contains("'SFR' is never finite") && e.contains("x.png"),
            "{e}"
        );
        let empty = Array2::<f64>::zeros((0, 2));
        assert!(msg(corner_plot(&p, &names(2), &empty, None, None, None)).contains("no samples"));
        let e = msg(corner_plot(
            &dir.path().join("no/dir/x.png"),
            &names(2),
            &s,
            None,
            None,
            None,
        ));
        assert!(e.contains("x.png"), "{e}");
    }

    #[test]
    fn statistics() {
        let (t, step) = ticks((0.13, 0.97), 4);
        assert_eq!(step, 0.25);
        assert_eq!(t, vec![0.25, 0.5, 0.75]);
        assert_eq!(tick_label(0.25, 0.25, 0), "0.25");
        assert_eq!(tick_label(-2.0, 1.0, 0), "−2");
        assert_eq!(tick_label(-0.0, 0.5, 0), "0.0");
        assert_eq!(tick_label(-2.5e-6, 2.5e-6, -6), "−2.5");
        assert_eq!(tick_label(1.01e10, 1e8, 10), "1.01");
        assert_eq!(axis_exponent((-5e-6, 4e-6)), -6);
        assert_eq!(title_value([9.9, 10.0, 10.2]), "10.00 +0.20 −0.10");
        assert_eq!(title_value([-0.6, -0.001, 0.6]), "0.00 +0.60 −0.60");
        assert_eq!(title_value([5.0, 5.0, 5.0]), "5.000");
        assert_eq!(
            title_value([0.9e10, 1e10, 1.2e10]),
            "(1.00 +0.20 −0.10)×10¹⁰"
        );
        // A closed contour around one high cell.
        let mut g = vec![vec![0.0; 3]; 3];
        g[1][1] = 1.0;
        assert_eq!(contour_segments(&g, 0.5).len(), 4);
    }
}
