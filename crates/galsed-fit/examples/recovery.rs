//! Recovery study (issue 3): mock galaxies drawn in the emulator's valid region, observed in 19
//! bands with 0.1 mag errors, fitted with the particle swarm and sampled with the ensemble MCMC.
//! For each parameter: the median |best fit − truth|, the median |posterior median − truth| and
//! the fraction of truths inside the 16–84 % interval (≈ 0.68 for calibrated posteriors).
//!
//! ```sh
//! cargo run --release -p galsed-fit --example recovery -- [N] [OUT.csv] [ITERATIONS] [RESTARTS] [STEPS] [SAMPLER] [OPTIMIZER] [JOBS]
//! ```
//! Defaults: 100 galaxies, recovery.csv, a swarm of 32 particles × 500 iterations × 4 restarts
//! (polished with L-BFGS-B) and an ensemble of 5000 steps (stopped early once converged);
//! SAMPLER `nested` samples with nested sampling (500 live points), `nuts` with the No-U-turn
//! sampler (its defaults: 4 chains until R̂ ≤ 1.01 and ESS ≥ 400); OPTIMIZER `multistart` finds
//! the best fit with the multi-start L-BFGS-B instead of the swarm. JOBS galaxies (default 2)
//! are fitted at a time, each on one core, so the seconds per galaxy are one core's. The
//! environment variable `SAMPLER_JSON` overrides the sampler's settings (JSON of its fields).
//! `KNOWN_THETA_DEG=σ` gives each fit the inclination as a catalogue would
//! (`[catalog.parameters] theta = { column, sigma }`): a Gaussian prior of width σ degrees around
//! the true θ plus a Gaussian error of σ (the same draws for every run).

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::prelude::Device;
use galsed_core::cosmology::Cosmology;
use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::Starduster;
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_fit::bench::each_on_one_core;
use galsed_fit::derived::Analyzer;
use galsed_fit::fit::{FitConfig, OptimizerMethod, SamplerMethod, fit_galaxy};
use galsed_fit::knowledge::internal_prior;
use galsed_fit::likelihood::{Likelihood, Observations};
use galsed_fit::mock;
use galsed_fit::params::Parametrization;
use galsed_fit::posterior::{GaussianPrior, Posterior};
use galsed_io::store;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const BANDS: [&str; 19] = galsed_core::filters::DEFAULT19;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let n: usize = arg(0, "100").parse()?;
    let out = arg(1, "recovery.csv");
    let iterations: usize = arg(2, "500").parse()?;
    let restarts: usize = arg(3, "4").parse()?;
    let steps: usize = arg(4, "5000").parse()?;
    let method = match arg(5, "ensemble").as_str() {
        "ensemble" => SamplerMethod::Ensemble,
        "nested" => SamplerMethod::Nested,
        "nuts" => SamplerMethod::Nuts,
        other => return Err(format!("unknown sampler {other:?}: ensemble, nested or nuts").into()),
    };
    let optimizer = match arg(6, "pso").as_str() {
        "pso" => OptimizerMethod::Pso,
        "multistart" => OptimizerMethod::Multistart,
        other => return Err(format!("unknown optimizer {other:?}: pso or multistart").into()),
    };
    let jobs: usize = arg(7, "2").parse()?;

    let dir = store::resolve_model_dir(None)?;
    let files = ModelFiles::load(&dir.path)?;
    let model = Starduster::from_files_on(&files, &WavelengthGrid::Auto, &Device::flex())?;
    let param = Parametrization::tutorial(&files.ssp);
    let analyzer = Analyzer::new(&model, &files.ssp)?;
    let filters: Vec<Filter> = BANDS
        .iter()
        .map(|b| Filter::builtin(b))
        .collect::<Result<_, _>>()?;
    let z = 0.02;
    let observer = Observer::new(z, Cosmology::planck18().distance_modulus(z)?)?;
    let phot = Photometry::new(&model, &filters, observer)?;
    let mut rng = ChaCha8Rng::seed_from_u64(2022);
    let truth = mock::draw_valid(&model, &param, n, 10_000_000, &mut rng)?;
    let (mags, _) = mock::observe_magnitudes(&model, &param, &phot, &truth, 0.1, &mut rng)?;

    let mut config = FitConfig::default();
    config.optimizer.pso.n_iterations = iterations;
    config.optimizer.pso.n_restarts = restarts;
    config.optimizer.method = optimizer;
    config.sampler.method = method;
    config.sampler.ensemble.n_steps = steps;
    config.sampler.n_derived = 1;
    // SAMPLER_JSON: settings of the nested or NUTS sampler, e.g. {"n_live": 250, "walks": 50}.
    if let Ok(json) = std::env::var("SAMPLER_JSON") {
        match method {
            SamplerMethod::Nested => config.sampler.nested = serde_json::from_str(&json)?,
            SamplerMethod::Nuts => config.sampler.nuts = serde_json::from_str(&json)?,
            _ => config.sampler.ensemble = serde_json::from_str(&json)?,
        }
    }
    // A measured inclination per galaxy: truth + N(0, σ) degrees, clamped to [0, 90].
    let known_theta: Option<(f64, Vec<f64>)> = match std::env::var("KNOWN_THETA_DEG") {
        Ok(v) => {
            let sigma: f64 = v.parse()?;
            let mut noise_rng = ChaCha8Rng::seed_from_u64(628);
            let theta = &galsed_core::params::GALAXY_PARAMS[0];
            let j = param.index_of("theta").ok_or("theta is not free")?;
            let measured = (0..n)
                .map(|i| {
                    let e: f64 = rand_distr::Distribution::sample(
                        &rand_distr::StandardNormal,
                        &mut noise_rng,
                    );
                    (theta.from_unit(truth[[i, j]]) + sigma * e).clamp(0.0, 90.0)
                })
                .collect();
            Some((sigma, measured))
        }
        Err(_) => None,
    };
    let names = param.names();
    let bands: Vec<String> = BANDS.iter().map(|s| s.to_string()).collect();
    let done = AtomicUsize::new(0);
    let start = Instant::now();
    let results = Mutex::new(Vec::with_capacity(n));
    each_on_one_core(n, jobs, |i| {
        let mut cfg = config.clone();
        cfg.optimizer.pso.seed = i as u64;
        cfg.sampler.ensemble.seed = i as u64;
        cfg.sampler.nested.seed = i as u64;
        cfg.sampler.nuts.seed = i as u64;
        cfg.optimizer.multistart.seed = i as u64;
        if let Some((sigma, measured)) = &known_theta {
            let (mean, sigma) = internal_prior("theta", measured[i], *sigma).unwrap();
            cfg.prior.gaussian.push(GaussianPrior {
                name: "theta".into(),
                mean,
                sigma,
            });
        }
        let obs = Observations::magnitudes(&bands, mags.row(i).as_slice().unwrap(), 0.1).unwrap();
        let like = Likelihood::new(obs, cfg.likelihood.clone()).unwrap();
        let post =
            Posterior::new(&model, param.clone(), &filters, observer, like, &cfg.prior).unwrap();
        let t = Instant::now();
        let r = fit_galaxy(&post, &analyzer, &cfg, &mut |_, _, _| {});
        let secs = t.elapsed().as_secs_f64();
        let k = done.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!("{k}/{n} galaxies ({:.0} s)", start.elapsed().as_secs_f64());
        results.lock().unwrap().push((i, r, secs));
    })?;
    let mut results = results.into_inner()?;
    results.sort_by_key(|r| r.0);

    let mut f = std::fs::File::create(&out)?;
    let mut header = vec![
        "galaxy".to_string(),
        "seconds".into(),
        "chi2".into(),
        "converged".into(),
        "tau_max".into(),
        "acceptance".into(),
        "evaluations".into(),
        "rhat_max".into(),
        "ess_min".into(),
    ];
    for nme in &names {
        header.extend([
            format!("truth_{nme}"),
            format!("best_{nme}"),
            format!("{nme}_p16"),
            format!("{nme}_p50"),
            format!("{nme}_p84"),
        ]);
    }
    writeln!(f, "{}", header.join(","))?;
    let p = names.len();
    let (mut abs_best, mut abs_med, mut inside, mut inside2) = (
        vec![vec![]; p],
        vec![vec![]; p],
        vec![0usize; p],
        vec![0usize; p],
    );
    let (mut n_ok, mut n_conv, mut secs) = (0usize, 0usize, vec![]);
    for (i, r, s) in &results {
        let Ok(r) = r else {
            eprintln!("galaxy {i}: {}", r.as_ref().err().unwrap());
            continue;
        };
        let post = r.posterior.as_ref().expect("sampler ran");
        n_ok += 1;
        n_conv += usize::from(post.converged);
        secs.push(*s);
        let mut row = vec![
            i.to_string(),
            format!("{s:.2}"),
            format!("{:.3}", r.chi2),
            post.converged.to_string(),
            format!("{:.1}", post.tau_max.unwrap_or(f64::NAN)),
            format!("{:.3}", post.acceptance),
            post.n_evaluations.to_string(),
            format!("{:.4}", post.rhat_ess.map_or(f64::NAN, |r| r.0)),
            format!("{:.0}", post.rhat_ess.map_or(f64::NAN, |r| r.1)),
        ];
        for j in 0..p {
            let t = truth[[*i, j]];
            let (lo, med, hi) = (
                post.summary.p16[j],
                post.summary.median[j],
                post.summary.p84[j],
            );
            row.extend(
                [t, r.best[j], lo, med, hi]
                    .iter()
                    .map(|v| format!("{v:.5}")),
            );
            abs_best[j].push((r.best[j] - t).abs());
            abs_med[j].push((med - t).abs());
            inside[j] += usize::from(lo <= t && t <= hi);
            // ±2σ as twice the 16–84 % half-width around the median.
            inside2[j] += usize::from((t - med).abs() <= hi - lo);
        }
        writeln!(f, "{}", row.join(","))?;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    };
    println!(
        "{n_ok} of {n} galaxies fitted, {n_conv} samplers converged, median {:.1} s per galaxy (max {:.1})",
        median(&mut secs),
        secs.iter().copied().fold(0.0, f64::max)
    );
    let pairs = (n_ok * p).max(1) as f64;
    println!(
        "coverage over all (galaxy, parameter) pairs: 16–84 % {:.3}, ±2σ {:.3}",
        inside.iter().sum::<usize>() as f64 / pairs,
        inside2.iter().sum::<usize>() as f64 / pairs
    );
    println!(
        "| parameter | range | median abs(best − truth) | median abs(posterior median − truth) | truths inside 16–84 % |"
    );
    println!("|---|---|---:|---:|---:|");
    for (j, nme) in names.iter().enumerate() {
        let (lo, hi) = param.bounds()[j];
        println!(
            "| {nme} | {lo:.2} … {hi:.2} | {:.3} | {:.3} | {:.2} |",
            median(&mut abs_best[j]),
            median(&mut abs_med[j]),
            inside[j] as f64 / n_ok.max(1) as f64
        );
    }
    Ok(())
}
