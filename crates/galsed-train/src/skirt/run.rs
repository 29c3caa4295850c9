//! Running the SKIRT simulations of a prepared set: locally (several SKIRT processes at once) or
//! as a Slurm job array, resumably.
//!
//! A run counts as finished when `<outputs>/<stem>_obs_sed.dat` exists, the file `collect`
//! reads. Completion is made atomic: SKIRT writes into `<outputs>/.running/<stem>/`, and only a
//! run that ended well (exit status 0, the SED written, its log saying `Finished simulation` and
//! holding no `*** Error`: SKIRT 9.0 exits with 0 after a fatal error) has its files renamed into
//! `<outputs>`, the SED last. A kill at any moment therefore leaves either a finished run or no
//! SED; the next call removes the leftover `.running/<stem>/` directories ([`clean_stale`]) and
//! runs the rest. A lock file (`.running/lock`) keeps two local runners off the same outputs.
//!
//! On Linux each SKIRT child asks the kernel to kill it when the thread that started it dies, so
//! that killing galsed (even with SIGKILL) does not leave orphans computing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::index::read_index;
use super::{Run, SkirtError};

/// Directory (inside the outputs) where SKIRT writes runs in progress.
pub const RUNNING_DIR: &str = ".running";

/// Lock file inside [`RUNNING_DIR`] held by a local runner.
const LOCK_FILE: &str = "lock";

/// Environment variable naming the SKIRT binary.
pub const SKIRT_ENV: &str = "GALSED_SKIRT";

/// One SKIRT simulation of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunJob {
    /// Sample identifier.
    pub id: String,
    /// Which run.
    pub run: Run,
    /// Parameter file name, relative to the index's directory.
    pub ski: String,
}

impl RunJob {
    /// SKIRT's output prefix: the parameter file's stem.
    pub fn stem(&self) -> &str {
        self.ski.strip_suffix(".ski").unwrap_or(&self.ski)
    }

    /// File name of the run's SED output.
    pub fn sed_file(&self) -> String {
        Run::sed_output_file(&self.ski)
    }

    /// File name of SKIRT's log of the run.
    pub fn log_file(&self) -> String {
        format!("{}_log.txt", self.stem())
    }
}

/// The runs of an index, split into finished and pending.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Directory of the index: the parameter files and spectra (SKIRT's input path).
    pub input_dir: PathBuf,
    /// Directory of the outputs.
    pub outputs: PathBuf,
    /// Runs whose SED output exists.
    pub finished: Vec<RunJob>,
    /// Runs still to do, in index order.
    pub pending: Vec<RunJob>,
}

/// Reads `index` and lists its runs (`runs`, or every run the first row has a parameter file
/// for), finished when `<outputs>/<stem>_obs_sed.dat` exists. Paths are made absolute.
pub fn plan(
    index: &Path,
    outputs: Option<&Path>,
    runs: Option<&[Run]>,
) -> Result<Plan, SkirtError> {
    let rows = read_index(index)?;
    let absolute = |p: &Path| std::path::absolute(p).map_err(SkirtError::io("resolve", p));
    let index = absolute(index)?;
    let input_dir = index
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let outputs = match outputs {
        Some(dir) => absolute(dir)?,
        None => input_dir.clone(),
    };
    let runs: Vec<Run> = match runs {
        Some(runs) => runs.to_vec(),
        None => Run::ALL
            .into_iter()
            .filter(|&r| rows[0].ski_file(r).is_some())
            .collect(),
    };
    let (mut finished, mut pending) = (Vec::new(), Vec::new());
    for (i, row) in rows.iter().enumerate() {
        for &run in &runs {
            let ski = row.ski_file(run).ok_or_else(|| {
                SkirtError::parse(
                    &index,
                    i + 2,
                    format!("sample {} has no {run} run", row.sample.id),
                )
            })?;
            let job = RunJob {
                id: row.sample.id.clone(),
                run,
                ski: ski.to_string(),
            };
            if outputs.join(job.sed_file()).is_file() {
                finished.push(job);
            } else {
                pending.push(job);
            }
        }
    }
    Ok(Plan {
        input_dir,
        outputs,
        finished,
        pending,
    })
}

/// The SKIRT binary: `explicit`, else the environment variable [`SKIRT_ENV`], else `skirt` on
/// the `PATH`.
pub fn find_skirt(explicit: Option<&Path>) -> Result<PathBuf, SkirtError> {
    let named = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SKIRT_ENV).map(PathBuf::from));
    if let Some(path) = named {
        let how = if explicit.is_some() {
            "--skirt"
        } else {
            SKIRT_ENV
        };
        return if path.is_file() {
            std::path::absolute(&path).map_err(SkirtError::io("resolve", &path))
        } else {
            Err(SkirtError::Invalid(format!(
                "SKIRT binary {} ({how}) not found",
                path.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("skirt"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SkirtError::Invalid(format!(
                "SKIRT not found: no `skirt` on the PATH; name the binary with --skirt or \
                 {SKIRT_ENV} (…/release/SKIRT/main/skirt of a SKIRT 9 build)"
            ))
        })
}

/// What SKIRT's log says about a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSummary {
    /// The log has the `Finished simulation` line.
    pub finished: bool,
    /// Peak memory usage \[bytes\] (`Peak memory usage: 10.1 MB`; SKIRT's units are powers of
    /// 1024).
    pub peak_memory: Option<f64>,
    /// SKIRT's error message: the `*** Error:` lines before the source location, joined with
    /// ": ", without the generic lead-in (`A fatal error occurred…`, `From ski file…`).
    pub error: Option<String>,
}

/// Reads SKIRT's console output or log file (ANSI colours are ignored).
pub fn parse_log(text: &str) -> LogSummary {
    let mut summary = LogSummary::default();
    let mut error: Vec<String> = Vec::new();
    let mut first_error = None;
    let mut location_seen = false;
    for line in text.lines() {
        if line.contains("Finished simulation") {
            summary.finished = true;
        }
        if let Some(rest) = line.split("Peak memory usage:").nth(1) {
            summary.peak_memory = parse_memory(rest);
        }
        if let Some(message) = line.split("*** Error:").nth(1) {
            // Console lines end with a colour reset.
            let message = message.trim().trim_end_matches("\u{1b}[0m").trim();
            first_error.get_or_insert_with(|| message.to_string());
            // The message ends where SKIRT's source location and call stack begin.
            location_seen |= message.starts_with("On line ") || message.starts_with("Call stack");
            let generic = message.starts_with("A fatal error occurred")
                || message.starts_with("From ski file");
            if !location_seen && !generic && !message.is_empty() {
                error.push(message.to_string());
            }
        }
    }
    summary.error = if error.is_empty() {
        first_error
    } else {
        Some(error.join(": "))
    };
    summary
}

/// "10.1 MB (0.0%)" → bytes.
fn parse_memory(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    let scale = match words.next()? {
        "bytes" | "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value * scale)
}

/// Settings of [`execute`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerOptions {
    /// The SKIRT binary.
    pub skirt: PathBuf,
    /// SKIRT processes at once.
    pub jobs: usize,
    /// Threads per SKIRT process (`skirt -t`).
    pub threads: usize,
}

/// Cost of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// Wall time \[s\].
    pub seconds: f64,
    /// Peak memory SKIRT reported \[bytes\].
    pub peak_memory: Option<f64>,
    /// Total size of the run's output files \[bytes\].
    pub disk: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// Outputs complete and in place.
    Done(RunStats),
    /// SKIRT failed (or its outputs could not be moved): the reason, SKIRT's own error line where
    /// it gave one. Its log, if any, is kept as `<outputs>/<stem>_log.txt`.
    Failed(String),
}

/// Removes the directories of runs interrupted earlier (`<outputs>/.running/*/`); returns how
/// many there were.
pub fn clean_stale(outputs: &Path) -> Result<usize, SkirtError> {
    let running = outputs.join(RUNNING_DIR);
    let Ok(entries) = std::fs::read_dir(&running) else {
        return Ok(0);
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.map_err(SkirtError::io("read", &running))?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(SkirtError::io("remove", &path))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Takes the runner's lock on `outputs`; held as long as the file is open.
fn lock(outputs: &Path) -> Result<File, SkirtError> {
    let running = outputs.join(RUNNING_DIR);
    std::fs::create_dir_all(&running).map_err(SkirtError::io("create directory", &running))?;
    let path = running.join(LOCK_FILE);
    let file = File::create(&path).map_err(SkirtError::io("create", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SkirtError::Invalid(format!(
            "another `galsed skirt run` is using {} ({} is locked)",
            outputs.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(SkirtError::Io {
            action: "lock",
            path,
            source: e,
        }),
    }
}

/// Runs the pending runs of `plan`, `opts.jobs` at a time, after removing stale run directories.
/// `on_done` is called as each run ends (from the worker threads). Returns every pending run
/// with its outcome, in the order they ended. Errors only for the set-up (the outputs cannot be
/// created or are locked); a failing run is an outcome.
pub fn execute(
    plan: &Plan,
    opts: &RunnerOptions,
    on_done: &(dyn Fn(&RunJob, &RunOutcome) + Sync),
) -> Result<Vec<(RunJob, RunOutcome)>, SkirtError> {
    if opts.jobs == 0 || opts.threads == 0 {
        return Err(SkirtError::Invalid(
            "--jobs and --threads must be at least 1".into(),
        ));
    }
    let _lock = lock(&plan.outputs)?;
    clean_stale(&plan.outputs)?;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(plan.pending.len()));
    // Each worker waits for its own child, so the child's parent thread lives as long as it does
    // (the death signal follows the thread, not the process).
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(plan.pending.len()) {
            scope.spawn(|| {
                while let Some(job) = plan.pending.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = run_one(job, plan, opts);
                    on_done(job, &outcome);
                    if let Ok(mut r) = results.lock() {
                        r.push((job.clone(), outcome));
                    }
                }
            });
        }
    });
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Runs one simulation into its own directory and moves the outputs into place on success.
pub fn run_one(job: &RunJob, plan: &Plan, opts: &RunnerOptions) -> RunOutcome {
    let tmp = plan.outputs.join(RUNNING_DIR).join(job.stem());
    let start = Instant::now();
    let result = (|| -> Result<RunOutcome, SkirtError> {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(SkirtError::io("remove", &tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(SkirtError::io("create directory", &tmp))?;
        let mut cmd = Command::new(&opts.skirt);
        cmd.arg("-t")
            .arg(opts.threads.to_string())
            .arg("-b")
            .arg("-o")
            .arg(&tmp)
            .arg(&job.ski)
            // The parameter files name the spectra relative to their directory.
            .current_dir(&plan.input_dir)
            .stdin(Stdio::null());
        die_with_parent(&mut cmd);
        let out = cmd
            .output()
            .map_err(SkirtError::io("run", opts.skirt.clone()))?;
        let log_path = tmp.join(job.log_file());
        let log = std::fs::read_to_string(&log_path)
            .ok()
            .map(|t| parse_log(&t));
        let sed = tmp.join(job.sed_file());
        let complete = out.status.success()
            && sed.is_file()
            && log
                .as_ref()
                .is_some_and(|l| l.finished && l.error.is_none());
        if !complete {
            let console = parse_log(&String::from_utf8_lossy(&out.stdout));
            let reason = log
                .and_then(|l| l.error)
                .or(console.error)
                .unwrap_or_else(|| match out.status.code() {
                    Some(0) => "SKIRT ended without finishing the simulation".to_string(),
                    Some(c) => format!("SKIRT exited with status {c}"),
                    None => "SKIRT was killed by a signal".to_string(),
                });
            if log_path.is_file() {
                let kept = plan.outputs.join(job.log_file());
                std::fs::rename(&log_path, &kept).map_err(SkirtError::io("move", &log_path))?;
            }
            return Ok(RunOutcome::Failed(reason));
        }
        let mut files = Vec::new();
        let mut disk = 0;
        for entry in std::fs::read_dir(&tmp).map_err(SkirtError::io("read", &tmp))? {
            let entry = entry.map_err(SkirtError::io("read", &tmp))?;
            disk += entry
                .metadata()
                .map_err(SkirtError::io("read", entry.path()))?
                .len();
            files.push(entry.path());
        }
        // The SED last: its presence marks the run finished.
        files.retain(|f| f != &sed);
        files.push(sed);
        for f in &files {
            let dest = plan.outputs.join(f.file_name().unwrap_or_default());
            std::fs::rename(f, &dest).map_err(SkirtError::io("move", f))?;
        }
        Ok(RunOutcome::Done(RunStats {
            seconds: start.elapsed().as_secs_f64(),
            peak_memory: log.and_then(|l| l.peak_memory),
            disk,
        }))
    })();
    // A leftover directory would only be removed by the next call.
    let _ = std::fs::remove_dir_all(&tmp);
    result.unwrap_or_else(|e| RunOutcome::Failed(e.to_string()))
}

/// Makes the child receive SIGKILL when the thread that spawned it dies (Linux).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only prctl, getppid and
    // errno reads, which are async-signal-safe; it allocates nothing (errors are raw OS codes)
    // and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere children outlive a killed galsed; their directories are cleaned on the next call.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Settings of [`write_slurm`].
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmOptions {
    /// The job script to write; the list of parameter files goes next to it (`<script>.runs`).
    pub script: PathBuf,
    /// The SKIRT binary on the cluster's nodes.
    pub skirt: PathBuf,
    /// Threads per SKIRT process (`--cpus-per-task`).
    pub threads: usize,
    /// Array tasks running at once (`%MAX`).
    pub max_parallel: usize,
}

/// What [`write_slurm`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmFiles {
    /// The job script.
    pub script: PathBuf,
    /// The list of parameter files, one per array task.
    pub list: PathBuf,
    /// Number of array tasks.
    pub tasks: usize,
}

/// Quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The text of the Slurm job-array script for `tasks` runs listed in `list`.
pub fn slurm_script(plan: &Plan, opts: &SlurmOptions, list: &Path, tasks: usize) -> String {
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    format!(
        r#"#!/bin/bash
# SKIRT runs of {index_dir}, written by `galsed skirt run --slurm`: one array task per run
# listed in {list_name}. A run is finished when <stem>_obs_sed.dat is in the outputs; SKIRT writes
# into .running/<stem>/ and the files are moved into place only after a clean end, the SED last,
# so `galsed skirt run` and `galsed skirt collect --skip-missing` see what finished.
#SBATCH --job-name=galsed-skirt
#SBATCH --array=0-{last}%{max}
#SBATCH --ntasks=1
#SBATCH --cpus-per-task={threads}
set -u
SKIRT={skirt}
INPUT={input}
OUTPUTS={outputs}
LIST={list}
ski=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$LIST")
stem=${{ski%.ski}}
sed_file="${{stem}}_obs_sed.dat"
log_file="${{stem}}_log.txt"
if [ -e "$OUTPUTS/$sed_file" ]; then
    echo "$stem: already finished"
    exit 0
fi
tmp="$OUTPUTS/{running}/$stem"
rm -rf "$tmp"
mkdir -p "$tmp" || exit 1
cd "$INPUT" || exit 1
status=0
"$SKIRT" -t {threads} -b -o "$tmp" "$ski" > /dev/null 2>&1 || status=$?
if [ "$status" -eq 0 ] && [ -f "$tmp/$sed_file" ] && grep -q 'Finished simulation' "$tmp/$log_file" \
    && ! grep -q '[*][*][*] Error' "$tmp/$log_file"; then
    for f in "$tmp"/*; do
        [ "$f" = "$tmp/$sed_file" ] || mv -f "$f" "$OUTPUTS/" || exit 1
    done
    mv -f "$tmp/$sed_file" "$OUTPUTS/" || exit 1
    rm -rf "$tmp"
    echo "$stem: finished"
    exit 0
fi
[ -f "$tmp/$log_file" ] && mv -f "$tmp/$log_file" "$OUTPUTS/"
rm -rf "$tmp"
echo "$stem: SKIRT failed (status $status), log $OUTPUTS/$log_file" >&2
grep -m 3 '[*][*][*] Error' "$OUTPUTS/$log_file" >&2
exit 1
"#,
        index_dir = plan.input_dir.display(),
        list_name = list.file_name().unwrap_or_default().to_string_lossy(),
        last = tasks.saturating_sub(1),
        max = opts.max_parallel.max(1),
        threads = opts.threads.max(1),
        skirt = q(&opts.skirt),
        input = q(&plan.input_dir),
        outputs = q(&plan.outputs),
        list = q(list),
        running = RUNNING_DIR,
    )
}

/// Writes the Slurm job-array script for the pending runs of `plan` and the list of their
/// parameter files (`<script>.runs`, one per line). Errors if nothing is pending.
pub fn write_slurm(plan: &Plan, opts: &SlurmOptions) -> Result<SlurmFiles, SkirtError> {
    if plan.pending.is_empty() {
        return Err(SkirtError::Invalid(format!(
            "every run is finished in {}: nothing to submit",
            plan.outputs.display()
        )));
    }
    if plan.pending.iter().any(|j| j.ski.contains(['\n', '\r'])) {
        return Err(SkirtError::Invalid(
            "a parameter file name holds a line break".into(),
        ));
    }
    let script =
        std::path::absolute(&opts.script).map_err(SkirtError::io("resolve", &opts.script))?;
    let mut list = script.clone().into_os_string();
    list.push(".runs");
    let list = PathBuf::from(list);
    let names: String = plan
        .pending
        .iter()
        .map(|j| format!("{}\n", j.ski))
        .collect();
    std::fs::write(&list, names).map_err(SkirtError::io("write", &list))?;
    let text = slurm_script(plan, opts, &list, plan.pending.len());
    std::fs::write(&script, text).map_err(SkirtError::io("write", &script))?;
    Ok(SlurmFiles {
        script,
        list,
        tasks: plan.pending.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINISHED_LOG: &str = "\
07/12/2026 15:58:26.680 - Finished simulation s000000_disk using a single thread and a single process in 1.3 s.
07/12/2026 15:58:26.680   Available memory: 23.5 GB -- Peak memory usage: 10.1 MB (0.0%)
";

    /// SKIRT 9.0's log of a rejected parameter file (it exits with status 0).
    const ERROR_LOG: &str = "\
07/12/2026 15:58:54.881   SKIRT v9.0 (git  built on 02/12/2026 at 17:25:14)
07/12/2026 15:58:54.881 * *** Error: A fatal error occurred while constructing a simulation
07/12/2026 15:58:54.881 * *** Error: From ski file /tmp/sk1/s000000_disk.ski
07/12/2026 15:58:54.881 * *** Error: Error in XML stream 's000000_disk.ski' at line 9
07/12/2026 15:58:54.881 * *** Error: Item of type 'ExtragalacticUnits' has no property named 'wavelengthOutputStyle'
07/12/2026 15:58:54.881 * *** Error: On line 184 in file /tmp/skirt/v2020/git/SMILE/fundamentals/XmlReader.cpp
07/12/2026 15:58:54.881 * *** Error: In function throwError
07/12/2026 15:58:54.881 * *** Error: Call stack:
";

    #[test]
    fn the_log_gives_completion_memory_and_the_error() {
        let ok = parse_log(FINISHED_LOG);
        assert!(ok.finished);
        assert_eq!(ok.error, None);
        let mem = ok.peak_memory.unwrap();
        assert!((mem / (10.1 * 1024.0 * 1024.0) - 1.0).abs() < 1e-12);

        let bad = parse_log(ERROR_LOG);
        assert!(!bad.finished);
        assert_eq!(bad.peak_memory, None);
        assert_eq!(
            bad.error.as_deref(),
            Some(
                "Error in XML stream 's000000_disk.ski' at line 9: Item of type \
                 'ExtragalacticUnits' has no property named 'wavelengthOutputStyle'"
            )
        );
        // The console version, in colour.
        let console = "\u{1b}[31m07/12/2026 15:58:54.870 * *** Error: This ski file does not \
                       exist: x.ski\n\u{1b}[0m\u{1b}[35m07/12/2026 ! usage\n";
        assert_eq!(
            parse_log(console).error.as_deref(),
            Some("This ski file does not exist: x.ski")
        );
        assert_eq!(parse_memory("512 KB"), Some(512.0 * 1024.0));
        assert_eq!(parse_memory("many MB"), None);
        assert_eq!(parse_memory("3 parsecs"), None);
    }

    fn job(id: &str, run: Run) -> RunJob {
        RunJob {
            id: id.into(),
            run,
            ski: run.ski_file(id),
        }
    }

    #[test]
    fn the_slurm_script_has_one_task_per_pending_run() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan {
            input_dir: tmp.path().join("in put"),
            outputs: tmp.path().join("it's out"),
            finished: vec![job("a", Run::Disk)],
            pending: vec![
                job("a", Run::Bulge),
                job("b", Run::Disk),
                job("b", Run::Bulge),
            ],
        };
        let opts = SlurmOptions {
            script: tmp.path().join("runs.sbatch"),
            skirt: PathBuf::from("/opt/skirt/skirt"),
            threads: 4,
            max_parallel: 20,
        };
        let files = write_slurm(&plan, &opts).unwrap();
        assert_eq!(files.tasks, 3);
        assert_eq!(files.list, tmp.path().join("runs.sbatch.runs"));
        assert_eq!(
            std::fs::read_to_string(&files.list).unwrap(),
            "a_bulge.ski\nb_disk.ski\nb_bulge.ski\n"
        );
        let text = std::fs::read_to_string(&files.script).unwrap();
        for line in [
            "#!/bin/bash\n",
            "\n#SBATCH --array=0-2%20\n",
            "\n#SBATCH --cpus-per-task=4\n",
            "\nSKIRT='/opt/skirt/skirt'\n",
            "\"$SKIRT\" -t 4 -b -o \"$tmp\" \"$ski\"",
            "/.running/$stem\"\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        // Paths with spaces and quotes survive the shell.
        assert!(text.contains(&format!(
            "\nOUTPUTS='{}/it'\\''s out'\n",
            tmp.path().display()
        )));
        assert!(text.contains(&format!("\nINPUT='{}/in put'\n", tmp.path().display())));

        let done = Plan {
            pending: Vec::new(),
            ..plan
        };
        assert!(write_slurm(&done, &opts).is_err());
    }

    #[test]
    fn a_missing_skirt_is_named() {
        let err = find_skirt(Some(Path::new("/no/such/skirt"))).unwrap_err();
        assert!(
            err.to_string()
                .contains("/no/such/skirt (--skirt) not found"),
            "{err}"
        );
    }

    #[test]
    fn stale_run_directories_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let stale = tmp.path().join(RUNNING_DIR).join("a_disk");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("a_disk_log.txt"), "half").unwrap();
        std::fs::write(tmp.path().join(RUNNING_DIR).join(LOCK_FILE), "").unwrap();
        assert_eq!(clean_stale(tmp.path()).unwrap(), 1);
        assert!(!stale.exists());
        assert!(tmp.path().join(RUNNING_DIR).join(LOCK_FILE).exists());
        assert_eq!(clean_stale(&tmp.path().join("none")).unwrap(), 0);
        // A second runner on the same outputs is refused while the first holds the lock.
        let held = lock(tmp.path()).unwrap();
        let err = lock(tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains("another `galsed skirt run`"),
            "{err}"
        );
        drop(held);
        lock(tmp.path()).unwrap();
    }
}
