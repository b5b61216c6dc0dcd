#!/usr/bin/env bash
# Does the collective watchdog (--collective-timeout) cost anything? `lockstep bench` at -tp 2 on an
# opt-125m-shaped checkpoint with random weights (batch 1, where every decode step is 25 all-reduces and the
# polling loop matters most), with the watchdog off (--collective-timeout 0) and on (the default, 600 s),
# REPS alternating repetitions each. Writes each run's output and OUT_DIR/README.md (decode ITL p50 and
# output tokens/s per run, with the medians).
# usage: scripts/bench_watchdog.sh [LOCKSTEP [OUT_DIR [REPS]]]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build/lockstep}"); out=${2:-results/bench-watchdog}; reps=${3:-3}
model=${MODEL:-/tmp/opt-125m-random}
mkdir -p "$out"
[ -f "$model/config.json" ] || "$bin" make-model --preset opt-125m --dtype float16 --seed 0 --out "$model"
export OPENBLAS_NUM_THREADS=1
args=(bench --model "$model" -tp 2 --seed 0 --temperature 0 --num-prompts 1 --input-len 32 --output-len 64
      --report none)
echo "scripts/mpirun.sh -np 2 $bin ${args[*]} --collective-timeout {0|600}" > "$out/command.txt"
for rep in $(seq 1 "$reps"); do
  for t in 0 600; do
    log=$out/timeout$t-run$rep.log
    scripts/mpirun.sh -np 2 "$bin" "${args[@]}" --collective-timeout "$t" > "$log" 2>&1
    echo "timeout=$t run=$rep: $(grep -E '^  ITL|output tokens/s' "$log" | tr -s ' ' | tr '\n' ' ')"
  done
done
/usr/bin/python3 - "$out" "$reps" <<'PY' > "$out/table.md"
import re, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
rows, med = [], {}
for t in (0, 600):
    itl, tps = [], []
    for r in range(1, reps + 1):
        text = open(f"{out}/timeout{t}-run{r}.log").read()
        itl.append(float(re.search(r"^\s*ITL \(ms\)\s+\S+\s+(\S+)", text, re.M).group(1)))
        tps.append(float(re.search(r"output tokens/s\s+(\S+)", text).group(1)))
        rows.append(f"| {t} ({'off' if t == 0 else 'on'}) | {r} | {itl[-1]:.2f} | {tps[-1]:.1f} |")
    med[t] = (statistics.median(itl), statistics.median(tps), min(itl), max(itl))
print("| --collective-timeout | run | decode ITL p50 (ms) | output tokens/s |")
print("|---|---|---|---|")
print("\n".join(rows))
print()
for t, (i, s, lo, hi) in med.items():
    print(f"- timeout {t}: median ITL p50 {i:.2f} ms (range {lo:.2f}–{hi:.2f}), median {s:.1f} output tokens/s")
print(f"- on / off: ITL p50 {med[600][0] / med[0][0]:.3f}×, throughput {med[600][1] / med[0][1]:.3f}×")
PY
cat "$out/table.md"
