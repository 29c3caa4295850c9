//! `galsed bench`: forward-model (and, with `--fit`, fitting) timings, as a fraction of the CPU's
//! float32 peak and, with `--torch FILE`, next to PyTorch measured on the same machine in the
//! same run (`bench/compare.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use clap::{Args, ValueEnum};
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::bench::{
    Case, CpuInfo, Output, default_reps, load_average, measure, model_for,
};
use galsed_fit::bench::Task;
use galsed_fit::optim::ParticleSwarm;

use crate::shared::args::ModelArgs;
use crate::shared::model::{build_on, load_files, locate};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 64, 1024, 16384])]
    pub batch: Vec<usize>,
    /// Worker-thread counts to time [default: 1,2; with --fit: 1].
    #[arg(long, value_delimiter = ',')]
    pub threads: Option<Vec<usize>>,
    /// Wavelength grids to time [default: base,auto; with --fit: auto].
    #[arg(long, value_delimiter = ',', value_enum)]
    pub grid: Option<Vec<GridArg>>,
    /// What each forward call returns.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [OutputArg::Photometry, OutputArg::Spectrum])]
    pub output: Vec<OutputArg>,
    /// Calls per forward case after the warm-up [default: 200/50/10/5 for batch 1/≤64/≤1024/more,
    /// as the reference].
    #[arg(long)]
    pub reps: Option<usize>,
    /// Also write the table as CSV (with the CPU model on every row).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// PyTorch timings taken on this machine in the same run, to print ratios: a CSV with the
    /// columns grid, output, threads, batch, median_s (extra columns are ignored), as written by
    /// bench/compare.sh from `torch_time.py --json`. Several rows of one case: their median.
    /// Without it no ratio is printed.
    #[arg(long, value_name = "FILE")]
    pub torch: Option<PathBuf>,
    /// Time the fitting instead (tutorial posterior of a mock galaxy: one vector, its gradient, a
    /// batch of 32; Adam; the paper's particle swarm; MCMC to convergence).
    #[arg(long)]
    pub fit: bool,
    /// With --fit: the tasks to time.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [FitTask::Posterior, FitTask::Adam, FitTask::Swarm, FitTask::Mcmc])]
    pub fit_tasks: Vec<FitTask>,
    /// With --fit: swarm iterations (the paper's 2000).
    #[arg(long, default_value_t = 2000)]
    pub pso_iterations: usize,
    /// With --fit: swarm restarts (the paper's 10).
    #[arg(long, default_value_t = 10)]
    pub pso_restarts: usize,
}

/// `--grid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GridArg {
    /// The base grid (495 points).
    Base,
    /// The automatic grid (2086 points).
    Auto,
}

impl GridArg {
    fn name(self) -> &'static str {
        match self {
            GridArg::Base => "base",
            GridArg::Auto => "auto",
        }
    }
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// AB magnitudes in the 19 tutorial bands.
    Photometry,
    /// F_ν on the whole grid.
    Spectrum,
}

/// `--fit-tasks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FitTask {
    /// Posterior of one vector, with its gradient, and of a batch of 32 (torch_time.py --nlp).
    Posterior,
    /// The tutorial's 300-step Adam fit.
    Adam,
    /// The particle swarm (--pso-iterations, --pso-restarts).
    Swarm,
    /// Ensemble MCMC to convergence.
    Mcmc,
}

impl FitTask {
    fn task(self) -> Task {
        match self {
            FitTask::Posterior => Task::Posterior,
            FitTask::Adam => Task::Adam,
            FitTask::Swarm => Task::Swarm,
            FitTask::Mcmc => Task::Mcmc,
        }
    }
}

/// PyTorch's median seconds per call, by (grid, output, threads, batch).
#[derive(Debug, Default)]
struct TorchTimes(BTreeMap<(String, String, usize, usize), Vec<f64>>);

impl TorchTimes {
    fn read(path: &Path) -> Result<Self> {
        let mut r = csv::Reader::from_path(path)
            .with_context(|| format!("reading --torch {}", path.display()))?;
        let headers = r.headers()?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .with_context(|| format!("--torch {}: no column {name:?}", path.display()))
        };
        let (g, o, t, b, s) = (
            col("grid")?,
            col("output")?,
            col("threads")?,
            col("batch")?,
            col("median_s")?,
        );
        let mut out = TorchTimes::default();
        for (i, row) in r.records().enumerate() {
            let row = row?;
            let field = |c: usize| row.get(c).unwrap_or("").trim();
            let parse = |c: usize| -> Result<f64> {
                field(c).parse().with_context(|| {
                    format!("--torch {}: row {}: {:?}", path.display(), i + 2, field(c))
                })
            };
            let output = match field(o) {
                "photometry19" => "photometry",
                x => x,
            };
            out.0
                .entry((
                    field(g).to_string(),
                    output.to_string(),
                    parse(t)? as usize,
                    parse(b)? as usize,
                ))
                .or_default()
                .push(parse(s)?);
        }
        if out.0.is_empty() {
            bail!("--torch {}: no rows", path.display());
        }
        Ok(out)
    }

    /// Median seconds per call of a case.
    fn seconds(&self, grid: &str, output: &str, threads: usize, batch: usize) -> Option<f64> {
        let v = self.0.get(&(grid.into(), output.into(), threads, batch))?;
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        })
    }
}

fn header(cpu: &CpuInfo) {
    println!("# CPU: {}", cpu.describe());
    if let Some([a, b, c]) = load_average() {
        println!("# load average: {a:.2} {b:.2} {c:.2}");
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn csv_writer(path: &Option<PathBuf>) -> Result<Option<csv::Writer<std::fs::File>>> {
    path.as_ref()
        .map(|p| csv::Writer::from_path(p).with_context(|| format!("creating {}", p.display())))
        .transpose()
}

/// `galsed bench --fit`: fitting timings.
fn run_fit(args: &BenchArgs, cpu: &CpuInfo, torch: Option<&TorchTimes>) -> Result<()> {
    let files = load_files(&locate(args.model.model.as_deref())?)?;
    let grids = args.grid.clone().unwrap_or_else(|| vec![GridArg::Auto]);
    let threads = args.threads.clone().unwrap_or_else(|| vec![1]);
    let tasks: Vec<Task> = args.fit_tasks.iter().map(|t| t.task()).collect();
    let swarm = ParticleSwarm {
        n_iterations: args.pso_iterations,
        n_restarts: args.pso_restarts,
        ..Default::default()
    };
    let mut csv = csv_writer(&args.csv)?;
    if let Some(w) = csv.as_mut() {
        let mut h = vec![
            "cpu_model",
            "grid",
            "threads",
            "key",
            "task",
            "seconds",
            "evaluations",
            "note",
        ];
        if torch.is_some() {
            h.extend(["torch_seconds", "ratio"]);
        }
        w.write_record(&h)?;
    }
    header(cpu);
    for &grid in &grids {
        let wgrid = match grid {
            GridArg::Base => WavelengthGrid::Base,
            GridArg::Auto => WavelengthGrid::Auto,
        };
        let model = build_on(&files, &wgrid, &Device::flex())?;
        let (post, truth) = galsed_fit::bench::mock_posterior(&model, &files.ssp, 1)?;
        for &n in &threads {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
            let timings = pool.install(|| galsed_fit::bench::run(&post, &truth, &swarm, &tasks))?;
            let title = format!(
                "task ({n} thread{}, {} grid)",
                if n == 1 { "" } else { "s" },
                grid.name()
            );
            print!("{title:<60} {:>12}", "galsed");
            if torch.is_some() {
                print!(" {:>12} {:>7}", "PyTorch", "ratio");
            }
            println!();
            for t in &timings {
                let theirs = torch.and_then(|tt| tt.seconds(grid.name(), &t.key, n, t.evaluations));
                let ratio = theirs.map(|p| p / t.seconds);
                print!("{:<60} {:>12}", t.task, fmt_seconds(t.seconds));
                if torch.is_some() {
                    print!(
                        " {:>12} {:>7}",
                        theirs.map_or("–".into(), fmt_seconds),
                        ratio.map_or("–".into(), |r| format!("{r:.1}×"))
                    );
                }
                println!();
                println!("    {} [{}]", t.note, t.key);
                if let Some(w) = csv.as_mut() {
                    let mut rec = vec![
                        cpu.model.clone(),
                        grid.name().into(),
                        n.to_string(),
                        t.key.clone(),
                        t.task.clone(),
                        t.seconds.to_string(),
                        t.evaluations.to_string(),
                        t.note.clone(),
                    ];
                    if torch.is_some() {
                        rec.extend([fmt_opt(theirs), fmt_opt(ratio)]);
                    }
                    w.write_record(&rec)?;
                }
            }
        }
    }
    if let Some(mut w) = csv {
        w.flush()?;
    }
    Ok(())
}

/// Seconds with a unit that keeps three significant digits readable.
fn fmt_seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let cpu = CpuInfo::detect();
    let torch = args.torch.as_deref().map(TorchTimes::read).transpose()?;
    if args.fit {
        return run_fit(args, &cpu, torch.as_ref());
    }
    let files = load_files(&locate(args.model.model.as_deref())?)?;
    let peak = cpu.peak_flops_per_core();
    let grids = args
        .grid
        .clone()
        .unwrap_or_else(|| vec![GridArg::Base, GridArg::Auto]);
    let threads = args.threads.clone().unwrap_or_else(|| vec![1, 2]);
    let mut csv = csv_writer(&args.csv)?;
    if let Some(w) = csv.as_mut() {
        let mut h = vec![
            "cpu_model",
            "isa",
            "lanes",
            "fma_pipes",
            "mhz",
            "grid",
            "output",
            "threads",
            "batch",
            "seconds_per_call",
            "seds_per_s",
            "gflop_per_s",
            "peak_gflop_per_s_per_core",
            "peak_fraction",
        ];
        if torch.is_some() {
            h.extend(["torch_seds_per_s", "ratio"]);
        }
        w.write_record(&h)?;
    }
    header(&cpu);
    print!("grid  output      threads   batch     SEDs/s  GFLOP/s  of peak");
    if torch.is_some() {
        print!("    PyTorch   ratio");
    }
    println!();
    for &grid in &grids {
        let auto_grid = grid == GridArg::Auto;
        let (model, phot) = model_for(&files, auto_grid)?;
        for &output in &args.output {
            let (output, out) = match output {
                OutputArg::Photometry => (Output::Photometry, "photometry"),
                OutputArg::Spectrum => (Output::Spectrum, "spectrum"),
            };
            for &threads in &threads {
                for &batch in &args.batch {
                    let case = Case {
                        auto_grid,
                        batch,
                        output,
                        threads,
                    };
                    let reps = args.reps.unwrap_or_else(|| default_reps(batch));
                    let m = measure(&model, &phot, case, reps);
                    let gflops = m.seds_per_second * m.flop_per_sed / 1e9;
                    // Per thread: the peak of as many cores as there are workers.
                    let of_peak = peak.map(|p| gflops * 1e9 / (p * threads as f64));
                    let theirs = torch
                        .as_ref()
                        .and_then(|t| t.seconds(grid.name(), out, threads, batch))
                        .map(|s| batch as f64 / s);
                    let ratio = theirs.map(|p| m.seds_per_second / p);
                    print!(
                        "{:5} {out:11} {threads:7} {batch:7} {:10.0} {gflops:8.2} {:>8}",
                        grid.name(),
                        m.seds_per_second,
                        of_peak.map_or("–".into(), |f| format!("{:.1}%", 100.0 * f)),
                    );
                    if torch.is_some() {
                        print!(
                            " {:>10} {:>7}",
                            theirs.map_or("–".into(), |v| format!("{v:.0}")),
                            ratio.map_or("–".into(), |r| format!("{r:.1}×"))
                        );
                    }
                    println!();
                    if let Some(w) = csv.as_mut() {
                        let mut rec = vec![
                            cpu.model.clone(),
                            cpu.isa.to_string(),
                            cpu.lanes.to_string(),
                            cpu.fma_pipes.to_string(),
                            fmt_opt(cpu.mhz),
                            grid.name().into(),
                            out.into(),
                            threads.to_string(),
                            batch.to_string(),
                            m.seconds.to_string(),
                            m.seds_per_second.to_string(),
                            gflops.to_string(),
                            fmt_opt(peak.map(|p| p / 1e9)),
                            fmt_opt(of_peak),
                        ];
                        if torch.is_some() {
                            rec.extend([fmt_opt(theirs), fmt_opt(ratio)]);
                        }
                        w.write_record(&rec)?;
                    }
                }
            }
        }
    }
    if let Some(mut w) = csv {
        w.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_csv_medians_by_case() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("torch.csv");
        std::fs::write(
            &p,
            "round,grid,output,threads,batch,median_s,seds_per_s\n\
             1,base,photometry19,1,64,0.03,2133\n\
             2,base,photometry19,1,64,0.01,6400\n\
             3,base,photometry19,1,64,0.02,3200\n\
             1,auto,nlp_forward_b1,1,1,0.005,200\n",
        )
        .unwrap();
        let t = TorchTimes::read(&p).unwrap();
        assert_eq!(t.seconds("base", "photometry", 1, 64), Some(0.02));
        assert_eq!(t.seconds("auto", "nlp_forward_b1", 1, 1), Some(0.005));
        assert_eq!(t.seconds("base", "photometry", 2, 64), None);
        std::fs::write(&p, "grid,output,batch\nbase,spectrum,1\n").unwrap();
        let e = TorchTimes::read(&p).unwrap_err().to_string();
        assert!(e.contains("threads"), "{e}");
    }
}
