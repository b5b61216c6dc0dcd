#!/usr/bin/env bash
# At tp 2 and 4 each rank must hold 1/tp of the TP=1 sharded bytes (their sum is exactly the TP=1 figure:
# opt-tiny's vocab, heads and ffn all divide) and the same replicated bytes. With --dtype bfloat16 (the CPU
# backend's 16-bit weights) each rank of tp 2 holds exactly half of its fp32 bytes.
# usage: weight_bytes.sh LOCKSTEP MODEL_DIR WORKDIR
set -eu
bin=$1; model=$2; work=$3
here=$(dirname "$0")
mkdir -p "$work"
for np in 1 2 4; do
  "$here/lsrun.sh" "$np" "$bin" generate --model "$model" -tp "$np" --prompt Hello --max-tokens 1 --quiet \
      2> "$work/log-tp$np.txt" || { cat "$work/log-tp$np.txt"; exit 1; }
  grep "model weights take" "$work/log-tp$np.txt"
done
"$here/lsrun.sh" 2 "$bin" generate --model "$model" -tp 2 --dtype bfloat16 --prompt Hello --max-tokens 1 --quiet \
    2> "$work/log-tp2-bf16.txt" || { cat "$work/log-tp2-bf16.txt"; exit 1; }
grep "model weights take" "$work/log-tp2-bf16.txt"
/usr/bin/python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
def ranks(np, suffix=""):
    pat = re.compile(r"Worker_TP(\d+)\) model weights take .*\((\d+) bytes: sharded (\d+) \+ replicated (\d+)\)")
    rows = {}
    for line in open(f"{work}/log-tp{np}{suffix}.txt"):
        m = pat.search(line)
        if m:
            rows[int(m[1])] = (int(m[2]), int(m[3]), int(m[4]))
    assert sorted(rows) == list(range(np)), f"tp={np}: weight lines from ranks {sorted(rows)}"
    return rows
total1, sharded1, repl1 = ranks(1)[0]
for np in (2, 4):
    rows = ranks(np)
    assert sum(r[1] for r in rows.values()) == sharded1, f"tp={np}: sharded bytes do not add up to TP=1's"
    for rank, (total, sharded, repl) in rows.items():
        assert sharded * np == sharded1, f"tp={np} rank {rank}: sharded {sharded} is not 1/{np} of {sharded1}"
        assert repl == repl1, f"tp={np} rank {rank}: replicated {repl} != {repl1}"
        print(f"tp={np} rank {rank}: {total} bytes = {total / total1:.3f} of TP=1 "
              f"(sharded 1/{np}, replicated {repl} bytes)")
fp32, bf16 = ranks(2), ranks(2, "-bf16")
for rank in fp32:
    assert [2 * b for b in bf16[rank]] == list(fp32[rank]), f"tp=2 rank {rank}: bf16 {bf16[rank]} vs fp32 {fp32[rank]}"
    print(f"tp=2 rank {rank}: bfloat16 weights {bf16[rank][0]} bytes = half of float32's {fp32[rank][0]}")
print("PASS")
PY
