//! `galsed train teacher`, `galsed train` and `galsed validate` end to end: a small teacher set,
//! a short training of small networks, the written model used by `galsed sed`, the validation
//! table and plots, a resumed training, and clear errors for bad input.

use std::fs::File;
use std::path::Path;

use ndarray::Array2;
use ndarray_npy::{NpzReader, NpzWriter};

mod common;
use common::{fails, galsed, ok, s};

#[test]
fn teacher_train_sed_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (train, valid) = (t.join("train.npz"), t.join("valid.npz"));
    let out = ok(galsed(
        t,
        &[
            "train",
            "teacher",
            "--n",
            "200",
            "--seed",
            "1",
            "--output",
            s(&train),
        ],
    ));
    assert!(
        out.contains("200 inside the teacher's valid region"),
        "{out}"
    );
    ok(galsed(
        t,
        &[
            "train",
            "teacher",
            "--n",
            "80",
            "--seed",
            "2",
            "--output",
            s(&valid),
        ],
    ));

    let model = t.join("model");
    let small = [
        "--curve-hidden",
        "16",
        "--frac-hidden",
        "8",
        "--distri-hidden",
        "16",
        "--selector-hidden",
        "4",
        "--n-mix",
        "3",
        "--batch-size",
        "64",
        "--max-lr",
        "3e-3,1e-2",
        "--epochs",
        "3",
    ];
    let mut args = vec![
        "train",
        "--data",
        s(&train),
        "--validation",
        s(&valid),
        "--output",
        s(&model),
    ];
    args.extend(small);
    // Interrupted after 4 epochs, then resumed to the end.
    let mut first = args.clone();
    first.extend(["--max-epochs", "4"]);
    let out = ok(galsed(t, &first));
    assert!(out.contains("run the same command again"), "{out}");
    assert!(!model.join("galsed-model.json").exists());
    let out = ok(galsed(t, &args));
    for net in [
        "curve_disk",
        "curve_bulge",
        "dust_emission",
        "selector_disk",
        "selector_bulge",
    ] {
        assert!(out.contains(net), "{out}");
    }
    for f in [
        "galsed-model.json",
        "weights.safetensors",
        "ssp.safetensors",
        "training.json",
        "loss_curves.png",
    ] {
        assert!(model.join(f).is_file(), "missing {f}");
    }
    // An uninterrupted run in another process gives the same weights, byte for byte.
    let model2 = t.join("model2");
    let mut again = args.clone();
    again[6] = s(&model2);
    ok(galsed(t, &again));
    let weights = |m: &Path| std::fs::read(m.join("weights.safetensors")).unwrap();
    assert!(
        weights(&model) == weights(&model2),
        "resumed and uninterrupted runs differ"
    );

    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("training.json")).unwrap()).unwrap();
    assert_eq!(record["report"]["networks"].as_array().unwrap().len(), 5);
    assert_eq!(
        record["report"]["networks"][0]["runs"][0]["history"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The trained model in use by `galsed sed`, on the validation galaxies.
    let mut r = NpzReader::new(File::open(&valid).unwrap()).unwrap();
    let mut w = NpzWriter::new(File::create(t.join("galaxies.npz")).unwrap());
    for (from, to) in [
        ("params", "gp"),
        ("sfh_disk", "sfh_disk"),
        ("sfh_bulge", "sfh_bulge"),
    ] {
        let a: Array2<f64> = r.by_name(&format!("{from}.npy")).unwrap();
        w.add_array(to, &a).unwrap();
    }
    w.finish().unwrap();
    let seds = t.join("seds.csv");
    ok(galsed(
        t,
        &[
            "sed",
            "--model",
            s(&model),
            "--input",
            s(&t.join("galaxies.npz")),
            "--output",
            s(&seds),
            "--filters",
            "sdss_r0,wise_w3",
            "--outputs",
            "photometry",
        ],
    ));
    let table = std::fs::read_to_string(&seds).unwrap();
    assert!(table.lines().count() > 80, "{table}");

    let report = t.join("report.csv");
    let out = ok(galsed(
        t,
        &[
            "validate",
            "--model",
            s(&model),
            "--data",
            s(&valid),
            "--output",
            s(&report),
        ],
    ));
    assert!(
        out.contains("attenuation_disk_maxabs") && out.contains("herschel_spire_500"),
        "{out}"
    );
    assert!(t.join("report.png").is_file());
    let csv = std::fs::read_to_string(&report).unwrap();
    let kl_row: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("emission_kl,sample,"))
        .unwrap_or_else(|| panic!("{csv}"))
        .split(',')
        .collect();
    // The per-sample table holds the values behind the report's distributions, one line per
    // sample of the set: same count and mean.
    let samples = std::fs::read_to_string(t.join("report_samples.csv")).unwrap();
    let mut lines = samples.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "row");
    assert!(header.contains(&"mag_combine_sdss_r0"), "{header:?}");
    let col = header.iter().position(|h| *h == "emission_kl").unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().enumerate().all(|(i, r)| r[0] == i.to_string()));
    let kl: Vec<f64> = rows
        .iter()
        .filter(|r| !r[col].is_empty())
        .map(|r| r[col].parse().unwrap())
        .collect();
    assert_eq!(kl.len().to_string(), kl_row[3]);
    let mean = kl.iter().sum::<f64>() / kl.len() as f64;
    let want: f64 = kl_row[4].parse().unwrap();
    assert!((mean / want - 1.0).abs() < 1e-9, "{mean} vs {want}");

    // Bad input: an unknown network, a data set in the wrong space, settings changed under
    // existing checkpoints.
    let mut bad = args.clone();
    bad.extend(["--networks", "curve_middle"]);
    assert!(fails(galsed(t, &bad)).contains("unknown network 'curve_middle'"));
    let mut changed = args.clone();
    changed.extend(["--seed", "9"]);
    assert!(fails(galsed(t, &changed)).contains("--restart"));
    let err = fails(galsed(
        t,
        &[
            "train",
            "--data",
            s(&t.join("none.npz")),
            "--output",
            s(&t.join("m2")),
        ],
    ));
    assert!(err.contains("none.npz"), "{err}");
    let err = fails(galsed(
        t,
        &[
            "validate",
            "--data",
            s(&valid),
            "--output",
            s(&report),
            "--max-k100",
            "abc",
        ],
    ));
    assert!(err.contains("--max-k100"), "{err}");
}

/// Too few epochs for the learning-rate schedule: one error that says the minimum and why.
#[test]
fn too_few_epochs_are_refused_with_the_minimum() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("train.npz");
    ok(galsed(
        t,
        &[
            "train",
            "teacher",
            "--n",
            "40",
            "--seed",
            "1",
            "--output",
            s(&data),
        ],
    ));
    for epochs in ["1", "2"] {
        let e = fails(galsed(
            t,
            &[
                "train",
                "--data",
                s(&data),
                "--output",
                s(&t.join("model")),
                "--networks",
                "curve_disk",
                "--epochs",
                epochs,
            ],
        ));
        assert!(
            e.contains(&format!(
                "epochs × batches per epoch = {epochs} × 1 optimiser steps"
            )) && e.contains("needs at least 4")
                && e.contains("train for at least 4 epochs"),
            "{e}"
        );
    }
}
