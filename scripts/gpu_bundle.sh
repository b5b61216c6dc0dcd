#!/usr/bin/env bash
# Packs what one run on the lent GPU machine needs into .gpu.tar.xz (git-ignored), so that a 15-minute lease
# goes to testing and measuring, not to building. That machine has the CUDA toolkit, cuBLAS, NCCL (Python's
# nvidia-nccl) and torch, but none of our Debian packages, and nothing can be installed there. The archive
# holds, relative to the repository root:
#   build-gpu/     lockstep and the GPU test binaries (Release, CUDA archs 80;90) with ctest's files
#   .gpu/lib/      every shared library they or Open MPI load, except glibc's, libstdc++, and CUDA's own
#   .gpu/usr/      the Open MPI runtime (orterun, orted, the components they load, help files), moved by
#                  OPAL_PREFIX, and PMIx's plugins
#   .gpu/shared/   the checkpoints of ../shared/models named below (tokenizer files stored once) and
#                  ../shared/expected
#   .gpu/root      this checkout's path: ctest's files name it, so the device links it to its copy
# scripts/gpu_check.sh unpacks it there, picks the libraries that machine lacks, and runs the GPU tests and
# the benchmark. A device call's tree travels with at most 64 MiB, so only the small checkpoints go.
# usage: scripts/gpu_bundle.sh [MODEL ...]   (default: opt-tiny opt-tiny-fp16)
#   then: device run  command="bash scripts/gpu_check.sh"  carry=[".gpu.tar.xz"]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
shared=${LOCKSTEP_SHARED_DIR:-$root/../shared}
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(opt-tiny opt-tiny-fp16)
build=build-gpu stage=.gpu

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLOCKSTEP_CUDA=ON -DLOCKSTEP_SANITIZER_TESTS=OFF \
      -DLOCKSTEP_SHARED_DIR="$root/$stage/shared" >/dev/null
cmake --build "$build" -j"$(nproc)" --target lockstep test_cuda_backend cuda_probe nccl_id_check

rm -rf "$stage" .gpu.tar.xz
mkdir -p "$stage/lib" "$stage/shared/models" "$stage/shared/expected"
echo "$root" > "$stage/root"

# --- the Open MPI runtime, laid out as Debian installs it under /usr, so OPAL_PREFIX moves all of it ---
ompi=/usr/lib/x86_64-linux-gnu/openmpi pmix=/usr/lib/x86_64-linux-gnu/pmix2
mkdir -p "$stage/usr/bin" "$stage$ompi/lib/openmpi3" "$stage/usr/share"
cp -L /usr/bin/orterun /usr/bin/orted /usr/bin/ompi_info "$stage/usr/bin/"
ln -s orterun "$stage/usr/bin/mpirun"; ln -s orterun "$stage/usr/bin/mpiexec"
cp -a /usr/share/openmpi "$stage/usr/share/"
mkdir -p "$stage$pmix"; cp -a "$pmix/lib" "$pmix/share" "$stage$pmix/"

# --- shared libraries: the closure of what ldd resolves, minus what every Linux with CUDA already has ---
system_lib() {  # glibc, the C++ runtime, the kernel's vDSO, and CUDA's libraries (found on the device)
  case "$1" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libutil.so*|libresolv.so*) return 0 ;;
    libstdc++.so*|libgcc_s.so*|libcuda.so*|libcublas*|libnccl*|libcudart*|libnvidia*) return 0 ;;
  esac
  return 1
}
deps() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3} $2 == "=>" && $3 == "not" {print $1, "MISSING"}'; }
bundle_deps() {  # FILE: copy its libraries into .gpu/lib; fails on one this machine cannot resolve
  local so path
  while read -r so path; do
    system_lib "$so" && continue
    [ "$path" = MISSING ] && { echo "gpu_bundle: $1 needs $so, which this machine does not have" >&2; return 1; }
    [ -e "$stage/lib/$so" ] || cp -L "$path" "$stage/lib/$so"
  done < <(deps "$1")
}
bins=("$build/lockstep" "$build/tests/gpu/test_cuda_backend" "$build/tests/gpu/cuda_probe"
      "$build/tests/gpu/nccl_id_check" /usr/bin/orterun /usr/bin/orted /usr/bin/ompi_info)
for f in "${bins[@]}" "$pmix"/lib/pmix/*.so; do bundle_deps "$f"; done

# A component is kept only if what it loads is already in the bundle: the transports for InfiniBand, UCX or
# libfabric would pull in their stacks, and one GPU's ranks talk over shared memory (btl vader) anyway.
kept=0 skipped=()
for c in "$ompi"/lib/openmpi3/*.so; do
  if ! deps "$c" | grep -q -E '^lib(uc[mpst]|fabric|ibverbs|rdmacm|psm|nl-|jvm|efa|mlx|hcoll|xpmem|knem)'; then cp -L "$c" "$stage$ompi/lib/openmpi3/"; bundle_deps "$c"; kept=$((kept + 1))
  else skipped+=("$(basename "$c" .so)"); fi
done
echo "Open MPI components: $kept kept, ${#skipped[@]} left out (${skipped[*]})"

# --- checkpoints and expected outputs; vocab.json and merges.txt once, linked from each checkpoint ---
mkdir -p "$stage/shared/tokenizer"
for m in "${models[@]}"; do
  src=$shared/models/$m
  [ -f "$src/config.json" ] || { echo "gpu_bundle: no checkpoint $src" >&2; exit 1; }
  mkdir -p "$stage/shared/models/$m"
  for f in "$src"/*; do
    n=$(basename "$f")
    case "$n" in
      vocab.json|merges.txt)
        if [ -e "$stage/shared/tokenizer/$n" ]; then
          cmp -s "$f" "$stage/shared/tokenizer/$n" || { cp "$f" "$stage/shared/models/$m/"; continue; }
        else cp "$f" "$stage/shared/tokenizer/"; fi
        ln -s "../../tokenizer/$n" "$stage/shared/models/$m/$n" ;;
      *) cp "$f" "$stage/shared/models/$m/" ;;
    esac
  done
done
cp "$shared"/expected/* "$stage/shared/expected/"

# --- build-gpu: the binaries and ctest's files, nothing else of the build tree ---
list=$(mktemp)
{ find "$build" -name CTestTestfile.cmake; printf '%s\n' "${bins[@]:0:4}"; } > "$list"
tar -cf - -T "$list" "$stage" | xz -T0 -6 > .gpu.tar.xz
rm -f "$list"
size=$(stat -c %s .gpu.tar.xz)
tree=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
echo "wrote .gpu.tar.xz: $((size >> 20)) MiB (+ $((tree >> 20)) MiB of tracked files; a device call carries 64 MiB)"
[ $((size + tree)) -lt $((62 << 20)) ] || { echo "gpu_bundle: too large for one device call: bundle fewer models" >&2; exit 1; }
echo 'next: device run  command="bash scripts/gpu_check.sh"  carry=[".gpu.tar.xz"]  timeout_s=480'
