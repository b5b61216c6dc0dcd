#!/usr/bin/env bash
# The GPU benchmark of issue 6: an opt-1.3b-shaped checkpoint with random fp16 weights (made here by
# `lockstep make-model`), run in fp16 on one GPU:
#   - decode inter-token latency at batch 1 (128 prompt tokens, 128 generated), CUDA graphs and eager;
#   - throughput of 32 requests (128 in, 128 out each), all at once, CUDA graphs;
#   - decode ITL at batch 1 at a long context (1920 prompt tokens, 128 generated: the model's 2048 positions),
#     with the decode attention split over the SMs as the backend chooses, and unsplit (LOCKSTEP_DECODE_SPLITS=1);
#     and unsplit at 128 + 128, where the graphs launch a combine kernel that has nothing to do;
#   - the yardsticks of scripts/gpu_floor_and_hf.py on the same GPU: the HBM floor (weight bytes ÷ the device
#     copy bandwidth torch measures) and Hugging Face transformers' generate() on the same checkpoint;
#   - where the forward time goes, op by op (--profile-ops: CUDA events around each op, eager), at 1 and 32;
#   - a correctness check at this shape: lockstep's greedy tokens and top-5 log-probs for the prompts of
#     ../shared/expected/prompts.txt against transformers' on the same prompt ids (`lockstep compare`: a flip
#     must be a near-tie in fp16, margin < 0.05).
# Each run's command, log and JSON go into OUT_DIR (default results/bench-gpu), with a README summing them up.
# usage: scripts/bench_gpu.sh [OUT_DIR]   (LOCKSTEP_BIN: the binary, default build/lockstep; python3 with torch)
# A dry run of the whole pipeline without a GPU: BENCH_DEVICE=cpu BENCH_PRESET=opt-125m scripts/bench_gpu.sh /tmp/b
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/bench-gpu}
bin=${LOCKSTEP_BIN:-build/lockstep}
# Python with torch keeps the library path it came with (gpu_check.sh puts our bundled libraries first).
py() { LD_LIBRARY_PATH=${LS_ORIG_LD_LIBRARY_PATH-${LD_LIBRARY_PATH-}} python3 "$@"; }
mkdir -p "$out"
device=${BENCH_DEVICE:-cuda} preset=${BENCH_PRESET:-opt-1.3b}
dtype=float16; [ "$device" = cpu ] && dtype=float32  # the CPU backend computes in fp32 only
model=$(dirname "$bin")/bench/$preset-random
[ -f "$model/config.json" ] || "$bin" make-model --preset "$preset" --dtype float16 --seed 0 --out "$model"
nvidia-smi --query-gpu=name,pci.bus_id,memory.total,driver_version --format=csv | tee "$out/gpu.txt" || true

# Every step runs even when one before it failed (a lease is short): failures are counted and end in exit 1.
failed=()
run() { local name=$1 sub=$2; shift 2
  local cmd=(scripts/mpirun.sh -np 1 "$bin" "$sub" --model "$model" --device "$device" --dtype "$dtype" "$@")
  echo "\$ ${LOCKSTEP_DECODE_SPLITS:+LOCKSTEP_DECODE_SPLITS=$LOCKSTEP_DECODE_SPLITS }${LOCKSTEP_GEMV:+LOCKSTEP_GEMV=$LOCKSTEP_GEMV }${cmd[*]}" | tee "$out/$name.log"
  "${cmd[@]}" 2>>"$out/$name.log" | tee -a "$out/$name.log"
  [ "${PIPESTATUS[0]}" = 0 ] || { failed+=("$name"); tail -5 "$out/$name.log"; }
}
bench() { local name=$1; shift
  run "$name" bench --seed 0 --temperature 0 --output-json "$out/$name.json" --report "$out/$name.h5" "$@"
}
set +e
# In the order of what matters most, should the lease end first (scripts/gpu_check.sh cuts this short then):
# one run of each headline figure, the yardsticks and the token check, the long context, then the repeats.
headline() {
  bench "batch1-graphs-$1" --num-prompts 1 --input-len 128 --output-len 128
  bench "batch1-eager-$1" --num-prompts 1 --input-len 128 --output-len 128 --enforce-eager
  bench "batch32-graphs-$1" --num-prompts 32 --input-len 128 --output-len 128
}
headline 1
for prompts in "${LOCKSTEP_SHARED_DIR:-../shared}/expected/prompts.txt" .gpu/shared/expected/prompts.txt; do
  [ -f "$prompts" ] && break
done
run tokens-lockstep generate --prompts-file "$prompts" --temperature 0 --max-tokens 32 --ignore-eos --logprobs 5 \
    --output-json "$out/tokens-lockstep.json" --report none --quiet
# BENCH_REUSE_HF=1 keeps OUT_DIR's yardsticks and transformers' tokens from an earlier run on the same kind of
# GPU (they depend on torch, not on lockstep) where they exist: a second lease's minutes go to lockstep.
if [ "${BENCH_REUSE_HF:-0}" = 1 ] && [ -f "$out/floor_and_hf.json" ] && [ -f "$out/tokens-hf.json" ]; then
  echo "bench_gpu: BENCH_REUSE_HF=1: the yardsticks and tokens-hf.json of $out are an earlier run's" | tee -a "$out/floor_and_hf.txt"
else
  py scripts/gpu_floor_and_hf.py "$model" "$out" "$out/tokens-lockstep.json" 2>&1 | tee "$out/floor_and_hf.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || failed+=(gpu_floor_and_hf.py)
fi
if [ -f "$out/tokens-hf.json" ]; then
  "$bin" compare "$out/tokens-lockstep.json" "$out/tokens-hf.json" --near-tie 5e-2 --logprob-tol 5e-2 \
      | tee "$out/compare.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || failed+=(compare)
fi
bench batch1-long-graphs --num-prompts 1 --input-len 1920 --output-len 128
LOCKSTEP_DECODE_SPLITS=1 bench batch1-long-nosplit --num-prompts 1 --input-len 1920 --output-len 128
headline 2
LOCKSTEP_DECODE_SPLITS=1 bench batch1-graphs-nosplit --num-prompts 1 --input-len 128 --output-len 128
# A step of one sequence multiplies in kernels::gemv, more in cuBLAS; LOCKSTEP_GEMV=N moves the threshold.
LOCKSTEP_GEMV=0 bench batch1-graphs-cublas --num-prompts 1 --input-len 128 --output-len 128
bench batch8-graphs --num-prompts 8 --input-len 128 --output-len 128
LOCKSTEP_GEMV=8 bench batch8-gemv8 --num-prompts 8 --input-len 128 --output-len 128
# Where a step's time goes: every op timed by CUDA events (eager), read back by `lockstep report`.
for n in 1 32; do
  bench "profile-batch$n" --num-prompts $n --input-len 128 --output-len 128 --profile-ops
  "$bin" report "$out/profile-batch$n.h5" > "$out/profile-batch$n.txt" || failed+=("report profile-batch$n")
done
py scripts/summarize_bench_gpu.py "$out" > "$out/README.md" || failed+=(summarize_bench_gpu.py)
cat "$out/README.md"
[ ${#failed[@]} = 0 ] || { echo "bench_gpu: failed: ${failed[*]}"; exit 1; }
