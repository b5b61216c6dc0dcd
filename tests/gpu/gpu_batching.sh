#!/usr/bin/env bash
# Batching on the GPU changes no token: 40 prompts under 20 KV blocks per rank (so sequences are preempted and
# recomputed) with chunked prefill (64 tokens a step) give, in fp32, each prompt's greedy tokens when run alone
# (--max-num-seqs 1, eager), log-probs within 1e-4; a flip is allowed only at a near-tie below 1e-4. Not 1e-5 as
# on the CPU: cuBLAS may pick another kernel for another batch size, and sum in another order.
# Run through with_gpu.sh (skipped without a GPU). usage: gpu_batching.sh LOCKSTEP SHARED_DIR WORKDIR NP [ARGS...]
set -eu
bin=$1; shared=$2; work=$3; np=$4; shift 4
here=$(dirname "$0")
mkdir -p "$work"
${LOCKSTEP_PYTHON:-/usr/bin/python3} "$here/../mpi/batching_prompts.py" "$shared/expected/opt-tiny.json" > "$work/prompts.txt"
run() {
  local out=$1; shift
  "$here/../mpi/lsrun.sh" "$np" "$bin" generate --model "$shared/models/opt-tiny" --device cuda --dtype float32 \
      --temperature 0 --max-tokens 32 --logprobs 2 --prompts-file "$work/prompts.txt" --output-json "$work/$out" \
      --report none --quiet "$@" 2> "$work/$out.log" || { cat "$work/$out.log"; exit 1; }
}
run alone.json --max-num-seqs 1 --enforce-eager "$@"
run batched.json --max-num-batched-tokens 64 --max-num-seqs 16 --num-gpu-blocks-override 20 "$@"
grep -h "generated" "$work/batched.json.log"
preempt=$(sed -n 's/.*; \([0-9]*\) preemptions).*/\1/p' "$work/batched.json.log" | head -1)
[ "${preempt:-0}" -gt 0 ] || { echo "FAILED: no preemption with 20 KV blocks"; exit 1; }
"$bin" compare "$work/alone.json" "$work/batched.json" --logprob-tol 1e-4 --near-tie 1e-4
