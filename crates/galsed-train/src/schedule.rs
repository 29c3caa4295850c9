//! The one-cycle learning-rate schedule (Smith & Topin 2018) as PyTorch's `OneCycleLR` computes
//! it with its defaults (two phases, cosine annealing): the rate rises from max_lr/div_factor to
//! max_lr over the first `pct_start` of the steps, then falls to max_lr/(div_factor·final_div_factor).
//!
//! PyTorch also cycles Adam's β₁ between 0.95 and 0.85 by default (`cycle_momentum`); galsed keeps
//! β₁ = 0.9 fixed (burn's Adam takes β₁ from its configuration).

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use serde::{Deserialize, Serialize};

/// Settings of the one-cycle schedule (PyTorch's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OneCycleConfig {
    /// Fraction of the steps spent increasing the rate.
    pub pct_start: f64,
    /// Initial rate = max_lr / div_factor.
    pub div_factor: f64,
    /// Final rate = initial rate / final_div_factor.
    pub final_div_factor: f64,
}

impl Default for OneCycleConfig {
    fn default() -> Self {
        Self {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
        }
    }
}

impl OneCycleConfig {
    /// The fewest steps of a schedule: PyTorch's phase boundary pct_start·total − 1 must lie
    /// strictly inside it, so that the rising and the falling phase get a step each.
    pub fn min_steps(&self) -> usize {
        // In f64: a pct_start of 0 (refused by OneCycle::new) saturates instead of overflowing.
        ((1.0 / self.pct_start).floor() + 1.0).max(2.0) as usize
    }
}

/// A one-cycle schedule over `total_steps` optimiser steps; also a burn [`LrScheduler`].
///
/// ```
/// use galsed_train::schedule::{OneCycle, OneCycleConfig};
/// let s = OneCycle::new(1e-2, 100, OneCycleConfig::default()).unwrap();
/// assert!((s.lr(0) - 4e-4).abs() < 1e-15);
/// assert!((s.lr(29) - 1e-2).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OneCycle {
    max_lr: f64,
    total_steps: usize,
    cfg: OneCycleConfig,
    /// Steps taken through [`LrScheduler::step`].
    step: usize,
}

/// PyTorch's `_annealing_cos`: from `start` (pct = 0) to `end` (pct = 1) along half a cosine.
fn annealing_cos(start: f64, end: f64, pct: f64) -> f64 {
    let cos_out = (std::f64::consts::PI * pct).cos() + 1.0;
    end + (start - end) / 2.0 * cos_out
}

impl OneCycle {
    /// A schedule peaking at `max_lr`; errors for a non-positive rate or factors, an empty
    /// schedule or `pct_start` outside (0, 1).
    pub fn new(max_lr: f64, total_steps: usize, cfg: OneCycleConfig) -> Result<Self, String> {
        if !(max_lr.is_finite() && max_lr > 0.0) {
            return Err(format!(
                "the maximum learning rate must be positive, got {max_lr}"
            ));
        }
        if !(cfg.pct_start > 0.0 && cfg.pct_start < 1.0) {
            return Err(format!(
                "pct_start must lie in (0, 1), got {}",
                cfg.pct_start
            ));
        }
        if !(cfg.div_factor > 0.0 && cfg.final_div_factor > 0.0) {
            return Err("div_factor and final_div_factor must be positive".into());
        }
        if total_steps < cfg.min_steps() {
            return Err(format!(
                "{total_steps} steps are too few for a one-cycle schedule with pct_start {}: it \
                 needs at least {} (a rising and a falling phase of at least one step each)",
                cfg.pct_start,
                cfg.min_steps()
            ));
        }
        Ok(Self {
            max_lr,
            total_steps,
            cfg,
            step: 0,
        })
    }

    /// The total number of steps.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// The rate of optimiser step `step` (0-based; PyTorch's `last_epoch` after `step` calls).
    /// Steps beyond the schedule keep the final rate.
    pub fn lr(&self, step: usize) -> f64 {
        let initial = self.max_lr / self.cfg.div_factor;
        let min = initial / self.cfg.final_div_factor;
        let step = step.min(self.total_steps - 1) as f64;
        let end_up = self.cfg.pct_start * self.total_steps as f64 - 1.0;
        let end_down = (self.total_steps - 1) as f64;
        if step <= end_up {
            annealing_cos(initial, self.max_lr, step / end_up)
        } else {
            annealing_cos(self.max_lr, min, (step - end_up) / (end_down - end_up))
        }
    }
}

impl LrScheduler for OneCycle {
    fn step(&mut self) -> f64 {
        let lr = self.lr(self.step);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("step", self.step as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step as usize;
        }
    }
}
