#!/usr/bin/env bash
# The CPU benchmark of results/bench-cpu/: an opt-125m-shaped checkpoint with random fp16 weights (compute in
# fp32), batch-1 latency and 32-request throughput at TP=1 and TP=2, each run twice to show the spread, plus
# one run at a Poisson request rate and one batch-1 run over two pipeline stages. Writes one JSON per run and results/bench-cpu/README.md.
# usage: scripts/bench.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/bench-cpu}
mkdir -p "$out"
model=build/bench/opt-125m-random
[ -f "$model/config.json" ] || build/lockstep make-model --preset opt-125m --dtype float16 --seed 0 --out "$model"

bench() { local np=$1 name=$2; shift 2  # the rest: -tp/-pp and the request flags
  echo "=== scripts/mpirun.sh -np $np build/lockstep bench --model $model $*" | tee "$out/$name.log"
  scripts/mpirun.sh -np "$np" build/lockstep bench --model "$model" --seed 0 --temperature 0 \
      --output-json "$out/$name.json" "$@" 2>>"$out/$name.log" | tee -a "$out/$name.log"
}
for run in 1 2; do
  for tp in 1 2; do
    bench "$tp" "batch1-tp$tp-run$run" -tp "$tp" --num-prompts 1 --input-len 128 --output-len 128
    bench "$tp" "batch32-tp$tp-run$run" -tp "$tp" --num-prompts 32 --input-len 128 --output-len 128
  done
done
bench 2 "rate4-tp2" -tp 2 --num-prompts 32 --input-len 128 --output-len 128 --request-rate 4
bench 2 "batch1-pp2" -pp 2 --num-prompts 1 --input-len 128 --output-len 128
/usr/bin/python3 scripts/summarize_bench.py "$out" > "$out/README.md"
cat "$out/README.md"
