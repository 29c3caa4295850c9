//! Model store: directory resolution, verification and fetching (from local copies and a loopback HTTP
//! server; no real network).

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;

use galsed_io::store::{
    FetchEvent, FileProblem, MODEL_FILES, ModelDirSource, StoreError, fetch, is_complete,
    resolve_model_dir, resolve_model_dir_from, verify_dir,
};

fn reference_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster/original");
    assert!(
        dir.is_dir(),
        "reference model files missing at {}",
        dir.display()
    );
    dir.canonicalize().expect("canonical reference path")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// File names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn published_names() -> Vec<String> {
    let mut names: Vec<String> = MODEL_FILES.iter().map(|f| f.name.to_owned()).collect();
    names.sort();
    names
}

/// A copy of the reference files in a temp dir, with `edit` applied to one of them.
fn source_with(name: &str, edit: impl Fn(&mut Vec<u8>)) -> tempfile::TempDir {
    let src = tempdir();
    for f in &MODEL_FILES {
        let mut bytes = fs::read(reference_dir().join(f.name)).expect("read reference file");
        if f.name == name {
            edit(&mut bytes);
        }
        fs::write(src.path().join(f.name), bytes).expect("write source copy");
    }
    src
}

/// Runs `fetch` and records its events.
fn fetch_logged(dest: &Path, base: &str) -> (Result<(), StoreError>, Vec<FetchEvent>) {
    let mut events = Vec::new();
    let result = fetch(dest, base, |e| events.push(e));
    (result, events)
}

fn assert_full_download(events: &[FetchEvent]) {
    for f in &MODEL_FILES {
        assert!(
            events.contains(&FetchEvent::Started {
                name: f.name,
                total: f.size
            }),
            "{}",
            f.name
        );
        assert!(
            events.contains(&FetchEvent::Progress {
                name: f.name,
                done: f.size,
                total: f.size
            }),
            "{}",
            f.name
        );
        assert!(
            events.contains(&FetchEvent::Finished { name: f.name }),
            "{}",
            f.name
        );
    }
}

#[test]
fn reference_copy_verifies() {
    let dir = reference_dir();
    assert!(is_complete(&dir));
    verify_dir(&dir).expect("reference files match the pinned hashes");
}

#[test]
fn fetch_from_file_url() {
    let dest = tempdir();
    let base = format!("file://{}/", reference_dir().display());
    let (result, events) = fetch_logged(dest.path(), &base);
    result.expect("fetch from file:// URL");
    verify_dir(dest.path()).expect("fetched files verify");
    assert_full_download(&events);
    // Nothing but the seven files: no temporary files left behind.
    assert_eq!(listing(dest.path()), published_names());
}

#[test]
fn fetch_from_plain_directory_then_nothing_to_do() {
    let dest = tempdir();
    let target = dest.path().join("nested/models");
    let base = reference_dir().display().to_string();
    let (result, events) = fetch_logged(&target, &base);
    result.expect("fetch from plain directory");
    assert_full_download(&events);
    verify_dir(&target).expect("fetched files verify");

    let (again, events) = fetch_logged(&target, &base);
    again.expect("second fetch");
    let expected: Vec<FetchEvent> = MODEL_FILES
        .iter()
        .map(|f| FetchEvent::AlreadyPresent { name: f.name })
        .collect();
    assert_eq!(events, expected);
}

#[test]
fn corrupted_source_is_rejected_and_not_installed() {
    let src = source_with("curve_disk.pt", |b| b[1000] ^= 0xff);
    let dest = tempdir();
    let (result, _) = fetch_logged(dest.path(), &src.path().display().to_string());
    match result {
        Err(StoreError::ChecksumMismatch {
            name,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(name, "curve_disk.pt");
            assert_eq!(expected, MODEL_FILES[2].sha256);
            assert_ne!(actual, expected);
            assert_eq!(actual.len(), 64);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    let names = listing(dest.path());
    assert!(
        !names.iter().any(|n| n.contains("curve_disk")),
        "bad file left behind: {names:?}"
    );
    // Files before it in the list were installed; the directory is reported incomplete.
    let err = verify_dir(dest.path()).expect_err("incomplete");
    assert!(err.to_string().contains("curve_disk.pt (missing)"), "{err}");
}

#[test]
fn oversized_source_is_rejected() {
    let src = source_with("lam_main.pickle", |b| b.extend_from_slice(&[0u8; 10]));
    let dest = tempdir();
    let (result, _) = fetch_logged(dest.path(), &src.path().display().to_string());
    assert!(
        matches!(
            result,
            Err(StoreError::TooLarge {
                name: "lam_main.pickle",
                expected: 4119,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(!dest.path().join("lam_main.pickle").exists());
}

#[test]
fn missing_source_file_names_the_path() {
    let src = source_with("selector_disk.pt", |_| {});
    fs::remove_file(src.path().join("selector_disk.pt")).expect("remove");
    let dest = tempdir();
    let err = fetch(dest.path(), &src.path().display().to_string(), |_| {}).expect_err("missing");
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("selector_disk.pt"), "{err}");
}

#[test]
fn damaged_destination_files_are_detected_and_repaired() {
    let dest = tempdir();
    let reference = reference_dir();
    for f in &MODEL_FILES {
        fs::copy(reference.join(f.name), dest.path().join(f.name)).expect("copy");
    }
    // Same size, different content: only the hash catches it.
    let mut bytes = fs::read(dest.path().join("dust_emission_v1.pt")).expect("read");
    bytes[5] ^= 1;
    fs::write(dest.path().join("dust_emission_v1.pt"), &bytes).expect("write");
    // Truncated.
    fs::write(dest.path().join("selector_bulge.pt"), b"short").expect("write");
    assert!(!is_complete(dest.path()));

    match verify_dir(dest.path()) {
        Err(StoreError::Incomplete { problems, .. }) => {
            assert_eq!(problems.len(), 2);
            assert_eq!(problems[0].file.name, "dust_emission_v1.pt");
            assert!(matches!(problems[0].problem, FileProblem::WrongHash { .. }));
            assert_eq!(problems[1].file.name, "selector_bulge.pt");
            assert_eq!(problems[1].problem, FileProblem::WrongSize { actual: 5 });
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }

    let (result, events) = fetch_logged(dest.path(), &reference.display().to_string());
    result.expect("repair");
    let finished: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Finished { name } => Some(*name),
            _ => None,
        })
        .collect();
    assert_eq!(finished, ["dust_emission_v1.pt", "selector_bulge.pt"]);
    verify_dir(dest.path()).expect("repaired");
}

#[test]
fn empty_directory_error_lists_files_and_remedy() {
    let dir = tempdir();
    assert!(!is_complete(dir.path()));
    let msg = verify_dir(dir.path()).expect_err("empty").to_string();
    for f in &MODEL_FILES {
        assert!(msg.contains(&format!("{} (missing)", f.name)), "{msg}");
    }
    assert!(msg.contains("galsed model fetch"), "{msg}");
    assert!(msg.contains("--model DIR"), "{msg}");
}

#[test]
fn resolution_order() {
    let explicit = tempdir();
    let env = tempdir();
    let cache = PathBuf::from("/nonexistent/cache/galsed");
    let env_os = env.path().as_os_str();

    let d =
        resolve_model_dir_from(Some(explicit.path()), Some(env_os), Some(cache.clone())).unwrap();
    assert_eq!(
        (d.path.as_path(), d.source),
        (explicit.path(), ModelDirSource::Explicit)
    );

    let d = resolve_model_dir_from(None, Some(env_os), Some(cache.clone())).unwrap();
    assert_eq!(
        (d.path.as_path(), d.source),
        (env.path(), ModelDirSource::Env)
    );

    // The cache directory need not exist yet; an empty variable counts as unset.
    for env_value in [None, Some(OsStr::new(""))] {
        let d = resolve_model_dir_from(None, env_value, Some(cache.clone())).unwrap();
        assert_eq!(
            (d.path.as_path(), d.source),
            (cache.as_path(), ModelDirSource::Cache)
        );
    }

    assert!(matches!(
        resolve_model_dir_from(None, None, None),
        Err(StoreError::NoCacheDir)
    ));
}

#[test]
fn resolution_rejects_missing_directories() {
    let gone = tempdir().path().join("does-not-exist");
    let cache = Some(PathBuf::from("/tmp"));
    let err = resolve_model_dir_from(Some(&gone), None, cache.clone()).expect_err("explicit");
    assert!(
        matches!(
            err,
            StoreError::NotADirectory {
                source_kind: ModelDirSource::Explicit,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    let err = resolve_model_dir_from(None, Some(gone.as_os_str()), cache).expect_err("env");
    assert!(err.to_string().contains("GALSED_MODEL_DIR"), "{err}");
}

#[test]
fn explicit_dir_wins_over_process_environment() {
    // Reads (never writes) the real environment: an explicit directory ignores it.
    let dir = tempdir();
    let d = resolve_model_dir(Some(dir.path())).unwrap();
    assert_eq!(
        (d.path.as_path(), d.source),
        (dir.path(), ModelDirSource::Explicit)
    );
}

#[test]
fn unreachable_host_gives_offline_advice() {
    let dest = tempdir();
    let err =
        fetch(dest.path(), "http://127.0.0.1:9/", |_| {}).expect_err("nothing listens on port 9");
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("http://127.0.0.1:9/FSPS_Chabrier_neb_compact.pickle"),
        "{msg}"
    );
    assert!(
        msg.contains("--model DIR") && msg.contains("GALSED_MODEL_DIR"),
        "{msg}"
    );
    assert!(msg.contains("galsed model fetch --from"), "{msg}");
    assert!(listing(dest.path()).is_empty());
}

#[test]
fn unresolvable_host_gives_offline_advice() {
    // `.invalid` never resolves (RFC 6761); offline machines fail the lookup too.
    let dest = tempdir();
    let err =
        fetch(dest.path(), "https://galsed-test.invalid/data/", |_| {}).expect_err("no such host");
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("GALSED_MODEL_DIR"), "{err}");
    assert!(listing(dest.path()).is_empty());
}

#[test]
fn unsupported_scheme_is_an_error() {
    let dest = tempdir();
    let err = fetch(dest.path(), "ftp://example.org/data/", |_| {}).expect_err("ftp");
    assert!(matches!(err, StoreError::UnsupportedSource(_)), "{err:?}");
}

/// Serves files of `root` over HTTP/1.1 on a loopback port for `connections` requests; `None`
/// answers 404. Returns the base URL.
fn serve(root: PathBuf, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let name = path.trim_start_matches("/data/");
            let response = match fs::read(root.join(name)) {
                Ok(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                Err(_) => {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://{addr}/data")
}

#[test]
fn fetch_over_http_from_loopback_server() {
    let base = serve(reference_dir(), MODEL_FILES.len());
    let dest = tempdir();
    let (result, events) = fetch_logged(dest.path(), &base);
    result.expect("fetch over HTTP");
    assert_full_download(&events);
    verify_dir(dest.path()).expect("downloaded files verify");
    assert_eq!(listing(dest.path()), published_names());
}

#[test]
fn http_error_status_is_reported() {
    let empty = tempdir();
    let base = serve(empty.path().to_path_buf(), 1);
    let dest = tempdir();
    let err = fetch(dest.path(), &base, |_| {}).expect_err("404");
    assert!(
        matches!(err, StoreError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("FSPS_Chabrier_neb_compact.pickle"),
        "{err}"
    );
}

#[test]
fn corrupted_http_download_is_not_installed() {
    let src = source_with("FSPS_Chabrier_neb_compact.pickle", |b| b[0] ^= 0x55);
    let base = serve(src.path().to_path_buf(), 1);
    let dest = tempdir();
    let err = fetch(dest.path(), &base, |_| {}).expect_err("mismatch");
    assert!(
        matches!(
            err,
            StoreError::ChecksumMismatch {
                name: "FSPS_Chabrier_neb_compact.pickle",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&base), "{err}");
    assert!(listing(dest.path()).is_empty());
}
