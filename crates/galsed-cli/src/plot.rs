//! Shared plot set-up: an embedded font, so that PNG and SVG plots need no system fonts.

use anyhow::{Result, anyhow};
use plotters::style::{FontStyle, register_font};

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font under [`FAMILY`] (idempotent).
pub fn register() -> Result<()> {
    register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font is invalid"))
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
}
