//! Arguments and value enums shared by several commands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use galsed_core::filters::{Filter, FilterListError};

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model directory (overrides GALSED_MODEL_DIR and the user cache).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Photometry flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MagArg {
    /// AB magnitudes.
    Ab,
    /// Band fluxes F_ν [Jy].
    Flux,
}

/// Plot format of `galsed demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            PlotFormat::Png => "png",
            PlotFormat::Svg => "svg",
        }
    }
}

/// How a raw training or validation set is prepared (shared by `train` and `validate`).
#[derive(Debug, Args)]
pub struct PrepArgs {
    /// Savitzky–Golay smoothing of the attenuation curves: window,order (e.g. 15,3).
    #[arg(long, value_name = "W,O")]
    pub smooth_curves: Option<String>,
    /// Savitzky–Golay smoothing of the dust-emission spectra: window,order.
    #[arg(long, value_name = "W,O")]
    pub smooth_emission: Option<String>,
    /// Label samples whose attenuation at 100 µm exceeds this value [mag] as invalid (optically
    /// thick in the far infrared); `none` disables the rule.
    #[arg(long, default_value = "0.01", value_name = "MAG|none")]
    pub max_k100: String,
}

impl PrepArgs {
    /// The preparation the options describe.
    pub fn preparation(&self) -> anyhow::Result<galsed_train::data::Preparation> {
        galsed_train::data::Preparation::parse(
            self.smooth_curves.as_deref(),
            self.smooth_emission.as_deref(),
            &self.max_k100,
        )
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.option()))
    }
}

/// `--filters`: [`Filter::parse_list`], naming the option when the list is empty.
/// The key (or column name) of a per-component output, as `galsed sed` and `galsed catalog run`
/// write them: `combine` has no suffix, other components add `_<component>`.
pub fn component_key(base: &str, c: galsed_emulator::Component) -> String {
    match c {
        galsed_emulator::Component::Combine => base.to_owned(),
        _ => format!("{base}_{}", c.name()),
    }
}

pub fn parse_filters(list: &str) -> anyhow::Result<Vec<Filter>> {
    Filter::parse_list(list).map_err(|e| match e {
        FilterListError::Empty => anyhow::anyhow!("--filters {list:?} names no filter"),
        e => e.into(),
    })
}

/// The worker pool of `--threads N` (default: one worker per core).
pub fn thread_pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?)
}
