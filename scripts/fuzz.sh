#!/usr/bin/env bash
# Runs one libFuzzer target (tests/fuzz/fuzz_TARGET.cpp, clang + ASan + UBSan, built into build-fuzz/) for a
# bounded time, starting from a scratch copy of its seed corpus tests/fuzz/corpus/TARGET (the repo is never
# written). Inputs in tests/fuzz/regressions/TARGET (past crashes) are replayed first. Prints one summary line;
# exits non-zero on a crash, sanitizer report, invariant failure, leak or hang, naming the saved reproducer.
# Usage: scripts/fuzz.sh [--no-build] TARGET SECONDS [OUTDIR]     (OUTDIR: default a new /tmp directory)
#        scripts/fuzz.sh --build-only
# Replay a reproducer: build-fuzz/fuzz_TARGET FILE      Targets: ls tests/fuzz/fuzz_*.cpp
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOCKSTEP_FUZZ_BUILD:-$root/build-fuzz}"

build_fuzz() {
  local start=$SECONDS
  . "$root/scripts/generator.sh"; tree_generator "$build"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    mkdir -p "$build"
    CC=clang CXX=clang++ cmake "${generator[@]}" -S "$root/tests/fuzz" -B "$build" >"$build/configure.log" 2>&1 \
      || { cat "$build/configure.log"; exit 1; }
  fi
  cmake --build "$build" -j2
  echo "fuzz: built $build in $((SECONDS - start)) s"
}

case "${1:-}" in
  --build-only) build_fuzz; exit 0 ;;
  --no-build) shift ;;
  *) if [ $# -ge 2 ]; then
       log="$(mktemp)"
       build_fuzz >"$log" 2>&1 || { cat "$log"; rm -f "$log"; exit 1; }
       rm -f "$log"
     fi ;;
esac
if [ $# -lt 2 ]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
target=$1 seconds=$2
out="${3:-$(mktemp -d "${TMPDIR:-/tmp}/lockstep-fuzz-$target.XXXXXX")}"
bin="$build/fuzz_$target"
[ -x "$bin" ] || { echo "fuzz: $bin is missing (scripts/fuzz.sh --build-only)" >&2; exit 1; }

rm -rf "$out/corpus" "$out/artifacts"
mkdir -p "$out/corpus" "$out/artifacts"
seeds="$root/tests/fuzz/corpus/$target"
[ -d "$seeds" ] && cp "$seeds"/* "$out/corpus/"
dict="$root/tests/fuzz/dict/$target.dict"
flags=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$out/artifacts/")
[ -f "$dict" ] && flags+=(-dict="$dict")
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

# libFuzzer runs each file given as an argument once, then exits: non-zero if any of them fails.
regress="$root/tests/fuzz/regressions/$target"
if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
  if ! "$bin" "${flags[@]}" "$regress"/* >"$out/regressions.log" 2>&1; then
    tail -n 60 "$out/regressions.log"
    echo "fuzz $target: a regression input fails again (log: $out/regressions.log)" >&2
    exit 1
  fi
  echo "fuzz $target: $(ls "$regress" | wc -l) regression input(s) pass"
fi

start=$(date +%s%N)
rc=0
"$bin" "${flags[@]}" -max_total_time="$seconds" "$out/corpus" >"$out/fuzz.log" 2>&1 || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log" | tail -n 1)
mapfile -t found < <(find "$out/artifacts" -type f | sort)
printf 'fuzz %s: %s executions in %d.%d s, %d crashes\n' "$target" "${execs:-?}" $((ms / 1000)) \
       $((ms % 1000 / 100)) "${#found[@]}"
if [ "$rc" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
  # The report starts at the first sanitizer, libFuzzer or harness message (fuzz_util.h); before it, progress lines.
  awk '/^==[0-9]+==|^fuzz: |fuzz invariant failed|runtime error:|^ERROR: libFuzzer/ { p = 1 } p' "$out/fuzz.log" |
    head -n 60
  for f in "${found[@]}"; do echo "fuzz $target: reproducer $f (replay: $bin $f)"; done
  echo "fuzz $target: FAILED (exit $rc; log: $out/fuzz.log)" >&2
  exit 1
fi
