#!/usr/bin/env bash
# orbit's whole test suite on a fresh machine: installs the packages, builds (with the CUDA backend
# when nvcc exists; GPU test cases skip themselves without a GPU) and runs every ctest test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
jobs=$(nproc)
cmake --preset release >/dev/null
cmake --build build -j"$jobs"
# ctest runs tests side by side while each uses OpenMP: sleeping (not spinning) idle OpenMP threads
# keeps them from stealing the cores the other tests need.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900
