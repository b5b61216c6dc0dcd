#!/usr/bin/env bash
# The test command: installs the Debian packages (if missing), builds, and runs every test with ctest
# (unit tests, multi-rank golden tests against ../shared/expected, bad-input tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# ctest lists the skipped GPU tests after its summary: say the summary line again, last.
set +e
ctest --test-dir build --output-on-failure -j2 "$@" 2>&1 | tee build/ctest-output.txt
rc=${PIPESTATUS[0]}
grep -E "tests passed|tests failed" build/ctest-output.txt | tail -n 1
exit "$rc"
