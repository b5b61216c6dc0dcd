#!/usr/bin/env bash
# Runs a test command only where the GPUs it needs are visible: skipped (exit 77) otherwise.
# usage: with_gpu.sh PROBE COMMAND...   (PROBE: cuda_probe, reading LOCKSTEP_TEST_GPUS; or no_cuda_probe.sh)
probe=$1; shift
"$probe" || exit $?
exec "$@"
