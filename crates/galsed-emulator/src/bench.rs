//! Throughput benchmark of the forward model, and the float32 peak of the CPU it runs on.
//!
//! Ratios to PyTorch are not computed here: the reference is measured on the same machine in the
//! same run by `bench/compare.sh`, and `galsed bench --torch FILE` divides by those figures.

use std::time::Instant;

use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;

use crate::inputs::{Batch, OutOfRange};
use crate::model_files::ModelFiles;
use crate::predict::{Observer, Photometry, SpectralUnits};
use crate::{Component, ModelError, N_GP, N_SSP, Starduster};

/// The 19 bands of the reference's timing runs (the tutorial filters).
pub const BENCH_FILTERS: [&str; 19] = galsed_core::filters::DEFAULT19;

/// What a benchmark call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// AB magnitudes in the 19 bands.
    Photometry,
    /// F_ν on the whole grid.
    Spectrum,
}

/// One benchmark configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Use the automatic wavelength grid instead of the base grid.
    pub auto_grid: bool,
    /// Galaxies per call.
    pub batch: usize,
    /// What each call returns.
    pub output: Output,
    /// Number of worker threads.
    pub threads: usize,
}

/// A measured configuration.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// The configuration measured.
    pub case: Case,
    /// Median wall time of one call \[s\].
    pub seconds: f64,
    /// Throughput: SEDs per second of wall time.
    pub seds_per_second: f64,
    /// Floating-point operations per SED (dense layers and matrix products).
    pub flop_per_sed: f64,
}

/// Floating-point operations per SED in the dense parts of the model (2 per multiply–add).
pub fn flop_per_sed(n_lam: usize, n_seg: usize, n_filters: usize) -> f64 {
    let mlp = |sizes: &[usize]| sizes.windows(2).map(|w| 2 * w[0] * w[1]).sum::<usize>();
    // Attenuation curves: 3 hidden layers + the fused heads (311 + 2·(35+38+34+156) + 1).
    let curve = |n_in| mlp(&[n_in, 128, 128, 128, 838]);
    let frac = |n_in| mlp(&[n_in, 128, 128, n_seg]) + 2 * N_SSP * n_seg;
    let emission = mlp(&[9, 128, 128, 128]) + 2 * 128 * (16 + 16 + 495 + 495) + 2 * 16 * 495;
    let stars = 2 * 2 * N_SSP * n_lam;
    (curve(N_GP) + curve(N_GP) + frac(N_GP) + frac(N_GP) + emission + stars + 2 * n_lam * n_filters)
        as f64
}

/// Runs one case and returns the median time of `reps` calls after a warm-up call.
pub fn measure(model: &Starduster, phot: &Photometry, case: Case, reps: usize) -> Measurement {
    let batch = synthetic_batch(case.batch);
    let call = || match case.output {
        Output::Photometry => {
            let _ = model.magnitudes(&batch, Component::Combine, phot);
        }
        Output::Spectrum => {
            let _ = model.spectrum(
                &batch,
                Component::Combine,
                SpectralUnits::Fnu,
                Observer::default(),
            );
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(case.threads)
        .build()
        .expect("a thread pool of 1–2 threads can always be built");
    let mut times: Vec<f64> = pool.install(|| {
        call();
        (0..reps.max(1))
            .map(|_| {
                let t = Instant::now();
                call();
                t.elapsed().as_secs_f64()
            })
            .collect()
    });
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let n_filters = if case.output == Output::Photometry {
        BENCH_FILTERS.len()
    } else {
        0
    };
    Measurement {
        case,
        seconds,
        seds_per_second: case.batch as f64 / seconds,
        flop_per_sed: flop_per_sed(
            model.grid().lam_eval.len(),
            model.grid().big_l_ssp.ncols(),
            n_filters,
        ),
    }
}

/// Repetitions giving a few tenths of a second per case (as the reference: 200/50/10/5).
pub fn default_reps(batch: usize) -> usize {
    match batch {
        0..=1 => 200,
        2..=64 => 50,
        65..=1024 => 10,
        _ => 5,
    }
}

/// A reproducible batch spread over the unit cube, with uniform SFHs.
pub fn synthetic_batch(n: usize) -> Batch {
    let gp = (0..n * N_GP)
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let sfh = vec![1.0 / N_SSP as f64; n * N_SSP];
    Batch::new(gp, sfh.clone(), sfh, OutOfRange::Clip).expect("synthetic inputs are valid")
}

/// Builds the model on a grid with the 19 benchmark filters.
pub fn model_for(
    files: &ModelFiles,
    auto_grid: bool,
) -> Result<(Starduster, Photometry), ModelError> {
    let grid = if auto_grid {
        WavelengthGrid::Auto
    } else {
        WavelengthGrid::Base
    };
    let model = Starduster::from_files(files, &grid)?;
    let filters = BENCH_FILTERS
        .iter()
        .map(|n| Filter::builtin(n).map_err(|e| ModelError::Input(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let phot = Photometry::new(&model, &filters, Observer::default())?;
    Ok((model, phot))
}

/// The CPU a benchmark runs on and its float32 peak per core, for "fraction of peak".
///
/// The peak is clock × float32 lanes × 2 (a fused multiply–add counts two operations) × FMA
/// pipes. Lanes come from the widest vector instruction set in the `flags` of /proc/cpuinfo:
/// `avx512f` → 16, `avx2` with `fma` → 8, `avx` without FMA → 8 (one add and one multiply pipe,
/// counted as one FMA pipe), otherwise SSE → 4 (likewise one FMA-equivalent pipe).
///
/// FMA pipes per core are not reported by the CPU, so they are assumed from the vendor and family:
/// two for Intel since Haswell (also with AVX-512 on the Xeon Gold/Platinum parts that cloud VMs run
/// on; some Xeon Bronze/Silver and client parts have only one 512-bit unit, whose peak is thus
/// overstated 2×) and for AMD Zen 2, Zen 3 and Zen 4 on 256-bit vectors; one for Zen 1/Zen+ (family
/// 23, model < 0x30: two 128-bit FMA pipes, i.e. one 256-bit) and older AMD. Zen 4 (family 25)
/// executes AVX-512 double-pumped on its 256-bit pipes, so AMD family 25 with `avx512f` counts 16
/// lanes × 1 pipe (= 8 × 2); Zen 5 (family 26) has full-width 512-bit pipes and counts 16 × 2.
///
/// The clock is the nominal one: the "@ x.xxGHz" of the model name when there is one (Intel),
/// otherwise the `cpu MHz` line of the first processor. On a virtual machine that line is the
/// host's nominal (TSC) clock; on bare metal with frequency scaling it is the current clock of that
/// core, which turbo can exceed and idle states undercut, so the fraction of peak is approximate
/// there.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuInfo {
    /// `model name` of /proc/cpuinfo, e.g. "AMD EPYC 7B13" ("unknown" when unavailable).
    pub model: String,
    /// `vendor_id`: "GenuineIntel", "AuthenticAMD", …
    pub vendor: String,
    /// `cpu family` (AMD: 23 = Zen 1/2, 25 = Zen 3/4, 26 = Zen 5).
    pub family: Option<u32>,
    /// `model` number within the family.
    pub model_number: Option<u32>,
    /// Widest float32 vector instruction set used for the peak: "avx512f", "avx2+fma", "avx",
    /// "sse".
    pub isa: &'static str,
    /// float32 lanes of one vector instruction.
    pub lanes: u32,
    /// FMA pipes per core (vector FMAs issued per cycle), assumed as documented on the type.
    pub fma_pipes: u32,
    /// Clock used for the peak \[MHz\].
    pub mhz: Option<f64>,
    /// Where the clock came from: "model name" or "cpu MHz".
    pub clock_source: &'static str,
}

impl CpuInfo {
    /// Reads /proc/cpuinfo; where it cannot be read, the instruction set comes from the running
    /// CPU's feature detection and the model and clock stay unknown (no peak).
    pub fn detect() -> Self {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| Self::from_cpuinfo(&t))
            .unwrap_or_else(Self::from_features)
    }

    /// Parses the first processor's block of a /proc/cpuinfo text (x86 keys); `None` when it has
    /// no `flags` line.
    pub fn from_cpuinfo(text: &str) -> Option<Self> {
        // The first occurrence of a key is the first processor's.
        let field = |key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let flags = field("flags")?;
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        let model = field("model name").unwrap_or_else(|| "unknown".into());
        let vendor = field("vendor_id").unwrap_or_default();
        let family = field("cpu family").and_then(|v| v.parse().ok());
        let model_number = field("model").and_then(|v| v.parse().ok());
        let (isa, lanes) = if has("avx512f") {
            ("avx512f", 16)
        } else if has("avx2") && has("fma") {
            ("avx2+fma", 8)
        } else if has("avx") {
            ("avx", 8)
        } else {
            ("sse", 4)
        };
        let fma_pipes = fma_pipes(&vendor, family, model_number, isa);
        let nominal = nominal_ghz(&model).map(|g| g * 1e3);
        let (mhz, clock_source) = match nominal {
            Some(m) => (Some(m), "model name"),
            None => (field("cpu MHz").and_then(|v| v.parse().ok()), "cpu MHz"),
        };
        Some(CpuInfo {
            model,
            vendor,
            family,
            model_number,
            isa,
            lanes,
            fma_pipes,
            mhz,
            clock_source,
        })
    }

    /// Feature detection of the running CPU only (no model name, no clock).
    fn from_features() -> Self {
        #[cfg(target_arch = "x86_64")]
        let (isa, lanes) = if std::arch::is_x86_feature_detected!("avx512f") {
            ("avx512f", 16)
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            ("avx2+fma", 8)
        } else if std::arch::is_x86_feature_detected!("avx") {
            ("avx", 8)
        } else {
            ("sse", 4)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (isa, lanes) = ("sse", 4);
        CpuInfo {
            model: "unknown".into(),
            vendor: String::new(),
            family: None,
            model_number: None,
            isa,
            lanes,
            fma_pipes: fma_pipes("", None, None, isa),
            mhz: None,
            clock_source: "unknown",
        }
    }

    /// float32 operations per cycle and core: lanes × 2 × FMA pipes.
    pub fn flop_per_cycle(&self) -> f64 {
        f64::from(self.lanes * 2 * self.fma_pipes)
    }

    /// Peak float32 FLOP/s of one core, when the clock is known.
    pub fn peak_flops_per_core(&self) -> Option<f64> {
        self.mhz.map(|m| m * 1e6 * self.flop_per_cycle())
    }

    /// One line for a table header: model, instruction set, lanes × pipes, clock and peak.
    pub fn describe(&self) -> String {
        let clock = self.mhz.map_or("clock unknown".to_string(), |m| {
            format!("{m:.0} MHz ({})", self.clock_source)
        });
        let peak = self
            .peak_flops_per_core()
            .map_or("peak unknown".to_string(), |p| {
                format!("peak {:.1} GFLOP/s per core", p / 1e9)
            });
        format!(
            "{} [{}{}], {}: {} float32 lanes × 2 (FMA) × {} pipe{}, {clock} → {peak}",
            self.model,
            self.vendor,
            self.family
                .map_or(String::new(), |f| format!(" family {f}")),
            self.isa,
            self.lanes,
            self.fma_pipes,
            if self.fma_pipes == 1 { "" } else { "s" },
        )
    }
}

/// FMA pipes per core as assumed in [`CpuInfo`]'s documentation.
fn fma_pipes(vendor: &str, family: Option<u32>, model: Option<u32>, isa: &str) -> u32 {
    let amd = vendor == "AuthenticAMD";
    match isa {
        // Zen 4 (family 25) is double-pumped; Zen 5 (26) has 512-bit pipes.
        "avx512f" if amd && family.is_none_or(|f| f < 26) => 1,
        "avx512f" => 2,
        "avx2+fma" if amd => match (family, model) {
            (Some(23), Some(m)) if m < 0x30 => 1,
            (Some(f), _) if f < 23 => 1,
            _ => 2,
        },
        "avx2+fma" => 2,
        _ => 1,
    }
}

/// The nominal clock in a model name such as "Intel(R) Xeon(R) CPU @ 2.20GHz" \[GHz\].
fn nominal_ghz(model: &str) -> Option<f64> {
    let at = model.rsplit_once('@')?.1.trim();
    at.strip_suffix("GHz")?.trim().parse().ok()
}

/// The 1-, 5- and 15-minute load averages of /proc/loadavg.
pub fn load_average() -> Option<[f64; 3]> {
    let t = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = t.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZEN3: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\
        model name\t: AMD EPYC 7B13\ncpu MHz\t\t: 2445.404\nflags\t\t: fpu sse sse2 fma avx avx2\n\n\
        processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu MHz\t\t: 1000.0\nflags\t\t: fpu sse\n";

    #[test]
    fn zen3_avx2_two_pipes_at_the_mhz_line() {
        let c = CpuInfo::from_cpuinfo(ZEN3).unwrap();
        assert_eq!(c.model, "AMD EPYC 7B13");
        assert_eq!((c.isa, c.lanes, c.fma_pipes), ("avx2+fma", 8, 2));
        assert_eq!(c.clock_source, "cpu MHz");
        let peak = c.peak_flops_per_core().unwrap();
        assert!((peak - 2445.404e6 * 32.0).abs() < 1.0);
    }

    #[test]
    fn zen4_avx512_is_double_pumped() {
        let t = ZEN3
            .replace(
                "cpu family\t: 25\nmodel\t\t: 1",
                "cpu family\t: 25\nmodel\t\t: 17",
            )
            .replace("avx avx2", "avx avx2 avx512f");
        let c = CpuInfo::from_cpuinfo(&t).unwrap();
        assert_eq!((c.isa, c.lanes, c.fma_pipes), ("avx512f", 16, 1));
        assert_eq!(c.flop_per_cycle(), 32.0);
    }

    #[test]
    fn intel_avx512_uses_the_nominal_clock_of_the_model_name() {
        let t = "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n\
            model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\ncpu MHz\t\t: 2699.998\n\
            flags\t\t: sse fma avx avx2 avx512f\n";
        let c = CpuInfo::from_cpuinfo(t).unwrap();
        assert_eq!(
            (c.lanes, c.fma_pipes, c.clock_source),
            (16, 2, "model name")
        );
        assert_eq!(c.peak_flops_per_core().unwrap(), 2.7e9 * 64.0);
        assert!(c.describe().contains("8481C"));
    }

    #[test]
    fn old_cpus_count_one_pipe() {
        let zen1 = ZEN3.replace(
            "cpu family\t: 25\nmodel\t\t: 1",
            "cpu family\t: 23\nmodel\t\t: 1",
        );
        assert_eq!(CpuInfo::from_cpuinfo(&zen1).unwrap().fma_pipes, 1);
        let zen2 = ZEN3.replace(
            "cpu family\t: 25\nmodel\t\t: 1",
            "cpu family\t: 23\nmodel\t\t: 49",
        );
        assert_eq!(CpuInfo::from_cpuinfo(&zen2).unwrap().fma_pipes, 2);
        let sse = ZEN3.replace("fma avx avx2", "");
        let c = CpuInfo::from_cpuinfo(&sse).unwrap();
        assert_eq!((c.isa, c.lanes, c.fma_pipes), ("sse", 4, 1));
        assert!(CpuInfo::from_cpuinfo("processor\t: 0\n").is_none());
    }
}
