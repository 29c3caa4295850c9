#!/usr/bin/env bash
# bench/compare.sh — galsed next to the PyTorch reference (starduster), on this machine, in one run.
#
# For each case it runs `galsed bench` and the reference pack's `bench/torch_time.py` alternately
# (galsed, torch, galsed, torch, … for ROUNDS rounds) with the same grid, batch sizes, 19-band
# photometry and thread count, records the load average before each step and the CPU model, and
# writes (in OUT, default bench/out/, not tracked by git):
#
#   compare.md           the ratio tables (medians over the rounds), CPU model, load, versions
#   forward.csv          forward cases: galsed and PyTorch SEDs/s, ratio, fraction of peak
#   posterior.csv        posterior timings (torch_time.py --nlp next to `galsed bench --fit`)
#   galsed_forward.csv, galsed_fit.csv, torch.jsonl, torch.csv, load.csv   every raw measurement
#
# Cases: forward, grids base and auto × batch 1, 64, 1024, 16384 × threads 1 and 2; posterior of
# the tutorial (one vector, with its gradient, a batch of 32 = one swarm step), one thread.
#
# The PyTorch side is installed as ../shared/reference/starduster/python/README_galsed.md says:
# a venv with torch==2.5.1 "numpy<2" scipy astropy astro-sedpy tqdm from PyPI, cached in
# GALSED_TORCH_ENV and reused by later runs; the reference package is copied to a temporary
# directory with the model files of ../shared/reference/starduster/original (never into the
# repository) and installed there with `pip install --no-deps -e`.
#
# Usage:  bench/compare.sh [--quick]
#
# Environment (all optional):
#   GALSED_SHARED     the shared/ directory     [../shared beside the repository, or ../../shared]
#   GALSED_TORCH_ENV  venv cache directory      [/tmp/galsed-torch-env]
#   GALSED_BIN        a built galsed binary     [cargo build --release -p galsed-cli, then
#                                                ${CARGO_TARGET_DIR:-target}/release/galsed]
#   OUT               output directory          [bench/out]
#   ROUNDS            rounds                    [3]
#   GRIDS             forward grids             [base,auto]
#   BATCHES           forward batch sizes       [1,64,1024,16384]
#   THREADS           thread counts             [1,2]
#   REPS              calls per case            [200/50/10/5 for batch 1/64/1024/16384]
#   NLP               posterior timings, 0 or 1 [1]
#   NLP_GRIDS         grids of the posterior    [base,auto]
#   QUICK=1 or --quick  checks the harness end to end in a few minutes: 1 round, base grid,
#                     batches 1,64, REPS=5 (for PyTorch's posterior timings too; galsed's keep
#                     their 200/200/50 calls, a second in all); its figures are not measurements.
#
# The machine should be otherwise idle: check the load columns of compare.md before quoting.
set -euo pipefail

die() {
	echo "compare.sh: $*" >&2
	exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

quick=${QUICK:-0}
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $arg (see --help)" ;;
	esac
done

if [[ "$quick" == 1 ]]; then
	ROUNDS=${ROUNDS:-1}
	GRIDS=${GRIDS:-base}
	BATCHES=${BATCHES:-1,64}
	REPS=${REPS:-5}
	NLP_GRIDS=${NLP_GRIDS:-base}
fi
ROUNDS=${ROUNDS:-3}
GRIDS=${GRIDS:-base,auto}
BATCHES=${BATCHES:-1,64,1024,16384}
THREADS=${THREADS:-1,2}
REPS=${REPS:-}
NLP=${NLP:-1}
NLP_GRIDS=${NLP_GRIDS:-base,auto}
OUT=${OUT:-$repo/bench/out}
TORCH_ENV=${GALSED_TORCH_ENV:-/tmp/galsed-torch-env}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"

# --- the reference pack ---------------------------------------------------------------------
if [[ -n "${GALSED_SHARED:-}" ]]; then
	shared=$GALSED_SHARED
	[[ -d "$shared" ]] || die "GALSED_SHARED=$shared is not a directory"
else
	shared=""
	for c in "$repo/../shared" "$repo/../../shared"; do
		if [[ -d "$c/reference/starduster" ]]; then
			shared=$(cd "$c" && pwd)
			break
		fi
	done
	[[ -n "$shared" ]] || die "no shared/ directory with reference/starduster found beside the \
repository ($repo/../shared or $repo/../../shared); set GALSED_SHARED to it"
fi
ref=$shared/reference/starduster
for f in "$ref/python/setup.py" "$ref/python/starduster/__init__.py" "$ref/bench/torch_time.py" \
	"$ref/original/curve_disk.pt" "$ref/original/FSPS_Chabrier_neb_compact.pickle"; do
	[[ -f "$f" ]] || die "missing $f: the reference pack under $shared is incomplete"
done

# --- the PyTorch environment (cached) ---------------------------------------------------------
requirements=("torch==2.5.1" "numpy<2" scipy astropy astro-sedpy tqdm)
py=$TORCH_ENV/env/bin/python
stamp=$TORCH_ENV/installed.txt
if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "${requirements[*]}" ]] &&
	"$py" -c 'import torch, sedpy, scipy, astropy, tqdm' 2>/dev/null; then
	echo "compare.sh: reusing the PyTorch environment in $TORCH_ENV"
else
	command -v python3 >/dev/null || die "python3 is needed to create the PyTorch environment"
	echo "compare.sh: installing ${requirements[*]} into $TORCH_ENV/env (several minutes)"
	mkdir -p "$TORCH_ENV"
	rm -f "$stamp"
	python3 -m venv "$TORCH_ENV/env"
	"$TORCH_ENV/env/bin/pip" install --quiet "${requirements[@]}" ||
		die "pip could not install ${requirements[*]} (see above)"
	echo "${requirements[*]}" >"$stamp"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/galsed-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$ref/python" "$work/sd"
mkdir -p "$work/sd/starduster/data"
cp "$ref"/original/* "$work/sd/starduster/data/"
"$TORCH_ENV/env/bin/pip" install --quiet --no-deps -e "$work/sd" ||
	die "could not install the reference package from $work/sd"
torch_version=$("$py" -c 'import torch; print(torch.__version__)')

# --- galsed -----------------------------------------------------------------------------------
if [[ -n "${GALSED_BIN:-}" ]]; then
	galsed=$GALSED_BIN
else
	echo "compare.sh: cargo build --release -p galsed-cli"
	(cd "$repo" && cargo build --release --quiet -p galsed-cli) || die "cargo build failed"
	target=${CARGO_TARGET_DIR:-$repo/target}
	[[ "$target" = /* ]] || target=$repo/$target
	galsed=$target/release/galsed
fi
[[ -x "$galsed" ]] || die "no galsed binary at $galsed"
model=$ref/original
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
	commit="$commit (with uncommitted changes)"
fi

# --- the run ----------------------------------------------------------------------------------
mkdir -p "$OUT"
rm -f "$OUT"/{galsed_forward.csv,galsed_fit.csv,torch.jsonl,torch.csv,load.csv,forward.csv,posterior.csv,compare.md}
echo "round,step,program,kind,grid,threads,load1,load5,load15" >"$OUT/load.csv"
reps_galsed=()
reps_torch=()
if [[ -n "$REPS" ]]; then
	reps_galsed=(--reps "$REPS")
	reps_torch=(--reps "$REPS")
fi
cpu_line=""

# Appends galsed's CSV to a combined file (header once), with the round in front and without the
# columns that --torch adds (those ratios are against earlier rounds only).
append_csv() { # round src dst
	"$py" - "$@" <<'EOF'
import csv, os, sys
round_, src, dst = sys.argv[1:4]
drop = {'torch_seds_per_s', 'torch_seconds', 'ratio'}
with open(src, newline='') as f:
    rows = list(csv.reader(f))
keep = [i for i, h in enumerate(rows[0]) if h not in drop]
new = not os.path.exists(dst) or os.path.getsize(dst) == 0
with open(dst, 'a', newline='') as f:
    w = csv.writer(f)
    if new:
        w.writerow(['round'] + [rows[0][i] for i in keep])
    for r in rows[1:]:
        w.writerow([round_] + [r[i] for i in keep])
EOF
}

# Rewrites torch.jsonl as the CSV that `galsed bench --torch` reads.
torch_csv() {
	"$py" - "$OUT/torch.jsonl" "$OUT/torch.csv" <<'EOF'
import csv, json, sys
cols = ['tag', 'grid', 'output', 'threads', 'batch', 'median_s', 'min_s', 'seds_per_s',
        'other_load_frac', 'load1_before', 'load1_after', 'torch']
with open(sys.argv[1]) as f, open(sys.argv[2], 'w', newline='') as g:
    w = csv.writer(g)
    w.writerow(cols)
    for line in f:
        r = json.loads(line)
        w.writerow([r.get(c, '') for c in cols])
EOF
}

step=0
record_load() { # round program kind grid threads
	step=$((step + 1))
	read -r l1 l5 l15 _ </proc/loadavg
	echo "$1,$step,$2,$3,$4,$5,$l1,$l5,$l15" >>"$OUT/load.csv"
}

run_galsed() { # round kind grid threads extra-args...
	local round=$1 kind=$2 grid=$3 threads=$4
	shift 4
	local csv=$work/galsed.csv
	local torch=()
	[[ -s "$OUT/torch.csv" ]] && torch=(--torch "$OUT/torch.csv")
	record_load "$round" galsed "$kind" "$grid" "$threads"
	echo "== round $round: galsed $kind, grid $grid, $threads thread(s)"
	"$galsed" bench --model "$model" --grid "$grid" --threads "$threads" --csv "$csv" \
		"${torch[@]}" "$@" | tee "$work/galsed.out"
	[[ -n "$cpu_line" ]] || cpu_line=$(sed -n 's/^# CPU: //p' "$work/galsed.out" | head -n1)
	if [[ "$kind" == forward ]]; then
		append_csv "$round" "$csv" "$OUT/galsed_forward.csv"
	else
		append_csv "$round" "$csv" "$OUT/galsed_fit.csv"
	fi
}

run_torch() { # round kind grid threads extra-args...
	local round=$1 kind=$2 grid=$3 threads=$4
	shift 4
	record_load "$round" torch "$kind" "$grid" "$threads"
	echo "== round $round: PyTorch $kind, grid $grid, $threads thread(s)"
	"$py" -W ignore "$ref/bench/torch_time.py" --grid "$grid" --threads "$threads" \
		--json "$OUT/torch.jsonl" --tag "round=$round" "$@"
	torch_csv
}

IFS=, read -r -a grids <<<"$GRIDS"
IFS=, read -r -a threads_list <<<"$THREADS"
IFS=, read -r -a nlp_grids <<<"$NLP_GRIDS"
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for round in $(seq 1 "$ROUNDS"); do
	for t in "${threads_list[@]}"; do
		for g in "${grids[@]}"; do
			run_galsed "$round" forward "$g" "$t" --output photometry --batch "$BATCHES" "${reps_galsed[@]}"
			run_torch "$round" forward "$g" "$t" --output photometry19 --batch "$BATCHES" "${reps_torch[@]}"
		done
	done
	if [[ "$NLP" == 1 ]]; then
		for g in "${nlp_grids[@]}"; do
			run_galsed "$round" posterior "$g" 1 --fit --fit-tasks posterior
			run_torch "$round" posterior "$g" 1 --nlp "${reps_torch[@]}"
		done
	fi
done
end=$(date -u +%Y-%m-%dT%H:%M:%SZ)
read -r l1 l5 l15 _ </proc/loadavg
echo "end,$((step + 1)),-,-,-,-,$l1,$l5,$l15" >>"$OUT/load.csv"

# --- the tables -------------------------------------------------------------------------------
"$py" - "$OUT" "$ROUNDS" "$cpu_line" "$torch_version" "$commit" "$start" "$end" "$quick" <<'EOF'
import csv, os, statistics, sys

out, rounds, cpu, torch_version, commit, start, end, quick = sys.argv[1:9]
def rows(name):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return []
    with open(p, newline='') as f:
        return list(csv.DictReader(f))

def med(v):
    return statistics.median(v) if v else None

def span(v, fmt):
    v = sorted(v)
    if len(v) < 2:
        return ''
    return f' ({fmt(v[0])}–{fmt(v[-1])})'

torch_rows = rows('torch.csv')
torch = {}
for r in torch_rows:
    out_name = 'photometry' if r['output'] == 'photometry19' else r['output']
    key = (r['grid'], out_name, int(r['threads']), int(r['batch']))
    torch.setdefault(key, []).append(float(r['median_s']))

md = []
load = rows('load.csv')
l1 = [float(r['load1']) for r in load]
other = [float(r['other_load_frac']) for r in torch_rows if r['other_load_frac']]
md.append('# galsed and PyTorch side by side\n')
if quick == '1':
    md.append('**QUICK run (`--quick`): a check of the harness, not a measurement.**\n')
md.append(f'* CPU: {cpu}')
md.append(f'* run: {start} – {end}, {rounds} round(s), galsed and PyTorch alternately; '
          f'galsed {commit}, torch {torch_version}')
if l1:
    md.append(f'* load average (1 min) before each step: {min(l1):.2f}–{max(l1):.2f} '
              f'(median {statistics.median(l1):.2f}); share of the cores used by other '
              f'processes during the PyTorch timings: '
              + (f'{min(other):.2f}–{max(other):.2f}' if other else 'n/a'))
md.append('* figures: medians over the rounds (range in parentheses when there are several); '
          'ratio = galsed / PyTorch throughput; fraction of peak = galsed GFLOP/s over the '
          'float32 FMA peak of as many cores as threads\n')

fwd = {}
cpu_model = next((r['cpu_model'] for r in rows('galsed_forward.csv') + rows('galsed_fit.csv')), '')
for r in rows('galsed_forward.csv'):
    key = (r['grid'], r['output'], int(r['threads']), int(r['batch']))
    d = fwd.setdefault(key, {'seds': [], 'peak': []})
    d['seds'].append(float(r['seds_per_s']))
    if r['peak_fraction']:
        d['peak'].append(float(r['peak_fraction']))

k = lambda v: f'{v:,.0f}'.replace(',', ' ')
pct = lambda v: f'{100 * v:.1f} %'
if fwd:
    md.append('## Forward model, 19-band photometry (SEDs/s)\n')
    md.append('| case | galsed SEDs/s | PyTorch SEDs/s | ratio | fraction of peak |')
    md.append('|---|---:|---:|---:|---:|')
    with open(os.path.join(out, 'forward.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['cpu_model', 'grid', 'output', 'threads', 'batch', 'rounds', 'galsed_seds_per_s',
                    'torch_seds_per_s', 'ratio', 'peak_fraction'])
        for key in sorted(fwd, key=lambda x: (x[0], x[1], x[2], x[3])):
            grid, output, threads, batch = key
            g = fwd[key]['seds']
            t = [batch / s for s in torch.get(key, [])]
            gm, tm, pk = med(g), med(t), med(fwd[key]['peak'])
            ratio = gm / tm if tm else None
            case = f'{grid}, batch {batch}, {threads} thread{"s" if threads > 1 else ""}'
            md.append(f'| {case} | {k(gm)}{span(g, k)} | '
                      + (f'{k(tm)}{span(t, k)}' if tm else '–') + ' | '
                      + (f'{ratio:.1f}×' if ratio else '–') + ' | '
                      + (pct(pk) if pk is not None else '–') + ' |')
            w.writerow([cpu_model, grid, output, threads, batch, len(g), gm, tm or '', ratio or '',
                        pk if pk is not None else ''])
    md.append('')

fit = {}
for r in rows('galsed_fit.csv'):
    key = (r['grid'], r['key'], int(r['threads']))
    d = fit.setdefault(key, {'s': [], 'task': r['task'], 'n': int(r['evaluations'])})
    d['s'].append(float(r['seconds']))
if fit:
    ms = lambda v: f'{1e3 * v:.3f} ms'
    md.append('## Posterior of the tutorial (`torch_time.py --nlp`, `galsed bench --fit`)\n')
    md.append('| case | galsed | PyTorch | ratio |')
    md.append('|---|---:|---:|---:|')
    with open(os.path.join(out, 'posterior.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['cpu_model', 'grid', 'key', 'threads', 'evaluations', 'rounds', 'galsed_seconds',
                    'torch_seconds', 'ratio'])
        order = {'nlp_forward_b1': 0, 'nlp_forward_backward_b1': 1, 'nlp_forward_b32': 2}
        for key in sorted(fit, key=lambda x: (x[0], x[2], order.get(x[1], 9), x[1])):
            grid, name, threads = key
            d = fit[key]
            t = torch.get((grid, name, threads, d['n']), [])
            gm, tm = med(d['s']), med(t)
            ratio = tm / gm if tm else None
            md.append(f'| {grid}: {d["task"]}, {threads} thread | {ms(gm)}{span(d["s"], ms)} | '
                      + (f'{ms(tm)}{span(t, ms)}' if tm else '–') + ' | '
                      + (f'{ratio:.1f}×' if ratio else '–') + ' |')
            w.writerow([cpu_model, grid, name, threads, d['n'], len(d['s']), gm, tm or '', ratio or ''])
    md.append('')

with open(os.path.join(out, 'compare.md'), 'w') as f:
    f.write('\n'.join(md) + '\n')
print('\n'.join(md))
EOF
echo "compare.sh: wrote $OUT/compare.md and the CSVs beside it"
