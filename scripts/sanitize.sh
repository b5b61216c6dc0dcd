#!/usr/bin/env bash
# The unit tests built with gcc's AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ (beside build/),
# then run: any ASan, UBSan or LeakSanitizer report fails the test that triggered it.
# Usage: scripts/sanitize.sh [--build-only | --no-build] [CONCERN...]     (concerns: folders of tests/unit;
#        default all). ctest runs --build-only once (sanitize.build), then --no-build CONCERN per binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOCKSTEP_ASAN_BUILD:-$root/build-asan}"

mode=all
case "${1:-}" in
  --build-only) mode=build; shift ;;
  --no-build) mode=run; shift ;;
esac
concerns=("$@")
if [ ${#concerns[@]} -eq 0 ]; then
  for d in "$root"/tests/unit/*/; do concerns+=("$(basename "$d")"); done
fi

if [ "$mode" != run ]; then
  start=$(date +%s)
  mkdir -p "$build"
  . "$root/scripts/generator.sh"; tree_generator "$build"
  # -Og -g1: sanitizer reports keep file:line. Measured on 2 cores (ninja, lockstep and every test_*): -O1
  # built in 252 s and ran test_kernels in 30 s, -O0 in 171 s and 96 s, -Og in 173 s and 41 s.
  cmake "${generator[@]}" -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_FLAGS_DEBUG="-Og -g1" -DCMAKE_CXX_FLAGS_DEBUG="-Og -g1" \
        -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
        -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
        -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
        -DLOCKSTEP_CUDA=OFF -DLOCKSTEP_SANITIZER_TESTS=OFF >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
  targets=(--target lockstep)  # test_model runs `lockstep plan` from the same build tree
  for c in "${concerns[@]}"; do targets+=(--target "test_$c"); done
  cmake --build "$build" -j2 "${targets[@]}"
  echo "sanitize: built ${concerns[*]} in $(( $(date +%s) - start )) s ($build)"
fi
[ "$mode" = build ] && exit 0

# halt_on_error: stop at the first report; the unit tests never call MPI_Init, so LeakSanitizer sees only our
# allocations (no Open MPI noise) and stays on.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
failed=()
for c in "${concerns[@]}"; do
  bin="$build/tests/test_$c"
  [ -x "$bin" ] || { echo "sanitize: $bin is missing (run scripts/sanitize.sh --build-only)" >&2; failed+=("$c"); continue; }
  start=$(date +%s%N)
  if "$bin"; then rc=0; else rc=$?; fi
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf 'sanitize %s: exit %d in %d.%03d s\n' "$c" "$rc" $((ms / 1000)) $((ms % 1000))
  [ "$rc" -eq 0 ] || failed+=("$c")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize: FAILED: ${failed[*]}" >&2
  exit 1
fi
