//! Forward-model throughput next to the PyTorch reference (also available as `galsed bench`).
//!
//! `GALSED_MODEL_DIR=... cargo run --release -p galsed-emulator --example bench`
use galsed_emulator::bench::{Case, Output, default_reps, measure, model_for};
use galsed_emulator::model_files::ModelFiles;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var("GALSED_MODEL_DIR").map_err(|_| "set GALSED_MODEL_DIR")?;
    let files = ModelFiles::load(dir.as_ref())?;
    println!("grid  output      threads   batch    SEDs/s   python   ratio  GFLOP/s");
    for auto_grid in [false, true] {
        let (model, phot) = model_for(&files, auto_grid)?;
        for output in [Output::Photometry, Output::Spectrum] {
            for threads in [1, 2] {
                for batch in [1, 64, 1024, 16384] {
                    let case = Case { auto_grid, batch, output, threads };
                    let m = measure(&model, &phot, case, default_reps(batch));
                    println!(
                        "{:5} {:11} {threads:7} {batch:7} {:9.0} {:8.0} {:7.1} {:8.2}",
                        if auto_grid { "auto" } else { "base" },
                        format!("{output:?}"),
                        m.seds_per_second,
                        m.python_seds_per_second.unwrap_or(f64::NAN),
                        m.ratio().unwrap_or(f64::NAN),
                        m.seds_per_second * m.flop_per_sed / 1e9
                    );
                }
            }
        }
    }
    Ok(())
}
