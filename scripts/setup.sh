#!/usr/bin/env bash
# Installs the Debian packages that lockstep's build and tests need (idempotent: quick when all is there),
# then configures and builds into build/. Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config
      libopenmpi-dev openmpi-bin
      libhdf5-dev hdf5-tools
      libboost-program-options-dev doctest-dev libopenblas-dev nlohmann-json3-dev
      libboost-context-dev                               # tests/emu: fibers for the CUDA emulation
      python3-h5py python3-numpy python3-matplotlib
      slurm-wlm munge                                    # the local Slurm test
      clang libclang-rt-14-dev llvm                      # fuzz targets: libFuzzer runtime, llvm-symbolizer
      ninja-build)                                       # the emu, ASan and fuzz trees (scripts/generator.sh)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
