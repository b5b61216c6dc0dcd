#!/usr/bin/env bash
# Two (or more) lockstep binaries on the same `lockstep bench`, in alternating repetitions so that a slow
# spell of the machine hits each alike: for a change's before and after (build the old commit into another
# tree). Writes OUT_DIR/command.txt, each run's log, and OUT_DIR/table.md (TTFT p50, decode ITL p50, output
# tokens/s and rank 0's gathered bytes per run, with the medians). LABEL=BIN::ARGS gives that binary ARGS of its
# own after the shared ones, to compare flags of one binary (e.g. f16=build/lockstep::--dtype float16).
# usage: scripts/bench_compare.sh OUT_DIR NP REPS LABEL=BIN[::ARGS] [LABEL=BIN[::ARGS] ...] -- BENCH_ARGS...
#   e.g. scripts/bench_compare.sh results/x 2 3 before=/tmp/old/lockstep after=build/lockstep -- \
#        --model ../shared/models/opt-tiny -tp 2 --num-prompts 32 --input-len 32 --output-len 64 --temperature 0
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 np=$2 reps=$3; shift 3
labels=() bins=() extras=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  spec=${1#*=}
  labels+=("${1%%=*}"); bins+=("$(realpath "${spec%%::*}")")
  if [[ $spec == *::* ]]; then extras+=("${spec#*::}"); else extras+=(""); fi
  shift
done
[ $# -gt 0 ] && shift || { echo "bench_compare: no -- before the bench arguments" >&2; exit 2; }
[ ${#labels[@]} -ge 1 ] || { echo "bench_compare: no LABEL=BIN" >&2; exit 2; }
mkdir -p "$out"
export OMPI_MCA_mpi_yield_when_idle=1
echo "scripts/bench_compare.sh $out $np $reps $(for i in "${!labels[@]}"; do
  printf "'%s=%s%s' " "${labels[$i]}" "${bins[$i]}" "${extras[$i]:+::${extras[$i]}}"; done)-- $*" > "$out/command.txt"
for rep in $(seq 1 "$reps"); do
  for i in "${!labels[@]}"; do
    log=$out/${labels[$i]}-run$rep.log
    # shellcheck disable=SC2086  # a label's own ARGS are words
    scripts/mpirun.sh -np "$np" "${bins[$i]}" bench --report none -q "$@" ${extras[$i]} > "$log" 2>&1 ||
      { echo "bench_compare: ${labels[$i]} run $rep failed, see $log" >&2; exit 1; }
    echo "${labels[$i]} run $rep: $(grep -E '^  (TTFT|ITL)|output tokens/s' "$log" | tr -s ' ' | tr '\n' ' ')"
  done
done
/usr/bin/python3 - "$out" "$reps" "${labels[@]}" <<'PY' > "$out/table.md"
import re, statistics, sys
out, reps, labels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def mib(text, kind):  # rank 0's figure from its "TP collectives" line
    m = re.search(r"\(Worker_TP0\).*TP collectives:.*?(?<![_a-z])" + kind + r" \d+ calls / ([\d.]+) MiB", text)
    return float(m.group(1)) if m else 0.0
p50 = lambda text, what: float(re.search(r"^\s*" + what + r" \(ms\)\s+\S+\s+(\S+)", text, re.M).group(1))
print("| binary | run | TTFT p50 (ms) | decode ITL p50 (ms) | output tokens/s | rank 0 gather (MiB sent) |")
print("|---|---|---|---|---|---|")
med = {}
for label in labels:
    ttft, itl, tps = [], [], []
    for r in range(1, reps + 1):
        text = open(f"{out}/{label}-run{r}.log").read()
        ttft.append(p50(text, "TTFT"))
        itl.append(p50(text, "ITL"))
        tps.append(float(re.search(r"output tokens/s\s+(\S+)", text).group(1)))
        print(f"| {label} | {r} | {ttft[-1]:.1f} | {itl[-1]:.2f} | {tps[-1]:.1f} | {mib(text, 'gather'):.1f} |")
    med[label] = (statistics.median(ttft), statistics.median(itl), statistics.median(tps))
print()
print("| binary | median TTFT p50 (ms) | median ITL p50 (ms) | median output tokens/s |")
print("|---|---|---|---|")
for label in labels:
    print(f"| {label} | {med[label][0]:.1f} | {med[label][1]:.2f} | {med[label][2]:.1f} |")
PY
cat "$out/table.md"
