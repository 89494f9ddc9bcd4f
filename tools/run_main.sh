#!/usr/bin/env bash
# orbit's main job on a fresh machine: installs the packages, builds the `orbit` program and runs it.
# For now: `orbit info` and the demo (fit an MLP, check its second derivative). Extra arguments go to
# the demo, e.g. `bash tools/run_main.sh --steps 5000`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake --preset release >/dev/null
cmake --build build -j"$(nproc)" --target orbit_cli
./build/tools/orbit info
./build/tools/orbit demo "$@"
