//! How fast can a fit reach the paper's optimum? (issue 17, item 4)
//!
//! Mock galaxies are drawn in the valid region and observed in the tutorial's 19 bands with
//! 0.1 mag errors (the tutorial's 11-parameter posterior on the `auto` grid, as `galsed bench`).
//! Each is fitted twice, each fit on one core:
//! * the reference: the paper's particle swarm (32 particles × 2000 iterations × 10 restarts)
//!   polished by L-BFGS-B, which is what `galsed fit --optimizer pso` does;
//! * the fast fit: [`MultiStart`] with its defaults.
//!
//! It prints the fraction of galaxies whose fast −ln p is within 0.05 of the reference and that
//! took under 5 s. The reference is slow (≈ 1 min per galaxy), so its results are kept in
//! `REFERENCE.csv` and reused, and a killed run resumes where it stopped.
//!
//! ```sh
//! cargo run --release -p galsed-fit --example fast_fit -- [N] [REFERENCE.csv] [OUT.csv] [JOBS] [MODE]
//! ```
//! Defaults: 100 galaxies, fast_fit_reference.csv, fast_fit.csv, 2 galaxies at a time (each on
//! its own one-thread pool), MODE `both`; `reference` only completes the reference, `compare`
//! only fits the galaxies that the reference already has.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::prelude::Device;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::Starduster;
use galsed_emulator::model_files::ModelFiles;
use galsed_fit::bench::{each_on_one_core, mock_posterior};
use galsed_fit::optim::{Lbfgsb, MultiStart, ParticleSwarm};
use galsed_io::store;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let n: usize = arg(0, "100").parse()?;
    let reference_path = arg(1, "fast_fit_reference.csv");
    let out = arg(2, "fast_fit.csv");
    let jobs: usize = arg(3, "2").parse()?;
    let mode = arg(4, "both");
    if !["both", "reference", "compare"].contains(&mode.as_str()) {
        return Err(format!("unknown mode {mode:?}: both, reference or compare").into());
    }

    let dir = store::resolve_model_dir(None)?;
    let files = ModelFiles::load(&dir.path)?;
    let model = Starduster::from_files_on(&files, &WavelengthGrid::Auto, &Device::flex())?;

    let reference = read_reference(&reference_path)?;
    let missing: Vec<usize> = (0..n).filter(|i| !reference.contains_key(i)).collect();
    if !missing.is_empty() && mode != "compare" {
        eprintln!(
            "reference: paper swarm + polish for {} galaxies ({} at a time)",
            missing.len(),
            jobs
        );
        let fresh = !std::path::Path::new(&reference_path).exists();
        let file = Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&reference_path)?,
        );
        if fresh {
            writeln!(
                file.lock().unwrap(),
                "galaxy,swarm_value,reference_value,seconds"
            )?;
        }
        let done = AtomicUsize::new(0);
        let start = Instant::now();
        each_on_one_core(missing.len(), jobs, |k| {
            let i = missing[k];
            let (post, _) = mock_posterior(&model, &files.ssp, i as u64).expect("mock");
            let t = Instant::now();
            let swarm = ParticleSwarm {
                seed: i as u64,
                ..ParticleSwarm::default()
            }
            .minimize(&post)
            .expect("swarm");
            let polished = Lbfgsb::default().minimize(&post, &swarm.x).expect("polish");
            let secs = t.elapsed().as_secs_f64();
            let value = swarm.value.min(polished.value);
            writeln!(
                file.lock().unwrap(),
                "{i},{},{value},{secs:.3}",
                swarm.value
            )
            .expect("write the reference");
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!(
                "  {d}/{} ({:.0} s): galaxy {i} swarm {:.4} polished {value:.4} in {secs:.1} s",
                missing.len(),
                start.elapsed().as_secs_f64(),
                swarm.value
            );
        })?;
    }
    if mode == "reference" {
        return Ok(());
    }
    let reference = read_reference(&reference_path)?;
    let galaxies: Vec<usize> = (0..n).filter(|i| reference.contains_key(i)).collect();
    compare(&reference, &galaxies, &out, jobs, &model, &files)
}

/// galaxy → (swarm −ln p, polished −ln p, seconds) from the reference file, if there is one.
fn read_reference(path: &str) -> Result<BTreeMap<usize, (f64, f64, f64)>, Error> {
    let mut reference = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines().skip(1) {
            let v: Vec<&str> = line.split(',').collect();
            if v.len() == 4 {
                reference.insert(v[0].parse()?, (v[1].parse()?, v[2].parse()?, v[3].parse()?));
            }
        }
    }
    Ok(reference)
}

fn compare(
    reference: &BTreeMap<usize, (f64, f64, f64)>,
    galaxies: &[usize],
    out: &str,
    jobs: usize,
    model: &Starduster,
    files: &ModelFiles,
) -> Result<(), Error> {
    // Settings to try, as JSON in MULTISTART (e.g. '{"n_hops": 16}'); the defaults otherwise.
    let ms: MultiStart = match std::env::var("MULTISTART") {
        Ok(json) => serde_json::from_str(&json)?,
        Err(_) => MultiStart::default(),
    };
    let rows = Mutex::new(vec![]);
    let n = galaxies.len();
    each_on_one_core(n, jobs, |k| {
        let i = galaxies[k];
        let (post, _) = mock_posterior(model, &files.ssp, i as u64).expect("mock");
        let t = Instant::now();
        let r = MultiStart {
            seed: i as u64,
            ..ms.clone()
        }
        .minimize(&post)
        .expect("multi-start");
        let secs = t.elapsed().as_secs_f64();
        rows.lock().unwrap().push((i, r, secs));
    })?;
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|r| r.0);

    let mut f = std::fs::File::create(out)?;
    writeln!(
        f,
        "galaxy,reference_value,reference_seconds,value,delta,seconds,evaluations,searches,agree"
    )?;
    let (mut within, mut fast, mut both) = (0, 0, 0);
    let mut secs = vec![];
    let mut ref_secs = vec![];
    let mut evals = vec![];
    for (i, r, s) in &rows {
        let (_, ref_value, ref_s) = reference[i];
        let delta = r.value - ref_value;
        writeln!(
            f,
            "{i},{ref_value:.5},{ref_s:.2},{:.5},{delta:.5},{s:.3},{},{},{}",
            r.value,
            r.n_evaluations,
            r.searches.len(),
            r.agree
        )?;
        within += usize::from(delta <= 0.05);
        fast += usize::from(*s < 5.0);
        both += usize::from(delta <= 0.05 && *s < 5.0);
        secs.push(*s);
        ref_secs.push(ref_s);
        evals.push(r.n_evaluations as f64);
        if delta > 0.05 {
            let mut v: Vec<String> = r
                .searches
                .iter()
                .map(|s| format!("{:.2}", s.value))
                .collect();
            v.sort();
            eprintln!(
                "galaxy {i}: multi-start {:.4} vs reference {ref_value:.4}; searches ended at {}",
                r.value,
                v.join(" ")
            );
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let max = secs.iter().copied().fold(0.0, f64::max);
    println!(
        "{n} mock galaxies, one core each: multi-start within 0.05 of the paper swarm's −ln p: \
         {within}/{n}; under 5 s: {fast}/{n}; both: {both}/{n}"
    );
    println!(
        "multi-start: median {:.2} s (max {max:.2} s), median {:.0} evaluations; paper swarm + \
         polish: median {:.1} s",
        median(&mut secs),
        median(&mut evals),
        median(&mut ref_secs)
    );
    Ok(())
}
