//! The one style of galsed's figures: the embedded font (so that PNG and SVG plots need no system
//! fonts), its family name, the shared colours, the output [`Format`] and tick-label helpers.

use std::path::Path;

use plotters::chart::{ChartContext, SeriesLabelPosition};
use plotters::coord::CoordTranslate;
use plotters::element::PathElement;
use plotters::prelude::{Color, DrawingBackend, WHITE};
use plotters::style::{FontStyle, RGBColor, ShapeStyle, register_font};

use crate::PlotError;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Font family every figure draws its text in (the embedded DejaVu Sans).
pub const FAMILY: &str = "sans-serif";

/// Major grid lines.
pub const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
/// Minor grid lines.
pub const GRID_LIGHT: RGBColor = RGBColor(242, 242, 242);
/// Border of the legend boxes.
pub const LEGEND_BORDER: RGBColor = RGBColor(200, 200, 200);

/// The legend sample of a line series: a 20-pixel stroke in `style`
/// (`.legend(legend_line(c.stroke_width(2)))`).
pub fn legend_line(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

/// Draws the legend of `chart` at `position` in the common style: labels in [`FAMILY`] at
/// `font_size`, on a white box at 85 % opacity with a [`LEGEND_BORDER`]. Errors are plotters'
/// messages, for the caller to put in context.
pub fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(LEGEND_BORDER)
        .draw()
        .map_err(|e| e.to_string())
}

/// Registers the embedded font under [`FAMILY`] (idempotent).
pub fn register() -> Result<(), PlotError> {
    register_font(FAMILY, FontStyle::Normal, FONT).map_err(|_| PlotError::Font)
}

/// Image format of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Raster image (PNG).
    Png,
    /// Vector image (SVG).
    Svg,
}

impl Format {
    /// File extension, without the dot.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }

    /// The format named by the extension of `path` (`.png` or `.svg`, any case).
    ///
    /// ```
    /// use galsed_plot::Format;
    /// assert_eq!(Format::from_path("a/fit.SVG".as_ref()).unwrap(), Format::Svg);
    /// assert!(Format::from_path("fit.jpg".as_ref()).is_err());
    /// ```
    pub fn from_path(path: &Path) -> Result<Self, PlotError> {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::Format(path.to_path_buf())),
        }
    }
}

/// Calls `$draw(root)` on an SVG or bitmap drawing area of `$size` for `$path` in `$format`,
/// after registering the font.
macro_rules! render {
    ($path:expr, $format:expr, $size:expr, $draw:expr) => {{
        $crate::style::register()?;
        match $format {
            $crate::Format::Svg => {
                $draw(::plotters::prelude::SVGBackend::new($path, $size).into_drawing_area())
            }
            $crate::Format::Png => {
                $draw(::plotters::prelude::BitMapBackend::new($path, $size).into_drawing_area())
            }
        }
    }};
}
pub(crate) use render;

/// `s` with every ASCII hyphen-minus replaced by the true minus sign "−" (U+2212), the one
/// minus of galsed's figures.
pub fn minus(s: &str) -> String {
    s.replace('-', "−")
}

/// A linear-axis tick label: `v` with at most 4 decimals, trailing zeros removed, and the true
/// minus sign (plotters' default formatting prints "-").
///
/// ```
/// use galsed_plot::style::tick_number;
/// assert_eq!(tick_number(-2.0), "−2");
/// assert_eq!(tick_number(0.25), "0.25");
/// assert_eq!(tick_number(-0.0), "0");
/// ```
pub fn tick_number(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0".into() } else { minus(s) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superscripts() {
        assert_eq!(superscript(-12), "⁻¹²");
        assert_eq!(superscript(10), "¹⁰");
    }

    #[test]
    fn tick_numbers_use_the_minus_sign() {
        assert_eq!(tick_number(-3.5), "−3.5");
        assert_eq!(tick_number(1e-5), "0");
        assert_eq!(tick_number(12.0), "12");
        assert_eq!(minus("W1-W2"), "W1−W2");
    }
}
