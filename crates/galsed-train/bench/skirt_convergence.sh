#!/usr/bin/env bash
# Grid convergence of the SKIRT setup at the corners of the prior (docs/training.md, "Grid
# convergence"): τ_V from SKIRT's convergence probe and frac_abs from the absorption probes of the
# disk and bulge runs, for each grid given as "BINS MIN_FRACTION PACKETS".
# Usage: skirt_convergence.sh OUTDIR [SKIRT] [GRID ...]   (GALSED_MODEL_DIR set; galsed on PATH)
set -euo pipefail
out=${1:?output directory}
skirt=${2:-../shared/tools/skirt/current/release/SKIRT/main/skirt}
shift $(( $# < 2 ? $# : 2 ))
grids=("$@")
((${#grids[@]})) || grids=("128 1e-4 1e6" "256 1e-5 2e6")
table="$(cd "$(dirname "$0")" && pwd)/skirt_corners.csv"
mkdir -p "$out"
echo "bins,min_fraction,packets,id,tau_z_pct,tau_x_pct,frac_abs" > "$out/convergence.csv"
for grid in "${grids[@]}"; do
    read -r bins frac packets <<< "$grid"
    dir="$out/grid_${bins}_${frac}_${packets}"
    galsed skirt prepare --table "$table" --runs disk,bulge --absorption-probe --overwrite \
        --grid-bins "$bins" --grid-min-fraction "$frac" --packets "$packets" --output "$dir" > /dev/null
    galsed skirt run "$dir" --skirt "$skirt"
    python3 - "$dir" "$bins" "$frac" "$packets" >> "$out/convergence.csv" <<'PY'
import csv, re, sys
import numpy as np
d, bins, frac, packets = sys.argv[1:]
def absorbed(stem):
    lum = np.loadtxt(f"{d}/{stem}_abs_Labs.dat")[:, 1:]
    width = np.loadtxt(f"{d}/{stem}_abs_wavelengths.dat")[:, 1]
    return float((lum * width).sum())
for r in csv.DictReader(open(f"{d}/index.csv")):
    text = open(f"{d}/{r['id']}_disk_cnv_convergence.dat").read()
    tau = lambda axis: re.search(axis + r"-axis.*?\(([-+0-9.]+) %\)", text, re.S).group(1)
    b, l = float(r["b_to_t"]), float(r["l_norm"])
    fa = ((1 - b) * absorbed(f"{r['id']}_disk") + b * absorbed(f"{r['id']}_bulge")) / l
    print(f"{bins},{frac},{packets},{r['id']},{tau('Z')},{tau('X')},{fa:.6g}")
PY
done
column -s, -t "$out/convergence.csv"
