#!/usr/bin/env bash
# The test command: installs the Debian packages (if missing), builds, and runs every test with ctest
# (unit tests, multi-rank golden tests against ../shared/expected, bad-input tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j2 "$@"
