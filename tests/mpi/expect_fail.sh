#!/usr/bin/env bash
# A bad input must end the whole job with a clear message, the given exit code, and no hang.
# usage: expect_fail.sh EXIT_CODE REGEX -- COMMAND...   (EXIT_CODE "nonzero" accepts any non-zero code)
set -u
want=$1; regex=$2; shift 3
# A test of the no-GPU path is meaningless where a GPU is visible: nvidia-smi -L lists one there.
if [ "${LOCKSTEP_SKIP_IF_GPU:-}" = 1 ] && nvidia-smi -L 2> /dev/null | grep -q "^GPU"; then
  echo "SKIPPED: a GPU is visible"; exit 77
fi
out=$("$@" 2>&1); code=$?
echo "$out" | head -n 20
echo "exit code: $code"
if echo "$out" | grep -q "lsrun: TIMED OUT"; then echo "FAIL: timed out (a hang)"; exit 1; fi
if [ "$want" = nonzero ]; then [ "$code" -ne 0 ] || { echo "FAIL: exit code 0"; exit 1; }
elif [ "$code" -ne "$want" ]; then echo "FAIL: exit code $code, expected $want"; exit 1; fi
echo "$out" | grep -Eq -- "$regex" || { echo "FAIL: no line matches /$regex/"; exit 1; }
echo "PASS"
