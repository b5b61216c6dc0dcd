#!/usr/bin/env bash
# mpirun with what a workstation or a small VM needs (../shared/notes/environment.md): allowed as root,
# oversubscribed when ranks outnumber cores, ranks yielding when idle (without it, oversubscribed ranks
# busy-poll and run up to 200× slower), and ranks not pinned to cores. Pinning (mpirun's default for np <= 2)
# measured TP=2 decode on opt-125m at 47 ms per token on the 2-core VM against 20 ms unpinned: a pinned rank
# cannot move away from mpirun's own threads. OpenBLAS's threads and kernels lockstep sets itself
# (src/backend/openblas_env.h), under any launcher.
#   scripts/mpirun.sh -np 2 build/lockstep generate --model DIR -tp 2 --prompt "Hello"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=${OMPI_MCA_hwloc_base_binding_policy:-none}
exec mpirun "$@"
