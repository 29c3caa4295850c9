//! Progress of a training run on stderr.

use std::io::IsTerminal;

use galsed_train::train::{Network, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar per run on a terminal; otherwise a line every tenth of the epochs.
pub struct Reporter {
    bar: Option<ProgressBar>,
    current: Option<(Network, usize)>,
    terminal: bool,
}

impl Reporter {
    pub fn new() -> Self {
        Self {
            bar: None,
            current: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, p: &Progress) {
        if self.current != Some((p.network, p.run)) {
            self.finish();
            self.current = Some((p.network, p.run));
            if self.terminal {
                let bar = ProgressBar::with_draw_target(
                    Some((p.epochs * p.steps_per_epoch) as u64),
                    ProgressDrawTarget::stderr(),
                );
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps, {elapsed}, eta {eta} {msg}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(format!(
                    "{} lr {}/{} ({:.0e})",
                    p.network.name(),
                    p.run + 1,
                    p.runs,
                    p.max_lr
                ));
                self.bar = Some(bar);
            }
        }
        let pos = (p.epoch * p.steps_per_epoch + p.step + 1) as u64;
        match (&self.bar, p.valid_loss) {
            (Some(bar), valid) => {
                bar.set_position(pos);
                if let Some(v) = valid {
                    bar.set_message(format!(
                        "epoch {}: train {:.3e}, valid {v:.3e}",
                        p.epoch + 1,
                        p.train_loss
                    ));
                }
            }
            (None, Some(v)) => {
                let every = (p.epochs / 10).max(1);
                if (p.epoch + 1).is_multiple_of(every) || p.epoch + 1 == p.epochs {
                    eprintln!(
                        "{} lr {}/{} ({:.0e}) epoch {}/{}: train {:.4e}, valid {v:.4e}",
                        p.network.name(),
                        p.run + 1,
                        p.runs,
                        p.max_lr,
                        p.epoch + 1,
                        p.epochs,
                        p.train_loss
                    );
                }
            }
            (None, None) => {}
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
