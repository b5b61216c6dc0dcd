#!/usr/bin/env bash
# Runs `lockstep` under mpirun the way the tests need on a small machine: as root, oversubscribed, ranks
# yielding when idle (../shared/notes/environment.md), and never longer than LOCKSTEP_TEST_TIMEOUT seconds.
# usage: lsrun.sh NP LOCKSTEP_BINARY ARGS...
set -u
np=$1; bin=$2; shift 2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OPENBLAS_NUM_THREADS=1
exec timeout --kill-after=5 "${LOCKSTEP_TEST_TIMEOUT:-120}" mpirun -np "$np" "$bin" "$@"
