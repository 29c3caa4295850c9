//! Progress bars (drawn only when stderr is a terminal) and stdout printing.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn styled(len: u64, template: &str) -> ProgressBar {
    styled_with(len, template, |style| style)
}

/// A bar drawn from `template`, its style adjusted by `adjust` (e.g. a key of our own).
fn styled_with(
    len: u64,
    template: &str,
    adjust: impl FnOnce(ProgressStyle) -> ProgressStyle,
) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target());
    // The templates are constants; a bad one would only lose the styling.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(adjust(style.progress_chars("=> ")));
    }
    bar
}

/// A bar counting bytes of a download.
pub fn bytes_bar() -> ProgressBar {
    styled(
        0,
        "  {msg:<32} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
}

/// A bar counting galaxies.
pub fn rows_bar(n: u64) -> ProgressBar {
    styled(
        n,
        "[{bar:40}] {pos}/{len} galaxies, {elapsed} elapsed, eta {eta}",
    )
}

/// A bar counting SKIRT runs.
pub fn runs_bar(n: u64) -> ProgressBar {
    styled(
        n,
        "[{bar:40}] {pos}/{len} runs, {elapsed} elapsed, eta {eta}",
    )
}

/// A bar counting galaxies with their rate, for long catalogue runs.
pub fn rate_bar(n: u64) -> ProgressBar {
    styled_with(
        n,
        "[{bar:40}] {human_pos}/{human_len} galaxies, {rate}, {elapsed} elapsed, eta {eta}",
        // indicatif's {per_sec} has four decimals and thousands separators ("11,174.5649/s").
        |style| {
            style.with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate(s.per_sec()));
            })
        },
    )
}

/// A rate per second for people: whole numbers, one decimal below 10.
fn rate(per_sec: f64) -> String {
    if per_sec < 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{per_sec:.0}/s")
    }
}

/// "1 galaxy", "2 galaxies".
pub fn galaxies(n: impl Into<u64>) -> String {
    match n.into() {
        1 => "1 galaxy".to_owned(),
        n => format!("{n} galaxies"),
    }
}

/// A bar counting training epochs, with the latest losses as its message.
pub fn styled_epochs(n: u64) -> ProgressBar {
    styled(
        n,
        "[{bar:40}] epoch {pos}/{len} {msg}, {elapsed} elapsed, eta {eta}",
    )
}

/// Writes to stdout; a closed pipe (`galsed … | head`) is not an error.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_counts_read_well() {
        assert_eq!(rate(11_174.565), "11175/s");
        assert_eq!(rate(2.345), "2.3/s");
        assert_eq!(galaxies(1u64), "1 galaxy");
        assert_eq!(galaxies(0u64), "0 galaxies");
        assert_eq!(galaxies(3u64), "3 galaxies");
    }
}
