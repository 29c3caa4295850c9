//! Model files: the package's own stored test case, the native format round trip, and bad files.

mod common;

use common::*;
use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::Component;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::{MANIFEST, ModelFiles};
use galsed_emulator::predict::{Observer, Photometry, SpectralUnits};

/// `test_pickles/test_sed_model.npz`: from_builtin('base') with the 19 tutorial filters.
#[test]
fn package_test_sed_model() {
    let t = npz("test_pickles/test_sed_model.npz");
    let flat = |k: &str| get2(&t, k).iter().copied().collect::<Vec<f64>>();
    let batch = Batch::new(
        flat("gp"),
        flat("sfh_disk"),
        flat("sfh_bulge"),
        OutOfRange::Clip,
    )
    .unwrap();
    let model = model(WavelengthGrid::Base);
    let z0 = Observer::default();
    let fnu = model.spectrum(&batch, Component::Combine, SpectralUnits::Fnu, z0);
    check_spectra(
        "spectra_0 (fnu)",
        &to_f64(&fnu),
        &get2(&t, "spectra_0"),
        1e-4,
        1e-6,
    );
    let lum = model.spectrum(&batch, Component::Combine, SpectralUnits::Luminosity, z0);
    check_spectra(
        "spectra_1 (lum)",
        &to_f64(&lum),
        &get2(&t, "spectra_1"),
        1e-4,
        1e-6,
    );
    let dust = model.spectrum(&batch, Component::DustEmission, SpectralUnits::Fnu, z0);
    check_spectra(
        "spectra_2 (dust fnu)",
        &to_f64(&dust),
        &get2(&t, "spectra_2"),
        1e-4,
        1e-6,
    );
    let filters: Vec<Filter> = FILTERS
        .iter()
        .filter(|n| **n != "herschel_pacs_70")
        .map(|n| Filter::builtin(n).unwrap())
        .collect();
    let phot = Photometry::new(&model, &filters, z0).unwrap();
    let mags = model.magnitudes(&batch, Component::Combine, &phot);
    check_abs(
        "spectra_3 (mags)",
        mags.as_slice().unwrap(),
        get2(&t, "spectra_3").as_slice().unwrap(),
        1e-4,
    );
    check_rel(
        "dust_props_0 (L_IR)",
        &model.l_ir(&batch),
        &get1(&t, "dust_props_0"),
        1e-5,
    );
    let v = model
        .windowed_attenuation(&batch, &[(5450.0, 5550.0)], z0)
        .unwrap();
    check_abs(
        "dust_props_1 (A_V window)",
        v.as_slice().unwrap(),
        &get1(&t, "dust_props_1"),
        1e-5,
    );
    let att = model.attenuation_curves(&batch);
    check_abs(
        "dust_props_2 (curves)",
        to_f64(&att.mag).as_slice().unwrap(),
        get2(&t, "dust_props_2").as_slice().unwrap(),
        1e-5,
    );
}

/// The importer's hyper-parameters agree with the converted JSON copies of the reference pack.
#[test]
fn imported_config_matches_reference_json() {
    let files = files();
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(reference().join("model").join(name)).unwrap())
            .unwrap()
    };
    let cd = json("curve_disk.json");
    let c = &files.config.curve_disk;
    assert_eq!(c.columns, vec![0, 1, 2, 3]);
    assert_eq!(
        c.net.output_size as u64,
        cd["output_size"].as_u64().unwrap()
    );
    assert_eq!(c.net.bump_inds, vec![(17, 48), (182, 216), (215, 245)]);
    assert_eq!(c.net.trough_ind, (17, 159));
    assert_eq!(c.net.norm_fix, cd["norm_fix"].as_f64().unwrap());
    assert_eq!(files.config.curve_bulge.columns, vec![0, 1, 2, 3, 4]);
    let de = json("dust_emission_v1.json");
    assert_eq!(files.config.eps_reduce, de["eps_reduce"].as_f64().unwrap());
    assert_eq!(files.config.distri.dx, de["distri"]["dx"].as_f64().unwrap());
    assert_eq!(files.config.distri.n_mix, 16);
    assert_eq!(files.config.frac_disk.columns, vec![1, 2, 3, 5]);
    assert_eq!(files.config.frac_bulge.columns, vec![1, 2, 3, 4, 5]);
    assert_eq!(files.config.selector_disk.columns, vec![0, 1, 2, 3]);
    assert_eq!(files.config.selector_bulge.columns, vec![0, 1, 2, 3, 4]);
}

/// Writing the native format and reading it back gives the same model, bit for bit.
#[test]
fn native_format_round_trip() {
    let files = files();
    let dir = tempfile::tempdir().unwrap();
    files.write_native(dir.path(), "test").unwrap();
    let back = ModelFiles::load(dir.path()).unwrap();
    assert_eq!(back.config, files.config);
    assert_eq!(back.ssp, files.ssp);
    for (a, b) in [
        (&back.weights.curve_disk, &files.weights.curve_disk),
        (&back.weights.curve_bulge, &files.weights.curve_bulge),
        (&back.weights.dust_emission, &files.weights.dust_emission),
        (&back.weights.selector_disk, &files.weights.selector_disk),
        (&back.weights.selector_bulge, &files.weights.selector_bulge),
    ] {
        assert_eq!(a.tensors(), b.tensors());
    }
    let model = galsed_emulator::Starduster::from_files(&back, &WavelengthGrid::Base).unwrap();
    let gold = npz("golden/sed_base_f32.npz");
    let lum = model.spectrum(
        &golden_batch(),
        Component::Combine,
        SpectralUnits::Luminosity,
        Observer::default(),
    );
    check_spectra(
        "native sed_combine_lum",
        &to_f64(&lum),
        &get2(&gold, "sed_combine_lum"),
        1e-4,
        1e-6,
    );
}

/// Truncated, foreign or missing model files give errors naming the problem.
#[test]
fn bad_model_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = ModelFiles::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("galsed model fetch"), "{err}");

    // A copy of the original files with one checkpoint truncated.
    let orig = reference().join("original");
    for entry in std::fs::read_dir(&orig).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let target = dir.path().join("curve_bulge.pt");
    let bytes = std::fs::read(&target).unwrap();
    std::fs::write(&target, &bytes[..bytes.len() / 2]).unwrap();
    let err = ModelFiles::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("curve_bulge.pt"), "{err}");

    // A native directory with a corrupt manifest and one with truncated weights.
    let native = tempfile::tempdir().unwrap();
    files().write_native(native.path(), "test").unwrap();
    let w = native.path().join("weights.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() - 100]).unwrap();
    let err = ModelFiles::load(native.path()).unwrap_err().to_string();
    assert!(err.contains("weights.safetensors"), "{err}");
    std::fs::write(native.path().join(MANIFEST), b"{\"format\": \"other\"}").unwrap();
    let err = ModelFiles::load(native.path()).unwrap_err().to_string();
    assert!(err.contains(MANIFEST), "{err}");
}

/// Exporting the networks built from the published weights gives back the published state dicts,
/// bit for bit (the fused curve heads split into their heads, the input columns restored).
#[test]
fn networks_export_their_state_dicts() {
    use burn::prelude::Device;
    use galsed_emulator::networks::{AttenuationCurve, EmissionDistribution, InputColumns, Mlp};
    use galsed_emulator::weights::Weights;
    use std::collections::BTreeMap;

    let files = files();
    let (c, w, dev) = (&files.config, &files.weights, Device::flex());
    let on_gp = |columns: &[usize]| InputColumns {
        columns: columns.to_vec(),
        width: 7,
    };
    for (weights, cfg) in [
        (&w.curve_disk, &c.curve_disk),
        (&w.curve_bulge, &c.curve_bulge),
    ] {
        let input = on_gp(&cfg.columns);
        let net = AttenuationCurve::from_weights(weights, &cfg.net, &input, &dev).unwrap();
        assert_eq!(net.to_weights(&input).unwrap().tensors(), weights.tensors());
    }
    for (weights, cfg) in [
        (&w.selector_disk, &c.selector_disk),
        (&w.selector_bulge, &c.selector_bulge),
    ] {
        let input = on_gp(&cfg.columns);
        let net = Mlp::from_weights(weights, "mlp", &cfg.net, &input, &dev).unwrap();
        assert_eq!(
            net.to_weights("mlp", &input).unwrap().tensors(),
            weights.tensors()
        );
    }
    let dust = &w.dust_emission;
    let mut exported = BTreeMap::new();
    for (name, cfg) in [("frac_disk", &c.frac_disk), ("frac_bulge", &c.frac_bulge)] {
        let input = on_gp(&cfg.columns);
        let net = Mlp::from_weights(
            &dust.with_prefix(&format!("{name}.")),
            "mlp",
            &cfg.net,
            &input,
            &dev,
        )
        .unwrap();
        let part = net.to_weights(&format!("{name}.mlp"), &input).unwrap();
        exported.extend(part.tensors().clone());
    }
    let distri =
        EmissionDistribution::from_weights(&dust.with_prefix("distri."), &c.distri, &dev).unwrap();
    for (k, v) in distri.to_weights().unwrap().tensors() {
        exported.insert(format!("distri.{k}"), v.clone());
    }
    assert_eq!(Weights::new(exported).tensors(), dust.tensors());
}
