//! Throughput benchmark of the forward model, next to the PyTorch reference's timings.
//!
//! The reference figures are those recorded for the published model on a 2-core Xeon VM of the
//! same kind (torch 2.5.1, float32, `torch.no_grad()`, component `combine`; reference pack
//! `timings.json`, README §8): SEDs per second.

use std::time::Instant;

use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;

use crate::inputs::{Batch, OutOfRange};
use crate::model_files::ModelFiles;
use crate::predict::{Observer, Photometry, SpectralUnits};
use crate::{Component, ModelError, N_GP, N_SSP, Starduster};

/// The 19 bands of the reference's timing runs (the tutorial filters).
pub const BENCH_FILTERS: [&str; 19] = galsed_core::filters::DEFAULT19;

/// What a benchmark call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// AB magnitudes in the 19 bands.
    Photometry,
    /// F_ν on the whole grid.
    Spectrum,
}

/// One benchmark configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Use the automatic wavelength grid instead of the base grid.
    pub auto_grid: bool,
    /// Galaxies per call.
    pub batch: usize,
    /// What each call returns.
    pub output: Output,
    /// Number of worker threads.
    pub threads: usize,
}

/// A measured configuration.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// The configuration measured.
    pub case: Case,
    /// Median wall time of one call \[s\].
    pub seconds: f64,
    /// Throughput: SEDs per second of wall time.
    pub seds_per_second: f64,
    /// The PyTorch reference at the same setting, SEDs per second.
    pub python_seds_per_second: Option<f64>,
    /// Floating-point operations per SED (dense layers and matrix products).
    pub flop_per_sed: f64,
}

impl Measurement {
    /// Speed-up over the reference.
    pub fn ratio(&self) -> Option<f64> {
        self.python_seds_per_second
            .map(|p| self.seds_per_second / p)
    }
}

/// Reference SEDs/s (grid auto?, batch, output, threads), README §8 of the reference pack.
pub fn python_reference(case: &Case) -> Option<f64> {
    let i = [1, 64, 1024, 16384].iter().position(|&b| b == case.batch)?;
    let col = match (case.threads, case.output) {
        (1, Output::Photometry) => 0,
        (1, Output::Spectrum) => 1,
        (2, Output::Photometry) => 2,
        (2, Output::Spectrum) => 3,
        _ => return None,
    };
    const BASE: [[f64; 4]; 4] = [
        [429.0, 459.0, 219.0, 212.0],
        [2637.0, 3055.0, 3848.0, 3689.0],
        [2851.0, 3274.0, 3119.0, 4416.0],
        [2789.0, 3240.0, 3146.0, 3701.0],
    ];
    const AUTO: [[f64; 4]; 4] = [
        [376.0, 394.0, 165.0, 195.0],
        [2228.0, 3070.0, 2670.0, 3331.0],
        [1464.0, 2497.0, 1699.0, 2930.0],
        [1294.0, 1968.0, 1803.0, 2695.0],
    ];
    Some(if case.auto_grid {
        AUTO[i][col]
    } else {
        BASE[i][col]
    })
}

/// Floating-point operations per SED in the dense parts of the model (2 per multiply–add).
pub fn flop_per_sed(n_lam: usize, n_seg: usize, n_filters: usize) -> f64 {
    let mlp = |sizes: &[usize]| sizes.windows(2).map(|w| 2 * w[0] * w[1]).sum::<usize>();
    // Attenuation curves: 3 hidden layers + the fused heads (311 + 2·(35+38+34+156) + 1).
    let curve = |n_in| mlp(&[n_in, 128, 128, 128, 838]);
    let frac = |n_in| mlp(&[n_in, 128, 128, n_seg]) + 2 * N_SSP * n_seg;
    let emission = mlp(&[9, 128, 128, 128]) + 2 * 128 * (16 + 16 + 495 + 495) + 2 * 16 * 495;
    let stars = 2 * 2 * N_SSP * n_lam;
    (curve(N_GP) + curve(N_GP) + frac(N_GP) + frac(N_GP) + emission + stars + 2 * n_lam * n_filters)
        as f64
}

/// Runs one case and returns the median time of `reps` calls after a warm-up call.
pub fn measure(model: &Starduster, phot: &Photometry, case: Case, reps: usize) -> Measurement {
    let batch = synthetic_batch(case.batch);
    let call = || match case.output {
        Output::Photometry => {
            let _ = model.magnitudes(&batch, Component::Combine, phot);
        }
        Output::Spectrum => {
            let _ = model.spectrum(
                &batch,
                Component::Combine,
                SpectralUnits::Fnu,
                Observer::default(),
            );
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(case.threads)
        .build()
        .expect("a thread pool of 1–2 threads can always be built");
    let mut times: Vec<f64> = pool.install(|| {
        call();
        (0..reps.max(1))
            .map(|_| {
                let t = Instant::now();
                call();
                t.elapsed().as_secs_f64()
            })
            .collect()
    });
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let n_filters = if case.output == Output::Photometry {
        BENCH_FILTERS.len()
    } else {
        0
    };
    Measurement {
        case,
        seconds,
        seds_per_second: case.batch as f64 / seconds,
        python_seds_per_second: python_reference(&case),
        flop_per_sed: flop_per_sed(
            model.grid().lam_eval.len(),
            model.grid().big_l_ssp.ncols(),
            n_filters,
        ),
    }
}

/// Repetitions giving a few tenths of a second per case (as the reference: 200/50/10/5).
pub fn default_reps(batch: usize) -> usize {
    match batch {
        0..=1 => 200,
        2..=64 => 50,
        65..=1024 => 10,
        _ => 5,
    }
}

/// A reproducible batch spread over the unit cube, with uniform SFHs.
pub fn synthetic_batch(n: usize) -> Batch {
    let gp = (0..n * N_GP)
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let sfh = vec![1.0 / N_SSP as f64; n * N_SSP];
    Batch::new(gp, sfh.clone(), sfh, OutOfRange::Clip).expect("synthetic inputs are valid")
}

/// Builds the model on a grid with the 19 benchmark filters.
pub fn model_for(
    files: &ModelFiles,
    auto_grid: bool,
) -> Result<(Starduster, Photometry), ModelError> {
    let grid = if auto_grid {
        WavelengthGrid::Auto
    } else {
        WavelengthGrid::Base
    };
    let model = Starduster::from_files(files, &grid)?;
    let filters = BENCH_FILTERS
        .iter()
        .map(|n| Filter::builtin(n).map_err(|e| ModelError::Input(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let phot = Photometry::new(&model, &filters, Observer::default())?;
    Ok((model, phot))
}
