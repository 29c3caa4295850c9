#!/usr/bin/env bash
# Checks that two builds of the Python bindings (the `galsed` module) give bit-identical results on
# the same inputs: scripts/bitwise-python.py writes every output of the module (Model on the base,
# auto, full and custom grids: sed, photometry, sam_photometry; SamConverter; Model.fit with several
# optimisers and samplers; filters(), fetch_model(), accessors, error messages) as .npy/.json files,
# once with each interpreter, and every file is compared byte for byte. Used to show that a
# refactoring changes no output bit.
#
# Usage: scripts/bitwise-python.sh BEFORE_PYTHON AFTER_PYTHON [WORKDIR]
#   BEFORE_PYTHON, AFTER_PYTHON: interpreters of two virtual environments, each with its build of
#   galsed installed (.ci/python-tests' route), e.g.
#     git worktree add --detach /tmp/before <old commit> && python3 -m venv /tmp/venv-before
#     /tmp/venv-before/bin/pip install maturin numpy
#     (cd /tmp/before && PATH=/tmp/venv-before/bin:$PATH CARGO_TARGET_DIR=/tmp/before/target \
#        /tmp/venv-before/bin/pip install --no-build-isolation --no-deps --force-reinstall ./crates/galsed-python)
#     scripts/bitwise-python.sh /tmp/venv-before/bin/python target/py-venv/bin/python
# Needs GALSED_MODEL_DIR (or a fetched model) and ../shared/reference beside the repository.
set -euo pipefail

before=$1
after=$2
work=${3:-$(mktemp -d /tmp/galsed-bitwise-python.XXXXXX)}
mkdir -p "$work"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
script="$here/scripts/bitwise-python.py"
if [ -z "${GALSED_MODEL_DIR:-}" ] && [ -d "$here/../shared/reference/starduster/original" ]; then
    GALSED_MODEL_DIR="$(cd "$here/../shared/reference/starduster/original" && pwd)"
    export GALSED_MODEL_DIR
fi
for py in "$before" "$after"; do
    "$py" -c 'import galsed, numpy' || {
        echo "error: $py cannot import galsed and numpy" >&2
        exit 2
    }
done

# shellcheck source=scripts/compare-dirs.sh
. "$(dirname "${BASH_SOURCE[0]}")/compare-dirs.sh"

run_both() { # run_both LABEL THREADS [ARGS...]: bitwise-python.py OUT ARGS with each interpreter
    local label=$1 threads=$2
    shift 2
    for side in before after; do
        local py=$before
        [ "$side" = after ] && py=$after
        local out="$work/$side/$label"
        rm -rf "$out" && mkdir -p "$out"
        RAYON_NUM_THREADS=$threads PYTHONDONTWRITEBYTECODE=1 "$py" "$script" "$out" "$@" >"$out/run.log" 2>&1 || {
            echo "FAILED     $label ($side): see $out/run.log"
            tail -2 "$out/run.log"
            failures=$((failures + 1))
        }
    done
    compare "$work/before/$label" "$work/after/$label" "$label"
}

# Everything, fits included, on one thread: fits take gradients with burn-autodiff, whose global
# graph state is not safe under concurrent backward passes (issue 17).
run_both "python-t1" 1 --no-errors
# Spectra, photometry and SAM conversion again on two threads (no fits).
run_both "python-t2-nofit" 2 --no-fit --no-errors
# The exception type and message of each bad input, apart: a refactoring may reword a message or
# refuse more bad input, which is reported here but is not a difference of results.
results_failures=$failures
run_both "python-errors" 1 --errors-only
if [ "$failures" -ne "$results_failures" ]; then
    echo "note       python-errors: error messages differ (listed below); results are compared above"
    "$after" - "$work/before/python-errors/errors.json" "$work/after/python-errors/errors.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in sorted(set(a) | set(b)):
    if a.get(k) != b.get(k):
        print(f"  {k}:\n    before: {a.get(k)!r}\n    after:  {b.get(k)!r}")
PY
    failures=$results_failures
fi

echo
if [ "$failures" -eq 0 ]; then
    echo "bit-identical: every output of galsed under $after equals $before ($work)"
else
    echo "$failures difference(s) ($work)"
    exit 1
fi
