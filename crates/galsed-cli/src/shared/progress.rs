//! Progress bars (drawn only when stderr is a terminal) and stdout printing.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn styled(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target());
    // The templates are constants; a bad one would only lose the styling.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
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

/// A bar counting galaxies with their rate, for long catalogue runs.
pub fn rate_bar(n: u64) -> ProgressBar {
    styled(
        n,
        "[{bar:40}] {human_pos}/{human_len} galaxies, {per_sec}, {elapsed} elapsed, eta {eta}",
    )
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
