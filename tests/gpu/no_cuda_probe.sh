#!/bin/sh
echo "SKIPPED: built without CUDA (no nvcc at configure time)"
exit 77
