#!/usr/bin/env bash
# KV blocks per rank = floor((utilization × device memory − weights − activation peak) / block bytes), the block
# bytes computed here independently from config.json; and with the same memory per rank, TP=2 gives each rank
# about twice TP=1's token capacity (half the heads per rank, and half the weights). --max-num-seqs 32: the
# profiling pass holds the logits of that many sequences ([n × 50272], fp32 gathered at TP=2), which at the
# default 256 would outweigh opt-tiny's 6 MiB of weights and hide the doubling.
# usage: kv_sizing.sh LOCKSTEP MODEL_DIR WORKDIR
set -eu
bin=$1; model=$2; work=$3
here=$(dirname "$0")
mkdir -p "$work"
for np in 1 2; do
  "$here/lsrun.sh" "$np" "$bin" generate --model "$model" -tp "$np" --prompt Hello --max-tokens 1 --quiet \
      --device-memory 256MiB --gpu-memory-utilization 0.8 --block-size 16 --max-num-seqs 32 2> "$work/tp$np.log" \
      || { cat "$work/tp$np.log"; exit 1; }
  grep -E "memory:|KV blocks|concurrency" "$work/tp$np.log"
done
/usr/bin/python3 - "$work" "$model/config.json" <<'PY'
import json, re, sys
work, cfg = sys.argv[1], json.load(open(sys.argv[2]))
L, H = cfg["num_hidden_layers"], cfg["hidden_size"]
mem, util, bs = 256 * 2**20, 0.8, 16
cap = {}
for tp in (1, 2):
    log = open(f"{work}/tp{tp}.log").read()
    mems = re.findall(r"Worker_TP(\d)\) memory: .*− weights (\d+) − activation peak (\d+) bytes", log)
    blocks = re.findall(r"Worker_TP(\d)\) # KV blocks: (\d+) \(per worker; this rank could hold (\d+)\)", log)
    assert len(mems) == tp and len(blocks) == tp, log
    block_bytes = bs * 2 * L * (H // tp) * 4          # K and V, every layer, this rank's heads, fp32
    local = {}
    for rank, w, a in mems:
        local[rank] = (int(util * mem) - int(w) - int(a)) // block_bytes
    for rank, n, n_local in blocks:
        assert int(n_local) == local[rank], f"tp={tp} rank {rank}: logged {n_local}, computed {local[rank]}"
        assert int(n) == min(local.values()), f"tp={tp}: {n} is not the minimum over ranks {local}"
    cap[tp] = min(local.values()) * bs
    print(f"tp={tp}: block = {block_bytes} bytes, {min(local.values())} blocks per rank, capacity {cap[tp]} tokens")
ratio = cap[2] / cap[1]
assert 1.9 <= ratio <= 2.3, f"TP=2 capacity is {ratio:.2f}× TP=1's"
print(f"TP=2 token capacity per rank = {ratio:.3f} × TP=1 (same 256 MiB per rank)")
print("PASS")
PY
