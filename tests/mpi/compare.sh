#!/usr/bin/env bash
# `lockstep compare` on real runs of opt-tiny-16h (greedy, --logprobs 5, the prompts of ../shared/expected):
#   tp     TP=1 against TP=2: only identical requests or near-ties, exit code 0;
#   corrupt TP=1 against TP=2 with rank 1's shard corrupted (--inject-fault ...,kind=corrupt-shard): the job
#           still finishes, warns naming the rank, and compare exits 1 with DIVERGES at a margin far above
#           the near-tie threshold.
# usage: compare.sh LOCKSTEP SHARED_DIR WORKDIR tp|corrupt
set -eu
bin=$1; shared=$2; work=$3; mode=$4
here=$(dirname "$0")
model=$shared/models/opt-tiny-16h
mkdir -p "$work"
/usr/bin/python3 "$here/check_expected.py" prompts "$shared/expected/opt-tiny-16h.json" > "$work/prompts.txt"
gen() { local np=$1 out=$2; shift 2
  "$here/lsrun.sh" "$np" "$bin" generate --model "$model" -tp "$np" --prompts-file "$work/prompts.txt" \
      --temperature 0 --max-tokens 32 --logprobs 5 --output-json "$work/$out" --quiet --report none "$@" \
      2> "$work/$out.log" || { cat "$work/$out.log"; exit 1; }
}
gen 1 tp1.json
case $mode in
  tp)
    gen 2 tp2.json
    "$bin" compare "$work/tp1.json" "$work/tp2.json" | tee "$work/compare.txt"  # set -e: exit 1 fails the test
    grep -Eq "^compare: [0-9]+ requests, [0-9]+ identical, [0-9]+ near-ties, 0 divergences$" "$work/compare.txt"
    ;;
  corrupt)
    gen 2 corrupt.json --inject-fault rank=1,at=load,kind=corrupt-shard
    grep -E "WARNING \[rank 1\] injected fault \(kind=corrupt-shard\)" "$work/corrupt.json.log"
    code=0
    "$bin" compare "$work/tp1.json" "$work/corrupt.json" > "$work/compare.txt" || code=$?
    cat "$work/compare.txt"
    [ "$code" -eq 1 ] || { echo "FAIL: compare exit code $code, expected 1"; exit 1; }
    grep -q DIVERGES "$work/compare.txt" || { echo "FAIL: no DIVERGES in the table"; exit 1; }
    "$bin" compare "$work/tp1.json" "$work/corrupt.json" --json > "$work/compare.json" 2> /dev/null || true
    /usr/bin/python3 - "$work/compare.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
div = [r for r in c["requests"] if r["verdict"] == "DIVERGES"]
assert div and c["divergences"] == len(div), c
# Large: a flip with a margin 100x the near-tie threshold, or log-probs moved 10x the tolerance before it.
big = [r for r in div if max(r.get("margin_a", 0), r.get("margin_b", 0)) > 100 * c["near_tie"]
       or r["prefix_drift"] > 10 * c["logprob_tol"]]
assert big, f"no divergence with a large margin: {div}"
print(f"{len(div)} of {len(c['requests'])} requests diverge; {len(big)} by a large margin")
PY
    ;;
  *) echo "compare.sh: unknown mode $mode"; exit 2 ;;
esac
echo PASS
