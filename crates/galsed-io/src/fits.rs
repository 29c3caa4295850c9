//! FITS through CFITSIO's C API (`fitsio::sys`), feature `fits`: the workspace's one CFITSIO
//! wrapper and the only place with `unsafe` code.
//!
//! The high-level `fitsio` API panics on some valid files (ASCII-table and variable-length
//! column formats), which a reader of arbitrary catalogues must not do. CFITSIO keeps a
//! process-wide error-message stack, so every call into it happens under one lock, which an open
//! file holds until it is closed.
//!
//! * [`read`], [`write`](fn@write) — catalogue tables (see [`crate::table`]);
//! * [`describe`], [`read_rows`] — a table's layout and rows of its numeric columns, in chunks;
//! * [`crate::sdss`] and [`crate::wise`] use the file handle directly.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result, anyhow, bail};
use fitsio::sys;

use crate::table::{Column, ColumnData, Table};

/// `EXTNAME` of the binary-table HDU that [`crate::table::write_table`] writes to FITS files.
pub const FITS_EXTNAME: &str = "TABLE";

/// CFITSIO keeps a process-wide error-message stack: one caller at a time.
static LOCK: Mutex<()> = Mutex::new(());

/// The CFITSIO lock, for code (tests) that calls CFITSIO through `fitsio` itself.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The buffer of an in-memory file and the two cells whose addresses CFITSIO keeps.
struct Mem {
    _data: Vec<u8>,
    ptr: *mut c_void,
    size: usize,
}

/// An open FITS file, closed on drop; holds the CFITSIO lock while open.
pub(crate) struct Fits {
    ptr: *mut sys::fitsfile,
    /// Bytes in the file as stored (0 if unknown, e.g. gzipped).
    len: u64,
    _mem: Option<Box<Mem>>,
    // Dropped last: the file is closed (and its memory freed) before the lock is released.
    _guard: MutexGuard<'static, ()>,
}

impl Drop for Fits {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            let mut status = 0;
            // SAFETY: the pointer came from a successful open and is closed only once; the
            // memory buffer (if any) is dropped after this.
            unsafe { sys::ffclos(self.ptr, &mut status) };
        }
    }
}

fn cstr(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Text of a CFITSIO status and the messages CFITSIO stacked with it.
fn status_text(status: c_int) -> String {
    let mut buf = [0 as c_char; sys::FLEN_STATUS as usize + 1];
    // SAFETY: buffer of FLEN_STATUS + 1 bytes, as documented; called under the lock.
    unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
    let mut text = cstr(&buf);
    let mut details: Vec<String> = vec![];
    for _ in 0..64 {
        let mut m = [0 as c_char; sys::FLEN_ERRMSG as usize + 1];
        // SAFETY: buffer of FLEN_ERRMSG + 1 bytes, as documented; called under the lock.
        if unsafe { sys::ffgmsg(m.as_mut_ptr()) } == 0 {
            break;
        }
        let m = cstr(&m).trim().to_owned();
        if !m.is_empty() && !details.contains(&m) {
            details.push(m);
        }
    }
    details.truncate(4);
    if !details.is_empty() {
        // CFITSIO splits "… of file:" and the file name over two messages.
        let joined = details.join("; ").replace(":; ", ": ");
        text.push_str(&format!(": {joined}"));
    }
    format!("{text} (CFITSIO status {status})")
}

fn clear_messages() {
    // SAFETY: clears CFITSIO's message stack; called under the lock.
    unsafe { sys::ffcmsg() };
}

fn check(status: c_int, what: impl FnOnce() -> String) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(anyhow!("{}: {}", what(), status_text(status)))
    }
}

fn c_path(path: &Path) -> std::result::Result<CString, String> {
    let s = path.to_str().ok_or("the file name is not valid UTF-8")?;
    CString::new(s).map_err(|_| "the file name contains a NUL byte".to_string())
}

fn is_numeric(tc: u32) -> bool {
    matches!(
        tc,
        sys::TBYTE
            | sys::TSBYTE
            | sys::TSHORT
            | sys::TUSHORT
            | sys::TINT
            | sys::TUINT
            | sys::TLONG
            | sys::TULONG
            | sys::TLONGLONG
            | sys::TULONGLONG
            | sys::TFLOAT
            | sys::TDOUBLE
    )
}

fn type_name(tc: c_int) -> &'static str {
    if tc < 0 {
        return "variable-length array";
    }
    match tc as u32 {
        sys::TSTRING => "string",
        sys::TLOGICAL => "logical",
        sys::TBIT => "bit",
        sys::TCOMPLEX | sys::TDBLCOMPLEX => "complex",
        sys::TFLOAT | sys::TDOUBLE => "floating-point",
        t if is_numeric(t) => "integer",
        _ => "unknown",
    }
}

fn hdu_kind(t: c_int) -> &'static str {
    match t as u32 {
        sys::IMAGE_HDU => "image",
        sys::ASCII_TBL => "ASCII table",
        sys::BINARY_TBL => "binary table",
        _ => "unknown",
    }
}

/// "abc…" — at most 40 characters.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// "a, b, c" — at most 24 names, each clipped.
pub(crate) fn short_list(names: &[String]) -> String {
    const MAX: usize = 24;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| clip(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(", … ({} columns)", names.len()));
    }
    s
}

/// A decimal id in the `i64` or `u64` range (the latter kept as its bit pattern).
pub(crate) fn parse_id(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<u64>().ok().map(|u| u as i64))
}

type Res<T> = std::result::Result<T, String>;

impl Fits {
    /// Opens a file on disk (also gzipped) read-only, without CFITSIO's extended file-name
    /// syntax; `len` is its size for the truncation checks (0: unknown).
    fn open_disk(path: &Path, len: u64) -> Res<Self> {
        let c = c_path(path)?;
        let mut f = Fits {
            ptr: ptr::null_mut(),
            len,
            _mem: None,
            _guard: lock(),
        };
        clear_messages();
        let mut status = 0;
        // SAFETY: out-pointer and NUL-terminated name; the disk-file variant does not parse
        // CFITSIO's extended file-name syntax (brackets, '+', …) but still reads .gz files.
        unsafe { sys::ffdkopn(&mut f.ptr, c.as_ptr(), sys::READONLY as c_int, &mut status) };
        if status != 0 {
            f.ptr = ptr::null_mut();
            return Err(format!("not a readable FITS file: {}", status_text(status)));
        }
        Ok(f)
    }

    /// Opens a file on disk; errors say if the file is not a whole number of FITS blocks.
    pub(crate) fn open_path(path: &Path) -> Res<Self> {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot open the file: {e}"))?;
        if meta.is_dir() {
            return Err("is a directory, not a FITS file".into());
        }
        if meta.len() == 0 {
            return Err("the file is empty, not a FITS file".into());
        }
        let gz = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
        let len = if gz { 0 } else { meta.len() };
        Self::open_disk(path, len).map_err(|m| truncation_hint(len, m))
    }

    /// Opens a file held in memory.
    pub(crate) fn open_bytes(bytes: &[u8]) -> Res<Self> {
        if bytes.is_empty() {
            return Err("the file is empty, not a FITS file".into());
        }
        // CFITSIO's memory driver reads whole 2880-byte blocks and would read past the end
        // of a buffer that is not a whole number of blocks (found by fuzzing): pad with
        // zeros; `len` keeps the true size, against which the table sizes are checked.
        let mut data = Vec::with_capacity(bytes.len().div_ceil(2880) * 2880);
        data.extend_from_slice(bytes);
        data.resize(bytes.len().div_ceil(2880) * 2880, 0);
        let mut mem = Box::new(Mem {
            ptr: data.as_mut_ptr().cast(),
            size: data.len(),
            _data: vec![],
        });
        mem._data = data;
        let mut f = Fits {
            ptr: ptr::null_mut(),
            len: bytes.len() as u64,
            _mem: None,
            _guard: lock(),
        };
        clear_messages();
        let name = c"memory.fits";
        let mut status = 0;
        let (pp, ps): (*mut *mut c_void, *mut usize) = (&mut mem.ptr, &mut mem.size);
        // SAFETY: read-only memory file over a buffer that lives (boxed, not moved) in `f`
        // until after ffclos; CFITSIO keeps the two cell addresses, which stay valid.
        unsafe {
            sys::ffomem(
                &mut f.ptr,
                name.as_ptr(),
                sys::READONLY as c_int,
                pp,
                ps,
                0,
                None,
                &mut status,
            )
        };
        f._mem = Some(mem);
        if status != 0 {
            f.ptr = ptr::null_mut();
            return Err(
                f.truncation_hint(format!("not a readable FITS file: {}", status_text(status)))
            );
        }
        Ok(f)
    }

    /// Creates a new file (which must not exist), without extended file-name syntax.
    fn create(path: &Path) -> Result<Self> {
        let c = c_path(path).map_err(|m| anyhow!(m))?;
        let mut f = Fits {
            ptr: ptr::null_mut(),
            len: 0,
            _mem: None,
            _guard: lock(),
        };
        clear_messages();
        let mut status = 0;
        // SAFETY: out-pointer and NUL-terminated name, no extended-syntax parsing.
        unsafe { sys::ffdkinit(&mut f.ptr, c.as_ptr(), &mut status) };
        if status != 0 {
            f.ptr = ptr::null_mut();
            bail!("cannot create the file: {}", status_text(status));
        }
        Ok(f)
    }

    /// Closes the file, reporting errors (flushing) that a drop would ignore.
    fn close(mut self) -> Result<()> {
        let ptr = std::mem::replace(&mut self.ptr, ptr::null_mut());
        let mut status = 0;
        // SAFETY: closes the file opened by `create` exactly once (drop no longer owns it).
        unsafe { sys::ffclos(ptr, &mut status) };
        check(status, || "cannot finish the file".into())
    }

    /// Adds a hint to a message if the file is not a whole number of FITS blocks.
    pub(crate) fn truncation_hint(&self, message: String) -> String {
        truncation_hint(self.len, message)
    }

    /// A string keyword of the current HDU (trailing blanks removed), `None` if absent.
    fn key_str(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        let mut value = [0 as c_char; sys::FLEN_VALUE as usize + 1];
        let mut status = 0;
        // SAFETY: valid file, NUL-terminated key, value buffer of FLEN_VALUE + 1.
        unsafe {
            sys::ffgkys(
                self.ptr,
                key.as_ptr(),
                value.as_mut_ptr(),
                ptr::null_mut(),
                &mut status,
            )
        };
        if status != 0 {
            clear_messages();
            return None;
        }
        Some(cstr(&value).trim_end().to_owned())
    }

    /// A string keyword with leading blanks removed as well.
    fn key_trimmed(&self, key: &str) -> Option<String> {
        self.key_str(key).map(|s| s.trim_start().to_owned())
    }

    fn key_i64(&self, key: &str) -> Option<i64> {
        let key = CString::new(key).ok()?;
        let mut v: i64 = 0;
        let mut status = 0;
        // SAFETY: valid file, NUL-terminated key.
        unsafe { sys::ffgkyjj(self.ptr, key.as_ptr(), &mut v, ptr::null_mut(), &mut status) };
        if status != 0 {
            clear_messages();
            return None;
        }
        Some(v)
    }

    /// Number of HDUs (0 if unreadable).
    pub(crate) fn n_hdus(&self) -> c_int {
        let (mut n, mut status) = (0, 0);
        // SAFETY: valid file.
        unsafe { sys::ffthdu(self.ptr, &mut n, &mut status) };
        if status != 0 {
            clear_messages();
        }
        n
    }

    fn hdu_type(&self) -> Option<u32> {
        let (mut t, mut status) = (0, 0);
        // SAFETY: valid file.
        unsafe { sys::ffghdt(self.ptr, &mut t, &mut status) };
        (status == 0).then_some(t as u32)
    }

    /// True if the current HDU is a (binary or ASCII) table.
    pub(crate) fn is_table(&self) -> bool {
        matches!(self.hdu_type(), Some(sys::BINARY_TBL | sys::ASCII_TBL))
    }

    /// "HDU 1 'COADD'" for the current HDU.
    fn here(&self) -> String {
        let mut num = 0;
        // SAFETY: valid file.
        unsafe { sys::ffghdn(self.ptr, &mut num) };
        let name = self
            .key_trimmed("EXTNAME")
            .map(|n| format!(" '{n}'"))
            .unwrap_or_default();
        format!("HDU {}{name}", num - 1)
    }

    /// "0 (image), 1 'COADD' (binary table)": the HDUs as far as they can be read.
    pub(crate) fn hdu_list(&self) -> String {
        let mut out = vec![];
        for i in 1..=self.n_hdus().min(1000) {
            let (mut t, mut status) = (0, 0);
            // SAFETY: valid file, 1-based HDU number within the count.
            unsafe { sys::ffmahd(self.ptr, i, &mut t, &mut status) };
            if status != 0 {
                break;
            }
            let name = self
                .key_trimmed("EXTNAME")
                .or_else(|| self.key_trimmed("HDUNAME"))
                .map(|n| format!(" '{n}'"))
                .unwrap_or_default();
            out.push(format!("{}{name} ({})", i - 1, hdu_kind(t)));
        }
        clear_messages();
        if out.is_empty() {
            "no readable HDU".into()
        } else {
            out.join(", ")
        }
    }

    /// Moves to the 1-based HDU `k`; false (messages cleared) if it cannot.
    fn move_to(&self, k: c_int) -> bool {
        let (mut t, mut status) = (0, 0);
        if k >= 1 {
            // SAFETY: valid file; CFITSIO checks the number.
            unsafe { sys::ffmahd(self.ptr, k, &mut t, &mut status) };
        }
        if k < 1 || status != 0 {
            clear_messages();
            return false;
        }
        true
    }

    /// Moves to the 0-based HDU `k`; returns its description.
    pub(crate) fn goto_index(&self, k: c_int) -> Res<String> {
        let (mut t, mut status) = (0, 0);
        if k >= 0 {
            // SAFETY: valid file; CFITSIO checks the number.
            unsafe { sys::ffmahd(self.ptr, k + 1, &mut t, &mut status) };
        }
        if k < 0 || status != 0 {
            let text = status_text(status);
            return Err(format!(
                "cannot read HDU {k}: {text}; the file has: {}",
                self.hdu_list()
            ));
        }
        self.check_table_size()?;
        Ok(self.here())
    }

    /// Moves to the table HDU named `spec` (EXTNAME, case-insensitive) or numbered `spec`.
    #[cfg(feature = "csv")] // only the WISE reader needs it
    pub(crate) fn goto_spec(&self, spec: &str) -> Res<String> {
        let desc = match spec.trim().parse::<c_int>() {
            Ok(k) => self.goto_index(k)?,
            Err(_) => {
                if !self.goto_name(spec) {
                    return Err(format!(
                        "there is no HDU named '{spec}'; the file has: {}",
                        self.hdu_list()
                    ));
                }
                self.check_table_size()?;
                self.here()
            }
        };
        if !self.is_table() {
            return Err(format!(
                "{desc} is not a table; the file has: {}",
                self.hdu_list()
            ));
        }
        Ok(desc)
    }

    /// Moves to the HDU whose EXTNAME (or HDUNAME) is `name`, case-insensitively.
    fn goto_name(&self, name: &str) -> bool {
        let Ok(c) = CString::new(name) else {
            return false;
        };
        let mut status = 0;
        // SAFETY: valid file; CFITSIO does not modify the name.
        unsafe {
            sys::ffmnhd(
                self.ptr,
                sys::ANY_HDU,
                c.as_ptr().cast_mut(),
                0,
                &mut status,
            )
        };
        if status != 0 {
            clear_messages();
        }
        status == 0
    }

    /// Moves to the first table named one of `names`, or, if no HDU has any of those names,
    /// to the unnamed table HDU number `fallback`.
    pub(crate) fn goto_table(&self, names: &[&str], fallback: c_int) -> Res<String> {
        let found = names.iter().any(|name| self.goto_name(name))
            || (self.move_to(fallback + 1)
                && self.key_trimmed("EXTNAME").is_none_or(|n| n.is_empty())
                && self.is_table());
        if !found {
            let named = names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(format!(
                "there is no HDU named {named}; the file has: {}",
                self.hdu_list()
            ));
        }
        let desc = self.here();
        if !self.is_table() {
            return Err(format!(
                "{desc} is not a table; the file has: {}",
                self.hdu_list()
            ));
        }
        self.check_table_size()?;
        Ok(desc)
    }

    /// Fails if the current HDU's data extends beyond the end of the file.
    fn check_table_size(&self) -> Res<()> {
        if self.len == 0 || !self.is_table() {
            return Ok(());
        }
        let (mut head, mut start, mut end, mut status) = (0i64, 0i64, 0i64, 0);
        // SAFETY: valid file.
        unsafe { sys::ffghadll(self.ptr, &mut head, &mut start, &mut end, &mut status) };
        if status != 0 {
            return Err(format!(
                "{}: cannot locate the data: {}",
                self.here(),
                status_text(status)
            ));
        }
        let naxis1 = self.key_i64("NAXIS1").unwrap_or(0).max(0);
        let naxis2 = self.key_i64("NAXIS2").unwrap_or(0).max(0);
        let pcount = self.key_i64("PCOUNT").unwrap_or(0).max(0);
        let need = naxis1
            .checked_mul(naxis2)
            .and_then(|b| b.checked_add(pcount))
            .and_then(|b| b.checked_add(start));
        match need {
            Some(need) if need as u64 <= self.len => Ok(()),
            _ => Err(format!(
                "{} declares {naxis2} rows of {naxis1} bytes beyond the {} bytes of the file: the file is truncated",
                self.here(),
                self.len
            )),
        }
    }

    /// Rows of the current table (0 if unreadable).
    pub(crate) fn nrows(&self) -> usize {
        let (mut n, mut status) = (0i64, 0);
        // SAFETY: valid file on a table HDU.
        unsafe { sys::ffgnrwll(self.ptr, &mut n, &mut status) };
        if status != 0 {
            clear_messages();
            return 0;
        }
        usize::try_from(n).unwrap_or(0)
    }

    fn ncols(&self) -> c_int {
        let (mut n, mut status) = (0, 0);
        // SAFETY: valid file on a table HDU.
        unsafe { sys::ffgncl(self.ptr, &mut n, &mut status) };
        if status != 0 {
            clear_messages();
            return 0;
        }
        n
    }

    fn column_names(&self) -> Vec<String> {
        (1..=self.ncols().clamp(0, 999))
            .map(|c| self.key_trimmed(&format!("TTYPE{c}")).unwrap_or_default())
            .collect()
    }

    /// The current table's column names, for messages.
    pub(crate) fn column_list(&self) -> String {
        short_list(&self.column_names())
    }

    /// 1-based number of the column named `name` (case-insensitive).
    pub(crate) fn find_column(&self, name: &str) -> Option<c_int> {
        let names = self.column_names();
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name.trim()))
            .map(|k| k as c_int + 1)
    }

    /// [`Self::find_column`], or an error listing the columns.
    pub(crate) fn require_column(&self, name: &str, desc: &str) -> Res<c_int> {
        self.find_column(name).ok_or_else(|| {
            format!(
                "{desc} has no column '{name}' (columns: {})",
                self.column_list()
            )
        })
    }

    /// Type code, values per row and width of a column (CFITSIO's equivalent type).
    fn column_type_raw(&self, col: c_int) -> std::result::Result<(c_int, i64, i64), c_int> {
        let (mut tc, mut repeat, mut width, mut status) = (0, 0i64, 0i64, 0);
        // SAFETY: valid file on a table HDU; CFITSIO checks the column number.
        unsafe { sys::ffeqtyll(self.ptr, col, &mut tc, &mut repeat, &mut width, &mut status) };
        if status != 0 {
            return Err(status);
        }
        Ok((tc, repeat, width))
    }

    fn column_type(&self, col: c_int, name: &str, desc: &str) -> Res<(c_int, usize, usize)> {
        let (tc, repeat, width) = self.column_type_raw(col).map_err(|status| {
            format!(
                "{desc}: cannot read the format of column '{name}': {}",
                status_text(status)
            )
        })?;
        Ok((
            tc,
            usize::try_from(repeat).unwrap_or(0),
            usize::try_from(width).unwrap_or(0),
        ))
    }

    fn numeric_column(&self, col: c_int, name: &str, desc: &str) -> Res<(u32, usize)> {
        let (tc, repeat, _) = self.column_type(col, name, desc)?;
        if tc < 0 || !is_numeric(tc as u32) {
            return Err(format!(
                "{desc}: column '{name}' has the {} type, not a number",
                type_name(tc)
            ));
        }
        Ok((tc as u32, repeat))
    }

    /// Number of values of a column in the whole table (rows × values per row), bounded by
    /// the size of the table data (checked on moving to the HDU).
    fn n_values(&self, repeat: usize, desc: &str, name: &str) -> Res<usize> {
        let n = self
            .nrows()
            .checked_mul(repeat)
            .ok_or_else(|| format!("{desc}: column '{name}' is too large"))?;
        if self.len > 0 && n as u64 > self.len {
            return Err(format!(
                "{desc}: column '{name}' declares {n} values in a file of {} bytes",
                self.len
            ));
        }
        Ok(n)
    }

    /// `n` values of column `col` from the 1-based `first_row` on, as f64, `nulval` for
    /// nulls (0 turns null checking off); returns whether any was null.
    fn read_f64_raw(
        &self,
        col: c_int,
        first_row: i64,
        n: usize,
        nulval: f64,
    ) -> std::result::Result<(Vec<f64>, bool), c_int> {
        let mut v = vec![0f64; n];
        if n == 0 {
            return Ok((v, false));
        }
        let (mut anynul, mut status) = (0, 0);
        // SAFETY: the buffer holds n values, which CFITSIO reads row after row from
        // `first_row` on.
        unsafe {
            sys::ffgcvd(
                self.ptr,
                col,
                first_row,
                1,
                n as i64,
                nulval,
                v.as_mut_ptr(),
                &mut anynul,
                &mut status,
            )
        };
        if status != 0 {
            return Err(status);
        }
        Ok((v, anynul != 0))
    }

    /// `n` values of column `col` from the first row on, as i64, `nulval` for nulls (0 turns
    /// null checking off); returns whether any was null.
    fn read_i64_raw(
        &self,
        col: c_int,
        n: usize,
        nulval: i64,
    ) -> std::result::Result<(Vec<i64>, bool), c_int> {
        let mut v = vec![0i64; n];
        if n == 0 {
            return Ok((v, false));
        }
        let (mut anynul, mut status) = (0, 0);
        // SAFETY: the buffer holds n values.
        unsafe {
            sys::ffgcvjj(
                self.ptr,
                col,
                1,
                1,
                n as i64,
                nulval,
                v.as_mut_ptr(),
                &mut anynul,
                &mut status,
            )
        };
        if status != 0 {
            return Err(status);
        }
        Ok((v, anynul != 0))
    }

    fn read_f64(&self, col: c_int, n: usize, name: &str, desc: &str) -> Res<Vec<f64>> {
        self.read_f64_raw(col, 1, n, f64::NAN)
            .map(|(v, _)| v)
            .map_err(|status| {
                format!(
                    "{desc}: cannot read column '{name}': {}",
                    status_text(status)
                )
            })
    }

    /// Every value of a numeric column (vector columns row after row), nulls as NaN.
    pub(crate) fn read_f64_all(&self, col: c_int, name: &str, desc: &str) -> Res<Vec<f64>> {
        let (_, repeat) = self.numeric_column(col, name, desc)?;
        let n = self.n_values(repeat, desc, name)?;
        self.read_f64(col, n, name, desc)
    }

    /// A scalar numeric column, nulls as NaN.
    #[cfg(feature = "csv")] // only the WISE reader needs it
    pub(crate) fn read_f64_scalar(
        &self,
        col: c_int,
        name: &str,
        desc: &str,
        n: usize,
    ) -> Res<Vec<f64>> {
        let (_, repeat) = self.numeric_column(col, name, desc)?;
        if repeat != 1 {
            return Err(format!(
                "{desc}: column '{name}' holds {repeat} values per row, not one"
            ));
        }
        self.read_f64(col, n.min(self.n_values(1, desc, name)?), name, desc)
    }

    /// The first value of a numeric column.
    pub(crate) fn read_first_f64(&self, col: c_int, name: &str, desc: &str) -> Res<f64> {
        let (_, repeat) = self.numeric_column(col, name, desc)?;
        if repeat == 0 {
            return Err(format!("{desc}: column '{name}' holds no values"));
        }
        Ok(self
            .read_f64(col, 1, name, desc)?
            .first()
            .copied()
            .unwrap_or(f64::NAN))
    }

    /// Every value of an integer column; a null is an error.
    pub(crate) fn read_i64_all(&self, col: c_int, name: &str, desc: &str) -> Res<Vec<i64>> {
        let (tc, repeat) = self.numeric_column(col, name, desc)?;
        if matches!(tc, sys::TFLOAT | sys::TDOUBLE) {
            return Err(format!(
                "{desc}: column '{name}' is floating-point, not integer"
            ));
        }
        let n = self.n_values(repeat, desc, name)?;
        self.read_i64(col, n, name, desc)
    }

    fn read_i64(&self, col: c_int, n: usize, name: &str, desc: &str) -> Res<Vec<i64>> {
        const NULL: i64 = i64::MIN;
        let (v, anynul) = self.read_i64_raw(col, n, NULL).map_err(|status| {
            format!(
                "{desc}: cannot read column '{name}': {}",
                status_text(status)
            )
        })?;
        if anynul && let Some(i) = v.iter().position(|&x| x == NULL) {
            return Err(format!(
                "{desc}: column '{name}' is null at value {}",
                i + 1
            ));
        }
        Ok(v)
    }

    /// The first `n` ids of a scalar id column: integers, unsigned 64-bit integers (kept as
    /// their bit pattern), integral floats below 2⁵³, or decimal strings.
    pub(crate) fn read_ids(&self, col: c_int, name: &str, desc: &str, n: usize) -> Res<Vec<i64>> {
        let (tc, repeat, width) = self.column_type(col, name, desc)?;
        let n = n.min(self.nrows());
        if tc >= 0 && tc as u32 == sys::TSTRING {
            if width > 0 && repeat > width {
                return Err(format!(
                    "{desc}: column '{name}' holds several strings per row"
                ));
            }
            let width = width.max(repeat);
            self.n_values(width.max(1), desc, name)?;
            let strings = self.read_strings(col, 0, n, width).map_err(|(status, _)| {
                format!(
                    "{desc}: cannot read column '{name}': {}",
                    status_text(status)
                )
            })?;
            return strings
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let s = s.trim();
                    parse_id(s).ok_or_else(|| {
                        format!(
                            "{desc}: column '{name}' row {}: '{}' is not an integer id",
                            i + 1,
                            clip(s)
                        )
                    })
                })
                .collect();
        }
        let (tc, repeat) = self.numeric_column(col, name, desc)?;
        if repeat != 1 {
            return Err(format!(
                "{desc}: id column '{name}' holds {repeat} values per row, not one"
            ));
        }
        self.n_values(1, desc, name)?;
        match tc {
            sys::TFLOAT | sys::TDOUBLE => {
                let v = self.read_f64(col, n, name, desc)?;
                v.iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
                            Ok(x as i64)
                        } else {
                            Err(format!(
                                "{desc}: id column '{name}' row {} is {x}, not an integer below 2^53 \
                                 (store ids as integers or strings)",
                                i + 1
                            ))
                        }
                    })
                    .collect()
            }
            sys::TULONGLONG => {
                let mut v = vec![0u64; n];
                if n > 0 {
                    let (mut anynul, mut status) = (0, 0);
                    // SAFETY: the buffer holds n values.
                    unsafe {
                        sys::ffgcvujj(
                            self.ptr,
                            col,
                            1,
                            1,
                            n as i64,
                            0,
                            v.as_mut_ptr(),
                            &mut anynul,
                            &mut status,
                        )
                    };
                    if status != 0 {
                        return Err(format!(
                            "{desc}: cannot read column '{name}': {}",
                            status_text(status)
                        ));
                    }
                }
                Ok(v.into_iter().map(|u| u as i64).collect())
            }
            _ => self.read_i64(col, n, name, desc),
        }
    }

    /// The first `n` rows of a scalar string column, trailing blanks removed.
    pub(crate) fn read_str_scalar(
        &self,
        col: c_int,
        name: &str,
        desc: &str,
        n: usize,
    ) -> Res<Vec<String>> {
        let (tc, repeat, width) = self.column_type(col, name, desc)?;
        if tc < 0 || tc as u32 != sys::TSTRING {
            return Err(format!(
                "{desc}: column '{name}' has the {} type, not a string",
                type_name(tc)
            ));
        }
        if width > 0 && repeat > width {
            return Err(format!(
                "{desc}: column '{name}' holds several strings per row"
            ));
        }
        let width = width.max(repeat);
        self.n_values(width.max(1), desc, name)?;
        self.read_strings(col, 0, n.min(self.nrows()), width)
            .map_err(|(status, (a, b))| {
                format!(
                    "{desc}: cannot read column '{name}' at rows {a}–{b}: {}",
                    status_text(status)
                )
            })
    }

    /// Rows `start..start + n` (0-based) of a string column of `width` characters, trailing
    /// blanks removed; on failure the status and the rows (1-based, inclusive) at fault.
    fn read_strings(
        &self,
        col: c_int,
        start: usize,
        n: usize,
        width: usize,
    ) -> std::result::Result<Vec<String>, (c_int, (usize, usize))> {
        if n == 0 || width == 0 {
            return Ok(vec![String::new(); n]);
        }
        // In chunks, which keeps the buffers small for long columns of wide strings.
        const CHUNK: usize = 4096;
        let mut out = Vec::with_capacity(n);
        let mut bufs: Vec<Vec<c_char>> = vec![vec![0; width + 1]; CHUNK.min(n)];
        let mut done = 0;
        while done < n {
            let m = CHUNK.min(n - done);
            let first = start + done;
            let mut ptrs: Vec<*mut c_char> = bufs[..m].iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut nul = [0 as c_char; 1];
            let (mut anynul, mut status) = (0, 0);
            // SAFETY: m pointers to buffers of width + 1 bytes, as CFITSIO requires.
            unsafe {
                sys::ffgcvs(
                    self.ptr,
                    col,
                    first as i64 + 1,
                    1,
                    m as i64,
                    nul.as_mut_ptr(),
                    ptrs.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
            if status != 0 {
                return Err((status, (first + 1, first + m)));
            }
            out.extend(bufs[..m].iter().map(|b| cstr(b).trim_end().to_owned()));
            done += m;
        }
        Ok(out)
    }
}

fn truncation_hint(len: u64, message: String) -> String {
    if len > 0 && !len.is_multiple_of(2880) {
        format!(
            "{message} ({len} bytes is not a whole number of 2880-byte FITS blocks: is the file truncated?)"
        )
    } else {
        message
    }
}

// ---- catalogue tables ---------------------------------------------------------------------------

/// Moves to the requested HDU or the first table; returns its description for messages.
fn select_hdu(f: &Fits, hdu: Option<&str>) -> Result<String> {
    match hdu {
        Some(spec) if spec.trim().parse::<c_int>().is_ok() => {
            let k: c_int = spec.trim().parse().unwrap_or(0);
            if k < 0 || !f.move_to(k + 1) {
                bail!("there is no HDU number {k}; the file has: {}", f.hdu_list());
            }
        }
        Some(spec) => {
            if CString::new(spec).is_err() {
                bail!("bad HDU name {spec:?}");
            }
            if !f.goto_name(spec) {
                bail!(
                    "there is no HDU named '{spec}'; the file has: {}",
                    f.hdu_list()
                );
            }
        }
        None => {
            let mut status = 0;
            let mut n = 0;
            // SAFETY: valid file.
            unsafe { sys::ffthdu(f.ptr, &mut n, &mut status) };
            check(status, || "cannot count the HDUs".into())?;
            let mut found = false;
            for i in 1..=n {
                let mut t = 0;
                // SAFETY: valid file, HDU number within the count.
                unsafe { sys::ffmahd(f.ptr, i, &mut t, &mut status) };
                check(status, || format!("cannot read HDU {}", i - 1))?;
                if t as u32 == sys::BINARY_TBL || t as u32 == sys::ASCII_TBL {
                    found = true;
                    break;
                }
            }
            if !found {
                bail!("the file holds no table HDU; it has: {}", f.hdu_list());
            }
        }
    }
    let mut t = 0;
    let mut status = 0;
    // SAFETY: valid file.
    unsafe { sys::ffghdt(f.ptr, &mut t, &mut status) };
    let desc = f.here();
    check(status, || format!("cannot read {desc}"))?;
    if t as u32 == sys::IMAGE_HDU {
        bail!(
            "{desc} is an image, not a table; the file has: {}",
            f.hdu_list()
        );
    }
    Ok(desc)
}

/// Reads a FITS table: the HDU named `hdu` (its `EXTNAME`/`HDUNAME`, or its 0-based number),
/// or the first table HDU when `None`. Errors do not name the file (the registry adds it).
pub fn read(path: &Path, hdu: Option<&str>) -> Result<Table> {
    let meta = std::fs::metadata(path).context("cannot open the file")?;
    let plain = !path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    with_table(path, hdu, read_hdu).map_err(|e| {
        if plain && meta.len() % 2880 != 0 {
            e.context(format!(
                "{} bytes is not a whole number of 2880-byte FITS blocks: is the file \
                 truncated?",
                meta.len()
            ))
        } else {
            e
        }
    })
}

/// Opens `path` on its table HDU `hdu` (or the first table) and runs `f` on it.
fn with_table<T>(path: &Path, hdu: Option<&str>, f: impl FnOnce(&Fits) -> Result<T>) -> Result<T> {
    let file = Fits::open_disk(path, 0).map_err(|m| anyhow!(m))?;
    let desc = select_hdu(&file, hdu)?;
    f(&file).with_context(|| desc)
}

/// A table's number of rows and, per column, its name and number of values per row (0 for
/// columns that are not numeric).
pub fn describe(path: &Path, hdu: Option<&str>) -> Result<(u64, Vec<(String, usize)>)> {
    with_table(path, hdu, |f| {
        let mut status = 0;
        let (mut nrows, mut ncols): (i64, c_int) = (0, 0);
        // SAFETY: valid file positioned on a table HDU.
        unsafe {
            sys::ffgnrwll(f.ptr, &mut nrows, &mut status);
            sys::ffgncl(f.ptr, &mut ncols, &mut status);
        }
        check(status, || "cannot read the table size".into())?;
        let mut cols = vec![];
        for col in 1..=ncols {
            let name = f.key_str(&format!("TTYPE{col}")).unwrap_or_default();
            let (tc, repeat, _) = f.column_type_raw(col).map_err(|status| {
                anyhow!(
                    "cannot read the format of column '{name}': {}",
                    status_text(status)
                )
            })?;
            let numeric = tc > 0
                && !matches!(
                    tc as u32,
                    sys::TSTRING | sys::TLOGICAL | sys::TBIT | sys::TCOMPLEX | sys::TDBLCOMPLEX
                );
            cols.push((
                name,
                if numeric {
                    usize::try_from(repeat).unwrap_or(0)
                } else {
                    0
                },
            ));
        }
        Ok((u64::try_from(nrows).unwrap_or(0), cols))
    })
}

/// Rows `start..end` of numeric columns (by 0-based index, with their values per row), as
/// f64, row-major for vector columns; NaN for nulls.
pub fn read_rows(
    path: &Path,
    hdu: Option<&str>,
    columns: &[(usize, usize)],
    start: u64,
    end: u64,
) -> Result<Vec<Vec<f64>>> {
    with_table(path, hdu, |f| {
        columns
            .iter()
            .map(|&(col, repeat)| {
                let n = (end - start) as usize * repeat;
                f.read_f64_raw(col as c_int + 1, start as i64 + 1, n, f64::NAN)
                    .map(|(v, _)| v)
                    .map_err(|status| {
                        anyhow!(
                            "cannot read rows {start}..{end} of column {}: {}",
                            col + 1,
                            status_text(status)
                        )
                    })
            })
            .collect()
    })
}

fn read_hdu(f: &Fits) -> Result<Table> {
    let mut status = 0;
    let mut nrows: i64 = 0;
    let mut ncols: c_int = 0;
    // SAFETY: valid file positioned on a table HDU.
    unsafe {
        sys::ffgnrwll(f.ptr, &mut nrows, &mut status);
        sys::ffgncl(f.ptr, &mut ncols, &mut status);
    }
    let mut t = 0;
    // SAFETY: valid file.
    unsafe { sys::ffghdt(f.ptr, &mut t, &mut status) };
    check(status, || "cannot read the table size".into())?;
    let ascii = t as u32 == sys::ASCII_TBL;
    let n = usize::try_from(nrows).unwrap_or(0);
    let mut columns = vec![];
    for col in 1..=ncols {
        let name = f
            .key_str(&format!("TTYPE{col}"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("col{col}"));
        let data = read_column(f, col, n, &name, ascii)?;
        let unit = f
            .key_str(&format!("TUNIT{col}"))
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        columns.push(Column { name, data, unit });
    }
    Ok(Table {
        columns,
        source: None,
    })
}

fn read_column(f: &Fits, col: c_int, n: usize, name: &str, ascii: bool) -> Result<ColumnData> {
    let (tc, repeat, width) = f.column_type_raw(col).map_err(|status| {
        anyhow!(
            "cannot read the format of column '{name}': {}",
            status_text(status)
        )
    })?;
    let tform = f.key_str(&format!("TFORM{col}")).unwrap_or_default();
    if tc < 0 {
        bail!(
            "column '{name}' (TFORM {tform}) is a variable-length array column; only scalar \
             columns are supported"
        );
    }
    let tc = tc as u32;
    if tc == sys::TSTRING {
        if width > 0 && repeat > width {
            bail!(
                "column '{name}' (TFORM {tform}) holds {} strings per row (a vector column); \
                 only scalar columns are supported",
                repeat / width
            );
        }
        let width = usize::try_from(width.max(repeat)).unwrap_or(0);
        return f
            .read_strings(col, 0, n, width)
            .map(ColumnData::Str)
            .map_err(|(status, (a, b))| {
                anyhow!(
                    "cannot read column '{name}' at rows {a}–{b}: {}",
                    status_text(status)
                )
            });
    }
    let kind = match tc {
        sys::TLOGICAL => Some("logical"),
        sys::TBIT => Some("bit"),
        sys::TCOMPLEX | sys::TDBLCOMPLEX => Some("complex"),
        t if is_numeric(t) => None,
        _ => Some("unknown"),
    };
    if let Some(kind) = kind {
        bail!(
            "column '{name}' (TFORM {tform}) has the unsupported {kind} type; use integer, \
             floating-point or string columns"
        );
    }
    if repeat != 1 {
        bail!(
            "column '{name}' (TFORM {tform}) holds {repeat} values per row (a vector \
             column); only scalar columns are supported"
        );
    }
    let integer = is_numeric(tc) && !matches!(tc, sys::TULONGLONG | sys::TFLOAT | sys::TDOUBLE);
    // Null checking turns integer TNULL values and ASCII-table blanks into NaN, but it
    // would also turn ±inf of binary float columns into NaN: there, NaN is the null anyway.
    let nulval = if integer || ascii || tc == sys::TULONGLONG {
        f64::NAN
    } else {
        0.0
    };
    let read_err = |status| anyhow!("cannot read column '{name}': {}", status_text(status));
    let (values, anynul) = f.read_f64_raw(col, 1, n, nulval).map_err(read_err)?;
    if !integer || anynul || n == 0 {
        return Ok(ColumnData::F64(values));
    }
    // As 64-bit integers (exact beyond 2^53); no nulls were found.
    let (ints, _) = f.read_i64_raw(col, n, 0).map_err(read_err)?;
    Ok(ColumnData::I64(ints))
}

/// Writes a table as a binary-table HDU [`FITS_EXTNAME`] to a new file at `path` (an
/// existing file there is replaced; not atomically: [`crate::table::write_table`] is).
pub fn write(path: &Path, table: &Table) -> Result<()> {
    let n = table.n_rows();
    let mut ttype = vec![];
    let mut tform = vec![];
    let mut tunit = vec![];
    for c in &table.columns {
        let unit = c.unit.as_deref().unwrap_or("");
        if unit.len() > 68 || !unit.is_ascii() {
            bail!(
                "the unit '{unit}' of column '{}' cannot be written to FITS (at most 68 ASCII \
                 characters)",
                c.name
            );
        }
        tunit.push(CString::new(unit).map_err(|_| anyhow!("bad unit"))?);
        if c.name.is_empty() || c.name.len() > 68 || !c.name.is_ascii() {
            bail!(
                "column name '{}' cannot be written to FITS (1 to 68 ASCII characters)",
                c.name
            );
        }
        ttype.push(CString::new(c.name.as_str()).map_err(|_| anyhow!("bad column name"))?);
        let form = match &c.data {
            ColumnData::F64(_) => "1D".to_owned(),
            ColumnData::I64(_) => "1K".to_owned(),
            ColumnData::Str(v) => {
                format!("{}A", v.iter().map(String::len).max().unwrap_or(0).max(1))
            }
        };
        tform.push(CString::new(form).map_err(|_| anyhow!("bad format"))?);
    }
    let extname = CString::new(FITS_EXTNAME).map_err(|_| anyhow!("bad name"))?;
    // The temporary file exists already; CFITSIO creates files itself.
    std::fs::remove_file(path).ok();
    let f = Fits::create(path)?;
    let mut status = 0;
    let mut ttype_p: Vec<*mut c_char> = ttype.iter().map(|s| s.as_ptr().cast_mut()).collect();
    let mut tform_p: Vec<*mut c_char> = tform.iter().map(|s| s.as_ptr().cast_mut()).collect();
    let mut tunit_p: Vec<*mut c_char> = tunit.iter().map(|s| s.as_ptr().cast_mut()).collect();
    // SAFETY: ncols pointers to NUL-terminated strings that CFITSIO only reads (an empty unit
    // writes no TUNITn keyword).
    unsafe {
        sys::ffcrtb(
            f.ptr,
            sys::BINARY_TBL as c_int,
            n as i64,
            ttype_p.len() as c_int,
            ttype_p.as_mut_ptr(),
            tform_p.as_mut_ptr(),
            tunit_p.as_mut_ptr(),
            extname.as_ptr(),
            &mut status,
        )
    };
    check(status, || "cannot create the table".into())?;
    for (k, c) in table.columns.iter().enumerate() {
        let col = k as c_int + 1;
        if n == 0 {
            break;
        }
        match &c.data {
            // SAFETY: the array holds n elements; CFITSIO only reads them.
            ColumnData::F64(v) => unsafe {
                sys::ffpcld(
                    f.ptr,
                    col,
                    1,
                    1,
                    n as i64,
                    v.as_ptr().cast_mut(),
                    &mut status,
                );
            },
            // SAFETY: the array holds n elements; CFITSIO only reads them.
            ColumnData::I64(v) => unsafe {
                sys::ffpcljj(
                    f.ptr,
                    col,
                    1,
                    1,
                    n as i64,
                    v.as_ptr().cast_mut(),
                    &mut status,
                );
            },
            ColumnData::Str(v) => {
                let cells = v
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        CString::new(s.as_str()).map_err(|_| {
                            anyhow!("column '{}' row {} holds a NUL character", c.name, i + 1)
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut p: Vec<*mut c_char> = cells.iter().map(|s| s.as_ptr().cast_mut()).collect();
                // SAFETY: n NUL-terminated strings that CFITSIO only reads.
                unsafe { sys::ffpcls(f.ptr, col, 1, 1, n as i64, p.as_mut_ptr(), &mut status) };
            }
        }
        check(status, || format!("cannot write column '{}'", c.name))?;
    }
    f.close()
}

#[cfg(test)]
mod tests {
    use crate::table::{ColumnData, read_fits, read_table};

    use super::*;

    /// An ASCII table and an integer column with TNULL, made with CFITSIO's C API.
    #[test]
    fn fits_ascii_table_and_integer_nulls() {
        use fitsio::sys;
        use std::ffi::{CString, c_char, c_int};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ascii.fits");
        let cs = |s: &str| CString::new(s).unwrap();
        {
            let _g = lock();
            let mut f = std::ptr::null_mut();
            let mut status = 0;
            let name = cs(p.to_str().unwrap());
            let names = [cs("N"), cs("X"), cs("S")];
            let forms = [cs("I6"), cs("F8.3"), cs("A5")];
            let mut np: Vec<*mut c_char> = names.iter().map(|c| c.as_ptr().cast_mut()).collect();
            let mut fp: Vec<*mut c_char> = forms.iter().map(|c| c.as_ptr().cast_mut()).collect();
            let mut n = [7i64, -1];
            let mut x = [1.25f64, 2.5];
            let strs = [cs("ab"), cs("cde")];
            let mut sp: Vec<*mut c_char> = strs.iter().map(|c| c.as_ptr().cast_mut()).collect();
            let (ext, bin, tnull) = (cs("ASC"), cs("BIN"), cs("TNULL1"));
            let mut k = [5i64, 99];
            let (kname, kform) = (cs("K"), cs("1J"));
            let mut kp = [kname.as_ptr().cast_mut()];
            let mut kf = [kform.as_ptr().cast_mut()];
            // SAFETY: valid pointers for the documented sizes; the file is closed at the end.
            unsafe {
                sys::ffdkinit(&mut f, name.as_ptr(), &mut status);
                sys::ffcrtb(
                    f,
                    sys::ASCII_TBL as c_int,
                    2,
                    3,
                    np.as_mut_ptr(),
                    fp.as_mut_ptr(),
                    std::ptr::null_mut(),
                    ext.as_ptr(),
                    &mut status,
                );
                sys::ffpcljj(f, 1, 1, 1, 2, n.as_mut_ptr(), &mut status);
                sys::ffpcld(f, 2, 1, 1, 2, x.as_mut_ptr(), &mut status);
                sys::ffpcls(f, 3, 1, 1, 2, sp.as_mut_ptr(), &mut status);
                sys::ffcrtb(
                    f,
                    sys::BINARY_TBL as c_int,
                    2,
                    1,
                    kp.as_mut_ptr(),
                    kf.as_mut_ptr(),
                    std::ptr::null_mut(),
                    bin.as_ptr(),
                    &mut status,
                );
                sys::ffpkyj(f, tnull.as_ptr(), 99, std::ptr::null(), &mut status);
                sys::ffpcljj(f, 1, 1, 1, 2, k.as_mut_ptr(), &mut status);
                sys::ffclos(f, &mut status);
            }
            assert_eq!(status, 0);
        }
        let t = read_table(&p).unwrap();
        assert_eq!(t.names(), ["N", "X", "S"]);
        assert_eq!(t.column("N").unwrap().data, ColumnData::I64(vec![7, -1]));
        assert_eq!(&t.f64_column("X").unwrap()[..], &[1.25, 2.5]);
        assert_eq!(t.str_column("S").unwrap(), ["ab", "cde"]);
        let b = read_fits(&p, Some("BIN")).unwrap();
        let k = b.f64_column("K").unwrap();
        assert!(k[0] == 5.0 && k[1].is_nan(), "{k:?}");
    }
}
