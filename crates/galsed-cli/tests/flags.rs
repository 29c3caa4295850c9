//! One flag vocabulary across the subcommands: `--output/-o`, `--format`, `--chunk-size`,
//! `-n/--galaxies`, `--model`, `--dest`. The old spellings still parse as hidden aliases.

use std::process::{Command, Output};

fn galsed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galsed"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("cannot run galsed")
}

fn help(cmd: &[&str]) -> String {
    let mut args = cmd.to_vec();
    args.push("--help");
    let o = galsed(&args);
    assert!(
        o.status.success(),
        "galsed {} --help failed: {}",
        cmd.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A subcommand, the canonical flags its help must list, and the old spellings (with a value)
/// that must still parse but not be listed.
type Case = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// Every subcommand.
const COMMANDS: &[Case] = &[
    (
        &["sed"],
        &[
            "-o, --output",
            "-i, --input",
            "--chunk-size",
            "--model",
            "--threads",
            "--component",
        ],
        &[],
    ),
    (
        &["fit"],
        &["-o, --output", "--format", "--model", "--threads"],
        &[("--plot-format", "svg")],
    ),
    (
        &["catalog", "run"],
        &[
            "-o, --output",
            "-i, --input",
            "--chunk-size",
            "--model",
            "--threads",
            "--component",
        ],
        &[("--chunk-rows", "100")],
    ),
    (
        &["catalog", "synth"],
        &["-o, --output", "-n, --galaxies"],
        &[("--rows", "10")],
    ),
    (
        &["demo"],
        &["-o, --output", "--format", "--model"],
        &[("--out", "x")],
    ),
    (&["model", "fetch"], &["--dest", "--from"], &[]),
    (&["model", "info"], &["--model"], &[]),
    (
        &["model", "import"],
        &["--dest", "--model"],
        &[("--to", "x")],
    ),
    (&["filters", "list"], &[], &[]),
    (&["train"], &["-o, --output", "--data"], &[]),
    (
        &["train", "teacher"],
        &["-o, --output", "-n, --galaxies", "--model"],
        &[("--n", "5")],
    ),
    (&["validate"], &["-o, --output", "--model"], &[]),
    (
        &["skirt", "prepare"],
        &["-o, --output", "-n, --galaxies"],
        &[("--out", "x"), ("--samples", "3")],
    ),
    (
        &["skirt", "run"],
        &[
            "--index",
            "--outputs",
            "-j, --jobs",
            "-t, --threads",
            "--slurm",
        ],
        &[],
    ),
    (&["skirt", "collect"], &["-o, --output"], &[]),
    (
        &["optir", "simulate"],
        &["-o, --output", "-n, --galaxies", "--model"],
        &[],
    ),
    (&["optir", "import"], &["-o, --output"], &[]),
    (&["optir", "train"], &["-o, --output"], &[]),
    (&["optir", "encode"], &["-o, --output"], &[]),
    (&["optir", "evaluate"], &["-o, --output", "--model"], &[]),
    (&["optir", "occlude"], &["-o, --output", "--galaxies"], &[]),
    (&["optir", "run"], &["-o, --output", "--model"], &[]),
    (&["bench"], &["--model", "--threads"], &[]),
];

#[test]
fn one_flag_vocabulary_with_the_old_spellings_as_hidden_aliases() {
    for (cmd, canonical, old) in COMMANDS {
        let text = help(cmd);
        for flag in *canonical {
            assert!(
                text.contains(flag),
                "galsed {} --help does not list {flag}:\n{text}",
                cmd.join(" ")
            );
        }
        for (flag, value) in *old {
            assert!(
                !text.contains(&format!("{flag} ")) && !text.contains(&format!("{flag}\n")),
                "galsed {} --help lists the old spelling {flag}",
                cmd.join(" ")
            );
            // Parsed (clap stops at --help after it), not rejected as unknown.
            let mut args = cmd.to_vec();
            args.extend([*flag, *value, "--help"]);
            let o = galsed(&args);
            assert!(
                o.status.success(),
                "galsed {} {flag} {value} is rejected: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // The old spellings named in no help at all.
    for old in ["--plot-format", "--chunk-rows", "--rows", "--out ", "--to "] {
        for (cmd, _, _) in COMMANDS {
            assert!(
                !help(cmd).contains(old),
                "galsed {} --help shows {old}",
                cmd.join(" ")
            );
        }
    }
}
