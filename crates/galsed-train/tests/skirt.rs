//! SKIRT interop: the parameter files written by `prepare` parse back as XML with the sampled
//! values, the priors have the distributions of the paper's Table 1, and `collect` recovers
//! known attenuation curves, dust spectra and absorbed fractions from SED files written here in
//! SKIRT 9's format — and refuses malformed ones, naming the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use galsed_core::params::GALAXY_PARAMS;
use galsed_core::ssp::{N_LAM_ATTENUATION, SspLibrary};
use galsed_train::skirt::index::{INDEX_FILE, IndexRow, read_index};
use galsed_train::skirt::sampling::{draw_params, draw_samples, read_table};
use galsed_train::skirt::ski::{Geometry, SkiConfig, SkirtVersion, Source, Sources, ski_document};
use galsed_train::skirt::{
    CollectOptions, Collected, PrepareOptions, Run, SkirtError, collect, parse_sed_output, prepare,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster")
}

fn library() -> SspLibrary {
    SspLibrary::from_npz(reference().join("ssp/ssp_library.npz"))
        .expect("SSP library of the reference pack")
}

/// Prepares `n` samples drawn with `seed` into `dir`.
fn prepared(dir: &Path, lib: &SspLibrary, n: usize, seed: u64) -> Vec<IndexRow> {
    let samples = draw_samples(n, lib.n_ssp(), seed, 1.0).unwrap();
    prepare(&samples, lib, dir, &PrepareOptions::default(), &mut |_| {}).unwrap();
    read_index(&dir.join(INDEX_FILE)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// prepare

fn attr_f64(node: roxmltree::Node, name: &str, unit: &str) -> f64 {
    let text = node
        .attribute(name)
        .unwrap_or_else(|| panic!("{} has no {name}", node.tag_name().name()));
    let number = text
        .strip_suffix(unit)
        .unwrap_or_else(|| panic!("{name}='{text}' is not in {unit}"))
        .trim();
    number
        .parse()
        .unwrap_or_else(|_| panic!("{name}='{text}' is not a number"))
}

fn element<'a, 'i>(doc: &'a roxmltree::Document<'i>, tag: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.tag_name().name() == tag)
        .collect()
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs()
}

#[test]
fn prepared_files_are_skirt_xml_with_the_sampled_values() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 6, 11);
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let s = &row.sample;
        let [
            theta,
            den_dust,
            r_dust_to_rd,
            r_disk,
            r_bulge,
            l_norm,
            b_to_t,
        ] = s.physical;
        for run in Run::ALL {
            let name = row.ski_file(run).expect("every run prepared");
            assert_eq!(name, run.ski_file(&s.id));
            let text = std::fs::read_to_string(tmp.path().join(name)).unwrap();
            let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "skirt-simulation-hierarchy");
            assert_eq!(root.attribute("type"), Some("MonteCarloSimulation"));
            assert_eq!(root.attribute("format"), Some("9"));
            let sim = &element(&doc, "MonteCarloSimulation")[0];
            let mode = if run == Run::Emission {
                "DustEmission"
            } else {
                "ExtinctionOnly"
            };
            assert_eq!(sim.attribute("simulationMode"), Some(mode), "{name}");
            assert_eq!(
                sim.attribute("numPackets").unwrap().parse::<f64>().unwrap(),
                1e7
            );
            assert_eq!(
                element(&doc, "Random")[0].attribute("seed"),
                Some(row.skirt_seed.to_string().as_str())
            );

            // Instrument at the sampled inclination (exactly), recording the transparent flux.
            let instruments = element(&doc, "SEDInstrument");
            assert_eq!(instruments.len(), 1);
            let instrument = instruments[0];
            assert_eq!(attr_f64(instrument, "inclination", "deg"), theta);
            assert_eq!(instrument.attribute("recordComponents"), Some("true"));
            assert_eq!(instrument.attribute("instrumentName"), Some("obs"));
            let grid = element(&doc, "LogWavelengthGrid");
            assert!(grid.iter().any(|g| g.parent().unwrap().tag_name().name()
                == "defaultWavelengthGrid"
                && g.attribute("numWavelengths") == Some("500")));

            // Dust disk: exponential, h/r = 0.1, mass den_dust·2π r_dust², Draine & Li.
            let medium = element(&doc, "GeometricMedium")[0];
            let dust_disk = medium
                .descendants()
                .find(|n| n.has_tag_name("ExpDiskGeometry"))
                .unwrap();
            let r_dust_pc = r_dust_to_rd * r_disk * 1e3;
            assert!(close(
                attr_f64(dust_disk, "scaleLength", "pc"),
                r_dust_pc,
                1e-14
            ));
            assert!(close(
                attr_f64(dust_disk, "scaleHeight", "pc"),
                0.1 * r_dust_pc,
                1e-14
            ));
            let mass = element(&doc, "MassMaterialNormalization")[0];
            let want_mass = den_dust * 2.0 * std::f64::consts::PI * (r_dust_to_rd * r_disk).powi(2);
            assert!(close(attr_f64(mass, "mass", "Msun"), want_mass, 1e-14));
            assert_eq!(element(&doc, "DraineLiDustMix").len(), 1);

            // Power-law grid reaching 5× the largest scale.
            let cyl = element(&doc, "Cylinder2DSpatialGrid")[0];
            let largest = [r_disk, r_dust_to_rd * r_disk, r_bulge]
                .into_iter()
                .fold(0.0, f64::max)
                * 1e3;
            assert!(close(
                attr_f64(cyl, "maxRadius", "pc"),
                5.0 * largest,
                1e-14
            ));
            let half_height = 5.0 * (0.1 * largest).max(r_bulge * 1e3);
            assert!(close(attr_f64(cyl, "maxZ", "pc"), half_height, 1e-14));
            assert!(close(attr_f64(cyl, "minZ", "pc"), -half_height, 1e-14));
            // Mesh ratios as the reference's create_skifile: extent / r_min, with
            // r_min = 1e−4 × min(h_dust, h_disk, r_bulge).
            let smallest_h = (0.1 * r_disk * r_dust_to_rd.min(1.0)).min(r_bulge) * 1e3;
            let r_min = 1e-4 * smallest_h;
            for (tag, ratio) in [
                ("PowMesh", 5.0 * largest / r_min),
                ("SymPowMesh", half_height / r_min),
            ] {
                let mesh = element(&doc, tag)[0];
                // 128 bins, or 22 per decade of the ratio (rounded up to even) when more.
                let bins: usize = mesh.attribute("numBins").unwrap().parse().unwrap();
                let per_decade = bins as f64 / ratio.log10();
                assert!(
                    bins == 128 && per_decade >= 22.0
                        || bins > 128
                            && bins.is_multiple_of(2)
                            && (22.0..22.0 + 2.0 / ratio.log10()).contains(&per_decade),
                    "{tag}: {bins} bins for ratio {ratio:e}"
                );
                let got = mesh.attribute("ratio").unwrap().parse::<f64>().unwrap();
                assert!(close(got, ratio, 1e-13), "{tag}: {got} vs {ratio}");
            }

            // Sources: which components, their geometry, spectrum file and luminosity.
            let sources = element(&doc, "GeometricSource");
            let want: Vec<&str> = match run {
                Run::Emission => vec!["disk", "bulge"],
                Run::Disk => vec!["disk"],
                Run::Bulge => vec!["bulge"],
            };
            assert_eq!(sources.len(), want.len(), "{name}");
            for (source, component) in sources.iter().zip(want) {
                let file = source
                    .descendants()
                    .find(|n| n.has_tag_name("FileSED"))
                    .unwrap();
                let file = file.attribute("filename").unwrap();
                assert!(tmp.path().join(file).is_file(), "{file} missing");
                let lum = attr_f64(
                    source
                        .descendants()
                        .find(|n| n.has_tag_name("IntegratedLuminosityNormalization"))
                        .unwrap(),
                    "integratedLuminosity",
                    "Lsun",
                );
                let (share, f_src) = match component {
                    "disk" => (1.0 - b_to_t, row.source_fraction_disk),
                    _ => (b_to_t, row.source_fraction_bulge),
                };
                let share = if run == Run::Emission { share } else { 1.0 };
                assert!(
                    close(lum, l_norm * share * f_src, 1e-14),
                    "{name} {component}: {lum}"
                );
                if component == "disk" {
                    assert_eq!(row.sed_disk.as_deref(), Some(file));
                    let g = source
                        .descendants()
                        .find(|n| n.has_tag_name("ExpDiskGeometry"))
                        .unwrap();
                    assert_eq!(attr_f64(g, "scaleLength", "pc"), r_disk * 1e3);
                    assert!(close(
                        attr_f64(g, "scaleHeight", "pc"),
                        100.0 * r_disk,
                        1e-14
                    ));
                } else {
                    assert_eq!(row.sed_bulge.as_deref(), Some(file));
                    let g = source
                        .descendants()
                        .find(|n| n.has_tag_name("SersicGeometry"))
                        .unwrap();
                    assert_eq!(attr_f64(g, "effectiveRadius", "pc"), r_bulge * 1e3);
                    assert_eq!(g.attribute("index"), Some("4"));
                }
            }
        }
        // The FSPS spectra with nebular emission put nearly all their light in 0.09–100 µm.
        for f in [row.source_fraction_disk, row.source_fraction_bulge] {
            assert!(f > 0.5 && f <= 1.0 + 1e-9, "source fraction {f}");
        }
    }
}

/// `element@attribute=value` of every attribute of a parameter file but the producer's.
fn attributes(text: &str) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(text).unwrap();
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() != "skirt-simulation-hierarchy")
        .flat_map(|n| {
            n.attributes()
                .map(move |a| format!("{}@{}={}", n.tag_name().name(), a.name(), a.value()))
        })
        .collect()
}

#[test]
fn both_skirt_versions_hold_the_same_values() {
    let cfg = |version| SkiConfig {
        version,
        absorption_probe: true,
        ..SkiConfig::default()
    };
    let geometry = Geometry::new(
        &[30.0, 1e5, 2.0, 3.0, 0.5, 1e10, 0.3],
        &SkiConfig::default(),
    );
    let sources = Sources {
        disk: Some(Source {
            sed_file: "d.dat",
            luminosity_lsun: 7e9,
        }),
        bulge: Some(Source {
            sed_file: "b.dat",
            luminosity_lsun: 3e9,
        }),
    };
    // Where the 2020 schema's attributes went.
    let moved = |entry: &String| -> String {
        let (element, rest) = entry.split_once('@').unwrap();
        let (attribute, _) = rest.split_once('=').unwrap();
        let element = match (element, attribute) {
            ("MediumSystem", "numDensitySamples") => "SamplingOptions",
            (
                "DustEmissionOptions",
                "storeEmissionRadiationField" | "secondaryPacketsMultiplier" | "spatialBias",
            ) => "SecondaryEmissionOptions",
            ("ExtinctionOnlyOptions", _) => "RadiationFieldOptions",
            ("extinctionOnlyOptions", _) => {
                return "radiationFieldOptions@type=RadiationFieldOptions".into();
            }
            ("meshZ", "type") => return "meshZ@type=Mesh".into(),
            ("SpatialGridConvergenceProbe", _) => "ConvergenceInfoProbe",
            _ => element,
        };
        format!("{element}@{rest}")
    };
    for run in Run::ALL {
        let text = |version| ski_document(run, &geometry, sources, 3, "c", &cfg(version)).unwrap();
        let old: BTreeSet<String> = attributes(&text(SkirtVersion::V2020))
            .iter()
            .map(moved)
            .collect();
        let new = attributes(&text(SkirtVersion::Current));
        let lost: Vec<_> = old.difference(&new).collect();
        assert!(lost.is_empty(), "{run}: not in the current file: {lost:?}");
        // The current file adds only the 2020 behaviour spelled out and the new wrappers.
        let mut want = vec![
            "ExtragalacticUnits@wavelengthOutputStyle=Wavelength",
            "PhotonPacketOptions@explicitAbsorption=false",
            "PhotonPacketOptions@forceScattering=true",
            "SamplingOptions@numPropertySamples=1",
            "samplingOptions@type=SamplingOptions",
        ];
        if run == Run::Emission {
            want.extend([
                "DustEmissionOptions@sourceWeight=1",
                "RadiationFieldOptions@storeRadiationField=true",
                "SecondaryEmissionOptions@sourceBias=0.5",
                "radiationFieldOptions@type=RadiationFieldOptions",
                "secondaryEmissionOptions@type=SecondaryEmissionOptions",
            ]);
        }
        want.sort_unstable();
        let added: Vec<&str> = new.difference(&old).map(String::as_str).collect();
        assert_eq!(added, want, "{run}");
    }
}

#[test]
fn stellar_spectra_hold_the_sfh_mixture() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 2, 5);
    let raw = lib.raw_normalised();
    let mut worst: f64 = 0.0;
    for row in &rows {
        let text =
            std::fs::read_to_string(tmp.path().join(row.sed_disk.as_ref().unwrap())).unwrap();
        let mut lines = text.lines();
        assert!(lines.by_ref().take(4).all(|l| l.starts_with('#')));
        let data: Vec<(f64, f64)> = lines
            .map(|l| {
                let mut it = l.split_whitespace().map(|t| t.parse::<f64>().unwrap());
                (it.next().unwrap(), it.next().unwrap())
            })
            .collect();
        // Covers the source range 0.09–100 µm up to the library's last wavelength (99.08 µm).
        let lam_last = lib.lam[lib.lam.len() - 1];
        assert!(data[0].0 < 0.09 && (data[data.len() - 1].0 / lam_last - 1.0).abs() < 1e-8);
        assert!(data.windows(2).all(|w| w[1].0 > w[0].0));
        for &(lam, l) in &data {
            let i = lib
                .lam
                .iter()
                .position(|&x| (x / lam - 1.0).abs() < 1e-8)
                .unwrap();
            // l_raw = λ·L_λ/L_bol, so the file's L_λ/L_bol = Σ s_k l_raw,k / λ.
            let want: f64 = (0..lib.n_ssp())
                .map(|k| row.sample.sfh_disk[k] * raw[[k, i]])
                .sum::<f64>()
                / lib.lam[i];
            let err = (l - want).abs() / want.max(1e-300);
            worst = worst.max(if want > 1e-30 { err } else { 0.0 });
        }
    }
    // Written with 7 significant digits.
    println!("worst relative error of the written spectra: {worst:.2e}");
    assert!(worst < 1e-6);
}

#[test]
fn same_seed_same_files_and_the_index_reads_back() {
    let lib = library();
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let rows_a = prepared(a.path(), &lib, 3, 99);
    prepared(b.path(), &lib, 3, 99);
    prepared(c.path(), &lib, 3, 100);
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    for f in ["index.csv", "s000002_emission.ski", "s000001_sed_bulge.dat"] {
        assert_eq!(
            read(a.path(), f),
            read(b.path(), f),
            "{f} differs for the same seed"
        );
        assert_ne!(
            read(a.path(), f),
            read(c.path(), f),
            "{f} equal for different seeds"
        );
    }
    // The index holds the drawn samples bit for bit.
    let drawn = draw_samples(3, lib.n_ssp(), 99, 1.0).unwrap();
    for (row, s) in rows_a.iter().zip(&drawn) {
        assert_eq!(&row.sample, s);
    }
    // It is also a valid user table (same columns as `galsed sed`'s CSV input).
    let again = read_table(&a.path().join(INDEX_FILE), lib.n_ssp(), 0, 1.0).unwrap();
    assert_eq!(again, drawn);
    // A second prepare into the same directory is refused.
    let err = prepare(
        &drawn,
        &lib,
        a.path(),
        &PrepareOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn user_tables_are_checked_line_by_line() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let head = "id,theta,den_dust,r_dust_to_rd,r_disk,r_bulge,l_norm,b_to_t\n";
    let ok = write(
        "ok.csv",
        &format!("# a comment\n{head}g1,30,1e5,1,3,1,1e10,0.2\ng2,80,1e4,0.5,1,2,1e9,0\n"),
    );
    let samples = read_table(&ok, 36, 3, 1.0).unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].id, "g1");
    assert_eq!(samples[1].physical, [80.0, 1e4, 0.5, 1.0, 2.0, 1e9, 0.0]);
    assert!((samples[0].sfh_disk.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(samples, read_table(&ok, 36, 3, 1.0).unwrap(), "seeded SFHs");

    let cases = [
        ("missing.csv", "id,theta,den_dust\ng1,30,1e5\n".to_string(), "line 1", "no column 'r_dust_to_rd'"),
        ("nan.csv", format!("{head}g1,30,1e5,1,3,1,1e10,0.2\ng2,30,abc,1,3,1,1e10,0.2\n"), "line 3", "den_dust = 'abc'"),
        ("range.csv", format!("{head}g1,30,1e5,1,3,1,1e10,0.2\n\ng2,30,1e5,1,500,1,1e10,0.2\n"), "line 4", "r_disk = 500 is outside"),
        ("dup.csv", format!("{head}g1,30,1e5,1,3,1,1e10,0.2\ng1,30,1e5,1,3,1,1e10,0.2\n"), "line 3", "appears twice"),
        ("id.csv", format!("{head}../x,30,1e5,1,3,1,1e10,0.2\n"), "line 2", "not usable in file names"),
        ("short.csv", format!("{head}g1,30,1e5,1,3,1,1e10\n"), "line 2", ""),
        ("sfh.csv", "theta,den_dust,r_dust_to_rd,r_disk,r_bulge,l_norm,b_to_t,sfh_disk_0\n30,1e5,1,3,1,1e10,0.2,1\n".to_string(), "line 1", "sfh_bulge"),
    ];
    for (name, text, line, what) in cases {
        let err = read_table(&write(name, &text), 36, 0, 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name) && err.contains(line) && err.contains(what),
            "{name}: {err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// priors

/// Kolmogorov–Smirnov distance between the sample `x` and the CDF `cdf`.
fn ks_distance(mut x: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = cdf(v);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn priors_follow_table_1() {
    const N: usize = 20_000;
    // KS critical distance at significance 0.001: 1.95/√N ≈ 0.0138.
    let tol = 1.95 / (N as f64).sqrt();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let draws: Vec<[f64; 7]> = (0..N).map(|_| draw_params(&mut rng)).collect();
    let beta_cdf = |x: f64| 2.0 / std::f64::consts::PI * x.clamp(0.0, 1.0).sqrt().asin();
    let column = |i: usize| draws.iter().map(|d| d[i]).collect::<Vec<f64>>();

    let d_theta = ks_distance(column(0).iter().map(|t| t / 90.0).collect(), beta_cdf);
    let d_btot = ks_distance(column(6), beta_cdf);
    println!(
        "KS distance: theta/90° vs Beta(0.5,0.5) {d_theta:.4}, b_to_t {d_btot:.4} (tolerance {tol:.4})"
    );
    assert!(d_theta < tol && d_btot < tol);
    // The wrong prior must fail the same test (the check has power).
    assert!(ks_distance(column(6), |x| x.clamp(0.0, 1.0)) > tol);

    for (i, p) in GALAXY_PARAMS.iter().enumerate().take(6).skip(1) {
        let (lo, hi) = p.physical_range();
        let x = column(i);
        assert!(
            x.iter()
                .all(|&v| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12)),
            "{}",
            p.name
        );
        let logs: Vec<f64> = x.iter().map(|v| v.log10()).collect();
        let (a, b) = (lo.log10(), hi.log10());
        let d = ks_distance(logs, |v| ((v - a) / (b - a)).clamp(0.0, 1.0));
        println!(
            "KS distance: log10 {} vs uniform on [{a:.2}, {b:.2}]: {d:.4}",
            p.name
        );
        assert!(d < tol, "{}: {d}", p.name);
    }
    // Every draw lies inside the model's unit space.
    let samples = draw_samples(2000, 36, 1, 0.3).unwrap();
    assert!(
        samples
            .iter()
            .all(|s| s.unit.iter().all(|u| u.abs() <= 1.0))
    );
    assert!(
        samples
            .iter()
            .all(|s| (s.sfh_bulge.iter().sum::<f64>() - 1.0).abs() < 1e-12)
    );
}

// ---------------------------------------------------------------------------------------------
// collect

/// SKIRT's number format (`%.9e`, two-digit exponent).
fn skirt_num(x: f64) -> String {
    let s = format!("{x:.9e}");
    let (mantissa, exp) = s.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// SKIRT's logarithmic instrument grid.
fn log_grid(min: f64, max: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| min * (max / min).powf(i as f64 / (n - 1) as f64))
        .collect()
}

/// Stellar λF_λ: a smooth spectrum, positive at every wavelength.
fn stars(lam: f64) -> f64 {
    let y = 1.0 / lam;
    y.powi(4) / y.exp_m1()
}

/// Dust λF_λ shape: a modified black body peaking near 40 µm (zero in the UV by underflow).
fn dust_shape(lam: f64) -> f64 {
    let y = 150.0 / lam;
    y.powf(5.8) / y.exp_m1()
}

/// A smooth attenuation curve [mag] with a 2175 Å bump, scaled by `tau`.
fn attenuation(lam: f64, tau: f64) -> f64 {
    tau * ((lam / 0.55).powf(-0.8)
        + 0.3 * (-(1.0 / lam - 4.6).powi(2) / (2.0 * 0.5f64.powi(2))).exp())
}

/// A SED file in SKIRT 9's format (F_λ style, all components), λF_λ values given.
fn sed_text(lam: &[f64], total: &[f64], transparent: &[f64], dust: &[f64]) -> String {
    let unit = "F_lambda (W/m2/micron)";
    let mut text = String::from("# SED at inclination 30 deg, azimuth 0 deg, distance 100 Mpc\n");
    text.push_str("# column 1: wavelength; lambda (micron)\n");
    for (i, name) in [
        "total flux",
        "transparent flux",
        "direct primary flux",
        "scattered primary flux",
        "direct secondary flux",
        "scattered secondary flux",
        "transparent secondary flux",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!("# column {}: {name}; {unit}\n", i + 2));
    }
    for i in 0..lam.len() {
        let l = lam[i];
        let primary = total[i] - dust[i];
        let values = [
            l,
            total[i] / l,
            transparent[i] / l,
            0.8 * primary / l,
            0.2 * primary / l,
            0.9 * dust[i] / l,
            0.1 * dust[i] / l,
            dust[i] / l,
        ];
        let row: Vec<String> = values.iter().map(|&v| skirt_num(v)).collect();
        text.push_str(&row.join(" "));
        text.push('\n');
    }
    text
}

/// Per sample: attenuation scale of the disk and the bulge, and the true absorbed fraction.
fn truth(row: usize) -> (f64, f64, f64) {
    (
        0.2 + 0.15 * row as f64,
        0.5 + 0.1 * row as f64,
        0.05 + 0.2 * row as f64,
    )
}

fn trapz(y: &[f64], x: &[f64]) -> f64 {
    (1..y.len())
        .map(|i| 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]))
        .sum()
}

/// Writes the outputs SKIRT would give for every run of the index, on instrument grid `lam`.
fn write_outputs(dir: &Path, rows: &[IndexRow], lam: &[f64]) -> BTreeMap<(usize, Run), PathBuf> {
    let ln: Vec<f64> = lam.iter().map(|l| l.ln()).collect();
    let star: Vec<f64> = lam.iter().map(|&l| stars(l)).collect();
    let mut files = BTreeMap::new();
    for (r, row) in rows.iter().enumerate() {
        let (tau_disk, tau_bulge, frac) = truth(r);
        for run in Run::ALL {
            let (total, dust): (Vec<f64>, Vec<f64>) = match run {
                Run::Disk | Run::Bulge => {
                    let tau = if run == Run::Disk {
                        tau_disk
                    } else {
                        tau_bulge
                    };
                    let total = lam
                        .iter()
                        .zip(&star)
                        .map(|(&l, s)| s * 10f64.powf(-0.4 * attenuation(l, tau)))
                        .collect();
                    (total, vec![0.0; lam.len()])
                }
                Run::Emission => {
                    let shape: Vec<f64> = lam.iter().map(|&l| dust_shape(l)).collect();
                    // ∫dust/∫stars · f_src = frac.
                    let c = frac / row.source_fraction() * trapz(&star, &ln) / trapz(&shape, &ln);
                    let dust: Vec<f64> = shape.iter().map(|d| c * d).collect();
                    let total = lam
                        .iter()
                        .zip(&star)
                        .zip(&dust)
                        .map(|((&l, s), d)| s * 10f64.powf(-0.4 * attenuation(l, 1.0)) + d)
                        .collect();
                    (total, dust)
                }
            };
            let path = dir.join(Run::sed_output_file(row.ski_file(run).unwrap()));
            std::fs::write(&path, sed_text(lam, &total, &star, &dust)).unwrap();
            files.insert((r, run), path);
        }
    }
    files
}

/// The published instrument grid (0.09–10⁴ µm, 500 points; `lam_main` is its points 5 … 499).
fn published_grid() -> Vec<f64> {
    log_grid(0.09, 1e4, 500)
}

fn run_collect(dir: &Path, lam_main: &[f64]) -> Result<Collected, SkirtError> {
    collect(
        &dir.join(INDEX_FILE),
        dir,
        lam_main,
        &CollectOptions::default(),
        &mut |_| {},
    )
}

/// Checks the collected set against the truth; returns the worst errors (curve mag, emission
/// relative to the peak, frac relative).
fn compare(got: &Collected, lam_main: &[f64]) -> (f64, f64, f64) {
    let set = &got.set;
    let lam_att = &lam_main[..N_LAM_ATTENUATION];
    let ln_main: Vec<f64> = lam_main.iter().map(|l| l.ln()).collect();
    let (mut e_curve, mut e_y, mut e_frac) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &row) in got.rows.iter().enumerate() {
        let (tau_disk, tau_bulge, frac) = truth(row);
        for (curves, tau) in [(&set.curve_disk, tau_disk), (&set.curve_bulge, tau_bulge)] {
            let c = curves.as_ref().unwrap();
            for (j, &l) in lam_att.iter().enumerate() {
                e_curve = e_curve.max((c[[i, j]] - attenuation(l, tau)).abs());
            }
        }
        let shape: Vec<f64> = lam_main.iter().map(|&l| dust_shape(l)).collect();
        let norm = trapz(&shape, &ln_main);
        let y = set.dust_emission.as_ref().unwrap();
        let peak = shape.iter().fold(0.0, |a: f64, &b| a.max(b)) / norm;
        for (j, s) in shape.iter().enumerate() {
            e_y = e_y.max((y[[i, j]] - s / norm).abs() / peak);
        }
        e_frac = e_frac.max((set.frac_abs.as_ref().unwrap()[i] / frac - 1.0).abs());
    }
    (e_curve, e_y, e_frac)
}

#[test]
fn collect_recovers_known_curves_spectra_and_fractions() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 4, 3);
    write_outputs(tmp.path(), &rows, &published_grid());
    let got = run_collect(tmp.path(), &lib.lam_main).unwrap();
    assert_eq!(got.rows, vec![0, 1, 2, 3]);
    assert_eq!(
        got.ids,
        rows.iter().map(|r| r.sample.id.clone()).collect::<Vec<_>>()
    );
    let set = &got.set;
    assert_eq!(set.lam, lib.lam_main);
    assert_eq!(
        set.curve_disk.as_ref().unwrap().dim(),
        (4, N_LAM_ATTENUATION)
    );
    assert_eq!(set.dust_emission.as_ref().unwrap().dim(), (4, 495));
    for (r, row) in rows.iter().enumerate() {
        assert_eq!(set.params.row(r).to_vec(), row.sample.unit.to_vec());
        assert_eq!(
            set.sfh_disk.as_ref().unwrap().row(r).to_vec(),
            row.sample.sfh_disk
        );
    }
    assert!(set.valid_disk.as_ref().unwrap().iter().all(|&v| v));
    assert!(set.valid_emission.as_ref().unwrap().iter().all(|&v| v));
    // The model grid is a subset of the instrument grid: only the 10-digit printing limits.
    let (e_curve, e_y, e_frac) = compare(&got, &lib.lam_main);
    println!(
        "published grid: curve {e_curve:.1e} mag, emission {e_y:.1e} of the peak, frac {e_frac:.1e}"
    );
    assert!(e_curve < 1e-8 && e_y < 1e-8 && e_frac < 1e-8);

    // The set passes the training layout's checks and survives the npz round trip.
    let npz = tmp.path().join("train.npz");
    set.write_npz(&npz).unwrap();
    let back = galsed_train::data::TrainingSet::read_npz(&npz).unwrap();
    assert_eq!(back.frac_abs, set.frac_abs);
    assert_eq!(back.params, set.params);
}

#[test]
fn collect_interpolates_other_instrument_grids() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 2, 4);
    let grid = log_grid(0.05, 2e4, 1000);
    write_outputs(tmp.path(), &rows, &grid);
    let got = run_collect(tmp.path(), &lib.lam_main).unwrap();
    // Linear interpolation in s = ln λ errs by at most h²/8·max|f''(s)|.
    let h = (grid[1] / grid[0]).ln();
    let second = |f: &dyn Fn(f64) -> f64| {
        let d: f64 = 1e-3;
        lib.lam_main
            .iter()
            .map(|&l| ((f(l * d.exp()) - 2.0 * f(l) + f(l * (-d).exp())) / (d * d)).abs())
            .fold(0.0, f64::max)
    };
    let tau_max = (0..2)
        .map(|r| truth(r).0.max(truth(r).1))
        .fold(0.0, f64::max);
    let tol_curve = 1.2 * h * h / 8.0 * second(&|l| attenuation(l, tau_max));
    let (e_curve, e_y, e_frac) = compare(&got, &lib.lam_main);
    println!(
        "1000-point grid: curve {e_curve:.1e} mag (tolerance {tol_curve:.1e}), emission {e_y:.1e}, frac {e_frac:.1e}"
    );
    assert!(e_curve < tol_curve, "{e_curve} vs {tol_curve}");
    // The spectrum and the fraction are integrals of smooth curves: 1e-3 relative.
    assert!(e_y < 1e-3 && e_frac < 1e-3);
}

#[test]
fn undefined_curves_and_empty_dust_are_flagged() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 3, 8);
    let files = write_outputs(tmp.path(), &rows, &published_grid());
    // Sample 1: no light escapes at the FUV grid point of the disk run.
    let disk = &files[&(1, Run::Disk)];
    let text = std::fs::read_to_string(disk).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let row = 9 + 6; // header of 9 lines, then lam_main[1] is the instrument's point 6
    let mut fields: Vec<String> = lines[row].split_whitespace().map(String::from).collect();
    fields[1] = skirt_num(0.0);
    lines[row] = fields.join(" ");
    std::fs::write(disk, lines.join("\n") + "\n").unwrap();
    // Sample 2: no dust emission at all.
    let emission = &files[&(2, Run::Emission)];
    let lam = published_grid();
    let star: Vec<f64> = lam.iter().map(|&l| stars(l)).collect();
    std::fs::write(
        emission,
        sed_text(&lam, &star, &star, &vec![0.0; lam.len()]),
    )
    .unwrap();

    let got = run_collect(tmp.path(), &lib.lam_main).unwrap();
    let set = &got.set;
    assert_eq!(set.valid_disk.as_ref().unwrap(), &vec![true, false, true]);
    assert!(
        set.curve_disk
            .as_ref()
            .unwrap()
            .row(1)
            .iter()
            .all(|v| v.is_nan())
    );
    assert_eq!(set.valid_bulge.as_ref().unwrap(), &vec![true, true, true]);
    assert_eq!(
        set.valid_emission.as_ref().unwrap(),
        &vec![true, true, false]
    );
    assert!(set.frac_abs.as_ref().unwrap()[2].is_nan());
    set.check().unwrap();
}

#[test]
fn missing_outputs_fail_or_are_skipped() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 3, 9);
    let files = write_outputs(tmp.path(), &rows, &published_grid());
    std::fs::remove_file(&files[&(1, Run::Bulge)]).unwrap();
    let err = run_collect(tmp.path(), &lib.lam_main)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s000001_bulge_obs_sed.dat") && err.contains("s000001_bulge.ski"),
        "{err}"
    );
    let opts = CollectOptions {
        runs: None,
        skip_missing: true,
    };
    let got = collect(
        &tmp.path().join(INDEX_FILE),
        tmp.path(),
        &lib.lam_main,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(got.rows, vec![0, 2]);
    assert_eq!(got.skipped.len(), 1);
    // Only the emission runs: no curves, no curve labels.
    let opts = CollectOptions {
        runs: Some(vec![Run::Emission]),
        skip_missing: false,
    };
    let got = collect(
        &tmp.path().join(INDEX_FILE),
        tmp.path(),
        &lib.lam_main,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert!(got.set.curve_disk.is_none() && got.set.valid_bulge.is_none());
    assert_eq!(got.set.frac_abs.as_ref().unwrap().len(), 3);
}

#[test]
fn malformed_outputs_name_the_file_and_line() {
    let lib = library();
    let tmp = tempfile::tempdir().unwrap();
    let rows = prepared(tmp.path(), &lib, 2, 10);
    let lam = published_grid();
    let files = write_outputs(tmp.path(), &rows, &lam);
    let target = files[&(1, Run::Disk)].clone();
    let good = std::fs::read_to_string(&target).unwrap();
    let name = target.file_name().unwrap().to_string_lossy().to_string();
    let lines: Vec<&str> = good.lines().collect();
    // Data row k is on line 10 + k.
    let replace_field = |row: usize, col: usize, value: &str| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut f: Vec<&str> = lines[9 + row].split_whitespace().collect();
        f[col] = value;
        out[9 + row] = f.join(" ");
        out.join("\n") + "\n"
    };
    let without_transparent = {
        let mut out = vec![];
        for (i, l) in lines.iter().enumerate() {
            match i {
                3 => continue,
                4..=8 => {
                    out.push(l.replacen(&format!("column {i}"), &format!("column {}", i - 1), 1))
                }
                9.. => {
                    let mut f: Vec<&str> = l.split_whitespace().collect();
                    f.remove(2);
                    out.push(f.join(" "));
                }
                _ => out.push(l.to_string()),
            }
        }
        out.join("\n") + "\n"
    };
    let swapped = {
        let mut out: Vec<&str> = lines.clone();
        out.swap(9 + 40, 9 + 41);
        out.join("\n") + "\n"
    };
    let cut = &good[..good.len() - 7];
    let short = lines[..lines.len() - 3].join("\n") + "\n";
    let cases: Vec<(String, String, String)> = vec![
        (
            without_transparent,
            "line 8".into(),
            "no column 'transparent flux'".into(),
        ),
        (
            replace_field(20, 2, "1.2x3e-05"),
            "line 30".into(),
            "not a number".into(),
        ),
        (
            replace_field(21, 1, "nan"),
            "line 31".into(),
            "not a finite number".into(),
        ),
        (
            replace_field(22, 3, "-1.000000000e-10"),
            "line 32".into(),
            "negative flux".into(),
        ),
        (
            replace_field(23, 0, "inf"),
            "line 33".into(),
            "not a finite number".into(),
        ),
        (swapped, "line 51".into(), "monotonic".into()),
        (
            cut.to_string(),
            format!("line {}", lines.len()),
            "truncated".into(),
        ),
        (
            short,
            format!("line {}", lines.len() - 3),
            "497 wavelengths".into(),
        ),
        (String::new(), "line 1".into(), "no '# column".into()),
        (
            lines[..9].join("\n") + "\n",
            "line 9".into(),
            "0 data rows".into(),
        ),
    ];
    for (text, line, what) in cases {
        std::fs::write(&target, &text).unwrap();
        let err = run_collect(tmp.path(), &lib.lam_main)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&name) && err.contains(&format!("{line}:")) && err.contains(&what),
            "expected {line} / {what}: {err}"
        );
    }
    // A file of another run with a different grid.
    let other = log_grid(0.09, 1e4, 400);
    let star: Vec<f64> = other.iter().map(|&l| stars(l)).collect();
    std::fs::write(
        &target,
        sed_text(&other, &star, &star, &vec![0.0; other.len()]),
    )
    .unwrap();
    let err = run_collect(tmp.path(), &lib.lam_main)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&name) && err.contains("same instrument grid"),
        "{err}"
    );
}

#[test]
fn random_damage_never_panics() {
    let lam = log_grid(0.09, 1e4, 120);
    let star: Vec<f64> = lam.iter().map(|&l| stars(l)).collect();
    let dust: Vec<f64> = lam.iter().map(|&l| 1e-3 * dust_shape(l)).collect();
    let total: Vec<f64> = star.iter().zip(&dust).map(|(s, d)| 0.5 * s + d).collect();
    let good = sed_text(&lam, &total, &star, &dust).into_bytes();
    let target: Vec<f64> = log_grid(0.1, 5e3, 50);
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = good.clone();
        match rng.random_range(0..3) {
            0 => bytes.truncate(rng.random_range(0..bytes.len())),
            1 => {
                for _ in 0..rng.random_range(1..6) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
            }
            _ => {
                let i = rng.random_range(0..bytes.len());
                let j = rng.random_range(i..bytes.len());
                bytes.drain(i..j.min(i + 40));
            }
        }
        match parse_sed_output(Path::new("fuzz_sed.dat"), &bytes) {
            Ok(sed) => {
                ok += 1;
                assert!(sed.lam_um.windows(2).all(|w| w[1] > w[0]));
                assert!(
                    sed.columns
                        .iter()
                        .all(|c| c.values.len() == sed.lam_um.len())
                );
                // Downstream computations must not panic either.
                let _ = galsed_train::skirt::collect::attenuation_curve(&sed, &target);
                let _ = galsed_train::skirt::collect::dust_emission(&sed, &target, 1.0);
            }
            Err(e) => {
                failed += 1;
                let m = e.to_string();
                assert!(m.contains("fuzz_sed.dat") && m.contains("line "), "{m}");
            }
        }
    }
    println!("damaged files: {ok} parsed, {failed} refused");
    assert!(failed > 1000);
}
