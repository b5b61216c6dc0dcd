#!/usr/bin/env bash
# A golden test on the GPU: skipped (exit 77) where no CUDA device is visible, else tests/mpi/golden.sh with
# the given grid and device flags. usage: gpu_golden.sh PROBE LOCKSTEP NP MODEL EXPECTED TOL WORKDIR ARGS...
set -u
probe=$1; shift
"$probe" || exit $?
exec "$(dirname "$0")/../mpi/golden.sh" "$@"
