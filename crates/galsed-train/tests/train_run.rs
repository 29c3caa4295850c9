//! Training end to end on teacher data from the published model: the validation report of the
//! teacher against itself, a short training run (losses fall, a checkpointed and resumed run
//! equals an uninterrupted one bit for bit), and the trained model written in the native format
//! and loaded back by the emulator.

use std::path::{Path, PathBuf};

use galsed_core::filters::Filter;
use galsed_core::ssp::WavelengthGrid;
use galsed_emulator::inputs::{Batch, OutOfRange};
use galsed_emulator::model_files::ModelFiles;
use galsed_emulator::predict::{Observer, Photometry};
use galsed_emulator::{Component, Starduster};
use galsed_train::data::TrainingSet;
use galsed_train::teacher::teacher_set;
use galsed_train::train::{
    Checkpointing, Network, Outcome, Sizes, TrainConfig, TrainReport, Trainer,
};
use galsed_train::validate::validate;

fn published() -> ModelFiles {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/starduster/original");
    ModelFiles::load(&dir).expect("the published model (reference pack beside the repository)")
}

/// The teacher's own networks reproduce its data: the validation plumbing (curves, emission,
/// selectors and the SEDs assembled from the data) is exact up to float32 rounding.
#[test]
fn teacher_validates_against_itself() {
    let files = published();
    let set = teacher_set(&files, 200, 11).unwrap();
    assert_eq!(set.valid_rows().len(), 200);
    assert!(
        set.len() > 200,
        "the selectors reject some prior samples ({} drawn)",
        set.len()
    );
    let r = validate(&files, &set).unwrap();
    let get = |q: &str, k: &str| {
        r.get(q, k)
            .unwrap_or_else(|| panic!("no {q}/{k}"))
            .summary
            .clone()
    };
    for part in ["disk", "bulge"] {
        let s = get(&format!("attenuation_{part}_maxabs"), "sample");
        assert!(s.n >= 200 && s.abs_p95 < 1e-5, "{part}: {s:?}");
        assert_eq!(get(&format!("selector_{part}_correct"), "sample").mean, 1.0);
    }
    let kl = get("emission_kl", "sample");
    assert!(kl.n == 200 && kl.abs_p95 < 1e-5, "{kl:?}");
    assert!(get("frac_abs_rel", "sample").abs_p95 < 1e-5);
    for band in galsed_train::validate::FILTERS20 {
        let s = get("mag_combine", band);
        assert!(s.n == 200 && s.abs_p95 < 1e-4, "{band}: {s:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    r.write_csv(&dir.path().join("report.csv")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    assert!(text.starts_with("quantity,key,lam_um,n,mean,"));
    assert!(text.lines().any(|l| l.starts_with("mag_combine,sdss_r0,")));
}

fn sizes() -> Sizes {
    Sizes {
        curve_hidden: vec![24, 24],
        frac_hidden: vec![16],
        distri_hidden: vec![24, 24],
        selector_hidden: vec![8],
        n_mix: 4,
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 64,
        max_lrs: vec![3e-3, 1e-2],
        seed: 5,
        ..TrainConfig::default()
    }
}

fn train(
    files: &ModelFiles,
    train: &TrainingSet,
    valid: &TrainingSet,
    dir: &Path,
    budget: Option<usize>,
) -> Outcome {
    let trainer = Trainer {
        base: files,
        config: config(),
        sizes: sizes(),
        train,
        valid,
        checkpoints: Checkpointing {
            dir: Some(dir.to_path_buf()),
            restart: false,
            max_epochs_this_call: budget,
        },
    };
    trainer.run(&Network::ALL, &mut |_| {}).unwrap()
}

fn finished(o: Outcome) -> (ModelFiles, TrainReport) {
    match o {
        Outcome::Finished(t) => (t.model, t.report),
        Outcome::Interrupted => panic!("the run stopped early"),
    }
}

/// The histories without their wall times.
fn losses(r: &TrainReport) -> Vec<(f64, f64, f64)> {
    r.networks
        .iter()
        .flat_map(|n| {
            n.runs.iter().flat_map(|run| {
                run.history
                    .iter()
                    .map(|e| (e.train_loss, e.valid_loss, e.lr))
            })
        })
        .collect()
}

#[test]
fn short_training_run_resumes_bitwise() {
    let files = published();
    let set = teacher_set(&files, 320, 3).unwrap();
    let (tr, va) = set.split(0.25, 4).unwrap();

    let a_dir = tempfile::tempdir().unwrap();
    let (model_a, report_a) = finished(train(&files, &tr, &va, a_dir.path(), None));
    for net in &report_a.networks {
        assert_eq!(net.runs.len(), 2);
        let run = &net.runs[net.best];
        let (first, last) = (&run.history[0], run.history.last().unwrap());
        assert!(
            last.train_loss < first.train_loss && last.valid_loss < first.valid_loss,
            "{:?}: losses did not fall: {:?}",
            net.network,
            run.history
        );
        println!(
            "{:?}: best max_lr {} valid loss {} → {}",
            net.network, run.max_lr, first.valid_loss, last.valid_loss
        );
    }

    // The same training cut into three calls (after 3 and 5 of its 40 epochs).
    let b_dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        train(&files, &tr, &va, b_dir.path(), Some(3)),
        Outcome::Interrupted
    ));
    assert!(matches!(
        train(&files, &tr, &va, b_dir.path(), Some(5)),
        Outcome::Interrupted
    ));
    let (model_b, report_b) = finished(train(&files, &tr, &va, b_dir.path(), None));
    assert_eq!(losses(&report_a), losses(&report_b));
    let w = |m: &ModelFiles| {
        let w = &m.weights;
        [
            &w.curve_disk,
            &w.curve_bulge,
            &w.dust_emission,
            &w.selector_disk,
            &w.selector_bulge,
        ]
        .map(|x| x.tensors().clone())
    };
    assert_eq!(
        w(&model_a),
        w(&model_b),
        "resumed weights differ from the uninterrupted run"
    );

    // A finished checkpoint directory gives the finished model again without training.
    let (model_c, _) = finished(train(&files, &tr, &va, a_dir.path(), Some(0)));
    assert_eq!(w(&model_a), w(&model_c));

    // Other settings refuse the checkpoints instead of mixing runs.
    let trainer = Trainer {
        base: &files,
        config: TrainConfig {
            seed: 6,
            ..config()
        },
        sizes: sizes(),
        train: &tr,
        valid: &va,
        checkpoints: Checkpointing {
            dir: Some(a_dir.path().to_path_buf()),
            restart: false,
            max_epochs_this_call: None,
        },
    };
    let err = trainer
        .run(&Network::ALL, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("other settings"), "{err}");

    // Written in the native format and loaded back by the emulator.
    let out = tempfile::tempdir().unwrap();
    model_a.write_native(out.path(), "test").unwrap();
    let back = ModelFiles::load(out.path()).unwrap();
    assert_eq!(w(&back), w(&model_a));
    assert_eq!(back.config, model_a.config);
    assert_eq!(back.config.curve_disk.net.mlp.hidden_sizes, vec![24, 24]);
    assert_eq!(back.config.distri.n_mix, 4);
    let emu = Starduster::from_files(&back, &WavelengthGrid::Base).unwrap();
    let rows = va.len().min(8);
    let flat = |a: &ndarray::Array2<f64>| {
        a.rows()
            .into_iter()
            .take(rows)
            .flat_map(|r| r.to_vec())
            .collect::<Vec<f64>>()
    };
    let batch = Batch::new(
        flat(&va.params),
        flat(va.sfh_disk.as_ref().unwrap()),
        flat(va.sfh_bulge.as_ref().unwrap()),
        OutOfRange::Error,
    )
    .unwrap();
    let filters: Vec<Filter> = galsed_core::filters::DEFAULT19
        .iter()
        .map(|f| Filter::builtin(f).unwrap())
        .collect();
    let phot = Photometry::new(&emu, &filters, Observer::default()).unwrap();
    let mags = emu.magnitudes(&batch, Component::Combine, &phot);
    assert!(mags.iter().all(|m| m.is_finite()), "{mags:?}");
    // The trained networks are the ones in use: validation of the written model matches the
    // training's final validation loss of the kept curve run.
    let r = validate(&back, &va).unwrap();
    let net = &report_a.networks[0];
    assert_eq!(net.network, Network::CurveDisk);
    let final_loss = net.runs[net.best].history.last().unwrap().valid_loss;
    let mean = r
        .get("attenuation_disk_maxabs", "sample")
        .unwrap()
        .summary
        .mean;
    assert!(
        (mean - final_loss).abs() <= 1e-5 * final_loss,
        "{mean} vs {final_loss}"
    );
}
