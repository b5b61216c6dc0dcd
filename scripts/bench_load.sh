#!/usr/bin/env bash
# Checkpoint load time of two lockstep binaries on one model, CPU backend, fp16 and fp32 weights, three runs
# each, interleaved: the "loaded in" figure of each run's start-up log (results/checkpoint-load).
# usage: scripts/bench_load.sh OLD_BINARY NEW_BINARY MODEL_DIR
set -u
cd "$(dirname "$0")/.."
export OMPI_MCA_mpi_yield_when_idle=1
for dt in float16 float32; do
  for rep in 1 2 3; do
    for b in "$1" "$2"; do
      t=$(scripts/mpirun.sh -np 1 "$b" generate --model "$3" --device cpu --dtype $dt --prompt Hi --max-tokens 1 \
            --report none 2>&1 | grep -o 'loaded in [0-9.]* s, read [0-9.]* GiB')
      echo "$dt rep$rep $b: $t"
    done
  done
done
