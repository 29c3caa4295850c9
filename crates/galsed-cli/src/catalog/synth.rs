//! A synthetic SAM catalogue for tests and benchmarks: plausible galaxies (exponentially declining
//! disk and bulge histories with metallicity falling with age, dust masses, sizes, inclinations
//! and light-cone redshifts), written block by block so that any size fits in memory.

use std::fs::File;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{ArrayRef, FixedSizeListArray, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SynthArgs;
use super::source::{HISTORIES, SCALARS};

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

fn block(first: u64, n: u64, edges: &[f64], args: &SynthArgs) -> Block {
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
    b
}

pub fn run(args: &SynthArgs) -> Result<()> {
    if args.rows == 0 || args.bins == 0 {
        bail!("--rows and --bins must be ≥ 1");
    }
    if !(0.0..=1.0).contains(&args.invalid_fraction) {
        bail!("--invalid-fraction must be in [0, 1]");
    }
    let edges = age_edges(args.bins);
    let format = galsed_io::Format::from_path(&args.output).ok();
    let bar = crate::progress::rate_bar(args.rows);
    let blocks = (0..args.rows)
        .step_by(BLOCK as usize)
        .map(|first| (first, BLOCK.min(args.rows - first)));
    match format {
        Some(galsed_io::Format::Hdf5) => write_hdf5(args, &edges, blocks, &bar),
        Some(galsed_io::Format::Parquet) => write_parquet(args, &edges, blocks, &bar),
        _ => bail!(
            "{}: the catalogue must be .h5/.hdf5 or .parquet",
            args.output.display()
        ),
    }
    .with_context(|| format!("writing {}", args.output.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} galaxies with {} age bins to {}",
        args.rows,
        args.bins,
        args.output.display()
    );
    Ok(())
}

fn write_hdf5(
    args: &SynthArgs,
    edges: &[f64],
    blocks: impl Iterator<Item = (u64, u64)>,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    use ndarray::{ArrayView2, s};
    let h5 = |e: hdf5_metno::Error| anyhow!("HDF5: {e}");
    let n = args.rows as usize;
    let nb = args.bins;
    let file = hdf5_metno::File::create(&args.output).map_err(h5)?;
    file.new_dataset_builder()
        .with_data(edges)
        .create("age_edges")
        .map_err(h5)?;
    let id = file
        .new_dataset::<i64>()
        .shape(n)
        .create("id")
        .map_err(h5)?;
    let z = file
        .new_dataset::<f64>()
        .shape(n)
        .create("redshift")
        .map_err(h5)?;
    let scalars: Vec<_> = SCALARS
        .iter()
        .map(|c| file.new_dataset::<f64>().shape(n).create(*c).map_err(h5))
        .collect::<Result<_>>()?;
    let histories: Vec<_> = HISTORIES
        .iter()
        .map(|c| {
            file.new_dataset::<f64>()
                .shape((n, nb))
                .create(*c)
                .map_err(h5)
        })
        .collect::<Result<_>>()?;
    for (first, len) in blocks {
        let b = block(first, len, edges, args);
        let rows = first as usize..(first + len) as usize;
        id.write_slice(&b.id, s![rows.clone()]).map_err(h5)?;
        z.write_slice(&b.redshift, s![rows.clone()]).map_err(h5)?;
        for (d, v) in scalars.iter().zip(&b.scalars) {
            d.write_slice(v, s![rows.clone()]).map_err(h5)?;
        }
        for (d, v) in histories.iter().zip(&b.histories) {
            let view = ArrayView2::from_shape((len as usize, nb), v)?;
            d.write_slice(view, s![rows.clone(), ..]).map_err(h5)?;
        }
        bar.inc(len);
    }
    Ok(())
}

fn write_parquet(
    args: &SynthArgs,
    edges: &[f64],
    blocks: impl Iterator<Item = (u64, u64)>,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let nb = args.bins as i32;
    let item = Arc::new(Field::new("item", DataType::Float64, false));
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("redshift", DataType::Float64, false),
    ];
    fields.extend(
        SCALARS
            .iter()
            .map(|c| Field::new(*c, DataType::Float64, false)),
    );
    fields.extend(
        HISTORIES
            .iter()
            .map(|c| Field::new(*c, DataType::FixedSizeList(item.clone(), nb), false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "galsed.age_edges".into(),
            serde_json::to_string(edges)?,
        )]))
        .build();
    let mut w = ArrowWriter::try_new(File::create(&args.output)?, schema.clone(), Some(props))?;
    for (first, len) in blocks {
        let b = block(first, len, edges, args);
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(b.id)),
            Arc::new(Float64Array::from(b.redshift)),
        ];
        arrays.extend(
            b.scalars
                .into_iter()
                .map(|v| Arc::new(Float64Array::from(v)) as ArrayRef),
        );
        for v in b.histories {
            let values = Arc::new(Float64Array::from(v));
            arrays.push(Arc::new(FixedSizeListArray::try_new(
                item.clone(),
                nb,
                values,
                None,
            )?));
        }
        w.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        bar.inc(len);
    }
    w.close()?;
    Ok(())
}
