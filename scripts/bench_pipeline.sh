#!/usr/bin/env bash
# Pipeline parallelism's batches in flight: opt-125m-shaped checkpoint, pp=2 (two stages on the two cores),
# 32 requests × (128 in, 128 out), with one batch in the pipeline at a time against two (the default: one per
# stage), each run twice. Writes results/bench-pipeline/*.json, .log and README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/bench-pipeline}
mkdir -p "$out"
model=build/bench/opt-125m-random
[ -f "$model/config.json" ] || build/lockstep make-model --preset opt-125m --dtype float16 --seed 0 --out "$model"
for run in 1 2; do
  for k in 1 2; do
    name="pp2-inflight$k-run$run"
    echo "=== scripts/mpirun.sh -np 2 build/lockstep bench --model $model -pp 2 --pipeline-batches-in-flight $k ..." | tee "$out/$name.log"
    scripts/mpirun.sh -np 2 build/lockstep bench --model "$model" -pp 2 --pipeline-batches-in-flight "$k" --seed 0 \
        --temperature 0 --num-prompts 32 --input-len 128 --output-len 128 --report none \
        --output-json "$out/$name.json" 2>>"$out/$name.log" | tee -a "$out/$name.log"
  done
done
/usr/bin/python3 - "$out" > "$out/README.md" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
print("# Pipeline parallelism: batches in flight\n")
print("Made by `scripts/bench_pipeline.sh` on the 2-core machine (see results/bench-cpu/README.md): the opt-125m-shaped")
print("checkpoint, pp=2, 32 requests × (128 prompt, 128 generated) tokens, greedy.\n")
print("| run | batches in flight | output tok/s | total tok/s | TTFT p50 ms | ITL p50 ms | ITL p99 ms |")
print("|---|---|---|---|---|---|---|")
rows = {}
for f in sorted(glob.glob(os.path.join(d, "*.json"))):
    j = json.load(open(f)); name = os.path.basename(f)[:-5]
    k = int(name.split("inflight")[1].split("-")[0]); rows.setdefault(k, []).append(j["output_tokens_per_s"])
    print(f"| {name} | {k} | {j['output_tokens_per_s']:.1f} | {j['total_tokens_per_s']:.1f} | {j['ttft']['p50_ms']:.1f} "
          f"| {j['itl']['p50_ms']:.2f} | {j['itl']['p99_ms']:.2f} |")
if 1 in rows and 2 in rows:
    a, b = sum(rows[1]) / len(rows[1]), sum(rows[2]) / len(rows[2])
    print(f"\nTwo batches in flight: {b:.1f} output tokens/s against {a:.1f} with one, {b / a:.2f}× (means of the runs).")
PY
cat "$out/README.md"
