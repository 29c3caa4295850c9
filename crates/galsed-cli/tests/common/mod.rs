//! Helpers shared by the command-line tests: the built `galsed` run with the published model and
//! an empty user cache, and its outcome read as text.

// Each test file uses its own subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The published model files beside the repository (`../shared`, as CI has them).
pub fn published() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster/original")
}

/// `galsed ARGS` with the published model (GALSED_MODEL_DIR) and a user cache and home in `tmp`.
pub fn command(tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_galsed"));
    cmd.args(args)
        .env("GALSED_MODEL_DIR", published())
        .env("XDG_CACHE_HOME", tmp.join("cache"))
        .env("HOME", tmp.join("cache"));
    cmd
}

/// Runs `galsed ARGS` (see [`command`]).
pub fn galsed(tmp: &Path, args: &[&str]) -> Output {
    command(tmp, args).output().expect("run galsed")
}

/// Status, stdout and stderr, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The stdout of a run that must succeed.
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "galsed failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The stderr of a run that must fail with an error, not a panic.
pub fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "galsed should have failed:\n{}",
        text(&o)
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !err.contains("panicked"),
        "panic instead of an error:\n{err}"
    );
    err
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
