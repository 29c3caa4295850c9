//! Replacing a file atomically: readers never see a half-written file.

use std::io;
use std::path::Path;

/// Runs `write` on a fresh temporary path in the directory of `path`, then renames it over
/// `path`.
///
/// The temporary file (`.NAME.XXXXXX.tmp`) is created with the permissions `File::create`
/// would give (0666 less the umask, not a private 0600) and is removed if `write` or the
/// rename fails. `write` may replace the empty file at the temporary path (some libraries
/// create their files themselves). Errors creating or renaming the temporary file say which.
pub fn atomic_write<E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.");
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create a temporary file in {}: {e}", dir.display()),
            )
        })?
        .into_temp_path();
    write(&tmp)?;
    tmp.persist(path).map_err(|e| {
        io::Error::new(
            e.error.kind(),
            format!(
                "cannot rename {} to the target: {}",
                e.path.display(),
                e.error
            ),
        )
    })?;
    Ok(())
}

/// [`atomic_write`] of a byte buffer.
pub fn atomic_write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write(path, |tmp| std::fs::write(tmp, bytes))
}
