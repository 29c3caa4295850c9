//! SAM galaxies through the converter and the emulator against the reference's SEDs
//! (`golden/sam_*.npz`: `sed_fnu_base`, `sed_fnu_auto`, component `combine`, Jy at 10 pc), at
//! the forward-model tolerances of tests/golden_sed.rs (spec §6).

mod common;

use common::*;
use galsed_core::sam::{AgeBins, SamConverter, SamGalaxy};
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::predict::{Observer, SpectralUnits};
use galsed_emulator::{Component, Starduster};
use ndarray::Array2;

/// Spectra: |a−b| ≤ 1e−4·|b| + 1e−6·max_row|b|.
const SPEC_RTOL: f64 = 1e-4;
const SPEC_ATOL_ROW: f64 = 1e-6;

/// Settings of golden/index_fitting_sam.json: file, frac_recycle, instant ages.
const CASES: [(&str, f64, bool); 3] = [
    ("sam_tutorial", 0.0, false),
    ("sam_test", 0.44, false),
    ("sam_instant", 0.0, true),
];

/// The golden SAM galaxies converted and clipped like the reference's adapter.
fn converted_batch(file: &str, frac_recycle: f64, instant: bool) -> Batch {
    let gold = npz(&format!("golden/{file}.npz"));
    let bins = get1(&gold, "age_bins");
    let ages = if instant {
        AgeBins::Instant(bins)
    } else {
        AgeBins::Step(bins)
    };
    let conv = SamConverter::new(&files().ssp, ages, frac_recycle).expect("converter");
    let scalars = ["theta", "m_dust", "r_dust", "r_disk", "r_bulge"].map(|k| get1(&gold, k));
    let hist = [
        "sfh_mass_disk",
        "sfh_metal_mass_disk",
        "sfh_mass_bulge",
        "sfh_metal_mass_bulge",
    ]
    .map(|k| get2(&gold, k));
    let (mut gp, mut sfh_disk, mut sfh_bulge) = (vec![], vec![], vec![]);
    for (i, &theta_deg) in scalars[0].iter().enumerate() {
        let h = |k: usize| hist[k].row(i).to_slice().expect("contiguous");
        let g = SamGalaxy {
            theta_deg,
            m_dust: scalars[1][i],
            r_dust: scalars[2][i],
            r_disk: scalars[3][i],
            r_bulge: scalars[4][i],
            mass_disk: h(0),
            metal_disk: h(1),
            mass_bulge: h(2),
            metal_bulge: h(3),
        };
        let out = conv
            .convert(&g)
            .unwrap_or_else(|e| panic!("{file} row {i}: {e}"));
        gp.extend_from_slice(&out.gp);
        sfh_disk.extend_from_slice(&out.sfh_disk);
        sfh_bulge.extend_from_slice(&out.sfh_bulge);
    }
    // The converted inputs are those the reference fed to its model (gp after its float32
    // rounding), so the clipped batch equals the reference's clipped inputs.
    let want = |k: &str| get2(&gold, k).iter().copied().collect::<Vec<f64>>();
    let reference = Batch::new(
        want("gp"),
        want("sfh_disk"),
        want("sfh_bulge"),
        OutOfRange::Clip,
    )
    .expect("batch");
    let batch = Batch::new(gp, sfh_disk, sfh_bulge, OutOfRange::Clip).expect("batch");
    assert_eq!(batch, reference, "{file}: clipped inputs");
    batch
}

fn check(model: &Starduster, key: &str) {
    for (file, frac, instant) in CASES {
        let gold = npz(&format!("golden/{file}.npz"));
        let batch = converted_batch(file, frac, instant);
        let fnu = model.spectrum(
            &batch,
            Component::Combine,
            SpectralUnits::Fnu,
            Observer::default(),
        );
        let want: Array2<f64> = get2(&gold, key);
        check_spectra(
            &format!("{file} {key}"),
            &to_f64(&fnu),
            &want,
            SPEC_RTOL,
            SPEC_ATOL_ROW,
        );
    }
}

#[test]
fn sam_seds_base_grid() {
    check(&model(WavelengthGrid::Base), "sed_fnu_base");
}

#[test]
fn sam_seds_auto_grid() {
    check(&model(WavelengthGrid::Auto), "sed_fnu_auto");
}

#[test]
fn zero_dust_stand_in_clips_like_minus_infinity() {
    // The reference turns m_dust = 0 into gp[1] = −∞, which its adapter clips to −(1 − 1e−6)
    // in float32; the converter's finite stand-in must give the same clipped batch.
    let gold = npz("golden/sam_tutorial.npz");
    let conv =
        SamConverter::new(&files().ssp, AgeBins::Step(get1(&gold, "age_bins")), 0.0).unwrap();
    let hist = [
        "sfh_mass_disk",
        "sfh_metal_mass_disk",
        "sfh_mass_bulge",
        "sfh_metal_mass_bulge",
    ]
    .map(|k| get2(&gold, k));
    let h = |k: usize| hist[k].row(0).to_slice().unwrap();
    let g = SamGalaxy {
        theta_deg: 30.0,
        m_dust: 0.0,
        r_dust: 2.0,
        r_disk: 2.0,
        r_bulge: 0.0,
        mass_disk: h(0),
        metal_disk: h(1),
        mass_bulge: h(2),
        metal_bulge: h(3),
    };
    let out = conv.convert(&g).unwrap();
    let batch = Batch::new(
        out.gp.to_vec(),
        out.sfh_disk.to_vec(),
        out.sfh_bulge.to_vec(),
        OutOfRange::Clip,
    )
    .unwrap();
    let floor = -((1.0 - 1e-6) as f32);
    let clipped_minus_inf = (f32::NEG_INFINITY).clamp(floor, -floor);
    assert_eq!(batch.gp()[1], clipped_minus_inf);
    assert_eq!(batch.gp()[4], clipped_minus_inf);
    assert_eq!(batch.gp()[1], floor);
}
