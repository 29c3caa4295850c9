//! `galsed skirt run` on the real SKIRT 9 of `../shared/tools/skirt` (tests without it say so and
//! pass): a tiny prepared set runs to completion and `collect` reads it; a run killed at a random
//! moment resumes to outputs byte-identical to an uninterrupted run's, without redoing finished
//! runs; a parameter file SKIRT rejects is reported with SKIRT's error line; the Slurm script runs
//! its tasks with the same completion scheme.
//!
//! Sets of disk and bulge runs only (emission runs spend ≈ 25 s in setup), 10⁴ packets on a
//! 16 × 16 grid: ≈ 1–2 s per run, mostly reading the dust tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn skirt() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/skirt");
    if root.is_dir() {
        Some(root.join("current/release/SKIRT/main/skirt"))
    } else {
        eprintln!(
            "skipping: ../shared/tools/skirt not found ({})",
            root.display()
        );
        None
    }
}

mod common;
use common::{ok, s, text};

/// `galsed ARGS` with the published model, and without a SKIRT from the environment.
fn command(tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = common::command(tmp, args);
    cmd.env_remove("GALSED_SKIRT");
    cmd
}

fn galsed(tmp: &Path, args: &[&str]) -> Output {
    command(tmp, args).output().expect("run galsed")
}

/// Prepares `n` galaxies (seed 3) with disk and bulge runs in `dir`.
fn prepare(tmp: &Path, dir: &Path, n: usize) {
    ok(galsed(
        tmp,
        &[
            "skirt",
            "prepare",
            "-n",
            &n.to_string(),
            "--seed",
            "3",
            "--runs",
            "disk,bulge",
            "--packets",
            "1e4",
            "--grid-bins",
            "16",
            "--grid-bins-per-decade",
            "0",
            "-o",
            s(dir),
        ],
    ));
}

/// The SED outputs in `dir`, by file name.
fn seds(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| s(p).ends_with("_obs_sed.dat"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Directories left in `<dir>/.running`.
fn running(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join(".running"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn a_set_runs_to_completion_and_collect_reads_it() {
    let Some(skirt) = skirt() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (t, set, out) = (tmp.path(), tmp.path().join("set"), tmp.path().join("out"));
    prepare(t, &set, 3);
    let start = Instant::now();
    let stdout = ok(galsed(
        t,
        &[
            "skirt",
            "run",
            s(&set),
            "--outputs",
            s(&out),
            "--jobs",
            "2",
            "--skirt",
            s(&skirt),
        ],
    ));
    eprintln!("{stdout}6 runs in {:.1} s", start.elapsed().as_secs_f64());
    assert!(
        stdout.contains("6 runs done, 0 skipped (finished before), 0 failed"),
        "{stdout}"
    );
    for kind in ["disk", "bulge"] {
        assert!(
            stdout.contains(&format!("  {kind} runs (3): median ")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("peak memory ") && !stdout.contains("peak memory ?"),
        "{stdout}"
    );
    for id in ["s000000", "s000001", "s000002"] {
        for run in ["disk", "bulge"] {
            for suffix in ["obs_sed.dat", "log.txt", "parameters.xml"] {
                let f = out.join(format!("{id}_{run}_{suffix}"));
                assert!(f.is_file(), "missing {}", f.display());
            }
        }
    }
    assert!(running(&out).is_empty());

    let again = ok(galsed(
        t,
        &[
            "skirt",
            "run",
            s(&set),
            "--outputs",
            s(&out),
            "--skirt",
            s(&skirt),
        ],
    ));
    assert!(
        again.contains("0 runs done, 6 skipped (finished before), 0 failed"),
        "{again}"
    );

    let npz = t.join("train.npz");
    let collected = ok(galsed(
        t,
        &[
            "skirt",
            "collect",
            "--index",
            s(&set.join("index.csv")),
            "--outputs",
            s(&out),
            "-o",
            s(&npz),
        ],
    ));
    assert!(collected.starts_with("3 samples"), "{collected}");
    assert!(collected.contains("disk curves: 3 valid"), "{collected}");
}

#[test]
fn a_killed_run_resumes_without_redoing_or_losing_runs() {
    let Some(skirt) = skirt() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (reference, killed) = (t.join("reference"), t.join("killed"));
    prepare(t, &reference, 3);
    prepare(t, &killed, 3);
    let run = |dir: &Path| -> Command {
        let mut cmd = command(
            t,
            &[
                "skirt",
                "run",
                s(dir),
                "--jobs",
                "2",
                "--threads",
                "1",
                "--skirt",
                s(&skirt),
            ],
        );
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    };
    let start = Instant::now();
    ok(run(&reference).output().unwrap());
    let full = start.elapsed();
    let expected = seds(&reference);
    assert_eq!(expected.len(), 6);

    // Two kills at random moments: the first about halfway (some runs finished, two in
    // flight), the second early in the resumed run.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut finished_at_kill: BTreeMap<String, SystemTime> = BTreeMap::new();
    for round in 0..2u32 {
        let fraction = f64::from((nanos >> (8 * round)) % 256) / 256.0;
        let delay = match round {
            0 => full.mul_f64(0.3 + 0.4 * fraction),
            _ => full.mul_f64(0.1 + 0.5 * fraction),
        };
        let mut child: Child = run(&killed).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        // The SKIRT children die with galsed.
        let needle = s(&killed).to_string();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_mentioning(&needle).is_empty() {
            assert!(
                Instant::now() < deadline,
                "SKIRT outlived galsed: {:?}",
                processes_mentioning(&needle)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let done = seds(&killed);
        eprintln!(
            "kill {round} after {:.2} s: {} runs finished, {} partial directories",
            delay.as_secs_f64(),
            done.len(),
            running(&killed).len()
        );
        for (name, bytes) in &done {
            assert_eq!(Some(bytes), expected.get(name), "{name} differs");
            let mtime = std::fs::metadata(killed.join(name))
                .unwrap()
                .modified()
                .unwrap();
            // A run finished before an earlier kill was not redone.
            if let Some(before) = finished_at_kill.insert(name.clone(), mtime) {
                assert_eq!(before, mtime, "{name} was rewritten");
            }
        }
    }

    let stdout = ok(run(&killed).output().unwrap());
    let before = finished_at_kill.len();
    assert!(
        stdout.contains(&format!(
            "{} runs done, {before} skipped (finished before), 0 failed",
            6 - before
        )),
        "{stdout}"
    );
    assert_eq!(
        seds(&killed),
        expected,
        "outputs differ from the uninterrupted run"
    );
    for (name, mtime) in &finished_at_kill {
        let now = std::fs::metadata(killed.join(name))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(&now, mtime, "{name} was recomputed");
    }
    assert!(running(&killed).is_empty());
    // Every run has its log next to its outputs.
    for name in expected.keys() {
        let log = killed.join(name.replace("_obs_sed.dat", "_log.txt"));
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(log.matches("Finished simulation").count(), 1, "{name}");
    }
}

#[test]
fn a_rejected_parameter_file_is_reported_with_skirts_error() {
    let Some(skirt) = skirt() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (t, set) = (tmp.path(), tmp.path().join("set"));
    prepare(t, &set, 2);
    let ski = set.join("s000001_bulge.ski");
    let content = std::fs::read_to_string(&ski).unwrap();
    std::fs::write(&ski, &content[..content.len() / 2]).unwrap();

    let out = galsed(t, &["skirt", "run", s(&set), "--skirt", s(&skirt)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 runs done, 0 skipped (finished before), 1 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAILED s000001_bulge (s000001_bulge.ski): Error in XML stream 's000001_bulge.ski' at line"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 4 SKIRT runs failed"));
    assert!(set.join("s000001_bulge_log.txt").is_file());
    assert!(!set.join("s000001_bulge_obs_sed.dat").exists());
    assert!(running(&set).is_empty());

    // collect gathers what finished.
    let collected = ok(galsed(
        t,
        &[
            "skirt",
            "collect",
            "--index",
            s(&set.join("index.csv")),
            "--skip-missing",
            "-o",
            s(&t.join("train.npz")),
        ],
    ));
    assert!(collected.starts_with("1 samples"), "{collected}");
    assert!(
        collected.contains("s000001: no bulge output"),
        "{collected}"
    );
}

#[test]
fn the_slurm_tasks_complete_runs_like_the_local_runner() {
    let Some(skirt) = skirt() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (t, set) = (tmp.path(), tmp.path().join("set"));
    prepare(t, &set, 2);
    // One run finished locally first: the job array holds the other three.
    ok(galsed(
        t,
        &[
            "skirt",
            "run",
            s(&set),
            "--runs",
            "disk",
            "--jobs",
            "1",
            "--skirt",
            s(&skirt),
        ],
    ));
    std::fs::remove_file(set.join("s000001_disk_obs_sed.dat")).unwrap();
    let script = t.join("job.sh");
    let stdout = ok(galsed(
        t,
        &[
            "skirt",
            "run",
            s(&set),
            "--slurm",
            s(&script),
            "--threads",
            "1",
            "--slurm-parallel",
            "8",
            "--skirt",
            s(&skirt),
        ],
    ));
    assert!(
        stdout.starts_with("3 pending runs (1 finished)"),
        "{stdout}"
    );
    let list = std::fs::read_to_string(t.join("job.sh.runs")).unwrap();
    assert_eq!(
        list,
        "s000000_bulge.ski\ns000001_disk.ski\ns000001_bulge.ski\n"
    );
    let body = std::fs::read_to_string(&script).unwrap();
    assert!(body.contains("#SBATCH --array=0-2%8\n"), "{body}");

    // What each array task does, run here one after the other.
    for task in 0..3 {
        let out = Command::new("bash")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .current_dir(t)
            .output()
            .unwrap();
        assert!(out.status.success(), "task {task}: {}", text(&out));
    }
    assert_eq!(seds(&set).len(), 4);
    assert!(running(&set).is_empty());
    let again = Command::new("bash")
        .arg(&script)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("s000001_disk: already finished"));
    let stdout = ok(galsed(t, &["skirt", "run", s(&set), "--skirt", s(&skirt)]));
    assert!(stdout.contains("0 runs done, 4 skipped"), "{stdout}");
}

#[test]
fn a_missing_skirt_binary_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (t, set) = (tmp.path(), tmp.path().join("set"));
    prepare(t, &set, 1);
    let out = galsed(t, &["skirt", "run", s(&set), "--skirt", "/no/such/skirt"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("SKIRT binary /no/such/skirt (--skirt) not found"),
        "{}",
        text(&out)
    );
    let out = command(t, &["skirt", "run", s(&set)])
        .env("PATH", t.join("empty"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SKIRT not found: no `skirt` on the PATH"),
        "{}",
        text(&out)
    );
    let out = command(t, &["skirt", "run", s(&set)])
        .env("GALSED_SKIRT", "/no/such/skirt")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(GALSED_SKIRT) not found"),
        "{}",
        text(&out)
    );
}
