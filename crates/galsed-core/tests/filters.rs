//! Filter tests: built-in curves against the starduster reference pack and sedpy 0.4.1, user-file
//! parsing, and error handling.

use std::path::{Path, PathBuf};

use galsed_core::filters::{CurveProblem, Filter, FilterError, builtin_names};

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster/filters")
}

/// Writes `contents` to a fresh file in the test scratch directory.
fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("galsed-filter-tests");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write scratch file");
    path
}

fn read_reference_csv(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reference file {} missing: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("wavelength_angstrom,transmission"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (a, b) = l.split_once(',').expect("two columns");
            (
                a.parse::<f64>().expect("number"),
                b.parse::<f64>().expect("number"),
            )
        })
        .unzip()
}

#[test]
fn reference_bands_equal_the_starduster_pack_exactly() {
    let dir = reference_dir();
    let index_path = dir.join("index.json");
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&index_path)
            .unwrap_or_else(|e| panic!("{} missing: {e}", index_path.display())),
    )
    .expect("index.json parses");
    let bands = index["bands"].as_array().expect("bands array");
    assert_eq!(bands.len(), 20);
    let mut max_pivot_rel = 0.0f64;
    for band in bands {
        let band = band.as_str().expect("band name");
        let filter = Filter::builtin(band).expect("reference band is built in");
        assert_eq!(filter.name, band);
        let (lam, trans) = read_reference_csv(&dir.join(format!("{band}.csv")));
        // Bitwise equality: same decimal text parsed with correct rounding, same cleaning.
        assert_eq!(filter.wavelength_angstrom, lam, "{band} wavelengths");
        assert_eq!(filter.transmission, trans, "{band} transmission");
        let meta = &index["meta"][band];
        assert_eq!(
            meta["n_points"].as_u64(),
            Some(lam.len() as u64),
            "{band} n_points"
        );
        let pivot_ref = meta["lam_pivot_um_f64"].as_f64().expect("pivot") * 1e4;
        let rel = (filter.pivot_wavelength_angstrom() / pivot_ref - 1.0).abs();
        max_pivot_rel = max_pivot_rel.max(rel);
        assert!(
            rel <= 1e-12,
            "{band} pivot {} vs {pivot_ref}",
            filter.pivot_wavelength_angstrom()
        );
    }
    println!("max relative pivot error over the 20 reference bands: {max_pivot_rel:e}");
}

/// sedpy 0.4.1 `Filter(name)` (default min_trans=1e-5) for every shipped curve: point count, first
/// and last wavelength [Å], sum of transmission, pivot sqrt(trapz(λT, λ)/trapz(T/λ, λ)) [Å].
/// Generated with numpy 1.26.4: `f = observate.Filter(name); w, t = f.wavelength, f.transmission`.
#[rustfmt::skip]
const SEDPY_REFERENCE: &[(&str, usize, f64, f64, f64, f64)] = &[
    ("bessell_B", 21, 3600.0, 5600.0, 10.93785472, 4371.07123791497),
    ("bessell_I", 23, 7000.0, 9200.0, 9.3055612, 8020.141849503527),
    ("bessell_R", 24, 5500.0, 9000.0, 11.3017451, 6498.088235931935),
    ("bessell_U", 25, 3000.0, 4200.0, 17.830579200000003, 3584.7770363450186),
    ("bessell_V", 24, 4700.0, 7000.0, 8.13552116, 5477.697276141463),
    ("decam_Y", 201, 9000.0, 11000.0, 29.89679, 9892.604757209177),
    ("decam_g", 240, 3410.0, 5800.0, 42.61624, 4808.284184249671),
    ("decam_i", 251, 6500.0, 9000.0, 78.61637999999999, 7813.410376028402),
    ("decam_r", 251, 5000.0, 7500.0, 72.56741, 6420.713763042269),
    ("decam_u", 83, 3330.0, 4150.0, 3.8656300000000003, 3814.4215524091032),
    ("decam_z", 267, 7840.0, 10500.0, 71.59764999999999, 9169.461225649611),
    ("gaia_bp", 382, 3240.0, 7050.0, 175.055908577021, 5109.711294079991),
    ("gaia_g", 729, 3230.0, 10510.0, 317.32514998833295, 6217.6030128698785),
    ("gaia_rp", 473, 6090.0, 10810.0, 212.9736085698, 7769.023858143255),
    ("galex_FUV", 471, 1340.0, 1810.0, 9402.02, 1535.0798337703206),
    ("galex_NUV", 1321, 1690.0, 3010.0, 45008.0, 2300.784813683206),
    ("herschel_pacs_100", 513, 516796.0, 1526720.0, 120.18016945480998, 1007889.0502401346),
    ("herschel_pacs_160", 288, 1089920.0, 5000000.0, 100.88304260777001, 1619161.6578839282),
    ("herschel_pacs_70", 451, 520156.0, 1253920.0, 160.49979356412, 707700.0128575884),
    ("herschel_spire_250", 331, 1666666.75, 3713331.0, 120.465997714, 2482830.3397677676),
    ("herschel_spire_350", 220, 2353495.0, 4748338.0, 83.668033713, 3484388.2277020183),
    ("herschel_spire_500", 198, 3326680.0, 9276438.0, 67.2244998557, 5004186.630257272),
    ("hsc_g", 251, 3500.0, 6000.0, 59.8316, 4791.1547955996975),
    ("hsc_i", 261, 6400.0, 9000.0, 73.7022, 7688.787711088934),
    ("hsc_r", 251, 5000.0, 7500.0, 74.8276, 6214.053851513359),
    ("hsc_y", 196, 9000.0, 10950.0, 28.9287, 9771.706505698397),
    ("hsc_z", 144, 8160.0, 9590.0, 36.1917, 8903.073278744188),
    ("jwst_f070w", 252, 5991.5, 8501.5, 38.315026690642995, 7047.111216464436),
    ("jwst_f090w", 297, 7735.5, 10695.5, 64.56822496790201, 9024.004730607707),
    ("jwst_f1000w", 481, 87370.0, 115210.0, 128.2803, 99531.15019302887),
    ("jwst_f1130w", 344, 102450.0, 122350.0, 43.8514, 113085.01095059376),
    ("jwst_f115w", 387, 9692.0, 13552.0, 88.414485338246, 11540.782283225446),
    ("jwst_f1280w", 611, 110800.0, 146180.0, 149.208, 128101.37758999827),
    ("jwst_f140m", 300, 12523.5, 15513.5, 64.337531525362, 14053.421176239091),
    ("jwst_f1500w", 819, 127680.0, 175130.0, 186.34660000000002, 150635.06074869487),
    ("jwst_f150w", 502, 12497.9, 17507.9, 155.222396741896, 15008.986096877481),
    ("jwst_f150w2", 1842, 5380.0, 23810.0, 603.599140413046, 16717.76075569767),
    ("jwst_f162m", 447, 14544.0, 19004.0, 80.89594568538634, 16272.251252987116),
    ("jwst_f1800w", 1037, 150240.0, 210330.0, 177.8028, 179837.22171342713),
    ("jwst_f182m", 477, 16245.0, 21005.0, 121.47261789622623, 18452.16305492228),
    ("jwst_f200w", 616, 16864.0, 23014.0, 241.98278853764003, 19876.00665712932),
    ("jwst_f2100w", 1457, 171360.0, 255800.0, 249.6476, 207950.0511244024),
    ("jwst_f210m", 404, 18996.0, 23026.0, 109.19193085330801, 20955.948436678336),
    ("jwst_f250m", 336, 23490.9, 27514.1, 61.89251978842, 25031.347604724804),
    ("jwst_f2550w", 1483, 213990.0, 299940.0, 146.4064, 253640.00263016357),
    ("jwst_f277w", 999, 23106.6, 35092.2, 262.157703453448, 27762.299583935033),
    ("jwst_f300m", 519, 26511.2, 33510.5, 112.878098422343, 29960.86154355869),
    ("jwst_f322w2", 1411, 23172.6, 42512.3, 585.950709572935, 32467.833287800837),
    ("jwst_f335m", 706, 29483.9, 39010.1, 141.00179141675, 33622.534562850036),
    ("jwst_f356w", 947, 29902.8, 42685.4, 341.42721017004, 35654.8902052917),
    ("jwst_f360m", 697, 30983.7, 40388.3, 151.03365678111498, 36233.3798797961),
    ("jwst_f410m", 670, 36983.2, 46022.9, 175.7356791674, 40829.882441939386),
    ("jwst_f430m", 409, 39996.5, 45509.5, 90.52513794859999, 42812.954890078654),
    ("jwst_f444w", 1147, 36483.2, 51968.4, 431.7417290293, 44017.43391820266),
    ("jwst_f460m", 558, 43482.6, 51009.0, 81.66567008255399, 46296.1684370675),
    ("jwst_f480m", 447, 44982.5, 51009.0, 108.1631951812, 48165.46326289836),
    ("jwst_f560w", 338, 47470.0, 67010.0, 58.8703, 56352.5633543743),
    ("jwst_f770w", 541, 62030.0, 93350.0, 135.053, 76393.33789381925),
    ("lsst_baseline_g", 7107, 3380.0, 10486.0, 653.7206020204155, 4786.987108755534),
    ("lsst_baseline_i", 7029, 3404.0, 10432.0, 776.7651212875464, 7548.908187145918),
    ("lsst_baseline_r", 6594, 3571.0, 10164.0, 753.4215120886583, 6207.552522382683),
    ("lsst_baseline_u", 7443, 3211.0, 10653.0, 78.05816151528539, 3716.442212015151),
    ("lsst_baseline_y", 7635, 3356.0, 10990.0, 286.6461738038906, 9746.251783790822),
    ("lsst_baseline_z", 7026, 3405.0, 10430.0, 626.0724474939194, 8673.788373615698),
    ("panstarrs_g", 179, 3890.0, 5670.0, 58.55799999999999, 4849.114224732328),
    ("panstarrs_i", 181, 6640.0, 8440.0, 107.98499999999999, 7534.9551335328515),
    ("panstarrs_r", 187, 5280.0, 7140.0, 90.553, 6201.18504113021),
    ("panstarrs_y", 206, 8960.0, 11010.0, 37.82, 9627.765879180977),
    ("panstarrs_z", 169, 7840.0, 9520.0, 84.986, 8674.169563987016),
    ("sdss_g0", 45, 3630.0, 5830.0, 8.2025, 4702.45659935932),
    ("sdss_i0", 45, 6430.0, 8630.0, 8.7296, 7490.828079437849),
    ("sdss_r0", 40, 5230.0, 7230.0, 10.7065, 6174.990702607665),
    ("sdss_u0", 47, 2980.0, 4130.0, 2.3750000000000004, 3556.555008490484),
    ("sdss_z0", 51, 7730.0, 11230.0, 1.2389999999999999, 8946.492959402938),
    ("spitzer_irac_ch1", 391, 30810.6, 40103.8, 134.07565599999998, 35507.89216734188),
    ("spitzer_irac_ch2", 401, 37224.9, 52219.8, 122.597309, 44959.628002144185),
    ("spitzer_irac_ch3", 311, 47442.1, 66225.1, 28.526064999999996, 57244.58182281749),
    ("spitzer_irac_ch4", 350, 61511.5, 104968.0, 67.71552199999999, 78842.28586142682),
    ("spitzer_mips_160", 392, 1000851.0, 1999200.0, 114.180758, 1553531.4448212),
    ("spitzer_mips_24", 128, 180000.0, 323000.0, 45.126901, 235935.43799834128),
    ("spitzer_mips_70", 108, 504646.3, 1110222.0, 41.75479, 708909.1249749992),
    ("stromgren_b", 30, 4275.0, 5000.0, 388.1, 4668.281112289403),
    ("stromgren_u", 28, 3125.0, 3800.0, 581.0, 3448.236604342115),
    ("stromgren_v", 34, 3700.0, 4525.0, 437.5, 4106.7293938201),
    ("stromgren_y", 30, 5125.0, 5850.0, 536.5, 5477.344995389578),
    ("twomass_H", 51, 14180.0, 18710.0, 0.00188951207741, 16457.50373572645),
    ("twomass_J", 107, 10620.0, 14500.0, 0.00356938795733, 12355.126169431987),
    ("twomass_Ks", 74, 19270.0, 23990.0, 0.0018307435988000002, 21603.03332689752),
    ("ukirt_wfcam_H", 101, 14215.0, 19215.0, 55.536435618999995, 16359.514460678873),
    ("ukirt_wfcam_J", 73, 11210.0, 14090.0, 36.956445269999996, 12501.464659314586),
    ("ukirt_wfcam_K", 81, 19185.0, 24785.0, 47.67770093, 22059.78535433263),
    ("vista_vircam_H", 1541, 8060.0, 25445.3, 24171.8365299, 16432.54288986927),
    ("vista_vircam_J", 1665, 8070.0, 32000.0, 12459.9885817, 12527.484620243607),
    ("vista_vircam_Ks", 1554, 8070.0, 25316.5, 24658.831337500003, 21502.874294892477),
    ("vista_vircam_Y", 1745, 8060.0, 32010.2, 6277.024363, 10218.437722067674),
    ("vista_vircam_Z", 1238, 8060.0, 35290.0, 7005.5124231, 8805.179769636437),
    ("wise_w1", 165, 25600.0, 42000.0, 60.03882506710001, 33682.246473999985),
    ("wise_w2", 207, 38400.0, 59000.0, 78.808406921813, 46179.10337220821),
    ("wise_w3", 1322, 67800.0, 199900.0, 271.133560965045, 120718.52988756876),
    ("wise_w4", 1048, 176400.0, 285500.0, 118.35507951400001, 221943.73115590904),
];

#[test]
fn every_builtin_matches_sedpy() {
    let names = builtin_names();
    assert_eq!(names.len(), SEDPY_REFERENCE.len());
    let mut max_rel = 0.0f64;
    for &(name, n, first, last, sum, pivot) in SEDPY_REFERENCE {
        let f = Filter::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.wavelength_angstrom.len(), n, "{name} point count");
        assert_eq!(f.wavelength_angstrom[0], first, "{name} first wavelength");
        assert_eq!(f.wavelength_angstrom[n - 1], last, "{name} last wavelength");
        let sum_rel = (f.transmission.iter().sum::<f64>() / sum - 1.0).abs();
        let pivot_rel = (f.pivot_wavelength_angstrom() / pivot - 1.0).abs();
        assert!(
            sum_rel <= 1e-12,
            "{name} transmission sum off by {sum_rel:e}"
        );
        assert!(pivot_rel <= 1e-12, "{name} pivot off by {pivot_rel:e}");
        assert!(
            f.wavelength_angstrom.windows(2).all(|w| w[0] < w[1]),
            "{name} not increasing"
        );
        assert!(
            f.transmission.iter().all(|&t| t >= 0.0),
            "{name} negative transmission"
        );
        max_rel = max_rel.max(sum_rel).max(pivot_rel);
    }
    println!(
        "max relative error vs sedpy over {} filters: {max_rel:e}",
        names.len()
    );
}

#[test]
fn builtin_table_matches_shipped_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("filters");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("filters dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|n| n.strip_suffix(".par").map(str::to_owned))
        .collect();
    on_disk.sort();
    let names = builtin_names();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "builtin_names() must be sorted"
    );
    assert_eq!(names, on_disk);
    assert!(dir.join("LICENSE-sedpy").is_file() && dir.join("README.md").is_file());
    for required in [
        "galex_FUV",
        "sdss_u0",
        "sdss_z0",
        "twomass_Ks",
        "wise_w4",
        "herschel_pacs_70",
        "herschel_spire_500",
        "bessell_V",
        "decam_z",
        "hsc_i",
        "lsst_baseline_y",
        "jwst_f200w",
        "jwst_f770w",
        "spitzer_irac_ch1",
        "spitzer_mips_24",
        "panstarrs_g",
        "ukirt_wfcam_K",
        "vista_vircam_Ks",
    ] {
        assert!(names.contains(&required), "{required} missing");
    }
}

#[test]
fn builtin_lookup_is_case_tolerant_and_suggests_close_names() {
    assert_eq!(
        Filter::builtin("GALEX_fuv").expect("case-insensitive").name,
        "galex_FUV"
    );
    let err = Filter::builtin("sdss_r").expect_err("unknown name");
    let msg = err.to_string();
    assert!(matches!(err, FilterError::UnknownBuiltin { .. }));
    assert!(msg.contains("sdss_r0"), "{msg}");
    let msg = Filter::builtin("wise").expect_err("unknown").to_string();
    assert!(msg.contains("wise_w1") && msg.contains("wise_w4"), "{msg}");
    let msg = Filter::builtin("qqqqqqqqqqqq")
        .expect_err("unknown")
        .to_string();
    assert!(msg.contains("no similar"), "{msg}");
}

#[test]
fn pivot_of_a_two_point_top_hat_is_the_geometric_mean() {
    let f = Filter::new("box", vec![4000.0, 9000.0], vec![1.0, 1.0]).expect("valid");
    assert!((f.pivot_wavelength_angstrom() - 6000.0).abs() < 1e-9);
}

#[test]
fn new_sorts_and_trims_like_sedpy() {
    // Unsorted input; ends at or below 1e-5 of the peak are trimmed to one point per side.
    let f = Filter::new(
        "custom",
        vec![7.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
        vec![0.0, 0.0, 1e-6, 0.0, 0.5, 1.0, 1e-5, 0.0],
    )
    .expect("valid curve");
    assert_eq!(f.wavelength_angstrom, vec![3.0, 4.0, 5.0, 6.0]);
    assert_eq!(f.transmission, vec![0.0, 0.5, 1.0, 1e-5]);
    // Nothing to trim: kept whole.
    let f = Filter::new("flat", vec![1.0, 2.0], vec![1.0, 1.0]).expect("valid");
    assert_eq!(f.wavelength_angstrom, vec![1.0, 2.0]);
}

#[test]
fn new_rejects_invalid_points() {
    let problem = |w: Vec<f64>, t: Vec<f64>| match Filter::new("x", w, t) {
        Err(FilterError::InvalidCurve { name, problem }) => {
            assert_eq!(name, "x");
            problem
        }
        other => panic!("expected InvalidCurve, got {other:?}"),
    };
    assert_eq!(problem(vec![1.0], vec![1.0]), CurveProblem::TooFewPoints(1));
    assert_eq!(problem(vec![], vec![]), CurveProblem::TooFewPoints(0));
    assert!(matches!(
        problem(vec![1.0, 2.0], vec![1.0]),
        CurveProblem::LengthMismatch { .. }
    ));
    assert_eq!(
        problem(vec![1.0, f64::NAN], vec![1.0, 1.0]),
        CurveProblem::NonFinite { index: 1 }
    );
    assert_eq!(
        problem(vec![1.0, 2.0], vec![1.0, f64::INFINITY]),
        CurveProblem::NonFinite { index: 1 }
    );
    assert_eq!(
        problem(vec![-1.0, 2.0], vec![1.0, 1.0]),
        CurveProblem::NonPositiveWavelength {
            index: 0,
            value: -1.0
        }
    );
    assert_eq!(
        problem(vec![1.0, 2.0], vec![1.0, -0.5]),
        CurveProblem::NegativeTransmission {
            index: 1,
            value: -0.5
        }
    );
    assert_eq!(
        problem(vec![1.0, 2.0], vec![0.0, 0.0]),
        CurveProblem::AllZero
    );
    assert_eq!(
        problem(vec![1.0, 2.0, 2.0], vec![1.0, 1.0, 1.0]),
        CurveProblem::DuplicateWavelength(2.0)
    );
}

#[test]
fn reads_plain_par_files_like_sedpy() {
    // Same layout as sedpy's files, including an inline comment after the data (as in panstarrs_*.par).
    let path = temp_file(
        "plain.par",
        b"# Units: Angstrom\n\n1000.0  0\n1100.0\t0.5\n1200.0  1.0#note\n1300.0  -0.01\n1400.0  0\n1500 0\n",
    );
    let f = Filter::from_file(&path).expect("plain par parses");
    assert_eq!(f.name, "plain");
    // The negative point is dropped, then the trailing zeros trimmed to one.
    assert_eq!(f.wavelength_angstrom, vec![1000.0, 1100.0, 1200.0, 1400.0]);
    assert_eq!(f.transmission, vec![0.0, 0.5, 1.0, 0.0]);
}

#[test]
fn reads_yanny_kfilter_par_files() {
    let path = temp_file(
        "kcorrect_style.par",
        b"# kcorrect filter\nunits angstrom\n\ntypedef struct {\n  double lambda;\n  double pass;\n  double pass_1_0;\n} KFILTER_SDSS;\n\nKFILTER_SDSS 3000.0 0.0 0.0\nKFILTER_SDSS 3100.0 0.25 0.2\nKFILTER_SDSS 3200.0 0.75 0.7\nKFILTER_SDSS 3300.0 0.0 0.0\n",
    );
    let f = Filter::from_file(&path).expect("yanny par parses");
    assert_eq!(f.name, "kcorrect_style");
    assert_eq!(f.wavelength_angstrom, vec![3000.0, 3100.0, 3200.0, 3300.0]);
    assert_eq!(f.transmission, vec![0.0, 0.25, 0.75, 0.0]);
    // Plain KFILTER rows without a typedef block are accepted too.
    let path = temp_file("bare_kfilter.par", b"KFILTER 5000 1\nKFILTER 6000 1\n");
    assert_eq!(
        Filter::from_file(&path)
            .expect("parses")
            .wavelength_angstrom,
        vec![5000.0, 6000.0]
    );
}

#[test]
fn reads_csv_and_whitespace_text_with_headers() {
    let csv = temp_file(
        "my_band.csv",
        b"wavelength_angstrom,transmission\n4000,0\n4500, 0.8\n5000,1,extra\n5500,0\n",
    );
    let f = Filter::from_file(&csv).expect("csv parses");
    assert_eq!(f.name, "my_band");
    assert_eq!(f.wavelength_angstrom, vec![4000.0, 4500.0, 5000.0, 5500.0]);
    assert_eq!(f.transmission, vec![0.0, 0.8, 1.0, 0.0]);
    let txt = temp_file(
        "band.txt",
        b"# my filter\nlambda  T\n  5.5e3  1e-1 \n6.0e3 2.5E-1\r\n6.5e3 0.0\n",
    );
    let f = Filter::from_file(&txt).expect("whitespace text parses");
    assert_eq!(f.wavelength_angstrom, vec![5500.0, 6000.0, 6500.0]);
    assert_eq!(f.transmission, vec![0.1, 0.25, 0.0]);
    // Same curve through the file reader and the constructor.
    let from_new =
        Filter::new("band", vec![6500.0, 5500.0, 6000.0], vec![0.0, 0.1, 0.25]).expect("ok");
    assert_eq!(f, from_new);
}

/// Loads `contents` from a temp file, expecting an error whose message contains `needle`.
fn assert_bad_file(name: &str, contents: &[u8], needle: &str) -> FilterError {
    let path = temp_file(name, contents);
    let err = Filter::from_file(&path).expect_err(name);
    let msg = err.to_string();
    assert!(msg.contains(needle), "{name}: '{msg}' lacks '{needle}'");
    assert!(msg.contains(name), "{name}: '{msg}' does not name the file");
    err
}

#[test]
fn bad_files_give_clear_errors() {
    let e = assert_bad_file("nan.txt", b"1000 0.1\n1100 nan\n1200 0.2\n", "non-finite");
    assert!(matches!(e, FilterError::Parse { line: 2, .. }), "{e:?}");
    assert_bad_file("inf.txt", b"1000 0.1\ninf 0.2\n", "non-finite");
    assert_bad_file("one_point.txt", b"# c\n1000 0.5\n", "at least 2 points");
    let e = assert_bad_file("negative_wavelength.txt", b"-1000 0.5\n1100 0.5\n", "> 0");
    assert!(matches!(e, FilterError::Parse { line: 1, .. }), "{e:?}");
    assert_bad_file("zero_wavelength.txt", b"0 0.5\n1100 0.5\n", "> 0");
    assert!(matches!(
        assert_bad_file("empty.txt", b"", "no data rows"),
        FilterError::NoData { .. }
    ));
    assert_bad_file(
        "only_comments.txt",
        b"# nothing\n\n   \n# here\n",
        "no data rows",
    );
    assert_bad_file(
        "header_only.csv",
        b"wavelength,transmission\n",
        "no data rows",
    );
    // A header is only allowed before the first data row (even one dropped for negative transmission).
    assert_bad_file(
        "late_header.txt",
        b"1000 -0.1\nlambda T\n1100 1\n",
        "expected two numbers",
    );
    let e = assert_bad_file(
        "garbage.txt",
        b"1000 0.1\nhello world\n",
        "expected two numbers",
    );
    assert!(matches!(e, FilterError::Parse { line: 2, .. }), "{e:?}");
    assert_bad_file(
        "bad_number.txt",
        b"1000 0.1\n1100 0.x\n",
        "'0.x' is not a number",
    );
    assert_bad_file(
        "one_column.txt",
        b"1000 0.1\n1100\n",
        "expected two columns",
    );
    assert_bad_file("all_zero.txt", b"1000 0\n1100 0\n", "zero everywhere");
    assert_bad_file(
        "all_negative.txt",
        b"1000 -1\n1100 -2\n1200 0.5\n",
        "at least 2 points",
    );
    assert_bad_file(
        "duplicate.txt",
        b"1000 0.5\n1100 0.5\n1100 0.6\n",
        "duplicate wavelength",
    );
    // Out of order: refused with the lines, not sorted (a red-to-blue listing or a wrong column).
    let e = assert_bad_file(
        "decreasing.txt",
        b"# lambda T\n7000 0\n6500 1\n6000 1\n5500 0\n",
        "wavelength 6500 Å comes after 7000 Å (line 2)",
    );
    assert!(matches!(e, FilterError::Parse { line: 3, .. }), "{e:?}");
    assert_bad_file("binary.bin", &[0xff, 0xfe, 0x00, 0x12, 0x80], "cannot read");
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no_such_filter_file.par");
    let err = Filter::from_file(&missing).expect_err("missing file");
    assert!(
        matches!(err, FilterError::Io { .. }) && err.to_string().contains("no_such_filter_file")
    );
}

#[test]
fn resolve_prefers_builtins_then_files() {
    assert_eq!(Filter::resolve("wise_w2").expect("builtin").name, "wise_w2");
    let path = temp_file("resolve_me.txt", b"1000 1\n2000 1\n");
    let spec = path.to_str().expect("utf-8 temp path");
    assert_eq!(Filter::resolve(spec).expect("file").name, "resolve_me");
    let err = Filter::resolve("sdss_g1").expect_err("neither builtin nor file");
    assert!(matches!(err, FilterError::Unresolved { .. }));
    let msg = err.to_string();
    assert!(msg.contains("neither") && msg.contains("sdss_g0"), "{msg}");
}

#[test]
fn filter_lists_expand_the_preset_and_refuse_empty_and_repeated_lists() {
    use galsed_core::filters::{DEFAULT19, FilterListError};
    let f = Filter::parse_list(" default19 , , bessell_V").unwrap();
    assert_eq!(f.len(), 20);
    assert_eq!(f[0].name, DEFAULT19[0]);
    assert_eq!(f[19].name, "bessell_V");
    assert!(matches!(
        Filter::parse_list(" , "),
        Err(FilterListError::Empty)
    ));
    assert!(matches!(
        Filter::parse_list("sdss_r0,default19"),
        Err(FilterListError::Duplicate(name)) if name == "sdss_r0"
    ));
    assert!(matches!(
        Filter::parse_list("bessell_V,no_such_filter"),
        Err(FilterListError::Filter { spec, .. }) if spec == "no_such_filter"
    ));
}
