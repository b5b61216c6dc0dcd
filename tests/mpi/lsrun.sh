#!/usr/bin/env bash
# Runs `lockstep` under scripts/mpirun.sh (root, oversubscribed, ranks yielding when idle), one BLAS thread
# per rank, never longer than LOCKSTEP_TEST_TIMEOUT seconds: a hang fails the test instead of stalling ctest,
# and says so on stderr ("lsrun: TIMED OUT").
# usage: lsrun.sh NP LOCKSTEP_BINARY ARGS...
set -u
np=$1; bin=$2; shift 2
limit=${LOCKSTEP_TEST_TIMEOUT:-120}
export OPENBLAS_NUM_THREADS=1
timeout --kill-after=5 "$limit" "$(dirname "$0")/../../scripts/mpirun.sh" -np "$np" "$bin" "$@"
code=$?
[ "$code" -eq 124 ] && echo "lsrun: TIMED OUT after $limit s (a hang)" >&2
exit "$code"
