#!/usr/bin/env bash
# One GPU session's checks in one call (the device machine is lent for minutes): tools/device-check.sh
# (GPU tests, the README's main job on the GPU, the benchmark suite against PyTorch, compute-sanitizer
# over the newest kernels), then orbit's side of the benchmarks again with fusion off (ORBIT_FUSION=0),
# with the interpreting fused kernel and with NVRTC-generated kernels (ORBIT_FUSION_CODEGEN=1), and
# everything packed into $OUT/logs.tgz (the device tool
# brings back at most 8 files) plus $OUT/summary.txt.
#
#   bash tools/device-session.sh            # on the GPU machine, with device_bin/ carried
# Knobs: ORBIT_SESSION_BUDGET (seconds for device-check.sh, default 330), ORBIT_SESSION_NOFUSE (workloads
# rerun without fusion, default mlp,pinn,egnn,idem; "" skips), ORBIT_SESSION_FUSED (the same for the two
# fused variants), and device-check.sh's own knobs. The whole script takes about 6 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/.."
final=${OUT:-device-logs}
work=$(mktemp -d /tmp/orbit-session.XXXXXX)
mkdir -p "$final"
export PYTHONUNBUFFERED=1
export ORBIT_CHECK_STEPS=${ORBIT_CHECK_STEPS:-"info gpu cli bench memcheck"}
export ORBIT_CHECK_BUDGET=${ORBIT_SESSION_BUDGET:-330}
export ORBIT_CHECK_LIMIT_gpu=${ORBIT_CHECK_LIMIT_gpu:-90} ORBIT_CHECK_LIMIT_cli=${ORBIT_CHECK_LIMIT_cli:-40}
export ORBIT_CHECK_LIMIT_bench=${ORBIT_CHECK_LIMIT_bench:-200} ORBIT_BENCH_BUDGET=${ORBIT_BENCH_BUDGET:-195}
export ORBIT_BENCH_STEP_LIMIT=${ORBIT_BENCH_STEP_LIMIT:-50} ORBIT_BENCH_PEER_BUDGET=${ORBIT_BENCH_PEER_BUDGET:-2}
export ORBIT_BENCH_COMPILE=${ORBIT_BENCH_COMPILE:-egnn_step_dw4,sampler}
export ORBIT_CHECK_LIMIT_memcheck=${ORBIT_CHECK_LIMIT_memcheck:-40}
export ORBIT_CHECK_TC=${ORBIT_CHECK_TC:-"gpu fusion:*,gpu codegen*,gpu agree: op harness forward*"}
OUT=$work bash tools/device-check.sh
nofuse=${ORBIT_SESSION_NOFUSE-mlp,pinn,egnn,idem}
if [ -n "$nofuse" ]; then
  echo "== orbit_bench with ORBIT_FUSION=0: $nofuse"
  ORBIT_FUSION=0 timeout 80 "${ORBIT_DEVICE_BIN:-device_bin}/orbit_bench" --device cuda --workload "$nofuse" \
    --repeat 5 --json "$work/nofuse.json" >"$work/nofuse.log" 2>&1
  echo "rc=$?" >>"$work/nofuse.log"
  grep -E 'median' "$work/nofuse.log" | cut -c1-100
fi
# The fused variants of orbit's side: the interpreting kernel, then the NVRTC-generated kernels.
fused=${ORBIT_SESSION_FUSED-mlp,pinn,egnn,idem}
if [ -n "$fused" ]; then
  for variant in interp codegen; do
    codegen=0
    [ "$variant" = codegen ] && codegen=1
    echo "== orbit_bench with ORBIT_FUSION=1 ORBIT_FUSION_CODEGEN=$codegen: $fused"
    ORBIT_FUSION=1 ORBIT_FUSION_CODEGEN=$codegen ORBIT_CACHE_DIR="$work/kernel-cache" timeout 80 \
      "${ORBIT_DEVICE_BIN:-device_bin}/orbit_bench" --device cuda --workload "$fused" --repeat 5 \
      --json "$work/fused-$variant.json" >"$work/fused-$variant.log" 2>&1
    echo "rc=$?" >>"$work/fused-$variant.log"
    grep -E 'median' "$work/fused-$variant.log" | cut -c1-100
  done
fi
rm -rf "$work/kernel-cache"
tar czf "$final/logs.tgz" -C "$work" .
cp "$work/summary.txt" "$final/" 2>/dev/null
exit 0
