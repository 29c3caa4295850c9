//! The `--outputs` list and the observer of `galsed sed`.

use anyhow::{Context, Result, bail};
use galsed_core::cosmology::Cosmology;
use galsed_emulator::predict::Observer;

/// What `--outputs` can ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub spectrum: bool,
    pub photometry: bool,
    pub absorption: bool,
    pub selectors: bool,
    pub attenuation: bool,
}

impl Wanted {
    pub fn parse(list: Option<&str>, have_filters: bool) -> Result<Self> {
        let Some(list) = list else {
            return Ok(Self {
                spectrum: true,
                photometry: have_filters,
                ..Self::default()
            });
        };
        let mut w = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "spectrum" => w.spectrum = true,
                "photometry" => w.photometry = true,
                "absorption" => w.absorption = true,
                "selectors" => w.selectors = true,
                "attenuation" => w.attenuation = true,
                "all" => {
                    w = Self {
                        spectrum: true,
                        photometry: have_filters,
                        absorption: true,
                        selectors: true,
                        attenuation: true,
                    }
                }
                other => bail!(
                    "unknown output {other:?} in --outputs: expected spectrum, photometry, absorption, \
                     selectors, attenuation or all"
                ),
            }
        }
        if w == Self::default() {
            bail!("--outputs {list:?} asks for nothing");
        }
        if w.photometry && !have_filters {
            bail!("--outputs photometry needs --filters (e.g. --filters default19)");
        }
        Ok(w)
    }
}

/// Above this redshift `galsed sed` warns. The emulator gives rest-frame SEDs of galaxies as the
/// paper models them in the local universe: it has no intergalactic absorption, which removes
/// light below Lyα (1216 Å rest frame) noticeably from z ≈ 1 on and so reaches GALEX and U bands,
/// and its oldest SSP (6.3 Gyr; age bins up to 14 Gyr) is older than the universe (Planck18) at
/// z ≳ 0.9. Below, only the distance modulus and the (1+z) stretch depend on z.
pub const MAX_REDSHIFT: f64 = 1.0;

/// The observer from `--redshift`, `--distmod` and `--cosmology`, and a note on where μ came from.
pub fn observer(
    redshift: f64,
    distmod: Option<f64>,
    cosmology: &str,
) -> Result<(Observer, Option<String>)> {
    Observer::new(redshift, 0.0).context("--redshift")?;
    let (c, name) = Cosmology::parse(cosmology).context("--cosmology")?;
    let (mu, note) = match distmod {
        Some(mu) => (mu, None),
        None if redshift > 0.0 => {
            let mu = c.distance_modulus(redshift).context("distance modulus")?;
            (
                mu,
                Some(format!(
                    "distance modulus at z = {redshift}: {mu:.6} mag ({name})"
                )),
            )
        }
        None => (0.0, None),
    };
    Ok((Observer::new(redshift, mu).context("--distmod")?, note))
}

/// Rest-frame V-band window of the attenuation output [Å].
pub const V_WINDOW: (f64, f64) = (5450.0, 5550.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse() {
        let w = Wanted::parse(None, true).unwrap();
        assert!(w.spectrum && w.photometry && !w.absorption);
        assert!(Wanted::parse(Some("photometry"), false).is_err());
        assert!(Wanted::parse(Some("spectra"), true).is_err());
        let w = Wanted::parse(Some("all"), false).unwrap();
        assert!(w.spectrum && !w.photometry && w.attenuation);
    }

    #[test]
    fn cosmology_and_observer() {
        let (o, note) = observer(0.05, None, "planck18").unwrap();
        // Planck18 as astropy 6.0.1 (spec §6).
        assert!(
            (o.distmod - 36.80751187885012).abs() < 1e-8,
            "{}",
            o.distmod
        );
        assert!(note.unwrap().contains("Planck18"));
        assert_eq!(
            observer(0.05, Some(30.0), "planck18").unwrap().0.distmod,
            30.0
        );
        assert_eq!(observer(0.0, None, "planck18").unwrap().0.distmod, 0.0);
        assert!(observer(0.0, None, "nonsense").is_err());
        assert!(observer(-0.1, None, "planck18").is_err());
        assert!(observer(0.1, None, "flat:70").is_err());
        assert!(observer(0.1, None, "flat:70,-0.3").is_err());
        let (o, _) = observer(0.1, None, "flat:70,0.3").unwrap();
        assert!(o.distmod > 38.0 && o.distmod < 38.5, "{}", o.distmod);
    }
}
