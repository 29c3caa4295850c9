//! Where the published Starduster model files live, checking them, and downloading them.
//!
//! galsed reads the seven files that the Starduster authors publish in their repository
//! (`starduster/data/` at commit [`MODEL_COMMIT`]). They are pinned by sha256 in [`MODEL_FILES`].
//! [`resolve_model_dir`] decides which directory to read, [`verify_dir`] / [`is_complete`] check it,
//! and [`fetch`] fills a directory from a URL or a local copy.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
#[cfg(feature = "download")]
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Upstream commit of the published model files.
pub const MODEL_COMMIT: &str = "f07bcaecbb6f0d97841a178790438e20114a7894";

/// Default download location: the `starduster/data/` folder of the upstream repository at [`MODEL_COMMIT`].
pub const DEFAULT_BASE_URL: &str = "https://raw.githubusercontent.com/yqiuu/starduster/f07bcaecbb6f0d97841a178790438e20114a7894/starduster/data/";

/// Environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "GALSED_MODEL_DIR";

/// Sub-directory of the user cache directory that holds the files (versioned by upstream commit).
pub const CACHE_SUBDIR: &str = "galsed/starduster-f07bcae";

/// One published model file, pinned by size and sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// File name, as published.
    pub name: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: &'static str,
}

/// The seven files galsed needs.
pub const MODEL_FILES: [ModelFile; 7] = [
    ModelFile {
        name: "FSPS_Chabrier_neb_compact.pickle",
        size: 1_626_872,
        sha256: "47760d49b456ca76dbf0f2a2c63f278ed48a2e822c03a38cd1a0bf498927b88f",
    },
    ModelFile {
        name: "curve_bulge.pt",
        size: 1_848_507,
        sha256: "426655db02a58515839e1e5352f178e19178eeb399ce03474ebe788d333d9b2b",
    },
    ModelFile {
        name: "curve_disk.pt",
        size: 1_845_691,
        sha256: "a00648e47afcb14f4a754f1ca73a3b4290baf9ae19ad37aeb19a71f8385b426a",
    },
    ModelFile {
        name: "dust_emission_v1.pt",
        size: 3_547_317,
        sha256: "dd5ccc15741b6e67f7758eee5f38f2ae0a2f11b115d5b7c058fdb46519054adb",
    },
    ModelFile {
        name: "lam_main.pickle",
        size: 4_119,
        sha256: "111de0656c83f3ccc9b00f9488291eb92e5bcc79e69ec9fa2452ff58e3ce66fd",
    },
    ModelFile {
        name: "selector_bulge.pt",
        size: 48_641,
        sha256: "46a7b55f887b5b3bbb7611d54dd438abc6333280d1b98135632fea76e40ba72b",
    },
    ModelFile {
        name: "selector_disk.pt",
        size: 48_257,
        sha256: "87122b83ed097f0a2ac215a02e49bc7eb1d630e68407e0057d8f63462768578f",
    },
];

/// Advice appended to errors about missing or damaged model files.
const FIX_HINT: &str = "run `galsed model fetch`, or point `--model DIR` / GALSED_MODEL_DIR at a directory holding the published files";

/// Advice appended to network errors.
const OFFLINE_HINT: &str = "the network seems unreachable; use a local copy of the model files with `--model DIR` or GALSED_MODEL_DIR, or copy them with `galsed model fetch --from DIR|URL`";

/// Where the model directory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelDirSource {
    /// Given on the command line (`--model DIR`).
    Explicit,
    /// Taken from the `GALSED_MODEL_DIR` environment variable.
    Env,
    /// The per-user cache directory (the default target of `galsed model fetch`).
    Cache,
}

impl fmt::Display for ModelDirSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Explicit => "--model",
            Self::Env => MODEL_DIR_ENV,
            Self::Cache => "user cache directory",
        })
    }
}

/// A resolved model directory and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    /// The directory (may not exist yet when `source` is [`ModelDirSource::Cache`]).
    pub path: PathBuf,
    /// Which rule selected it.
    pub source: ModelDirSource,
}

/// What is wrong with one model file in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// The file does not exist.
    Missing,
    /// The file has the wrong size.
    WrongSize {
        /// Size found on disk.
        actual: u64,
    },
    /// The size is right but the content is not the published one.
    WrongHash {
        /// sha256 found on disk.
        actual: String,
    },
}

/// A model file that failed a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFile {
    /// The expected file.
    pub file: ModelFile,
    /// What is wrong with it.
    pub problem: FileProblem,
}

impl fmt::Display for BadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file.name;
        match &self.problem {
            FileProblem::Missing => write!(f, "{name} (missing)"),
            FileProblem::WrongSize { actual } => {
                write!(
                    f,
                    "{name} (size {actual} bytes, expected {})",
                    self.file.size
                )
            }
            FileProblem::WrongHash { actual } => {
                write!(f, "{name} (sha256 {actual}, expected {})", self.file.sha256)
            }
        }
    }
}

/// Progress of [`fetch`], for drawing a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchEvent {
    /// The file is already in place with the right content; nothing to do.
    AlreadyPresent {
        /// File name.
        name: &'static str,
    },
    /// Copying or downloading the file starts.
    Started {
        /// File name.
        name: &'static str,
        /// Expected size in bytes.
        total: u64,
    },
    /// More bytes arrived.
    Progress {
        /// File name.
        name: &'static str,
        /// Bytes received so far.
        done: u64,
        /// Expected size in bytes.
        total: u64,
    },
    /// The file was verified and moved to its final name.
    Finished {
        /// File name.
        name: &'static str,
    },
}

/// Errors of the model store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A model directory given by the user does not exist.
    #[error("model directory {} (from {source_kind}) does not exist or is not a directory", path.display())]
    NotADirectory {
        /// The directory.
        path: PathBuf,
        /// Where it came from.
        source_kind: ModelDirSource,
    },
    /// No model directory was given and the platform has no user cache directory.
    #[error(
        "no model directory: the user cache directory is unknown on this system; use `--model DIR` or set {MODEL_DIR_ENV}"
    )]
    NoCacheDir,
    /// Some model files are missing or damaged.
    #[error("model files in {} are missing or damaged: {}; {FIX_HINT}", dir.display(), list(problems))]
    Incomplete {
        /// The checked directory.
        dir: PathBuf,
        /// Every file that failed.
        problems: Vec<BadFile>,
    },
    /// A downloaded or copied file does not have the published content.
    #[error(
        "{name} from {from} is not the published file: expected sha256 {expected}, got {actual}; it was not installed"
    )]
    ChecksumMismatch {
        /// File name.
        name: &'static str,
        /// Where it came from (URL or path).
        from: String,
        /// Published sha256.
        expected: &'static str,
        /// sha256 of what arrived.
        actual: String,
    },
    /// A source delivered more bytes than the published file has.
    #[error(
        "{name} from {from} is larger than the published {expected} bytes; it was not installed"
    )]
    TooLarge {
        /// File name.
        name: &'static str,
        /// Where it came from (URL or path).
        from: String,
        /// Published size.
        expected: u64,
    },
    /// The server could not be reached (offline, DNS failure, connection refused, timeout).
    #[error("cannot reach {url}: {reason}; {OFFLINE_HINT}")]
    Unreachable {
        /// The URL that was requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an HTTP error status.
    #[error("download of {url} failed with HTTP status {status}")]
    HttpStatus {
        /// The URL that was requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Any other download failure (TLS, protocol, connection lost mid-transfer).
    #[error("download of {url} failed: {reason}")]
    Download {
        /// The URL that was requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// An http(s) source was given to a build without the `download` feature.
    #[error(
        "cannot download {0}: galsed-io was built without its `download` feature; copy the files from a local directory instead"
    )]
    DownloadDisabled(String),
    /// A local source directory does not exist.
    #[error(
        "model source {} does not exist or is not a directory (expected a directory holding the published files, or a URL)",
        .0.display()
    )]
    NoSourceDir(PathBuf),
    /// The base URL has a scheme that is not supported.
    #[error(
        "unsupported model source {0:?}: use an https://, http:// or file:// URL, or a local directory"
    )]
    UnsupportedSource(String),
    /// A local file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn list(problems: &[BadFile]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// The default model directory: `<user cache dir>/galsed/starduster-f07bcae`, if the platform has one.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join(CACHE_SUBDIR))
}

/// Chooses the model directory: `explicit` (`--model DIR`), then `GALSED_MODEL_DIR`, then the user cache.
///
/// An explicit or environment directory must exist; the cache directory is returned even if it does
/// not exist yet (it is where `galsed model fetch` puts the files). An empty `GALSED_MODEL_DIR` counts
/// as unset. This only picks the directory; check its content with [`verify_dir`] or [`is_complete`].
///
/// ```rust
/// use galsed_io::store::{resolve_model_dir, ModelDirSource};
/// let here = std::env::temp_dir();
/// let dir = resolve_model_dir(Some(&here)).unwrap();
/// assert_eq!(dir.source, ModelDirSource::Explicit);
/// assert_eq!(dir.path, here);
/// ```
pub fn resolve_model_dir(explicit: Option<&Path>) -> Result<ModelDir, StoreError> {
    let env = std::env::var_os(MODEL_DIR_ENV);
    resolve_model_dir_from(explicit, env.as_deref(), default_cache_dir())
}

/// [`resolve_model_dir`] with the environment value and cache directory passed in (testable without
/// touching process-global state).
pub fn resolve_model_dir_from(
    explicit: Option<&Path>,
    env_value: Option<&OsStr>,
    cache_dir: Option<PathBuf>,
) -> Result<ModelDir, StoreError> {
    let given = explicit
        .map(|p| (p.to_path_buf(), ModelDirSource::Explicit))
        .or_else(|| {
            env_value
                .filter(|v| !v.is_empty())
                .map(|v| (PathBuf::from(v), ModelDirSource::Env))
        });
    if let Some((path, source)) = given {
        if !path.is_dir() {
            return Err(StoreError::NotADirectory {
                path,
                source_kind: source,
            });
        }
        return Ok(ModelDir { path, source });
    }
    cache_dir
        .map(|path| ModelDir {
            path,
            source: ModelDirSource::Cache,
        })
        .ok_or(StoreError::NoCacheDir)
}

/// Cheap check: all seven files exist with their published sizes (content not hashed).
pub fn is_complete(dir: &Path) -> bool {
    MODEL_FILES
        .iter()
        .all(|f| fs::metadata(dir.join(f.name)).is_ok_and(|m| m.is_file() && m.len() == f.size))
}

/// Full check: all seven files exist and match their published sha256.
///
/// The error lists every missing or damaged file and says how to fix it.
pub fn verify_dir(dir: &Path) -> Result<(), StoreError> {
    let mut problems = Vec::new();
    for file in &MODEL_FILES {
        if let Some(problem) = check_file(&dir.join(file.name), file)? {
            problems.push(BadFile {
                file: *file,
                problem,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Incomplete {
            dir: dir.to_path_buf(),
            problems,
        })
    }
}

/// `None` if the file at `path` is the published `file`.
fn check_file(path: &Path, file: &ModelFile) -> Result<Option<FileProblem>, StoreError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(FileProblem::Missing)),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let len = f.metadata().map_err(io_err("read", path))?.len();
    if len != file.size {
        return Ok(Some(FileProblem::WrongSize { actual: len }));
    }
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher).map_err(io_err("read", path))?;
    let actual = hex(&hasher.finalize());
    Ok((actual != file.sha256).then_some(FileProblem::WrongHash { actual }))
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where [`fetch`] reads from.
enum Source {
    #[cfg(feature = "download")]
    Http {
        agent: ureq::Agent,
        base: String,
    },
    Local(PathBuf),
}

impl Source {
    fn parse(base: &str) -> Result<Self, StoreError> {
        let lower = base.to_ascii_lowercase();
        #[cfg(not(feature = "download"))]
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return Err(StoreError::DownloadDisabled(base.to_owned()));
        }
        #[cfg(feature = "download")]
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let mut base = base.to_owned();
            if !base.ends_with('/') {
                base.push('/');
            }
            let agent = ureq::Agent::config_builder()
                .timeout_connect(Some(Duration::from_secs(30)))
                // A stalled transfer fails instead of hanging forever.
                .timeout_per_read(Some(Duration::from_secs(60)))
                .user_agent(concat!("galsed/", env!("CARGO_PKG_VERSION")))
                .build()
                .new_agent();
            return Ok(Self::Http { agent, base });
        }
        if lower.starts_with("file://") {
            file_url_path(&base["file://".len()..])
                .map(Self::Local)
                .ok_or_else(|| StoreError::UnsupportedSource(base.to_owned()))
        } else if base.contains("://") {
            Err(StoreError::UnsupportedSource(base.to_owned()))
        } else {
            Ok(Self::Local(PathBuf::from(base)))
        }
    }
}

/// Path of a `file://` URL after the scheme: `/abs/path` or `localhost/abs/path`, percent-decoded.
fn file_url_path(rest: &str) -> Option<PathBuf> {
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        // Other hosts are not local files.
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = rest
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    #[cfg(unix)]
    let path = {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(out))
    };
    #[cfg(not(unix))]
    let path = PathBuf::from(String::from_utf8(out).ok()?);
    Some(path)
}

/// Puts every missing or damaged model file into `dest`, taken from `base_url` + file name.
///
/// `base_url` may be an `https://`, `http://` or `file://` URL, or a plain local directory. Files
/// already in `dest` with the published content are left alone. Each file is written to a temporary
/// file in `dest` and renamed to its final name only once its sha256 matches, so `dest` never holds a
/// partial or wrong file under a published name. Stops at the first failure. `dest` is created if
/// needed. `progress` receives [`FetchEvent`]s.
///
/// ```rust
/// # fn main() -> Result<(), galsed_io::store::StoreError> {
/// use galsed_io::store::{fetch, verify_dir, DEFAULT_BASE_URL};
/// # let dest = std::env::temp_dir().join(format!("galsed-doc-fetch-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dest);
/// # let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
/// #     .join("../../../shared/reference/starduster/original");
/// # let base_url = format!("file://{}", source.display());
/// # let base_url = base_url.as_str();
/// # let _ = DEFAULT_BASE_URL; // real use: fetch(&dest, DEFAULT_BASE_URL, ...)
/// fetch(&dest, base_url, |event| eprintln!("{event:?}"))?;
/// verify_dir(&dest)?;
/// # std::fs::remove_dir_all(&dest).ok();
/// # Ok(())
/// # }
/// ```
pub fn fetch(
    dest: &Path,
    base_url: &str,
    mut progress: impl FnMut(FetchEvent),
) -> Result<(), StoreError> {
    let source = Source::parse(base_url)?;
    if let Source::Local(dir) = &source
        && !dir.is_dir()
    {
        return Err(StoreError::NoSourceDir(dir.clone()));
    }
    let created = !dest.exists();
    fs::create_dir_all(dest).map_err(io_err("create directory", dest))?;
    let result = fetch_files(dest, &source, &mut progress);
    if result.is_err() && created {
        // An empty directory left behind would look like a model location; remove_dir keeps
        // it when some file did arrive.
        let _ = fs::remove_dir(dest);
    }
    result
}

/// Installs the files of [`MODEL_FILES`] missing from `dest`.
fn fetch_files(
    dest: &Path,
    source: &Source,
    progress: &mut impl FnMut(FetchEvent),
) -> Result<(), StoreError> {
    for file in &MODEL_FILES {
        let target = dest.join(file.name);
        if check_file(&target, file)?.is_none() {
            progress(FetchEvent::AlreadyPresent { name: file.name });
            continue;
        }
        match source {
            Source::Local(dir) => {
                let path = dir.join(file.name);
                let mut reader = File::open(&path).map_err(io_err("open", &path))?;
                let from = path.display().to_string();
                install(&mut reader, file, &from, dest, progress, |e| {
                    StoreError::Io {
                        action: "read",
                        path: path.clone(),
                        source: e,
                    }
                })?;
            }
            #[cfg(feature = "download")]
            Source::Http { agent, base } => {
                let url = format!("{base}{}", file.name);
                let response = agent.get(&url).call().map_err(|e| http_error(&url, e))?;
                let mut reader = response.into_body().into_reader();
                install(&mut reader, file, &url, dest, progress, |e| {
                    StoreError::Download {
                        url: url.clone(),
                        reason: e.to_string(),
                    }
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(feature = "download")]
fn http_error(url: &str, err: ureq::Error) -> StoreError {
    let url = url.to_owned();
    match err {
        ureq::Error::StatusCode(status) => StoreError::HttpStatus { url, status },
        ureq::Error::HostNotFound => StoreError::Unreachable {
            url,
            reason: "host name could not be resolved".to_owned(),
        },
        // Before any response arrives, an I/O failure (DNS lookup, refused or reset connection)
        // means the server cannot be reached.
        e @ (ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectProxyFailed(_)) => StoreError::Unreachable {
            url,
            reason: e.to_string(),
        },
        e => StoreError::Download {
            url,
            reason: e.to_string(),
        },
    }
}

/// Streams `reader` into a temporary file in `dest`, then renames it to `file.name` if the hash matches.
fn install(
    reader: &mut dyn Read,
    file: &ModelFile,
    from: &str,
    dest: &Path,
    progress: &mut impl FnMut(FetchEvent),
    read_err: impl Fn(io::Error) -> StoreError,
) -> Result<(), StoreError> {
    let name = file.name;
    let total = file.size;
    progress(FetchEvent::Started { name, total });
    // Dropping `tmp` on any error path deletes it.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(dest)
        .map_err(io_err("create a temporary file in", dest))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        done += n as u64;
        if done > total {
            return Err(StoreError::TooLarge {
                name,
                from: from.to_owned(),
                expected: total,
            });
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(io_err("write", tmp.path()))?;
        progress(FetchEvent::Progress { name, done, total });
    }
    let actual = hex(&hasher.finalize());
    if actual != file.sha256 {
        return Err(StoreError::ChecksumMismatch {
            name,
            from: from.to_owned(),
            expected: file.sha256,
            actual,
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(io_err("write", tmp.path()))?;
    let target = dest.join(name);
    tmp.persist(&target).map_err(|e| StoreError::Io {
        action: "rename into",
        path: target,
        source: e.error,
    })?;
    progress(FetchEvent::Finished { name });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        assert_eq!(file_url_path("/a/b"), Some(PathBuf::from("/a/b")));
        assert_eq!(
            file_url_path("localhost/a%20b"),
            Some(PathBuf::from("/a b"))
        );
        assert_eq!(file_url_path("example.org/a"), None);
        assert_eq!(file_url_path("/a%zz"), None);
    }

    #[test]
    fn hex_encoding() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }

    #[test]
    fn unsupported_scheme() {
        assert!(matches!(
            Source::parse("ftp://x/"),
            Err(StoreError::UnsupportedSource(_))
        ));
    }
}
