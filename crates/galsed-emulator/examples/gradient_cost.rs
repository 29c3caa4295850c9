//! Cost of the hand-written gradient relative to a forward pass (one thread), for batch sizes
//! 1, 32 and 256 on the `auto` grid with the 19 default bands.
//!
//! `cargo run --release -p galsed-emulator --example gradient_cost`

use std::time::Instant;

use galsed_core::filters::{DEFAULT19, Filter};
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::inputs::Batch;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_emulator::{Component, N_GP, N_SSP, Starduster};
use ndarray::Array2;

fn median(mut f: impl FnMut(), reps: usize) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/starduster/original");
    let files = galsed_emulator::model_files::ModelFiles::load(&dir)?;
    let model = Starduster::from_files(&files, &WavelengthGrid::Auto)?;
    let filters: Vec<Filter> = DEFAULT19
        .iter()
        .map(|n| Filter::builtin(n))
        .collect::<Result<_, _>>()?;
    let phot = Photometry::new(&model, &filters, Observer::new(0.0, 30.0)?)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    println!("batch  forward [ms]  forward+gradient [ms]  ratio");
    for n in [1usize, 32, 256] {
        let gp: Vec<f32> = (0..n * N_GP)
            .map(|i| ((i * 37 % 101) as f32 / 60.0) - 0.8)
            .collect();
        let sfh: Vec<f32> = (0..n * N_SSP)
            .map(|i| 0.01 + (i % 7) as f32 / 100.0)
            .collect();
        let batch = Batch::from_adapted(gp, sfh.clone(), sfh)?;
        let reps = if n == 1 { 400 } else { 40 };
        let fwd = pool.install(|| {
            median(
                || {
                    std::hint::black_box(model.fluxes(&batch, Component::Combine, &phot));
                },
                reps,
            )
        });
        let g = Array2::from_elem((n, filters.len()), 1f32);
        let both = median(
            || {
                let tape = model.flux_tape(&batch, &phot);
                std::hint::black_box(tape.backward(g.view(), None));
            },
            reps,
        );
        println!(
            "{n:>5}  {:>12.4}  {:>21.4}  {:>5.2}",
            fwd * 1e3,
            both * 1e3,
            both / fwd
        );
    }
    Ok(())
}
