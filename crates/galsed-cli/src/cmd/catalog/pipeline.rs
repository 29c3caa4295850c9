//! The per-chunk computation of a catalogue run.

use anyhow::{Context, Result, anyhow};
use galsed_core::cosmology::Cosmology;
use galsed_core::sam::{AgeBins, SamConverter};
use galsed_core::units::ab_mag;
use galsed_emulator::Starduster;
use galsed_emulator::predict::{Observer, Observers};
use galsed_emulator::sam::{SamPhotometry, SamRows};
use galsed_io::sam::{ChunkResult, SamChunk, Source};

use super::args::{Frame, RunArgs};

/// Everything a worker needs to turn a chunk of catalogue rows into results.
pub struct Pipeline {
    pub model: Starduster,
    pub converter: SamConverter,
    /// One per component, in output order; the first also gives the spectra and the status.
    pub phots: Vec<SamPhotometry>,
    pub frame: Frame,
    pub cosmology: Cosmology,
    pub magnitudes: bool,
}

impl Pipeline {
    fn observer(&self, z: Option<f64>) -> Result<Observer, String> {
        if self.frame == Frame::Rest {
            return Ok(Observer::default());
        }
        let z = z.ok_or("no redshift (use --frame rest for catalogues without one)")?;
        if !(z.is_finite() && z >= 0.0) {
            return Err(format!("redshift {z} is not finite and ≥ 0"));
        }
        let mu = if z > 0.0 {
            self.cosmology
                .distance_modulus(z)
                .map_err(|e| e.to_string())?
        } else {
            0.0
        };
        Observer::new(z, mu).map_err(|e| e.to_string())
    }

    pub fn compute(&self, c: &SamChunk) -> Result<ChunkResult> {
        let n = c.len();
        let mut status = vec![String::from("ok"); n];
        let mut observers = vec![Observer::default(); n];
        let mut skip = vec![false; n];
        let mut last: Option<(f64, Observer)> = None;
        for i in 0..n {
            let z = c.redshift.as_ref().map(|z| z[i]);
            let observer = match (z, last) {
                (Some(z), Some((lz, o))) if z.to_bits() == lz.to_bits() => Ok(o),
                _ => self.observer(z),
            };
            match observer {
                Ok(o) => {
                    observers[i] = o;
                    last = z.map(|z| (z, o));
                }
                Err(e) => {
                    status[i] = format!("invalid: {e}");
                    skip[i] = true;
                }
            }
        }
        let observers = Observers::PerRow(observers);
        let rows = SamRows {
            n_bins: c.n_bins,
            scalars: c.scalars.each_ref().map(Vec::as_slice),
            histories: c.histories.each_ref().map(Vec::as_slice),
        };
        let compute = |phot: &SamPhotometry| {
            phot.compute(&self.model, &self.converter, &rows, &observers, &skip)
                .with_context(|| format!("rows {}..{}", c.start, c.start + n as u64))
        };
        let result = compute(&self.phots[0])?;
        let others = self.phots[1..]
            .iter()
            .map(|p| compute(p).map(|r| r.fluxes))
            .collect::<Result<Vec<_>>>()?;
        let fluxes: Vec<_> = std::iter::once(&result.fluxes).chain(&others).collect();
        let conv = &result.converted;
        for (i, e) in conv.errors.iter().enumerate() {
            if let Some(e) = e {
                status[i] = format!("invalid: {e}");
            }
        }
        let names = self.phots[0].names();
        let nf = names.len();
        let n_bands = nf * fluxes.len();
        let mut bands = vec![f64::NAN; n * n_bands];
        for &i in &conv.good {
            // Row i: the filters of the first component, then of the next, ….
            for (k, fl) in fluxes.iter().enumerate() {
                for b in 0..nf {
                    let f = f64::from(fl[[i, b]]);
                    bands[i * n_bands + k * nf + b] = if self.magnitudes { ab_mag(f) } else { f };
                }
            }
            // NaN fluxes are exactly the bands the model does not cover at this redshift.
            let uncovered: Vec<&str> = result
                .uncovered(i)
                .into_iter()
                .map(|b| names[b].as_str())
                .collect();
            if !uncovered.is_empty() {
                status[i] = format!(
                    "partial: outside the model at z = {}: {}",
                    observers.get(i).redshift,
                    uncovered.join(", ")
                );
            }
        }
        let redshift = match &c.redshift {
            Some(z) if self.frame == Frame::Observed => z.clone(),
            _ => vec![0.0; n],
        };
        let distmod = status
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.starts_with("invalid") {
                    f64::NAN
                } else {
                    observers.get(i).distmod
                }
            })
            .collect();
        Ok(ChunkResult {
            start: c.start,
            id: c.id.clone(),
            status,
            scalars: [redshift, distmod, conv.l_norm(), conv.b_to_t()],
            bands,
            spectra: result.spectra.map(|s| s.into_raw_vec_and_offset().0),
        })
    }
}

pub fn age_bins(args: &RunArgs, source: &dyn Source) -> Result<AgeBins> {
    match (&args.age_edges, &args.ages) {
        (Some(e), _) => Ok(AgeBins::Step(e.clone())),
        (_, Some(a)) => Ok(AgeBins::Instant(a.clone())),
        _ => source.age_bins().ok_or_else(|| {
            anyhow!(
                "{} does not store its age bins: give --age-edges (n_bins + 1 edges) or --ages \
                 (n_bins ages) in yr",
                args.input.display()
            )
        }),
    }
}
