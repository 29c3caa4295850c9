//! A synthetic SAM catalogue for tests and benchmarks: plausible galaxies (exponentially declining
//! disk and bulge histories with metallicity falling with age, dust masses, sizes, inclinations
//! and light-cone redshifts), written block by block so that any size fits in memory.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use galsed_io::sam::{SamChunk, write_catalogue};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::shared::progress;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output catalogue: .h5/.hdf5 or .parquet.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Number of galaxies.
    #[arg(
        short = 'n',
        long = "galaxies",
        alias = "rows",
        value_name = "N",
        default_value_t = 1_000_000
    )]
    pub rows: u64,
    /// Number of SAM age bins (log-spaced edges from 10^5.8 to 10^10.5 yr).
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Highest redshift (uniform in [0.01, z_max]).
    #[arg(long, default_value_t = 0.5)]
    pub z_max: f64,
    /// Fraction of deliberately invalid rows (negative or NaN entries), to exercise the per-row
    /// error reports.
    #[arg(long, default_value_t = 1e-4)]
    pub invalid_fraction: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Galaxies generated (and written) at once.
const BLOCK: u64 = 65_536;
/// Age of the universe at which the histories start [yr].
const T_FORM: f64 = 1.3e10;

/// One block of galaxies, column-major like the file.
struct Block {
    id: Vec<i64>,
    redshift: Vec<f64>,
    scalars: [Vec<f64>; 5],
    histories: [Vec<f64>; 4],
}

/// Log-spaced SAM age-bin edges from 10^5.8 to 10^10.5 yr (the reference tutorial's range).
pub fn age_edges(bins: usize) -> Vec<f64> {
    (0..=bins)
        .map(|k| 10f64.powf(5.8 + 4.7 * k as f64 / bins as f64))
        .collect()
}

/// Mass formed in each bin of lookback time t by SFR ∝ exp(−(T_FORM − t)/τ) for t < T_FORM,
/// normalised to `total`.
fn history(edges: &[f64], tau: f64, total: f64) -> Vec<f64> {
    let cumulative = |t: f64| {
        // ∫_0^t exp(−(T − s)/τ) ds over lookback s; nothing formed before T_FORM.
        let t = t.min(T_FORM);
        tau * ((-(T_FORM - t) / tau).exp() - (-T_FORM / tau).exp())
    };
    // Declining histories: the rate was highest at formation (lookback T_FORM) and falls to now.
    let m: Vec<f64> = edges
        .windows(2)
        .map(|w| cumulative(w[1]) - cumulative(w[0]))
        .collect();
    let sum: f64 = m.iter().sum();
    m.iter().map(|v| v / sum * total).collect()
}

fn block(first: u64, n: u64, edges: &[f64], args: &SynthArgs) -> SamChunk {
    let mut rng =
        ChaCha8Rng::seed_from_u64(args.seed ^ (first / BLOCK).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let nb = edges.len() - 1;
    let mut b = Block {
        id: (first as i64..(first + n) as i64).collect(),
        redshift: Vec::with_capacity(n as usize),
        scalars: Default::default(),
        histories: Default::default(),
    };
    for _ in 0..n {
        let log_mass: f64 = rng.random_range(8.0..11.5);
        let mass = 10f64.powf(log_mass);
        let bulge_frac: f64 = rng.random_range(0.0f64..1.0).powi(2);
        let z0: f64 = 10f64.powf(rng.random_range(-2.8..-1.6));
        // Isotropic inclinations: cos θ uniform.
        let theta = rng.random_range(0.0f64..1.0).acos().to_degrees();
        let r_disk = 10f64.powf(rng.random_range(0.0..1.1));
        let r_bulge = 10f64.powf(rng.random_range(-0.5..0.7));
        let r_dust = r_disk * 10f64.powf(rng.random_range(-0.3..0.3));
        let m_dust = mass * 10f64.powf(rng.random_range(-3.5..-2.0));
        b.redshift
            .push(rng.random_range(0.01..args.z_max.max(0.011)));
        for (v, x) in b
            .scalars
            .iter_mut()
            .zip([theta, m_dust, r_dust, r_disk, r_bulge])
        {
            v.push(x);
        }
        for (c, share) in [(0, 1.0 - bulge_frac), (2, bulge_frac)] {
            let tau = 10f64.powf(rng.random_range(8.5..10.5));
            let masses = history(edges, if c == 0 { tau } else { tau * 0.3 }, mass * share);
            for (k, m) in masses.iter().enumerate() {
                // Older stars are more metal-poor.
                let z = z0 * (1.0 - 0.6 * k as f64 / nb as f64);
                b.histories[c].push(*m);
                b.histories[c + 1].push(m * z);
            }
        }
    }
    // Deliberately broken rows: what real catalogues sometimes hold.
    let bad = ((n as f64) * args.invalid_fraction).round() as u64;
    for j in 0..bad {
        let i = rng.random_range(0..n) as usize;
        match j % 3 {
            0 => b.scalars[1][i] = -b.scalars[1][i],
            1 => b.histories[0][i * nb] = f64::NAN,
            _ => b.scalars[2][i] = 0.0,
        }
    }
    SamChunk {
        start: first,
        id: b.id,
        redshift: Some(b.redshift),
        scalars: b.scalars,
        histories: b.histories,
        n_bins: nb,
    }
}

pub fn run(args: &SynthArgs) -> Result<()> {
    if args.rows == 0 || args.bins == 0 {
        bail!("--galaxies and --bins must be ≥ 1");
    }
    if !(0.0..=1.0).contains(&args.invalid_fraction) {
        bail!("--invalid-fraction must be in [0, 1]");
    }
    let edges = age_edges(args.bins);
    let bar = progress::rate_bar(args.rows);
    let chunks = (0..args.rows).step_by(BLOCK as usize).map(|first| {
        let len = BLOCK.min(args.rows - first);
        let b = block(first, len, &edges, args);
        bar.inc(len);
        b
    });
    write_catalogue(&args.output, &edges, args.rows, chunks)?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} with {} age bins to {}",
        progress::galaxies(args.rows),
        args.bins,
        args.output.display()
    );
    Ok(())
}
