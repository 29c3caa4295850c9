//! Chunks, shards and the parts directory of a resumable catalogue run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

/// Parses `--shard i/n`.
pub fn parse_shard(spec: Option<&str>) -> Result<(usize, usize)> {
    let Some(spec) = spec else { return Ok((0, 1)) };
    let usage = || anyhow!("--shard {spec:?}: expected i/n with 0 ≤ i < n, e.g. 0/4");
    let (i, n) = spec.split_once('/').ok_or_else(usage)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| usage())?,
        n.trim().parse().map_err(|_| usage())?,
    );
    if n == 0 || i >= n {
        return Err(usage());
    }
    Ok((i, n))
}

/// Chunks of at most `chunk_rows` rows that do not cross the source's natural boundaries.
pub fn chunk_ranges(boundaries: &[u64], chunk_rows: u64) -> Vec<(u64, u64)> {
    let mut out = vec![];
    for w in boundaries.windows(2) {
        let mut a = w[0];
        while a < w[1] {
            let b = (a + chunk_rows).min(w[1]);
            out.push((a, b));
            a = b;
        }
    }
    out
}

/// The contiguous slice of `ranges` that shard i of n computes.
pub fn shard_ranges(ranges: &[(u64, u64)], (i, n): (usize, usize)) -> &[(u64, u64)] {
    let k = ranges.len();
    &ranges[i * k / n..(i + 1) * k / n]
}

/// What a set of parts was computed with: a resumed run must match it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub input: PathBuf,
    pub input_bytes: u64,
    pub n_rows: u64,
    pub chunk_rows: u64,
    pub shard: (usize, usize),
    pub settings: Vec<(String, String)>,
}

/// `<output>.parts`, where finished chunks wait to be merged.
pub fn parts_dir(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".parts");
    output.with_file_name(name)
}

/// Creates (or checks, to resume) the parts directory; returns the row ranges already done.
pub fn prepare_parts(
    dir: &Path,
    manifest: &Manifest,
    restart: bool,
) -> Result<HashSet<(u64, u64)>> {
    let manifest_path = dir.join("manifest.json");
    if restart && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if dir.exists() {
        let text = std::fs::read_to_string(&manifest_path).with_context(|| {
            format!(
                "{} exists but holds no manifest.json: remove it or use --restart",
                dir.display()
            )
        })?;
        let earlier: Manifest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a galsed manifest: remove it or use --restart",
                manifest_path.display()
            )
        })?;
        if &earlier != manifest {
            bail!(
                "{} holds the parts of a run with other inputs or settings; run that command \
                 again to finish it, or use --restart to discard it",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join("manifest.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(manifest)?)?;
        std::fs::rename(&tmp, &manifest_path)?;
    }
    let mut done = HashSet::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            // A part a killed run was writing.
            std::fs::remove_file(dir.join(&name))?;
            continue;
        }
        if let Some(range) = name
            .strip_prefix("rows-")
            .and_then(|r| r.strip_suffix(".parquet"))
            && let Some((a, b)) = range.split_once('-')
            && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
        {
            done.insert((a, b));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_boundaries_and_shards_tile_them() {
        let r = chunk_ranges(&[0, 5, 12], 4);
        assert_eq!(r, vec![(0, 4), (4, 5), (5, 9), (9, 12)]);
        let joined: Vec<_> = (0..3)
            .flat_map(|i| shard_ranges(&r, (i, 3)).to_vec())
            .collect();
        assert_eq!(joined, r);
        assert!(parse_shard(Some("3/3")).is_err());
        assert!(parse_shard(Some("x")).is_err());
        assert_eq!(parse_shard(Some("1/4")).unwrap(), (1, 4));
    }
}
