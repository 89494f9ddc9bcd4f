#!/usr/bin/env bash
# The GPU check (issue 3). Runs on a GPU machine (CUDA 13 driver, an H100 or H200; no compiler
# needed) from binaries built elsewhere by tools/make-device-bundle.sh into device_bin/:
#   1. info       orbit info, nvidia-smi, where cuBLAS is found
#   2. gpu        every GPU test case: CPU-vs-CUDA agreement of every op case and dtype, gradient
#                 programs to second order, gradchecks on the GPU, random shapes, Philox, allocator,
#                 device-side index errors, streams, a training step
#   3. cpu        the rest of the doctest suite (CPU cases, the CLI on the GPU via --device auto)
#   4. memcheck   compute-sanitizer memcheck over the GPU op harness ("gpu agree:*") and the
#                 bad-index test
#   5. racecheck  compute-sanitizer racecheck over the same
#   6. cli        (opt-in) the README's main job on the GPU: orbit idem train --system dw4 --preset quick
#                 --device cuda (its results, samples and plots go to $OUT/idem_dw4/)
#   6b. egnn      (opt-in) `orbit egnn train` on the GPU: MC-EGNN (m = 2), N-body, quick preset cut to 5
#                 epochs (its results and plot go to $OUT/egnn_nbody/; the CPU reaches test MSE ~0.02 there)
#   7. bench      (opt-in: ORBIT_CHECK_STEPS=bench) the benchmark suite, bench/run.sh --device cuda,
#                 orbit_bench from device_bin/ against the PyTorch peers (about 5-8 minutes; its table
#                 and JSON go to $OUT/bench/)
# then prints a summary table last. Logs go to $OUT (default ./device-logs), one file per step.
#
#   bash tools/device-check.sh                      # everything, about 3-5 minutes on an H100
#   ORBIT_CHECK_STEPS="gpu memcheck" bash tools/device-check.sh
#   ORBIT_CHECK_TC="gpu agree: matmul*" bash tools/device-check.sh   # narrower sanitizer runs
# Knobs: ORBIT_DEVICE_BIN (default device_bin), ORBIT_CHECK_BUDGET (seconds for all steps, 540),
# ORBIT_CUDA_SYNC=1 (sync after every op: names the op of an asynchronous fault),
# ORBIT_RACECHECK_FILTER (compute-sanitizer --kernel-name filter for racecheck, default kns=orbit),
# ORBIT_CHECK_LIMIT_<step> (seconds for one step, e.g. ORBIT_CHECK_LIMIT_gpu=120; defaults below),
# ORBIT_CHECK_BENCH_WORKLOADS (the bench step's --workload list, default all).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${ORBIT_DEVICE_BIN:-device_bin}
out=${OUT:-device-logs}
steps=${ORBIT_CHECK_STEPS:-info gpu cpu memcheck racecheck}
budget=${ORBIT_CHECK_BUDGET:-540}
sanitize_tc=${ORBIT_CHECK_TC:-gpu agree:*,gpu: bad indices*}
mkdir -p "$out"
start=$SECONDS
summary=()

# A bundle over its size limit travels gzipped (tools/make-device-bundle.sh): unpack it here.
for f in orbit_tests orbit orbit_bench; do
  if [ -f "$bin/$f.gz" ] && [ ! -x "$bin/$f" ]; then gunzip -c "$bin/$f.gz" >"$bin/$f" && chmod +x "$bin/$f"; fi
done

if [ ! -x "$bin/orbit_tests" ] || [ ! -x "$bin/orbit" ]; then
  echo "device-check: $bin/orbit_tests and $bin/orbit are missing; build them with tools/make-device-bundle.sh" \
       "and carry $bin to this machine" >&2
  exit 2
fi

# The test binary looks for the source folder and the CLI where they were built: link them here.
manifest="$bin/MANIFEST"
if [ -f "$manifest" ]; then
  src=$(sed -n 's/^source_dir=//p' "$manifest")
  cli=$(sed -n 's/^cli_path=//p' "$manifest")
  if [ -n "$src" ] && [ ! -e "$src/tests" ]; then mkdir -p "$(dirname "$src")" && ln -sfn "$root" "$src"; fi
  if [ -n "$cli" ] && [ ! -x "$cli" ]; then mkdir -p "$(dirname "$cli")" && ln -sf "$root/$bin/orbit" "$cli"; fi
fi

# cuBLAS is loaded at run time (libcublas.so.13); help the loader if ld.so.cache does not know it.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.13'; then
  lib=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /usr/lib /opt /usr/local/lib -name 'libcublas.so.13' \
        -print -quit 2>/dev/null)
  if [ -n "$lib" ]; then export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
fi
sanitizer=$(command -v compute-sanitizer 2>/dev/null)
for c in /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
         /opt/nvidia/*/compute-sanitizer; do
  [ -z "$sanitizer" ] && [ -x "$c" ] && sanitizer=$c
done

left() { echo $((budget - (SECONDS - start))); }

# run_step NAME LIMIT LOG CMD...: runs with a time limit (never past the budget), records a summary row.
run_step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local override="ORBIT_CHECK_LIMIT_$name"
  [ -n "${!override:-}" ] && limit=${!override}
  local l
  l=$(left)
  [ "$l" -lt "$limit" ] && limit=$l
  if [ "$limit" -le 5 ]; then
    summary+=("$(printf '%-10s %-8s %6s  %s' "$name" SKIPPED - "no time left in the ${budget}s budget")")
    return
  fi
  echo "== $name: $* (limit ${limit}s, log $out/$log)"
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >"$out/$log" 2>&1
  rc=$?
  local dt=$((SECONDS - t0)) status=PASS detail=""
  [ $rc -ne 0 ] && status=FAIL
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status=TIMEOUT
  case $name in
    gpu | cpu)
      detail=$(grep -E '^\[doctest\] (test cases|assertions):' "$out/$log" | sed 's/^\[doctest\] //; s/ *| *$//' |
               tr -s ' ' | tr '\n' ';')
      local skipped
      skipped=$(grep -c 'skipped:' "$out/$log")
      [ "$name" = gpu ] && [ "$skipped" -gt 0 ] && detail="$detail $skipped GPU case(s) SKIPPED (no GPU?)" && status=FAIL
      ;;
    memcheck | racecheck)
      detail=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/$log" | tail -1 | sed 's/^=* *//')
      detail="$detail; $(grep -E '^\[doctest\] test cases:' "$out/$log" | sed 's/^\[doctest\] //' | tr -s ' ')"
      ;;
    cli)
      detail=$(grep -iE 'x-W2|energy W2|trained in|sampl' "$out/$log" | tail -3 | tr '\n' ';')
      ;;
    bench)
      detail=$(grep -E '^(device: |limits |DISAGREEMENT|== done)' "$out/$log" | tr '\n' ';')
      ;;
    info)
      detail=$(grep -E '^(default device|devices):' "$out/$log" | tr '\n' ';')
      ;;
  esac
  summary+=("$(printf '%-10s %-8s %5ss  %s' "$name" "$status" "$dt" "$detail")")
  tail -n 4 "$out/$log"
}

for step in $steps; do
  case $step in
    info)
      run_step info 60 info.log bash -c "nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader; '$bin/orbit' info; echo; cat '$manifest' 2>/dev/null; echo \"sanitizer: $sanitizer\"; \
        echo \"LD_LIBRARY_PATH=\${LD_LIBRARY_PATH:-}\"; ldconfig -p | grep -E 'libcublas' || true"
      ;;
    gpu)
      run_step gpu 240 gpu.log "$bin/orbit_tests" --test-suite=gpu --duration=true --no-version
      ;;
    cpu)
      run_step cpu 240 cpu.log "$bin/orbit_tests" --test-suite-exclude=gpu --no-version
      ;;
    memcheck | racecheck)
      if [ -z "$sanitizer" ]; then
        summary+=("$(printf '%-10s %-8s %6s  %s' "$step" SKIPPED - "compute-sanitizer not found")")
        continue
      fi
      # racecheck looks at orbit's kernels only (cuBLAS's Hopper GEMMs are not ours to judge);
      # ORBIT_RACECHECK_FILTER="" checks every kernel.
      extra=()
      if [ "$step" = racecheck ] && [ -n "${ORBIT_RACECHECK_FILTER-kns=orbit}" ]; then
        extra=(--kernel-name "${ORBIT_RACECHECK_FILTER-kns=orbit}")
      fi
      run_step "$step" 200 "$step.log" "$sanitizer" --tool "$step" --error-exitcode 3 --print-limit 50 "${extra[@]}" \
        "$bin/orbit_tests" --test-case="$sanitize_tc" --no-version
      ;;
    cli)
      run_step cli 120 cli.log "$bin/orbit" idem train --system dw4 --preset quick --device cuda --out "$out/idem_dw4"
      ;;
    egnn)
      run_step egnn 90 egnn.log "$bin/orbit" egnn train --task nbody --channels 2 --preset quick --epochs 5 \
        --device cuda --out "$out/egnn_nbody"
      ;;
    bench)
      run_step bench 480 bench.log env ORBIT_BENCH="$bin/orbit_bench" OUT="$out/bench" ORBIT_BENCH_BUDGET=${ORBIT_BENCH_BUDGET:-470} \
        bash bench/run.sh --device cuda ${ORBIT_CHECK_BENCH_WORKLOADS:+--workload "$ORBIT_CHECK_BENCH_WORKLOADS"}
      ;;
    *) summary+=("$(printf '%-10s %-8s %6s  %s' "$step" UNKNOWN - "not a step")") ;;
  esac
done

{
  echo
  echo "== orbit GPU check: $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS - start))s, logs in $out/"
  printf '%-10s %-8s %6s  %s\n' step result time detail
  for row in "${summary[@]}"; do echo "$row"; done
} | tee "$out/summary.txt"
grep -qE ' (FAIL|TIMEOUT) ' "$out/summary.txt" && exit 1
exit 0
