#!/usr/bin/env bash
# Runs the galsed-optir reader fuzz targets: `wise_csv` (WISE catalogue CSV), `spec_lite`
# (SDSS spec-lite FITS from memory) and `specobj` (the specObj catalogue), each for SECONDS.
# Usage: fuzz/run_optir.sh [SECONDS] (default 300 per target). Corpus and findings stay outside
# the repository, in $GALSED_FUZZ_DIR (default /tmp/galsed-fuzz-optir); put a few spec-lite files
# (real ones, or any written by crates/galsed-optir/tests/readers.rs) in its spec-seeds/ and a
# small specObj catalogue (crates/galsed-io/tests/specobj.rs writes them) in specobj-seeds/ first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-300}"
work="${GALSED_FUZZ_DIR:-/tmp/galsed-fuzz-optir}"
mkdir -p "$work/csv-corpus" "$work/csv-seeds" "$work/spec-corpus" "$work/spec-seeds" "$work/artifacts" \
    "$work/specobj-corpus" "$work/specobj-seeds"
cat > "$work/csv-seeds/allwise.csv" <<'CSV'
# an AllWISE crossmatch
SpecObjID,ra,W1MPRO,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,w4mpro,W4SIGMPRO
1001,10.5,14.1,0.03,13.9,0.04,10.2,0.1,8.1,
1002,10.6,15.0,0.05,14.8,0.07,12.0,null,8.9,NaN
13000000000000000000,1.0,13.0,0.02,12.5,0.03,9.5,0.05,7.0,0.2
CSV
cat > "$work/csv-seeds/irsa-flags.csv" <<'CSV'
specobjid,w1mpro,w1sigmpro,w2mpro,w2sigmpro,w3mpro,w3sigmpro,w4mpro,w4sigmpro,cc_flags,ext_flg
1001,14.1,0.03,13.9,0.04,10.2,0.1,8.1,,00D0,0
1002,15.0,0.05,14.8,0.07,12.0,,8.9,,hh00,2
CSV
cd "$here"
run() {
    nice -n 19 cargo +nightly fuzz run "$1" \
        --target-dir "${CARGO_TARGET_DIR:-$here/target}" \
        "$2" "$3" -- \
        -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=30 \
        -artifact_prefix="$work/artifacts/$1-" -print_final_stats=1
}
run wise_csv "$work/csv-corpus" "$work/csv-seeds"
# CFITSIO (not ours) callocs whatever a corrupt header declares (e.g. TFIELDS) and handles a NULL
# return as MEMORY_ALLOCATION; let ASan return NULL as a real allocator would, instead of
# reporting allocation-size-too-big inside libcfitsio.
ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}" run spec_lite "$work/spec-corpus" "$work/spec-seeds"
ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}" run specobj "$work/specobj-corpus" "$work/specobj-seeds"
