#!/usr/bin/env bash
# build/lockstep on the kernels Debian 12's OpenBLAS 0.3.21 picks by itself on this VM's Xeon (model 207):
# Prescott's SSE3 ones. A set OPENBLAS_CORETYPE is left alone by lockstep.
OPENBLAS_CORETYPE=Prescott exec "$(dirname "$0")/../../build/lockstep" "$@"
