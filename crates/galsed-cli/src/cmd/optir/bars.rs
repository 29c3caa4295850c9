//! Progress of the optical–IR pipeline on stderr.

use std::sync::{Mutex, MutexGuard};

use galsed_optir::pipeline::{Progress, Unit};
use indicatif::ProgressBar;

use crate::shared::progress;

/// Progress bars and messages on stderr (bars only on a terminal).
#[derive(Default)]
pub struct Bars(Mutex<Option<ProgressBar>>);

impl Bars {
    fn bar(&self) -> MutexGuard<'_, Option<ProgressBar>> {
        // A panic elsewhere cannot leave a bar half-updated in a way that matters.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Bars {
    fn step(&self, what: &str) {
        eprintln!("{what}");
    }
    fn warn(&self, what: &str) {
        eprintln!("warning: {what}");
    }
    fn start(&self, unit: Unit, len: usize) {
        *self.bar() = Some(match unit {
            Unit::Galaxies => progress::rows_bar(len as u64),
            Unit::Epochs => progress::styled_epochs(len as u64),
        });
    }
    fn advance(&self, done: usize) {
        if let Some(bar) = &*self.bar() {
            bar.set_position(done as u64);
        }
    }
    fn status(&self, message: &str) {
        if let Some(bar) = &*self.bar() {
            bar.set_message(message.to_owned());
        }
    }
    fn finish(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}
