#!/usr/bin/env bash
# Runs the `readers` fuzz target, seeded from the original Starduster files in ../shared.
# Usage: fuzz/run.sh [SECONDS] (default 600). Corpus and findings stay outside the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-600}"
originals="$here/../../shared/reference/starduster/original"
work="${GALSED_FUZZ_DIR:-/tmp/galsed-fuzz}"
mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts"
# The checkpoints' inner pickles as extra seeds (the zips themselves are read in place;
# -max_len keeps the 3.5 MB checkpoint whole, libFuzzer would cap inputs at 1 MiB).
for pt in "$originals"/*.pt; do
    python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
sys.stdout.buffer.write(z.read(name))' "$pt" > "$work/seeds/$(basename "$pt" .pt).data.pkl"
done
cd "$here"
exec nice -n 19 cargo +nightly fuzz run readers \
    --target-dir "${CARGO_TARGET_DIR:-$here/target}" \
    "$work/corpus" "$work/seeds" "$originals" -- \
    -max_total_time="$secs" -max_len=4194304 -rss_limit_mb=2048 -timeout=30 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1
