#!/usr/bin/env bash
# orbit's main job on a fresh machine: installs the packages, builds the `orbit` program, prints the
# build and devices, then trains an iDEM sampler on DW4 from its energy alone (quick preset, best device
# present), evaluates it against the shipped reference samples and writes samples and plots to
# runs/idem_dw4/. Extra arguments go to `orbit idem train`, e.g. `bash tools/run_main.sh --preset paper`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake --preset release >/dev/null
cmake --build build -j"$(nproc)" --target orbit_cli
./build/tools/orbit info
./build/tools/orbit idem train --system dw4 --preset quick --device auto --out runs/idem_dw4 "$@"
