#!/usr/bin/env bash
# Builds orbit with the CUDA backend (ORBIT_CUDA=ON: sm_90 + PTX, static CUDA runtime, cuBLAS loaded
# at run time) on any machine with nvcc, GPU or not, and copies what tools/device-check.sh needs into
# device_bin/ (ignored by git): orbit_tests, orbit, orbit_bench (bench/run.sh) and a MANIFEST. The folder must stay well under
# 64 MiB so it can travel to a GPU machine; this script fails if it does not.
#
#   bash tools/make-device-bundle.sh                 # build in build-device/
#   ORBIT_BUILD_DIR=build-x JOBS=2 bash tools/make-device-bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ORBIT_BUILD_DIR:-build-device}
jobs=${JOBS:-$(nproc)}
out=device_bin
limit_mib=${ORBIT_BUNDLE_LIMIT_MIB:-48}

cmake -S . -B "$build" -DORBIT_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$jobs" --target orbit_tests orbit_cli orbit_bench

rm -rf "$out"
mkdir -p "$out"
cp "$build/tests/orbit_tests" "$build/tools/orbit" "$build/bench/orbit_bench" "$out/"
# Symbols are not needed there (the CUDA fat binaries are most of the size; this saves a few MiB).
strip "$out/orbit_tests" "$out/orbit" "$out/orbit_bench" 2>/dev/null || true
# The test binary has the source folder and the CLI's path compiled in; device-check.sh recreates
# them on the GPU machine (as links) when its checkout lives elsewhere.
{
  echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host=$(uname -n)"
  echo "nvcc=$(nvcc --version 2>/dev/null | tail -1 || echo unknown)"
  echo "source_dir=$(pwd)"
  echo "cli_path=$(cd "$build/tools" && pwd)/orbit"
  echo "info=$("$out/orbit" info --json 2>&1 || true)"
} >"$out/MANIFEST"

# Inputs for the session's data steps (ORBIT_BUNDLE_EXTRA: space-separated files or folders, e.g. iDEM
# samples as lj13_samples.npy, the flow as lj13_flow.safetensors and its evaluation's finished batches
# as lj13_flow.safetensors.eval/ for tools/device-session.sh's likelihood step, an iDEM run folder as
# lj13_idem/ for its training step).
for f in ${ORBIT_BUNDLE_EXTRA:-}; do cp -r "$f" "$out/"; done

# Each binary carries every CUDA kernel (static library): past the limit, ship them gzipped (about 2x
# smaller); tools/device-check.sh unpacks them on the GPU machine.
size_kib=$(du -sk "$out" | cut -f1)
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
  for f in orbit_tests orbit orbit_bench; do gzip -6 "$out/$f"; done
  echo "compressed=gzip" >>"$out/MANIFEST"
  size_kib=$(du -sk "$out" | cut -f1)
fi
echo "device_bin/: $((size_kib / 1024)) MiB ($(ls "$out" | tr '\n' ' '))"
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
  echo "device_bin/ is over ${limit_mib} MiB: it may not travel to the GPU machine (64 MiB in all)" >&2
  exit 1
fi
