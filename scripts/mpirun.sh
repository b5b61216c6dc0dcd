#!/usr/bin/env bash
# mpirun with what a workstation or a small VM needs (../shared/notes/environment.md): allowed as root,
# oversubscribed when ranks outnumber cores, ranks yielding when idle (without it, oversubscribed ranks
# busy-poll and run up to 200× slower), ranks not pinned to cores, and OpenBLAS's kernel choice pinned for
# reproducible timings where the CPU allows. Pinning (mpirun's default for np <= 2) measured TP=2 decode on opt-125m at 47 ms per
# token on the 2-core VM against 20 ms unpinned: a pinned rank cannot move away from mpirun's own threads.
#   scripts/mpirun.sh -np 2 build/lockstep generate --model DIR -tp 2 --prompt "Hello"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=${OMPI_MCA_hwloc_base_binding_policy:-none}
# Cooperlake only where the CPU has its instructions (AVX-512 BF16), or OpenBLAS's kernels die of SIGILL.
grep -q -w avx512_bf16 /proc/cpuinfo 2>/dev/null && export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Cooperlake}
exec mpirun "$@"
