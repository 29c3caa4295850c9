//! Conventions of real catalogues, as published by each survey: absolute calibration
//! uncertainties (the floors added to the errors, `[catalog] calibration`) and Vega-to-AB offsets
//! (`[catalog] vega_bands`). The tables are repeated with their sources in docs/fitting.md.

/// Fractional absolute-calibration uncertainty of each built-in band with a published value:
/// (band, fraction, source). Bands not listed have no default floor.
///
/// * GALEX FUV 4.5 %, NUV 2.7 %: Morrissey et al. (2007, ApJS 173, 682).
/// * SDSS g r i 2 %, u and z 3 %: SDSS DR7 (Abazajian et al. 2009, ApJS 182, 543): the AB
///   zero points are good to about 2 %, worse in u and z.
/// * 2MASS J H Ks 2 %: Cohen, Wheaton & Megeath (2003, AJ 126, 1090); extended-source photometry
///   (Jarrett et al. 2003) is worse, so consider an override of 0.03.
/// * WISE W1–W4 2.4/2.8/4.5/5.7 %: Jarrett et al. (2011, ApJ 735, 112).
/// * Spitzer IRAC 3 %: Reach et al. (2005, PASP 117, 978).
/// * Spitzer MIPS 24 µm 4 %: Engelbracht et al. (2007, PASP 119, 994); 70 µm 5 %: Gordon et al.
///   (2007, PASP 119, 1019); 160 µm 12 %: Stansberry et al. (2007, PASP 119, 1038).
/// * Herschel PACS 5 %: Balog et al. (2014, Exp. Astron. 37, 129).
/// * Herschel SPIRE 5.5 %: Bendo et al. (2013, MNRAS 433, 3062).
pub const CALIBRATION_FLOORS: &[(&str, f64, &str)] = &[
    ("galex_FUV", 0.045, "Morrissey+2007"),
    ("galex_NUV", 0.027, "Morrissey+2007"),
    ("sdss_u0", 0.03, "Abazajian+2009 (SDSS DR7)"),
    ("sdss_g0", 0.02, "Abazajian+2009 (SDSS DR7)"),
    ("sdss_r0", 0.02, "Abazajian+2009 (SDSS DR7)"),
    ("sdss_i0", 0.02, "Abazajian+2009 (SDSS DR7)"),
    ("sdss_z0", 0.03, "Abazajian+2009 (SDSS DR7)"),
    ("twomass_J", 0.02, "Cohen+2003"),
    ("twomass_H", 0.02, "Cohen+2003"),
    ("twomass_Ks", 0.02, "Cohen+2003"),
    ("wise_w1", 0.024, "Jarrett+2011"),
    ("wise_w2", 0.028, "Jarrett+2011"),
    ("wise_w3", 0.045, "Jarrett+2011"),
    ("wise_w4", 0.057, "Jarrett+2011"),
    ("spitzer_irac_ch1", 0.03, "Reach+2005"),
    ("spitzer_irac_ch2", 0.03, "Reach+2005"),
    ("spitzer_irac_ch3", 0.03, "Reach+2005"),
    ("spitzer_irac_ch4", 0.03, "Reach+2005"),
    ("spitzer_mips_24", 0.04, "Engelbracht+2007"),
    ("spitzer_mips_70", 0.05, "Gordon+2007"),
    ("spitzer_mips_160", 0.12, "Stansberry+2007"),
    ("herschel_pacs_70", 0.05, "Balog+2014"),
    ("herschel_pacs_100", 0.05, "Balog+2014"),
    ("herschel_pacs_160", 0.05, "Balog+2014"),
    ("herschel_spire_250", 0.055, "Bendo+2013"),
    ("herschel_spire_350", 0.055, "Bendo+2013"),
    ("herschel_spire_500", 0.055, "Bendo+2013"),
];

/// AB − Vega offsets (m_AB = m_Vega + offset) of the bands whose catalogues are in Vega
/// magnitudes: (band, offset, source).
///
/// * 2MASS J H Ks 0.91/1.39/1.85: Blanton & Roweis (2007, AJ 133, 734).
/// * WISE W1–W4 2.699/3.339/5.174/6.620: Jarrett et al. (2011, ApJ 735, 112).
pub const VEGA_TO_AB: &[(&str, f64, &str)] = &[
    ("twomass_J", 0.91, "Blanton & Roweis 2007"),
    ("twomass_H", 1.39, "Blanton & Roweis 2007"),
    ("twomass_Ks", 1.85, "Blanton & Roweis 2007"),
    ("wise_w1", 2.699, "Jarrett+2011"),
    ("wise_w2", 3.339, "Jarrett+2011"),
    ("wise_w3", 5.174, "Jarrett+2011"),
    ("wise_w4", 6.620, "Jarrett+2011"),
];

/// The default calibration floor of a band (fraction), if published.
pub fn calibration_floor(band: &str) -> Option<f64> {
    CALIBRATION_FLOORS
        .iter()
        .find(|(b, _, _)| *b == band)
        .map(|&(_, f, _)| f)
}

/// The AB − Vega offset of a band, if known.
pub fn vega_to_ab(band: &str) -> Option<f64> {
    VEGA_TO_AB
        .iter()
        .find(|(b, _, _)| *b == band)
        .map(|&(_, o, _)| o)
}

/// 2.5 / ln 10 ≈ 1.0857: a fractional flux error f is a magnitude error of 1.0857 f.
pub const MAG_PER_LN_FLUX: f64 = 2.5 / std::f64::consts::LN_10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_name_built_in_filters_once() {
        let names = galsed_core::filters::builtin_names();
        for table in [CALIBRATION_FLOORS, VEGA_TO_AB] {
            for (i, (b, v, _)) in table.iter().enumerate() {
                assert!(names.contains(b), "{b}");
                assert!(v.is_finite() && *v > 0.0, "{b}");
                assert!(table[..i].iter().all(|(c, _, _)| c != b), "{b} twice");
            }
        }
        assert_eq!(calibration_floor("wise_w4"), Some(0.057));
        assert_eq!(vega_to_ab("twomass_Ks"), Some(1.85));
        assert_eq!(vega_to_ab("sdss_r0"), None);
    }
}
