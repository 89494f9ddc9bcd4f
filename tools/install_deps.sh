#!/usr/bin/env bash
# Installs what building and testing orbit needs from Debian's packages, only if it is missing
# (zlib only serves the fuzz targets as the reference DEFLATE decoder: orbit reads compressed files
# without it; python3, NumPy and SciPy only serve tests that check files against Python readers and the exact
# assignment against scipy.optimize.linear_sum_assignment).
# CUDA is optional: with nvcc on the machine (e.g. /usr/local/cuda) the CUDA backend is built too.
set -euo pipefail
packages=(cmake g++ make libeigen3-dev doctest-dev zlib1g-dev python3 python3-numpy python3-scipy)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "orbit: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
