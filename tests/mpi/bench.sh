#!/usr/bin/env bash
# `lockstep bench`'s figures agree with each other and with what was asked: every request gives --output-len
# tokens (EOS ignored); requests/s and tokens/s × duration give the counts back; and, all requests having as
# many tokens, vLLM's identities hold exactly: mean E2E latency = mean TTFT + (output_len − 1) × mean TPOT, and
# mean ITL (over every gap) = mean TPOT (per request). Percentiles are ordered; the table names tp and pp.
# usage: bench.sh LOCKSTEP MODEL_DIR WORKDIR
set -eu
bin=$1; model=$2; work=$3
here=$(dirname "$0")
mkdir -p "$work"
"$here/lsrun.sh" 2 "$bin" bench --model "$model" -tp 2 --num-prompts 8 --input-len 16 --output-len 8 \
    --request-rate 200 --seed 1 --report none --output-json "$work/bench.json" > "$work/table.txt" \
    2> "$work/bench.log" || { cat "$work/bench.log"; exit 1; }
cat "$work/table.txt"
grep -q "^lockstep bench: tp=2, pp=1, 8 requests" "$work/table.txt" || { echo "FAILED: table header"; exit 1; }
for row in "TTFT (ms)" "ITL (ms)" "TPOT (ms)" "E2E latency (ms)"; do
  grep -q "^  $row " "$work/table.txt" || { echo "FAILED: no '$row' row in the table"; exit 1; }
done
/usr/bin/python3 - "$work/bench.json" <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
n, out_len, in_len, d = j["num_prompts"], j["output_len"], j["input_len"], j["duration_s"]
close = lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
assert (n, out_len, in_len) == (8, 8, 16), j
assert close(j["requests_per_s"] * d, n), j
assert close(j["output_tokens_per_s"] * d, n * out_len), j
assert j["total_tokens_per_s"] * d >= n * (out_len + in_len) - 1e-6, j   # prompts carry a BOS too
ttft, itl, tpot, e2el = (j[k]["mean_ms"] for k in ("ttft", "itl", "tpot", "e2el"))
assert close(e2el, ttft + (out_len - 1) * tpot), (e2el, ttft, tpot)
assert close(itl, tpot), (itl, tpot)
for k in ("ttft", "itl", "tpot", "e2el"):
    s = j[k]
    assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"], (k, s)
assert j["e2el"]["p50_ms"] <= d * 1e3 and j["ttft"]["p99_ms"] <= j["e2el"]["p99_ms"], j
assert j["decode_floor_ms"] > 0 and j["kv_blocks"] > 0 and j["steps"] > 0, j
print(f"bench: {n} requests in {d:.3f} s; mean TTFT {ttft:.2f} + 7 × TPOT {tpot:.3f} = E2E {e2el:.2f} ms; "
      f"ITL mean {itl:.3f} ms = TPOT mean")
PY
