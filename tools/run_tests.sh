#!/usr/bin/env bash
# orbit's whole test suite on a fresh machine: installs the packages, builds (with the CUDA backend
# when nvcc exists; GPU test cases skip themselves without a GPU) and runs every ctest test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
jobs=$(nproc)
cmake --preset release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900
