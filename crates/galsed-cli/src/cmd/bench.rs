//! `galsed bench`: forward-model throughput next to the PyTorch reference.

use std::io::Write;

use anyhow::{Context, Result};
use galsed_emulator::bench::{Case, Output, default_reps, measure, model_for};

use crate::shared::args::ModelArgs;
use crate::shared::model::{build_on, load_files, locate};
use burn::prelude::Device;
use clap::Args;
use galsed_core::ssp::WavelengthGrid;
use galsed_fit::optim::ParticleSwarm;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 64, 1024, 16384])]
    pub batch: Vec<usize>,
    /// Worker-thread counts to time (the reference was measured with 1 and 2).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    pub threads: Vec<usize>,
    /// Also write the table as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Time the fitting instead (posterior, gradient, Adam, the paper's particle swarm, MCMC to
    /// convergence) on one core, `auto` grid, next to the Python reference.
    #[arg(long)]
    pub fit: bool,
    /// With --fit: swarm iterations (the paper's 2000).
    #[arg(long, default_value_t = 2000)]
    pub pso_iterations: usize,
    /// With --fit: swarm restarts (the paper's 10).
    #[arg(long, default_value_t = 10)]
    pub pso_restarts: usize,
}

/// Peak float32 FLOP/s of one core: clock × 2 AVX-512 FMA units × 16 lanes × 2.
fn core_peak_flops() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some(mhz * 1e6 * 64.0)
}

/// `galsed bench --fit`: fitting timings on one core.
fn run_fit(args: &BenchArgs) -> Result<()> {
    let files = load_files(&locate(args.model.model.as_deref())?)?;
    let model = build_on(&files, &WavelengthGrid::Auto, &Device::flex().autodiff())?;
    let (post, truth) = galsed_fit::bench::mock_posterior(&model, &files.ssp, 1)?;
    let swarm = ParticleSwarm {
        n_iterations: args.pso_iterations,
        n_restarts: args.pso_restarts,
        ..Default::default()
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let timings = pool.install(|| galsed_fit::bench::run(&post, &truth, &swarm))?;
    let mut csv = match &args.csv {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };
    if let Some(f) = csv.as_mut() {
        writeln!(f, "task,seconds,python_seconds,ratio,note")?;
    }
    println!(
        "{:<78} {:>11} {:>11} {:>8}",
        "task (1 thread, auto grid)", "galsed", "Python", "ratio"
    );
    for t in &timings {
        let py = t
            .python_seconds
            .map_or("–".to_string(), |p| format!("{p:.4} s"));
        let ratio = t.ratio().map_or("–".to_string(), |r| format!("{r:.1}×"));
        println!("{:<78} {:>9.4} s {py:>11} {ratio:>8}", t.task, t.seconds);
        println!("    {}", t.note);
        if let Some(f) = csv.as_mut() {
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            writeln!(
                f,
                "\"{}\",{},{},{},\"{}\"",
                t.task,
                t.seconds,
                opt(t.python_seconds),
                opt(t.ratio()),
                t.note
            )?;
        }
    }
    Ok(())
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.fit {
        return run_fit(args);
    }
    let files = load_files(&locate(args.model.model.as_deref())?)?;
    let peak = core_peak_flops();
    let mut csv = match &args.csv {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };
    if let Some(f) = csv.as_mut() {
        writeln!(
            f,
            "grid,output,threads,batch,seconds_per_call,seds_per_s,python_seds_per_s,ratio,gflop_per_s,peak_fraction"
        )?;
    }
    println!("grid  output      threads   batch     SEDs/s   PyTorch   ratio  GFLOP/s  of peak");
    for auto_grid in [false, true] {
        let (model, phot) = model_for(&files, auto_grid)?;
        for output in [Output::Photometry, Output::Spectrum] {
            for &threads in &args.threads {
                for &batch in &args.batch {
                    let case = Case {
                        auto_grid,
                        batch,
                        output,
                        threads,
                    };
                    let m = measure(&model, &phot, case, default_reps(batch));
                    let gflops = m.seds_per_second * m.flop_per_sed / 1e9;
                    let of_peak = peak.map(|p| gflops * 1e9 / (p * threads as f64));
                    let grid = if auto_grid { "auto" } else { "base" };
                    let out = match output {
                        Output::Photometry => "photometry",
                        Output::Spectrum => "spectrum",
                    };
                    let fmt = |v: Option<f64>, w: usize, p: usize| {
                        v.map_or(format!("{:>w$}", "–"), |v| format!("{v:>w$.p$}"))
                    };
                    println!(
                        "{grid:5} {out:11} {threads:7} {batch:7} {:10.0} {} {} {gflops:8.2} {}",
                        m.seds_per_second,
                        fmt(m.python_seds_per_second, 9, 0),
                        fmt(m.ratio(), 7, 1),
                        fmt(of_peak.map(|f| 100.0 * f), 7, 1) + "%",
                    );
                    if let Some(f) = csv.as_mut() {
                        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
                        writeln!(
                            f,
                            "{grid},{out},{threads},{batch},{},{},{},{},{gflops},{}",
                            m.seconds,
                            m.seds_per_second,
                            opt(m.python_seds_per_second),
                            opt(m.ratio()),
                            opt(of_peak)
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}
