#!/usr/bin/env bash
# Checks that two galsed binaries give bit-identical results on the same inputs: `sed` (both grids,
# every output, npz/csv/parquet), `fit` (a mock catalogue, CSV/Parquet/FITS results, 1 and 2
# threads, the SED and corner figures in PNG and SVG), `catalog run` (HDF5 and Parquet, observed
# and rest frame) and `optir evaluate` (on one trained quick run, with its figures).
# Used to show that a refactoring changes no output bit.
#
# Usage: scripts/bitwise.sh BEFORE_BIN AFTER_BIN [WORKDIR]
#   e.g. git worktree add /tmp/before <old commit> && (cd /tmp/before && cargo build --release -p galsed-cli)
#        scripts/bitwise.sh /tmp/before/target/release/galsed target/release/galsed
# Needs GALSED_MODEL_DIR (or a fetched model) and ../shared/reference beside the repository.
set -euo pipefail

before=$(realpath "$1")
after=$(realpath "$2")
work=${3:-$(mktemp -d /tmp/galsed-bitwise.XXXXXX)}
mkdir -p "$work"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
inputs="$here/../shared/reference/starduster/golden/inputs.npz"
if [ -z "${GALSED_MODEL_DIR:-}" ] && [ -d "$here/../shared/reference/starduster/original" ]; then
    GALSED_MODEL_DIR="$(cd "$here/../shared/reference/starduster/original" && pwd)"
    export GALSED_MODEL_DIR
fi
# The SED-fitting baseline of `optir evaluate` takes gradients with burn-autodiff, whose global graph
# state is not safe under concurrent backward passes (issue 17): one thread there.
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}

# shellcheck source=scripts/compare-dirs.sh
. "$(dirname "${BASH_SOURCE[0]}")/compare-dirs.sh"

run_both() { # run_both LABEL ARGS... (ARGS use @OUT@ for the output directory)
    local label=$1
    shift
    for side in before after; do
        local bin=$before
        [ "$side" = after ] && bin=$after
        local out="$work/$side/$label"
        rm -rf "$out" && mkdir -p "$out"
        local args=("${@//@OUT@/$out}")
        "$bin" "${args[@]}" >"$out/run.log" 2>&1 || {
            echo "FAILED     $label ($side): see $out/run.log"
            tail -2 "$out/run.log"
            failures=$((failures + 1))
        }
    done
    compare "$work/before/$label" "$work/after/$label" "$label"
}

# ---- sed: the golden inputs (row 71 is out of range on purpose: clipped), both grids, all outputs ----
for grid in base auto; do
    for ext in npz csv parquet; do
        run_both "sed-$grid-$ext" sed --input "$inputs" --clip-inputs --grid "$grid" --units fnu --redshift 0.05 \
            --filters default19 --component all \
            --outputs spectrum,photometry,absorption,selectors,attenuation --output "@OUT@/seds.$ext"
    done
done
run_both "sed-lum-flux" sed --input "$inputs" --clip-inputs --filters default19 --mag flux --distmod 30 \
    --output "@OUT@/seds.npz"

# ---- fit: a mock catalogue made from the golden galaxies' photometry ---------------------------------
cat_dir="$work/catalogue"
mkdir -p "$cat_dir"
"$before" sed --input "$inputs" --clip-inputs --grid auto --redshift 0.02 --filters default19 \
    --outputs photometry --output "$cat_dir/phot.csv" >/dev/null
python3 - "$cat_dir/phot.csv" "$cat_dir/catalogue.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bands = [k for k in rows[0] if k not in ("row", "redshift", "distmod") and not k.startswith(("frac_abs", "L_IR", "log_p", "att_"))]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "redshift"] + [c for b in bands for c in (b, b + "_err")])
    for i, r in enumerate(rows[:4]):
        vals = []
        for j, b in enumerate(bands):
            # A deterministic offset as noise, and one missing band, so the fit is not exact.
            m = float(r[b]) + 0.05 * ((i + j) % 3 - 1)
            vals += ["" if (i == 1 and j == 3) else repr(m), "0.1"]
        w.writerow([f"g{i}", "0.02"] + vals)
EOF
cat >"$cat_dir/fit.toml" <<'EOF'
[optimizer]
method = "pso"
polish = true
[optimizer.pso]
n_particles = 16
n_iterations = 40
n_restarts = 2
seed = 3
[sampler]
method = "ensemble"
n_derived = 50
[sampler.ensemble]
n_steps = 60
until_converged = false
EOF
for threads in 1 2; do
    for ext in csv parquet fits; do
        run_both "fit-t$threads-$ext" fit --catalog "$cat_dir/catalogue.csv" --config "$cat_dir/fit.toml" \
            --threads "$threads" --output "@OUT@/results.$ext"
    done
done
# The per-galaxy figures (SED fit and corner plot), PNG and SVG.
for plot_format in png svg; do
    run_both "fit-plots-$plot_format" fit --catalog "$cat_dir/catalogue.csv" --config "$cat_dir/fit.toml" \
        --threads 1 --output "@OUT@/results.csv" --plots "@OUT@/plots" --plot-format "$plot_format"
done

# ---- catalog run: a synthetic SAM catalogue, both input formats, both frames ------------------------
sam="$work/sam"
mkdir -p "$sam"
"$before" catalog synth --rows 3000 --output "$sam/sam.h5" >/dev/null
"$before" catalog synth --rows 3000 --output "$sam/sam.parquet" >/dev/null
for input in sam.h5 sam.parquet; do
    for frame in observed rest; do
        run_both "catalog-$input-$frame" catalog run --input "$sam/$input" --frame "$frame" \
            --filters default19 --output "@OUT@/phot.parquet"
    done
done
run_both "catalog-h5-out" catalog run --input "$sam/sam.h5" --filters default19 --output "@OUT@/phot.h5"

# ---- optir evaluate: one trained quick run, evaluated by both binaries ------------------------------
trained="$work/optir-trained"
if [ ! -d "$trained" ]; then
    RAYON_NUM_THREADS=1 "$before" optir run --preset quick --output "$trained" >"$work/optir-run.log" 2>&1
fi
RAYON_NUM_THREADS=1 run_both "optir-evaluate" optir evaluate --survey "$trained/survey.h5" \
    --models "$trained/models" --sed-fits 4 --output "@OUT@"

echo
if [ "$failures" -eq 0 ]; then
    echo "bit-identical: every output of $after equals $before ($work)"
else
    echo "$failures difference(s) ($work)"
    exit 1
fi
