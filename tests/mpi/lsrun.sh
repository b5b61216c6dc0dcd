#!/usr/bin/env bash
# Runs `lockstep` under scripts/mpirun.sh (root, oversubscribed, ranks yielding when idle), one BLAS thread
# per rank, never longer than LOCKSTEP_TEST_TIMEOUT seconds: a hang fails the test instead of stalling ctest.
# usage: lsrun.sh NP LOCKSTEP_BINARY ARGS...
set -u
np=$1; bin=$2; shift 2
export OPENBLAS_NUM_THREADS=1
exec timeout --kill-after=5 "${LOCKSTEP_TEST_TIMEOUT:-120}" "$(dirname "$0")/../../scripts/mpirun.sh" -np "$np" "$bin" "$@"
