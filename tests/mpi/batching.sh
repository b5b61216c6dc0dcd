#!/usr/bin/env bash
# 40 prompts of mixed lengths, batched under a KV budget small enough to force preemption and with chunked
# prefill, at tp 1 and 2: every request's greedy tokens equal its tokens when run alone (--max-num-seqs 1),
# and the prompts of ../shared/expected still give Hugging Face's tokens; also at pp 2 with two batches in
# flight, each holding its own sequences. A request that can never fit in the
# cache gets an error in its JSON entry while the others complete.
# usage: batching.sh LOCKSTEP SHARED_DIR WORKDIR
set -eu
bin=$1; shared=$2; work=$3
here=$(dirname "$0")
model=$shared/models/opt-tiny
mkdir -p "$work"
/usr/bin/python3 "$here/batching_prompts.py" "$shared/expected/opt-tiny.json" > "$work/prompts.txt"
gen() { local np=$1 out=$2; shift 2
  local g=(-tp "$np"); [ "$np" = pp2 ] && { np=2; g=(-pp 2); }
  "$here/lsrun.sh" "$np" "$bin" generate --model "$model" "${g[@]}" --quiet --temperature 0 --max-tokens 32 \
      --output-json "$work/$out" "$@" 2> "$work/$out.log" || { cat "$work/$out.log"; exit 1; }
}
gen 1 alone.json --prompts-file "$work/prompts.txt" --max-num-seqs 1
batch=(--prompts-file "$work/prompts.txt" --max-num-batched-tokens 64 --max-num-seqs 16 --gpu-memory-utilization 0.8)
for np in 1 2 pp2; do
  gen "$np" probe-tp$np.json "${batch[@]}" --device-memory 256MiB
  # The device memory that leaves 20 blocks (320 tokens) per rank: 40 requests of up to 128 tokens must queue
  # and preempt.
  mem=$(/usr/bin/python3 -c '
import re, sys
log = open(sys.argv[1]).read()
# Per rank, the memory that leaves it 20 blocks (pipeline stages hold different weights); the lines of the
# ranks interleave, so they are joined by worker name.
mem = {k: (int(w), int(a)) for k, w, a in re.findall(r"\((Worker\w+)\) memory: .*− weights (\d+) − activation peak (\d+)", log)}
block = dict(re.findall(r"\((Worker\w+)\) # KV blocks: .*= (\d+) bytes per block", log))
print(int(max((w + a + 20 * int(block[k]) + int(block[k]) // 2) / 0.8 for k, (w, a) in mem.items())) + 1)' "$work/probe-tp$np.json.log")
  gen "$np" batched-tp$np.json "${batch[@]}" --device-memory "$mem"
  grep -E "# KV blocks|generated" "$work/batched-tp$np.json.log" | grep -v TP1
done
set +e
"$here/lsrun.sh" 2 "$bin" generate --model "$model" -tp 2 --quiet --temperature 0 --max-tokens 32 \
    --num-gpu-blocks-override 4 --output-json "$work/never-fits.json" --prompt "Hello, my dog is cute" \
    --prompt "$(printf 'the %.0s' {1..60})" --prompt "The capital of France is" 2> "$work/never-fits.log"
code=$?
set -e
[ "$code" -eq 1 ] || { cat "$work/never-fits.log"; echo "FAIL: exit code $code for a request that cannot fit"; exit 1; }
grep "error: request 1" "$work/never-fits.log"

/usr/bin/python3 - "$work" "$shared/expected/opt-tiny.json" <<'PY'
import json, re, sys
work, expected = sys.argv[1], [r for r in json.load(open(sys.argv[2]))["results"] if not r.get("skipped")]
load = lambda f: json.load(open(f"{work}/{f}"))["requests"]
alone = load("alone.json")
assert len(alone) == 40
for i, ref in enumerate(expected):
    assert alone[i]["token_ids"] == ref["generated_ids"], f"request {i} alone differs from Hugging Face"
for tp in (1, 2, "pp2"):
    batched = load(f"batched-tp{tp}.json")
    log = open(f"{work}/batched-tp{tp}.json.log").read()
    blocks = int(re.search(r"# KV blocks: (\d+)", log).group(1))
    preempt = int(re.search(r"(\d+) preemptions", log).group(1))
    assert blocks == 20, f"tp={tp}: {blocks} blocks, expected the 20 the budget was computed for"
    assert preempt > 0, f"tp={tp}: no preemption happened with {blocks} blocks"
    for i, (a, b) in enumerate(zip(alone, batched)):
        assert a["token_ids"] == b["token_ids"], f"tp={tp} request {i}: batched {b['token_ids'][:5]} vs alone {a['token_ids'][:5]}"
    print(f"tp={tp}: 40 requests in {blocks} blocks with {preempt} preemptions, all equal to their runs alone")
nf = load("never-fits.json")
assert nf[1]["finish_reason"] == "error" and "KV blocks" in nf[1]["error"], nf[1]
assert nf[0]["token_ids"] == expected[0]["generated_ids"] and nf[2]["token_ids"] == expected[1]["generated_ids"]
print("the request that cannot fit:", nf[1]["error"])
print("PASS")
PY
