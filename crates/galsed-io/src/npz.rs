//! A small .npz writer: numeric members through `ndarray-npy`, plus unicode string members
//! (numpy dtype `<U…`) that `ndarray-npy` cannot write, so that filter names and units travel
//! with the numbers.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use anyhow::{Context, Result};
use ndarray::{ArrayBase, Data, Dimension};
use ndarray_npy::{WritableElement, WriteNpyExt};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// Writes members one by one into a compressed npz archive.
pub struct Npz<W: Write + Seek> {
    zip: ZipWriter<W>,
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true)
}

impl Npz<BufWriter<File>> {
    /// Creates the archive at `path`, replacing any file there.
    pub fn create(path: &Path) -> Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            zip: ZipWriter::new(BufWriter::new(file)),
        })
    }
}

impl<W: Write + Seek> Npz<W> {
    /// Adds a numeric array.
    pub fn add<A, S, D>(&mut self, name: &str, array: &ArrayBase<S, D>) -> Result<()>
    where
        A: WritableElement,
        S: Data<Elem = A>,
        D: Dimension,
    {
        self.zip
            .start_file(format!("{name}.npy"), options())
            .with_context(|| format!("cannot add {name} to the npz archive"))?;
        array
            .write_npy(&mut self.zip)
            .with_context(|| format!("cannot write array {name}"))
    }

    /// Adds a 1-D array of strings, or a 0-d string with `scalar`.
    pub fn add_strings(&mut self, name: &str, values: &[&str], scalar: bool) -> Result<()> {
        let bytes = npy_unicode(values, scalar);
        self.zip
            .start_file(format!("{name}.npy"), options())
            .with_context(|| format!("cannot add {name} to the npz archive"))?;
        self.zip
            .write_all(&bytes)
            .with_context(|| format!("cannot write array {name}"))
    }

    /// Writes the archive's directory and flushes: the archive is incomplete until this returns.
    pub fn finish(self) -> Result<()> {
        let mut w = self.zip.finish().context("cannot finish the npz archive")?;
        w.flush().context("cannot write the npz archive")
    }
}

/// A version 1.0 .npy file of fixed-width UCS-4 strings (`<U{width}`).
fn npy_unicode(values: &[&str], scalar: bool) -> Vec<u8> {
    let width = values
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let shape = if scalar {
        "()".to_owned()
    } else {
        format!("({},)", values.len())
    };
    let mut header =
        format!("{{'descr': '<U{width}', 'fortran_order': False, 'shape': {shape}, }}");
    // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * width * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    // Header lengths here are far below u16::MAX (names are short).
    out.extend_from_slice(
        &u16::try_from(header.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    for s in values {
        let mut n = 0;
        for c in s.chars() {
            out.extend_from_slice(&u32::from(c).to_le_bytes());
            n += 1;
        }
        out.extend(std::iter::repeat_n(0u8, (width - n) * 4));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_header_is_aligned_and_padded() {
        let b = npy_unicode(&["sdss_r0", "λ"], false);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(header.starts_with("{'descr': '<U7', 'fortran_order': False, 'shape': (2,), }"));
        assert_eq!(b.len(), 10 + hlen + 2 * 7 * 4);
        // second string: 'λ' then zero padding
        let second = &b[10 + hlen + 28..];
        assert_eq!(
            u32::from_le_bytes(second[..4].try_into().unwrap()),
            'λ' as u32
        );
        assert!(second[4..].iter().all(|&x| x == 0));
    }
}
