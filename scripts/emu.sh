#!/usr/bin/env bash
# The GPU tests (tests/gpu: gpu.*) on the CPU's emulation of CUDA: a second build tree, build-emu/ (beside
# build/), configured with -DLOCKSTEP_CUDA=EMU, where the CUDA backend, the NCCL communicator and kernels/*.cu
# are compiled by the host compiler against tests/emu (emulated CUDA runtime, cuBLAS, NCCL between processes
# over Unix sockets, and a fiber per CUDA thread). What a GPU run would execute of our host code and kernels
# runs; what only a GPU has (its timing, memory model, tensor cores, NCCL's own transports) does not.
# Usage: scripts/emu.sh [--build-only | --no-build] [TEST...]   (TEST: a gpu.* test name, or emu.runtime /
#        emu.nccl.*: the emulation's own checks, tests/emu/test_cudart_emu.cpp and nccl_emu_check.cpp;
#        default all gpu.*)
#        ctest runs --build-only once (emu.build), then --no-build TEST per test (emu.TEST).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOCKSTEP_EMU_BUILD:-$root/build-emu}"

mode=all
case "${1:-}" in
  --build-only) mode=build; shift ;;
  --no-build) mode=run; shift ;;
esac

if [ "$mode" != run ]; then
  start=$(date +%s)
  mkdir -p "$build"
  . "$root/scripts/generator.sh"; tree_generator "$build"
  cmake "${generator[@]}" -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLOCKSTEP_CUDA=EMU \
        -DLOCKSTEP_SANITIZER_TESTS=OFF -DLOCKSTEP_EMU_TESTS=OFF >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
  cmake --build "$build" -j2 --target lockstep test_cuda_backend cuda_probe test_cudart_emu nccl_emu_check
  echo "emu: built in $(( $(date +%s) - start )) s ($build)"
fi
[ "$mode" = build ] && exit 0

# The emulation is slower than a GPU by far: a longer bound per multi-rank run (tests/mpi/lsrun.sh).
export LOCKSTEP_TEST_TIMEOUT="${LOCKSTEP_TEST_TIMEOUT:-280}"
pattern='^gpu\.'
if [ $# -gt 0 ]; then pattern="^($(printf '%s|' "$@" | sed 's/|$//; s/\./\\./g'))\$"; fi
out=$(mktemp "$build/emu-ctest.XXXXXX")  # one per call: ctest runs several emu.* tests at once
trap 'rm -f "$out"' EXIT
set +e
ctest --test-dir "$build" -R "$pattern" --output-on-failure 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
# A test that reports itself skipped did not see the emulated GPU: that is a failure here, not a pass.
if grep -q "(Skipped)" "$out"; then
  echo "emu: FAILED: a test skipped itself on the emulated GPU" >&2
  exit 1
fi
grep -q "tests passed" "$out" || { echo "emu: FAILED: no test matched $pattern" >&2; exit 1; }
exit "$rc"
