#!/usr/bin/env bash
# A/B comparison of one environment switch on orbit's side alone, for machines whose speed drifts
# (this project's VMs moved by 30% from one minute to the next): orbit_bench runs with each value in
# turn, round after round, so every value sees the same drift; the per-case medians of each value's
# medians are printed side by side with their ratio to the first value.
#
#   bash bench/ab.sh ORBIT_CPU_ROW_BLOCKS 0,1 --workload pinn --device cpu --repeat 10
#   ROUNDS=5 bash bench/ab.sh ORBIT_CPU_NARROW_GEMM 0,1 --workload products,mlp
#
# Everything after the values goes to orbit_bench (ORBIT_BENCH or the usual places, as bench/run.sh).
# ROUNDS (default 3) rounds. OMP_NUM_THREADS is left as the caller sets it.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
var=$1 values=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin=${ORBIT_BENCH:-}
if [[ -z $bin ]]; then
  for c in "$here/../device_bin/orbit_bench" "$here/../build-bench/bench/orbit_bench" "$here/../build/bench/orbit_bench" \
           "$here/../build-device/bench/orbit_bench"; do
    if [[ -x $c ]]; then bin=$c; break; fi
  done
fi
[[ -n $bin && -x $bin ]] || { echo "ab.sh: no orbit_bench (set ORBIT_BENCH)" >&2; exit 1; }
rounds=${ROUNDS:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: ROUNDS='$rounds' is not a positive number" >&2; exit 2; }
IFS=, read -r -a vals <<< "$values"
[[ ${#vals[@]} -ge 2 ]] || { echo "ab.sh: give at least two comma-separated values, got '$values'" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; ++r)); do
  for v in "${vals[@]}"; do
    echo "round $r/$rounds: $var=$v" >&2
    env "$var=$v" "$bin" "$@" | awk -v v="$v" '$2 == "median" { print v "\t" $1 "\t" $3 }' >> "$out"
  done
done
python3 - "$out" "$var" "$values" <<'EOF'
import statistics, sys
path, var, values = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
t = {}
for line in open(path):
    v, case, ms = line.rstrip("\n").split("\t")
    t.setdefault(case, {}).setdefault(v, []).append(float(ms))
w = max([len(c) for c in t] + [4])
print(f"{'case':<{w}}  " + "  ".join(f"{var}={v:<10}" for v in values) + "  (median of the rounds' medians, ms; in brackets the speed-up over the first value)")
for case, by in t.items():
    base = statistics.median(by[values[0]]) if values[0] in by else None
    cells = []
    for v in values:
        if v not in by:
            cells.append(f"{'-':<{len(var) + 11}}")
            continue
        m = statistics.median(by[v])
        r = f" ({base / m:.2f}x)" if base and v != values[0] else ""
        cells.append(f"{m:.3f}{r}".ljust(len(var) + 11))
    print(f"{case:<{w}}  " + "  ".join(cells))
EOF
