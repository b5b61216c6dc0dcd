#!/usr/bin/env bash
# The whole GPU check of issue 6 in one command, for the lent GPU machine (the device tool), after
# scripts/gpu_bundle.sh has made .gpu.tar.xz here:
#   1. unpack the bundle, make this checkout's path (ctest's files name it) lead to the device's copy, and put
#      on the library path only the bundled libraries that machine lacks, plus its own cuBLAS and NCCL;
#   2. nvidia-smi, then ctest's GPU tests (op by op against the CPU backend, golden tokens at TP=1 over NCCL
#      and TP=2 over MPI, CUDA graphs against eager) with --output-on-failure;
#   3. scripts/bench_gpu.sh (opt-1.3b shape, fp16: ITL at batch 1, 32 requests, HBM floor, transformers).
# What it prints and writes lands in $OUT (the device tool brings that folder back): check.log, ctest.log,
# and bench-gpu.tar.gz (results/bench-gpu as committed).
# The lease is short and one call may be all there is, so the script keeps to GPU_CHECK_BUDGET seconds
# (default 560; give the device call a timeout_s a little above it): the tests may take what leaves
# GPU_CHECK_BENCH_S (default 300) to the benchmark, the benchmark what is left, and the results are packed
# whatever was cut short.
# usage (device tool): command="bash scripts/gpu_check.sh [tests|bench|all]"  carry=[".gpu.tar.xz"]
#                      command="bash scripts/gpu_check.sh run CMD ARGS..."   (CMD in the same environment)
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
exec > >(tee -a "$out/check.log") 2>&1
start=$(date +%s)
budget=${GPU_CHECK_BUDGET:-560}
say() { echo "== [$(( $(date +%s) - start )) s] $*"; }
left() { echo $(( budget - ($(date +%s) - start) )); }
# What a step cut short by `timeout` may leave behind: ranks still holding the GPU's memory.
reap() { pkill -9 -f 'build-gpu/(lockstep|tests/gpu/)' 2>/dev/null; pkill -9 -x orterun 2>/dev/null; pkill -9 -x orted 2>/dev/null; sleep 1; }

# --- 1. the bundle ---
if [ -f .gpu.tar.xz ]; then
  say "unpacking .gpu.tar.xz ($(( $(stat -c %s .gpu.tar.xz) >> 20 )) MiB)"
  if command -v xz >/dev/null; then tar -xJf .gpu.tar.xz
  else python3 -c 'import tarfile; tarfile.open(".gpu.tar.xz").extractall(".")'; fi || exit 1
fi
[ -f .gpu/root ] || { echo "gpu_check: no .gpu/ here: run scripts/gpu_bundle.sh and carry .gpu.tar.xz"; exit 1; }
here=$(pwd -P) root=$(cat .gpu/root)
if [ "$(cd "$root" 2>/dev/null && pwd -P)" != "$here" ]; then
  [ -e "$root" ] && { echo "gpu_check: $root exists and is not this checkout ($here)"; exit 1; }
  mkdir -p "$(dirname "$root")" && ln -s "$here" "$root" || exit 1
fi
cd "$root"

# CUDA's libraries where this machine keeps them: the loader's paths, the toolkit, Python's nvidia wheels.
cuda_dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib)
while read -r d; do cuda_dirs+=("$d"); done < <(python3 - <<'PY' 2>/dev/null
import os, nvidia
for p in nvidia.__path__:
    for d, _, files in os.walk(p):
        if any(f.startswith(("libnccl.so", "libcublas")) for f in files): print(d)
PY
)
export LS_ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}
act=$here/.gpu/lib-active
rm -rf "$act"; mkdir -p "$act"
system_mpi=0
if command -v mpirun >/dev/null && mpirun --version 2>&1 | grep -q 'Open MPI) 4' && ldconfig -p | grep -q 'libmpi.so.40 '; then
  system_mpi=1
  say "using this machine's Open MPI: $(mpirun --version 2>&1 | head -1)"
else
  # Ours, whole: its libraries with the runtime and components they were built with.
  for f in .gpu/lib/lib{mpi,open-rte,open-pal,pmix,hwloc,event,mca_common}*; do [ -e "$f" ] && ln -sf "$here/$f" "$act/"; done
  export OPAL_PREFIX=$here/.gpu/usr PATH=$here/.gpu/usr/bin:$PATH
  export PMIX_INSTALL_PREFIX=$here/.gpu/usr/lib/x86_64-linux-gnu/pmix2
  export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
  say "using the bundled Open MPI 4.1 (OPAL_PREFIX=$OPAL_PREFIX)"
fi
# mpirun's default launcher insists on ssh or rsh even for local ranks; a machine without either runs them
# with the launcher for one node.
command -v ssh >/dev/null || command -v rsh >/dev/null || export OMPI_MCA_plm=isolated
export LD_LIBRARY_PATH=$act${LS_ORIG_LD_LIBRARY_PATH:+:$LS_ORIG_LD_LIBRARY_PATH}
files=(build-gpu/lockstep build-gpu/tests/gpu/test_cuda_backend build-gpu/tests/gpu/cuda_probe build-gpu/tests/gpu/nccl_id_check)
[ $system_mpi = 1 ] || files+=(.gpu/usr/bin/orterun .gpu/usr/bin/orted .gpu/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3/*.so)
# Until nothing changes: a library nobody here has comes from the bundle, else from CUDA's folders.
for round in 1 2 3 4 5 6; do
  changed=0
  while read -r so; do
    if [ -e ".gpu/lib/$so" ]; then ln -sf "$here/.gpu/lib/$so" "$act/$so"; changed=1; continue; fi
    for d in "${cuda_dirs[@]}"; do
      if [ -e "$d/$so" ]; then ln -sf "$d/$so" "$act/$so"; changed=1; break; fi
    done
  done < <(for f in "${files[@]}"; do ldd "$f" 2>/dev/null; done | awk '$3 == "not" {print $1}' | sort -u)
  [ $changed = 1 ] || break
done
missing=$(for f in "${files[@]}"; do ldd "$f" 2>/dev/null | awk -v f="$f" '$3 == "not" {print f ": " $1}'; done)
[ -z "$missing" ] || { echo "gpu_check: libraries not found:"; echo "$missing"; exit 1; }
say "libraries: $(ls "$act" | wc -l) taken from the bundle or CUDA's folders: $(ls "$act" | tr '\n' ' ')"
[ -x /usr/bin/python3 ] || export LOCKSTEP_PYTHON=$(command -v python3)

# `gpu_check.sh run CMD ARGS...`: CMD in this environment instead of the check (e.g. one test, again).
if [ "$what" = run ]; then shift; "$@"; exit $?; fi

nvidia-smi --query-gpu=name,pci.bus_id,memory.total,driver_version --format=csv
timeout --kill-after=5 60 scripts/mpirun.sh -np 1 build-gpu/lockstep generate --model .gpu/shared/models/opt-tiny --device cuda \
    --prompt "Hello, my dog is cute" --temperature 0 --max-tokens 8 --report none 2>&1 | tail -25

rc=0
# --- 2. the GPU tests ---
if [ "$what" != bench ]; then
  exclude=()
  for m in opt-tiny opt-tiny-16h opt-tiny-fp16; do [ -d ".gpu/shared/models/$m" ] || exclude+=("\\.$m\\."); done
  limit=$(left); [ "$what" = all ] && limit=$(( limit - ${GPU_CHECK_BENCH_S:-300} ))
  [ "$limit" -ge 60 ] || limit=60
  say "ctest -R '^(gpu|nccl)\\.' ${exclude:+-E (not bundled: ${exclude[*]})}, at most $limit s"
  # Each launch at most 60 s (lsrun.sh), each test 120: a hang costs a minute of the lease, not five.
  (cd build-gpu && LOCKSTEP_TEST_TIMEOUT=60 timeout --kill-after=5 "$limit" \
      ctest -R '^(gpu|nccl)\.' ${exclude:+-E "$(IFS='|'; echo "${exclude[*]}")"} -V --timeout 120) \
      > "$out/ctest.log" 2>&1 || rc=1
  reap
  tar -czf "$out/gpu-tests-work.tar.gz" build-gpu/tests/gpu/work 2>/dev/null  # each run's log and output
  grep -E "^ *[0-9]+/[0-9]+ Test|tests passed|Skipped|Failed|\*\*\*" "$out/ctest.log"
  [ $rc = 0 ] || grep -E "MISMATCH|FAILED|ERROR|error|mismatch|TIMED OUT" "$out/ctest.log" | head -40
  nvidia-smi --query-gpu=memory.used --format=csv,noheader | sed 's/^/GPU memory in use after the tests: /'
fi

# --- 3. the benchmark ---
if [ "$what" != tests ]; then
  limit=$(( $(left) - 15 )); [ "$limit" -ge 60 ] || limit=60
  say "scripts/bench_gpu.sh, at most $limit s"
  LOCKSTEP_BIN=build-gpu/lockstep timeout --kill-after=5 "$limit" scripts/bench_gpu.sh results/bench-gpu || rc=1
  reap
  tar -czf "$out/bench-gpu.tar.gz" --exclude='*.h5' results/bench-gpu
fi
say "done, exit $rc"
exit $rc
