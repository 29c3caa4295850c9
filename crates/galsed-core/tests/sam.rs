//! The SAM converter (spec §5.6) against the reference's `golden/sam_*.npz` and
//! `test_pickles/test_sam.npz`, plus its per-row errors and edge cases.
//!
//! The converter copies the reference's precision step by step, so the float32 outputs
//! (age matrix, light fractions, luminosities) must agree bit for bit; gp is compared after the
//! float32 rounding the reference applies (it goes through cos/log10, whose last float64 bit may
//! differ between math libraries, hence ≤ 1 float32 ulp).

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use galsed_core::sam::{AgeBins, SamConverter, SamError, SamGalaxy, SamInputs, UNIT_BELOW_RANGE};
use galsed_core::ssp::SspLibrary;
use ndarray::{Array2, ArrayD, Ix2, OwnedRepr};
use ndarray_npy::NpzReader;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster")
}

fn library() -> SspLibrary {
    SspLibrary::from_npz(reference_dir().join("ssp/ssp_library.npz"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// All float32/float64 members of an npz file, as float64 (exact for float32 members).
fn npz(rel: &str) -> HashMap<String, ArrayD<f64>> {
    let path = reference_dir().join(rel);
    let mut r =
        NpzReader::new(File::open(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))).expect("npz");
    let mut out = HashMap::new();
    for name in r.names().expect("names") {
        let a = if let Ok(a) = r.by_name::<OwnedRepr<f32>, _>(&name) {
            a.mapv(f64::from)
        } else {
            r.by_name::<OwnedRepr<f64>, _>(&name)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        out.insert(name.trim_end_matches(".npy").to_string(), a);
    }
    out
}

fn get1(m: &HashMap<String, ArrayD<f64>>, k: &str) -> Vec<f64> {
    m.get(k)
        .unwrap_or_else(|| panic!("missing {k}"))
        .iter()
        .copied()
        .collect()
}

fn get2(m: &HashMap<String, ArrayD<f64>>, k: &str) -> Array2<f64> {
    m.get(k)
        .unwrap_or_else(|| panic!("missing {k}"))
        .clone()
        .into_dimensionality::<Ix2>()
        .expect("2-D")
}

/// Distance in float32 ulps (both values must be float32-representable).
fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

struct Sam {
    theta: Vec<f64>,
    m_dust: Vec<f64>,
    r_dust: Vec<f64>,
    r_disk: Vec<f64>,
    r_bulge: Vec<f64>,
    hist: [Array2<f64>; 4],
}

impl Sam {
    fn load(m: &HashMap<String, ArrayD<f64>>) -> Self {
        Sam {
            theta: get1(m, "theta"),
            m_dust: get1(m, "m_dust"),
            r_dust: get1(m, "r_dust"),
            r_disk: get1(m, "r_disk"),
            r_bulge: get1(m, "r_bulge"),
            hist: [
                "sfh_mass_disk",
                "sfh_metal_mass_disk",
                "sfh_mass_bulge",
                "sfh_metal_mass_bulge",
            ]
            .map(|k| get2(m, k)),
        }
    }

    fn len(&self) -> usize {
        self.theta.len()
    }

    fn galaxy(&self, i: usize) -> SamGalaxy<'_> {
        let h = |k: usize| self.hist[k].row(i).to_slice().expect("contiguous");
        SamGalaxy {
            theta_deg: self.theta[i],
            m_dust: self.m_dust[i],
            r_dust: self.r_dust[i],
            r_disk: self.r_disk[i],
            r_bulge: self.r_bulge[i],
            mass_disk: h(0),
            metal_disk: h(1),
            mass_bulge: h(2),
            metal_bulge: h(3),
        }
    }
}

/// Worst ulp distance per output, for the report.
#[derive(Default, Debug)]
struct Worst {
    gp: u32,
    sfh: u32,
    l_norm: u32,
}

fn compare(
    name: &str,
    conv: &SamConverter,
    gold: &HashMap<String, ArrayD<f64>>,
    with_l_norm: bool,
) -> Worst {
    let sam = Sam::load(gold);
    let mut worst = Worst::default();
    let want_gp = get2(gold, "gp");
    let want_sfh = [get2(gold, "sfh_disk"), get2(gold, "sfh_bulge")];
    for i in 0..sam.len() {
        let out = conv
            .convert(&sam.galaxy(i))
            .unwrap_or_else(|e| panic!("{name} row {i}: {e}"));
        for (c, (&got, &want)) in out.gp.iter().zip(want_gp.row(i)).enumerate() {
            let d = ulps(got as f32, want as f32);
            assert!(d <= 1, "{name} gp[{i}, {c}]: {got} vs {want} ({d} ulps)");
            worst.gp = worst.gp.max(d);
        }
        for (comp, got) in [&out.sfh_disk, &out.sfh_bulge].into_iter().enumerate() {
            for (k, (&g, &w)) in got.iter().zip(want_sfh[comp].row(i)).enumerate() {
                assert_eq!(g as f32 as f64, g, "sfh values are float32");
                let d = ulps(g as f32, w as f32);
                assert_eq!(
                    d,
                    0,
                    "{name} sfh_{}[{i}, {k}]: {g} vs {w}",
                    ["disk", "bulge"][comp]
                );
                worst.sfh = worst.sfh.max(d);
            }
        }
        if with_l_norm {
            for (key, got) in [
                ("l_norm_disk", out.l_norm_disk),
                ("l_norm_bulge", out.l_norm_bulge),
            ] {
                let want = get1(gold, key)[i];
                let d = ulps(got as f32, want as f32);
                assert_eq!(d, 0, "{name} {key}[{i}]: {got} vs {want}");
                worst.l_norm = worst.l_norm.max(d);
            }
        }
    }
    worst
}

fn check_tau_matrix(name: &str, conv: &SamConverter, gold: &HashMap<String, ArrayD<f64>>) -> u32 {
    let want = get2(gold, "tau_matrix");
    assert_eq!(
        conv.tau_matrix().dim(),
        want.dim(),
        "{name} tau_matrix shape"
    );
    let mut worst = 0;
    for ((i, j), &w) in want.indexed_iter() {
        let d = ulps(conv.tau_matrix()[[i, j]], w as f32);
        assert_eq!(
            d,
            0,
            "{name} tau_matrix[{i}, {j}]: {} vs {w}",
            conv.tau_matrix()[[i, j]]
        );
        worst = worst.max(d);
    }
    worst
}

#[test]
fn golden_files_are_reproduced_bit_for_bit() {
    let lib = library();
    // Settings of golden/index_fitting_sam.json.
    for (file, frac_recycle, instant) in [
        ("sam_tutorial", 0.0, false),
        ("sam_test", 0.44, false),
        ("sam_instant", 0.0, true),
    ] {
        let gold = npz(&format!("golden/{file}.npz"));
        let bins = get1(&gold, "age_bins");
        let ages = if instant {
            AgeBins::Instant(bins)
        } else {
            AgeBins::Step(bins)
        };
        let conv = SamConverter::new(&lib, ages, frac_recycle).unwrap();
        assert_eq!(conv.n_bins(), get2(&gold, "sfh_mass_disk").ncols());
        let tau = check_tau_matrix(file, &conv, &gold);
        let worst = compare(file, &conv, &gold, true);
        eprintln!("{file}: worst float32 ulps: tau_matrix {tau}, {worst:?}");
    }
}

#[test]
fn package_test_pickle_is_reproduced() {
    // test_sam.npz: SemiAnalyticConventer(from_builtin(), logspace(5.8, 10.5, 11), frac_recycle=0.44);
    // golden/sam_test.npz stores the same bins as `age_bins`.
    let lib = library();
    let bins = get1(&npz("golden/sam_test.npz"), "age_bins");
    let want: Vec<f64> = (0..11)
        .map(|i| 10f64.powf(5.8 + 0.47 * f64::from(i)))
        .collect();
    for (a, b) in bins.iter().zip(&want) {
        assert!((a / b - 1.0).abs() < 1e-14);
    }
    let conv = SamConverter::new(&lib, AgeBins::Step(bins), 0.44).unwrap();
    let worst = compare("test_sam", &conv, &npz("test_pickles/test_sam.npz"), false);
    eprintln!("test_sam: worst float32 ulps {worst:?}");
}

/// A plain galaxy on the tutorial bins, for the edge-case tests.
struct Fixture {
    conv: SamConverter,
    mass: Vec<f64>,
    metal: Vec<f64>,
}

fn fixture() -> Fixture {
    let bins: Vec<f64> = (0..11)
        .map(|i| 10f64.powf(5.8 + 0.47 * f64::from(i)))
        .collect();
    let conv = SamConverter::new(&library(), AgeBins::Step(bins), 0.0).unwrap();
    let mass: Vec<f64> = (0..10).map(|i| 1e6 * (1.0 + f64::from(i))).collect();
    let metal: Vec<f64> = mass.iter().map(|m| 0.01 * m).collect();
    Fixture { conv, mass, metal }
}

impl Fixture {
    fn galaxy(&self) -> SamGalaxy<'_> {
        SamGalaxy {
            theta_deg: 45.0,
            m_dust: 1e7,
            r_dust: 5.0,
            r_disk: 3.0,
            r_bulge: 1.0,
            mass_disk: &self.mass,
            metal_disk: &self.metal,
            mass_bulge: &self.mass,
            metal_bulge: &self.metal,
        }
    }

    fn err(&self, g: &SamGalaxy<'_>) -> String {
        match self.conv.convert(g) {
            Err(SamError::InvalidRow(msg)) => msg,
            other => panic!("expected InvalidRow, got {other:?}"),
        }
    }
}

#[test]
fn invalid_rows_are_refused_naming_the_field() {
    let f = fixture();
    assert!(f.conv.convert(&f.galaxy()).is_ok());
    let cases: Vec<(SamGalaxy<'_>, &str)> = vec![
        (
            SamGalaxy {
                theta_deg: f64::NAN,
                ..f.galaxy()
            },
            "theta",
        ),
        (
            SamGalaxy {
                m_dust: f64::INFINITY,
                ..f.galaxy()
            },
            "m_dust",
        ),
        (
            SamGalaxy {
                m_dust: -1.0,
                ..f.galaxy()
            },
            "m_dust",
        ),
        (
            SamGalaxy {
                r_dust: 0.0,
                ..f.galaxy()
            },
            "r_dust",
        ),
        (
            SamGalaxy {
                r_dust: -2.0,
                ..f.galaxy()
            },
            "r_dust",
        ),
        (
            SamGalaxy {
                r_disk: 0.0,
                ..f.galaxy()
            },
            "r_disk",
        ),
        (
            SamGalaxy {
                r_disk: f64::NEG_INFINITY,
                ..f.galaxy()
            },
            "r_disk",
        ),
        (
            SamGalaxy {
                r_bulge: -0.5,
                ..f.galaxy()
            },
            "r_bulge",
        ),
        (
            SamGalaxy {
                r_bulge: f64::NAN,
                ..f.galaxy()
            },
            "r_bulge",
        ),
        (
            SamGalaxy {
                mass_disk: &f.mass[..9],
                ..f.galaxy()
            },
            "mass_disk",
        ),
        (
            SamGalaxy {
                metal_bulge: &[0.0; 11],
                ..f.galaxy()
            },
            "metal_bulge",
        ),
    ];
    for (g, field) in cases {
        let msg = f.err(&g);
        assert!(msg.contains(field), "message {msg:?} should name {field}");
    }
    let mut bad = f.mass.clone();
    bad[3] = -1.0;
    let msg = f.err(&SamGalaxy {
        mass_bulge: &bad,
        ..f.galaxy()
    });
    assert!(
        msg.contains("mass_bulge[3]") && msg.contains("negative"),
        "{msg}"
    );
    bad[3] = f64::NAN;
    let msg = f.err(&SamGalaxy {
        metal_disk: &bad,
        ..f.galaxy()
    });
    assert!(
        msg.contains("metal_disk[3]") && msg.contains("not finite"),
        "{msg}"
    );
    // No stars at all: the reference's b_to_t is 0/0.
    let zero = vec![0.0; 10];
    let msg = f.err(&SamGalaxy {
        mass_disk: &zero,
        mass_bulge: &zero,
        metal_disk: &zero,
        metal_bulge: &zero,
        ..f.galaxy()
    });
    assert!(msg.contains("no stars"), "{msg}");
    // Masses whose light overflows float32.
    let huge = vec![1e300; 10];
    let msg = f.err(&SamGalaxy {
        mass_disk: &huge,
        ..f.galaxy()
    });
    assert!(msg.contains("disk") && msg.contains("overflow"), "{msg}");
    // m_dust = 0 with an r_dust whose square underflows: the reference's den_dust is 0/0.
    let msg = f.err(&SamGalaxy {
        m_dust: 0.0,
        r_dust: 1e-200,
        ..f.galaxy()
    });
    assert!(msg.contains("den_dust"), "{msg}");
}

#[test]
fn zero_dust_zero_bulge_radius_and_empty_components_behave_as_the_reference() {
    let f = fixture();
    let base = f.conv.convert(&f.galaxy()).unwrap();
    // Zero dust: the reference's log10(0) = −∞ is clipped by the adapter to −(1 − 1e−6); −1 clips
    // to the same value. Nothing else changes.
    let no_dust = f
        .conv
        .convert(&SamGalaxy {
            m_dust: 0.0,
            ..f.galaxy()
        })
        .unwrap();
    assert_eq!(no_dust.gp[1], UNIT_BELOW_RANGE);
    assert_eq!(no_dust.gp[1], -1.0);
    assert_eq!(no_dust.sfh_disk, base.sfh_disk);
    assert_eq!(
        [no_dust.gp[0], no_dust.gp[2], no_dust.gp[5]],
        [base.gp[0], base.gp[2], base.gp[5]]
    );
    // Tiny but non-zero dust: an unclipped value below −1, as the reference.
    let little = f
        .conv
        .convert(&SamGalaxy {
            m_dust: 1.0,
            ..f.galaxy()
        })
        .unwrap();
    assert!(little.gp[1] < -2.0 && little.gp[1].is_finite());
    // r_bulge = 0 (no bulge size): also −∞ in the reference.
    let g = f
        .conv
        .convert(&SamGalaxy {
            r_bulge: 0.0,
            ..f.galaxy()
        })
        .unwrap();
    assert_eq!(g.gp[4], UNIT_BELOW_RANGE);
    // A component without stars: uniform SFH 1/36 (float32), zero luminosity, b_to_t = 0 or 1.
    let zero = vec![0.0; 10];
    let disk_only = f
        .conv
        .convert(&SamGalaxy {
            mass_bulge: &zero,
            metal_bulge: &zero,
            ..f.galaxy()
        })
        .unwrap();
    assert_eq!(disk_only.l_norm_bulge, 0.0);
    assert_eq!(disk_only.sfh_bulge, [f64::from((1.0f64 / 36.0) as f32); 36]);
    assert_eq!(disk_only.sfh_disk, base.sfh_disk);
    assert_eq!(disk_only.gp[6], -1.0);
    assert_eq!(disk_only.b_to_t(), 0.0);
    let bulge_only = f
        .conv
        .convert(&SamGalaxy {
            mass_disk: &zero,
            metal_disk: &f.metal,
            ..f.galaxy()
        })
        .unwrap();
    assert_eq!(bulge_only.l_norm_disk, 0.0);
    assert_eq!(bulge_only.gp[6], 1.0);
    assert_eq!(bulge_only.l_norm(), bulge_only.l_norm_bulge);
    // Any finite θ is accepted, as cos is (θ > 90° gives u < −1, clipped to edge-on later).
    let g = f
        .conv
        .convert(&SamGalaxy {
            theta_deg: 120.0,
            ..f.galaxy()
        })
        .unwrap();
    assert!((g.gp[0] + 2.0).abs() < 1e-12);
    // Z above the library range is clamped to the most metal-rich SSPs (metal > mass accepted).
    let rich: Vec<f64> = f.mass.iter().map(|m| 2.0 * m).collect();
    let g = f
        .conv
        .convert(&SamGalaxy {
            metal_disk: &rich,
            ..f.galaxy()
        })
        .unwrap();
    assert!(
        g.sfh_disk[..30].iter().all(|&v| v == 0.0) && g.sfh_disk[30..].iter().all(|&v| v > 0.0)
    );
    // Zero metals: the most metal-poor SSPs.
    let g = f
        .conv
        .convert(&SamGalaxy {
            metal_disk: &zero,
            ..f.galaxy()
        })
        .unwrap();
    assert!(g.sfh_disk[6..].iter().all(|&v| v == 0.0));
}

#[test]
fn recycling_scales_masses_and_metals() {
    let bins: Vec<f64> = (0..11)
        .map(|i| 10f64.powf(5.8 + 0.47 * f64::from(i)))
        .collect();
    let lib = library();
    let f = fixture();
    let plain = f.conv.convert(&f.galaxy()).unwrap();
    let half = SamConverter::new(&lib, AgeBins::Step(bins), 0.5).unwrap();
    assert_eq!(half.frac_recycle(), 0.5);
    let g = half.convert(&f.galaxy()).unwrap();
    // Twice the mass at the same metallicity: same light fractions, twice the luminosity.
    assert_eq!(g.sfh_disk, plain.sfh_disk);
    assert!((g.l_norm_disk / plain.l_norm_disk - 2.0).abs() < 1e-6);
}

#[test]
fn ages_outside_the_library() {
    let lib = library();
    let (first, last) = (lib.tau_edges[0], *lib.tau_edges.last().unwrap());
    // Step bins partly outside: the excess goes to the first/last library bin; rows sum to 1.
    let conv = SamConverter::new(&lib, AgeBins::Step(vec![1e4, 3e6, 1e9, 1e11]), 0.0).unwrap();
    let m = conv.tau_matrix();
    assert_eq!(m.row(0).to_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    // [1e9, 1e11]: the part above the last edge (1.4e10) counts for the last library bin.
    let want = (1e11 - f64::from(lib.tau_edges[5] as f32)) / (1e11 - 1e9);
    assert!((f64::from(m[[2, 5]]) - want).abs() < 1e-7 && m[[2, 4]] > 0.0);
    for r in m.rows() {
        assert!((r.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-6);
    }
    // Step bins entirely outside are refused, as by the reference.
    for edges in [
        vec![1e3, first],
        vec![1e3, 1e4, 1e7],
        vec![1e9, last * 1.01, last * 2.0],
    ] {
        match SamConverter::new(&lib, AgeBins::Step(edges.clone()), 0.0) {
            Err(SamError::AgeBins(msg)) => assert!(msg.contains("entirely"), "{msg}"),
            other => panic!("{edges:?}: {other:?}"),
        }
    }
    // A bin starting exactly at the last edge (its float32 value, as the reference compares) is
    // (degenerately) accepted by the reference.
    let last = f64::from(last as f32);
    let conv = SamConverter::new(&lib, AgeBins::Step(vec![1e9, last, 2.0 * last]), 0.0).unwrap();
    assert_eq!(conv.tau_matrix()[[1, 5]], 1.0);
    // Instant ages outside the library ages are clamped to the first/last age; library ages
    // themselves (their float32 values, which the reference uses) are one-hot.
    let tau: Vec<f64> = lib.tau.iter().map(|&t| f64::from(t as f32)).collect();
    let ages = vec![1e3, tau[0], tau[1], 3e7, tau[5], 1e12];
    let conv = SamConverter::new(&lib, AgeBins::Instant(ages), 0.0).unwrap();
    let m = conv.tau_matrix();
    let one_hot = |r: usize, c: usize| (0..6).all(|j| m[[r, j]] == if j == c { 1.0 } else { 0.0 });
    for (row, col) in [(0, 0), (1, 0), (2, 1), (4, 5), (5, 5)] {
        assert!(one_hot(row, col), "row {row}: {:?}", m.row(row));
    }
    assert!(m[[3, 1]] > 0.0 && m[[3, 2]] > 0.0 && (m[[3, 1]] + m[[3, 2]] - 1.0).abs() < 1e-6);
}

#[test]
fn bad_bins_and_recycling_fractions_are_refused() {
    let lib = library();
    let ok = vec![1e6, 1e8, 1e10];
    for frac in [1.0, 1.5, -0.1, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(
                SamConverter::new(&lib, AgeBins::Step(ok.clone()), frac),
                Err(SamError::FracRecycle(_))
            ),
            "{frac}"
        );
    }
    assert!(SamConverter::new(&lib, AgeBins::Step(ok.clone()), 0.999).is_ok());
    let bad: Vec<AgeBins> = vec![
        AgeBins::Step(vec![]),
        AgeBins::Step(vec![1e8]),
        AgeBins::Step(vec![1e6, f64::NAN, 1e9]),
        AgeBins::Step(vec![1e6, 1e9, 1e9]),
        AgeBins::Step(vec![1e9, 1e6]),
        AgeBins::Instant(vec![]),
        AgeBins::Instant(vec![1e7, f64::INFINITY]),
        AgeBins::Instant(vec![1e8, 1e7]),
    ];
    for b in bad {
        assert!(
            matches!(
                SamConverter::new(&lib, b.clone(), 0.0),
                Err(SamError::AgeBins(_))
            ),
            "{b:?}"
        );
    }
    // A library without 36 SSPs cannot feed the emulator.
    let mut small = lib.clone();
    small.met.truncate(5);
    small.norm = small.norm.slice(ndarray::s![..5, ..]).to_owned();
    assert!(matches!(
        SamConverter::new(&small, AgeBins::Step(ok), 0.0),
        Err(SamError::Library(_))
    ));
}

#[test]
fn conversion_throughput() {
    // Not a benchmark, a guard against accidental slowness: 10⁶ galaxies a minute need ≤ 60 µs
    // each; the converter takes well under 1 µs in release builds.
    let f = fixture();
    let g = f.galaxy();
    let n = 20_000;
    let t = Instant::now();
    let mut acc = 0.0;
    for _ in 0..n {
        let out: SamInputs = f.conv.convert(std::hint::black_box(&g)).unwrap();
        acc += out.gp[5];
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    eprintln!("convert: {:.3} µs per galaxy ({acc:.1})", per * 1e6);
    assert!(per < 60e-6, "{per} s per galaxy");
}
