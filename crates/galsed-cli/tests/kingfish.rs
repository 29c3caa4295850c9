//! The shipped KINGFISH catalogue (`data/kingfish/kingfish.csv`) against the original FITS files
//! of Dale et al. (2017) in `../shared/realdata/kingfish/`: every flux and error identical as
//! float64, the band mapping, the distance modulus and the redshift. Skipped, with a message, when
//! the original files are not there.

use std::path::{Path, PathBuf};

use galsed_core::cosmology::Cosmology;
use galsed_io::table::read_table;

/// The FITS `FILTER_LABELS` kept in the catalogue and their galsed filter names.
const BANDS: [(&str, &str); 24] = [
    ("GALEX_FUV", "galex_FUV"),
    ("GALEX_NUV", "galex_NUV"),
    ("SDSS_u", "sdss_u0"),
    ("SDSS_g", "sdss_g0"),
    ("SDSS_r", "sdss_r0"),
    ("SDSS_i", "sdss_i0"),
    ("SDSS_z", "sdss_z0"),
    ("2MASS_J", "twomass_J"),
    ("2MASS_H", "twomass_H"),
    ("2MASS_Ks", "twomass_Ks"),
    ("IRAC_CH1", "spitzer_irac_ch1"),
    ("IRAC_CH2", "spitzer_irac_ch2"),
    ("IRAC_CH3", "spitzer_irac_ch3"),
    ("IRAC_CH4", "spitzer_irac_ch4"),
    ("WISE_W3", "wise_w3"),
    ("MIPS_CH1", "spitzer_mips_24"),
    ("MIPS_CH2", "spitzer_mips_70"),
    ("PACS_blue", "herschel_pacs_70"),
    ("PACS_green", "herschel_pacs_100"),
    ("MIPS_CH3", "spitzer_mips_160"),
    ("PACS_red", "herschel_pacs_160"),
    ("SPIRE_250", "herschel_spire_250"),
    ("SPIRE_350", "herschel_spire_350"),
    ("SPIRE_500", "herschel_spire_500"),
];

/// Labels left out (no galsed filter curve).
const SKIPPED: [&str; 6] = [
    "Mosaic_B",
    "Mosaic_V",
    "Mosaic_R",
    "Mosaic_I",
    "HFI_F353",
    "SCUBA2_850",
];

const GALAXIES: [(&str, &str); 3] = [
    ("NGC_0628", "ngc628"),
    ("NGC_0337", "ngc337"),
    ("NGC_4631", "ngc4631"),
];

fn catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/kingfish/kingfish.csv")
}

/// `../shared/realdata/kingfish` beside the repository, or under `GALSED_SHARED`.
fn originals() -> PathBuf {
    std::env::var_os("GALSED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("realdata/kingfish")
}

/// One row of a source file, as stored.
struct Source {
    sed_id: String,
    lumin_dist: f64,
    labels: Vec<String>,
    fnu: Vec<f64>,
    unc: Vec<f64>,
}

/// Reads a one-row photometry table: the numbers through galsed's CFITSIO reader, the text
/// columns (`SED_ID` 8A, `FILTER_LABELS` 300A = 30 × 10 characters, which the table reader does
/// not take) from the row's bytes, after checking the header says they are where we read them.
fn read_source(path: &Path) -> Source {
    let (nrows, cols) = galsed_io::fits::describe(path, None).unwrap();
    assert_eq!(nrows, 1, "{}", path.display());
    let index = |name: &str| {
        cols.iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{}: no column {name}", path.display()))
    };
    let wanted = [
        (index("LUMIN_DIST"), 1),
        (index("FNU_OBS"), 30),
        (index("FNU_UNC"), 30),
    ];
    for &(i, repeat) in &wanted {
        assert_eq!(
            cols[i].1,
            repeat,
            "{}: column {}",
            path.display(),
            cols[i].0
        );
    }
    let mut v = galsed_io::fits::read_rows(path, None, &wanted, 0, 1).unwrap();
    let unc = v.pop().unwrap();
    let fnu = v.pop().unwrap();
    let lumin_dist = v.pop().unwrap()[0];

    // Header cards of the first extension, then its data: SED_ID (8A), LUMIN_DIST (D),
    // FILTER_LABELS (300A) open the row.
    let bytes = std::fs::read(path).unwrap();
    let cards: Vec<&[u8]> = bytes.chunks(80).collect();
    let ends: Vec<usize> = cards
        .iter()
        .enumerate()
        .filter(|(_, c)| c.starts_with(b"END     "))
        .map(|(i, _)| i)
        .collect();
    let (primary_end, table_end) = (ends[0], ends[1]);
    let header: Vec<String> = cards[primary_end + 1..table_end]
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let card = |key: &str| -> String {
        let c = header
            .iter()
            .find(|c| c[..8].trim_end() == key)
            .unwrap_or_else(|| panic!("{}: no {key} card", path.display()));
        c[10..]
            .split('/')
            .next()
            .unwrap()
            .trim()
            .trim_matches('\'')
            .trim()
            .to_string()
    };
    for (i, (name, form)) in [
        ("SED_ID", "8A"),
        ("LUMIN_DIST", "D"),
        ("FILTER_LABELS", "300A"),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(card(&format!("TTYPE{}", i + 1)), *name);
        assert_eq!(card(&format!("TFORM{}", i + 1)), *form);
    }
    assert_eq!(card("TDIM3"), "(10, 30)");
    let data = (table_end + 1).div_ceil(36) * 2880;
    let row = &bytes[data..];
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    let stored_dist = f64::from_be_bytes(row[8..16].try_into().unwrap());
    assert_eq!(stored_dist.to_bits(), lumin_dist.to_bits());
    Source {
        sed_id: text(&row[..8]),
        lumin_dist,
        labels: row[16..316].chunks(10).map(text).collect(),
        fnu,
        unc,
    }
}

/// The same float64 value (NaN = NaN).
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn shipped_catalogue_is_the_original_photometry() {
    let dir = originals();
    if !dir.join("ngc628_dale17_photometry.fits").exists() {
        eprintln!(
            "SKIPPED: the original KINGFISH files are not in {} (set GALSED_SHARED to the \
             directory holding realdata/kingfish/); the shipped catalogue was not checked",
            dir.display()
        );
        return;
    }
    let t = read_table(&catalog()).unwrap();
    let ids = t.str_column("id").unwrap();
    assert_eq!(
        ids,
        GALAXIES.iter().map(|g| g.0.to_string()).collect::<Vec<_>>()
    );
    let mut expected = vec!["id", "redshift", "distmod", "lumin_dist_mpc"];
    let err_names: Vec<String> = BANDS.iter().map(|b| format!("{}_err", b.1)).collect();
    for (b, e) in BANDS.iter().zip(&err_names) {
        expected.extend([b.1, e.as_str()]);
    }
    assert_eq!(t.names(), expected);
    let planck18 = Cosmology::planck18();
    for (row, (id, stem)) in GALAXIES.iter().enumerate() {
        let src = read_source(&dir.join(format!("{stem}_dale17_photometry.fits")));
        assert_eq!(src.sed_id, *id);
        assert_eq!(src.labels.len(), 30);
        for l in &src.labels {
            assert!(
                BANDS.iter().any(|b| b.0 == l) || SKIPPED.contains(&l.as_str()),
                "{id}: label {l} neither kept nor knowingly left out"
            );
        }
        let get = |c: &str| t.f64_column(c).unwrap()[row];
        assert!(same(get("lumin_dist_mpc"), src.lumin_dist), "{id}");
        let mu = 5.0 * src.lumin_dist.log10() + 25.0;
        assert!((get("distmod") - mu).abs() < 1e-12, "{id}: distmod");
        // The redshift puts Planck18's luminosity distance on the catalogued one.
        let z = get("redshift");
        let d = planck18.luminosity_distance_mpc(z).unwrap();
        assert!(
            (d / src.lumin_dist - 1.0).abs() < 1e-6,
            "{id}: D_L(z = {z}) = {d} Mpc, catalogued {}",
            src.lumin_dist
        );
        for (label, band) in BANDS {
            let k = src.labels.iter().position(|l| l == label).unwrap();
            let (f, e) = (get(band), get(&format!("{band}_err")));
            assert!(same(f, src.fnu[k]), "{id} {band}: {f} vs {}", src.fnu[k]);
            assert!(
                same(e, src.unc[k]),
                "{id} {band}_err: {e} vs {}",
                src.unc[k]
            );
            assert!(f.is_finite() && e > 0.0, "{id} {band}: not measured");
        }
    }
}
