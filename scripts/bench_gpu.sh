#!/usr/bin/env bash
# The GPU benchmark of issue 6 (not yet run: no GPU has been lent to us): an opt-1.3b-shaped checkpoint with
# random fp16 weights, decode inter-token latency at batch 1 and throughput at 32 requests (128 in, 128 out),
# with and without CUDA graphs, against
#   - the HBM floor: weight bytes ÷ the device's measured copy bandwidth (scripts/gpu_floor_and_hf.py), and
#   - Hugging Face transformers' generate() on the same checkpoint and GPU (same script).
# Writes one log/JSON per run into OUT_DIR (default results/bench-gpu) and a summary README there.
# usage: scripts/bench_gpu.sh [OUT_DIR]      (needs build/lockstep built with CUDA, python3 with torch)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/bench-gpu}
mkdir -p "$out"
model=build/bench/opt-1.3b-random
[ -f "$model/config.json" ] || build/lockstep make-model --preset opt-1.3b --dtype float16 --seed 0 --out "$model"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt" || true

bench() { local name=$1; shift
  echo "=== scripts/mpirun.sh -np 1 build/lockstep bench --model $model --device cuda --dtype float16 $*" | tee "$out/$name.log"
  scripts/mpirun.sh -np 1 build/lockstep bench --model "$model" --device cuda --dtype float16 --seed 0 \
      --temperature 0 --output-json "$out/$name.json" --report "$out/$name.h5" "$@" 2>>"$out/$name.log" \
      | tee -a "$out/$name.log"
}
for run in 1 2; do
  bench "batch1-graphs-run$run" --num-prompts 1 --input-len 128 --output-len 128
  bench "batch1-eager-run$run" --num-prompts 1 --input-len 128 --output-len 128 --enforce-eager
  bench "batch32-graphs-run$run" --num-prompts 32 --input-len 128 --output-len 128
done
python3 scripts/gpu_floor_and_hf.py "$model" "$out" | tee "$out/floor_and_hf.txt"
/usr/bin/python3 scripts/summarize_bench.py "$out" > "$out/README.md" || true
cat "$out/README.md" "$out/floor_and_hf.txt"
