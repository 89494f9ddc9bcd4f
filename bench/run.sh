#!/usr/bin/env bash
# The benchmark suite in one command: for each workload, orbit_bench and its PyTorch peer run back to
# back on the same inputs (exchanged as .npy files), the peer checks agreement with orbit's outputs,
# and one table is printed at the end (orbit, PyTorch eager, torch.compile, ratios, orbit's fraction
# of the machine's limits measured in the same run). JSON for the history goes to $OUT (or
# bench/results/), with the table as markdown (latest-<device>.md).
#
#   bash bench/run.sh                        # GPU when orbit_bench sees one, else the CPU
#   bash bench/run.sh --device cpu --workload mlp,energy --repeat 5
#   bash bench/run.sh --size tiny            # seconds: a smoke run
#   bash bench/run.sh --device cpu --threads 1   # one thread on each side (a loaded shared machine)
# Finds orbit_bench in $ORBIT_BENCH, device_bin/, build-bench/bench/, build/bench/, build-device/bench/
# (tools/make-device-bundle.sh puts it in device_bin/). Python: $ORBIT_PYTHON, else the first of
# python3, /usr/bin/python3 that imports torch and numpy (Debian's python3-torch on a CPU machine).
# The whole run stays within $ORBIT_BENCH_BUDGET seconds (default 470): a step that would exceed it is
# stopped and reported.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

device=auto workloads=all repeat="" size="" threads="" extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --workload) workloads=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --warmup|--case) extra+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

bench=${ORBIT_BENCH:-}
if [ -z "$bench" ]; then
  for c in device_bin/orbit_bench build-bench/bench/orbit_bench build/bench/orbit_bench build-device/bench/orbit_bench; do
    if [ -x "$c" ]; then bench=$c; break; fi
  done
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
  echo "run.sh: orbit_bench not found; build it (cmake --build build-bench --target orbit_bench) or set ORBIT_BENCH" >&2
  exit 2
fi
py=${ORBIT_PYTHON:-}
if [ -z "$py" ]; then
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch, numpy" >/dev/null 2>&1; then py=$c; break; fi
  done
fi
# cuBLAS is loaded at run time; help the loader as tools/device-check.sh does.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.13'; then
  lib=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /usr/lib /opt /usr/local/lib -name 'libcublas.so.13' \
        -print -quit 2>/dev/null)
  if [ -n "$lib" ]; then export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
fi

dev=$("$bench" --device "$device" --which-device) || exit 2
# CPU threads: both sides get the same number (orbit's OpenMP, torch's intra-op pool, OpenBLAS).
if [ -n "$threads" ]; then export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads; fi
# Debian's python3-torch calls libblas.so.3, which is the reference (netlib) BLAS unless an optimised
# one is installed: then the peer's matrix products would be a strawman. Use Debian's OpenBLAS for the
# peer where it can be found (installed, or unpacked without installing: see bench/README.md).
blas=${ORBIT_BENCH_BLAS_DIR:-}
if [ -z "$blas" ] && [ "$dev" = cpu ]; then
  for c in /usr/lib/x86_64-linux-gnu/openblas-pthread "$root"/build*/blas/root/usr/lib/x86_64-linux-gnu/openblas-pthread; do
    if [ -e "$c/libblas.so.3" ]; then blas=$c; break; fi
  done
fi
peer_env=()
[ -n "$blas" ] && peer_env=(env LD_LIBRARY_PATH="$blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
# OpenBLAS picks its kernels from the CPU model and falls back to its SSE3 "Prescott" ones on a model it
# does not know (Debian's 0.3.21 on a 2026 Xeon: SGEMM 4x slower than its AVX-512 kernel, a strawman
# peer). Then the peer gets the newest core type the CPU's flags allow, and the record says so.
blas_note=""
if [ -n "$blas" ] && [ -n "${py:-}" ] && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  core=$("${peer_env[@]}" OPENBLAS_VERBOSE=2 OPENBLAS_NUM_THREADS=1 "$py" -c \
    "import torch; torch.ones(2, 2) @ torch.ones(2, 2)" 2>&1 | sed -n 's/^Core: //p' | head -1)
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
  has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
  want=""
  if has avx512f && has avx512dq && has avx512bw && has avx512vl; then want=SkylakeX
  elif has avx2 && has fma; then want=Haswell; fi
  case $core in
    Prescott|Katmai|Coppermine|Northwood|Banias|Core2|Penryn|Dunnington|Nehalem|Atom|Sandybridge|"")
      if [ -n "$core" ] && [ -n "$want" ]; then
        peer_env+=(OPENBLAS_CORETYPE="$want")
        blas_note="OpenBLAS took this CPU for $core; the peer ran with OPENBLAS_CORETYPE=$want"
        echo "== $blas_note"
      fi ;;
  esac
fi
[ -n "$repeat" ] && extra+=(--repeat "$repeat")
[ -n "$size" ] && extra+=(--size "$size")
[ "$workloads" = all ] && workloads=$("$bench" --list | tr '\n' ',' | sed 's/,$//')
budget=${ORBIT_BENCH_BUDGET:-470}
# One workload's orbit side and its peer each get at most this many seconds (a hang or a slow case
# cannot eat the whole budget); the peer's timed runs take at most ORBIT_BENCH_PEER_BUDGET s per case.
step_limit=${ORBIT_BENCH_STEP_LIMIT:-$budget}
# The report (JSON record, table, chart) is written after the last workload: keep time for it, so a
# caller's own time limit of `budget` plus a few seconds never loses the whole record.
reserve=${ORBIT_BENCH_REPORT_RESERVE:-10}
peer_budget=${ORBIT_BENCH_PEER_BUDGET:-10}
out=${OUT:-$root/bench/results}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/orbit-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Each finished workload's JSON (orbit's and the peer's) is also kept in $out/partial/ until the report
# is written, so a run killed before its end (a caller's time limit) still leaves the measurements:
# `python3 bench/report.py --dir OUT/partial --out OUT --command "..."` builds the record from them.
partial="$out/partial"
rm -rf "$partial"
mkdir -p "$partial"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- engine kernels models bench 2>/dev/null || echo +dirty)
if [ -f "$(dirname "$bench")/MANIFEST" ]; then  # a bundle: the commit it was built from
  bc=$(sed -n 's/^commit=//p' "$(dirname "$bench")/MANIFEST")
  [ -n "$bc" ] && commit="$bc (bundle)"
fi
start=$SECONDS
echo "== orbit benchmark suite: $bench on $dev, python: ${py:-none (no torch: orbit only)}, budget ${budget}s"
[ -n "$py" ] && "$py" -c "import torch; print('torch', torch.__version__)"
status=0
for w in ${workloads//,/ }; do
  left=$((budget - reserve - (SECONDS - start)))
  if [ "$left" -le 10 ]; then echo "== $w: skipped (budget of ${budget}s spent)"; status=1; continue; fi
  [ "$left" -gt "$step_limit" ] && left=$step_limit
  echo "== $w (orbit)"
  timeout --kill-after=5 "$left" "$bench" --workload "$w" --device "$dev" --json "$work/$w.orbit.json" \
    --exchange "$work/$w" "${extra[@]}"
  rc=$?
  if [ $rc -ne 0 ]; then echo "== $w: orbit_bench failed ($rc)"; status=1; continue; fi
  if [ -z "$threads" ]; then threads=$(sed -n 's/.*"threads": \([0-9]*\).*/\1/p' "$work/$w.orbit.json" | head -1); fi
  left=$((budget - reserve - (SECONDS - start)))
  [ "$left" -gt "$step_limit" ] && left=$step_limit
  if [ -n "$py" ] && [ -d "$work/$w" ] && [ "$left" -gt 10 ]; then
    echo "== $w (PyTorch)"
    timeout --kill-after=5 "$left" "${peer_env[@]}" "$py" bench/peers/run_peers.py --exchange "$work/$w" --device "$dev" \
      --threads "${threads:-0}" --budget "$peer_budget" --json "$work/$w.peer.json" || { echo "== $w: peers failed"; status=1; }
  fi
  rm -rf "${work:?}/$w"  # the exchanged arrays (up to a few GB at GPU sizes)
  cp "$work/$w".*.json "$partial/" 2>/dev/null
done
if [ -n "$py" ]; then
  note=${ORBIT_BENCH_NOTE:-}  # free text for the record, e.g. how orbit_bench was built
  [ "$dev" = cpu ] && note="CPU run: orbit OpenMP and torch intra-op threads both ${threads:-?}${blas_note:+; $blas_note}${note:+; $note}"
  "$py" bench/report.py --dir "$work" --out "$out" --commit "$commit" --note "$note" \
    --command "bash bench/run.sh --device $dev${size:+ --size $size}${repeat:+ --repeat $repeat}${threads:+ --threads $threads}" || status=1
  [ $status -eq 0 ] && rm -rf "$partial"
else
  cp "$work"/*.orbit.json "$out"/ 2>/dev/null
  echo "no python with torch: orbit's JSON copied to $out"
fi
echo "== done in $((SECONDS - start))s"
exit $status
