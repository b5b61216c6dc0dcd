#!/usr/bin/env bash
# OpenBLAS's kernels (src/backend/openblas_env.h): on a CPU with AVX2 lockstep never runs OpenBLAS's pre-AVX2
# kernels, whatever the library detected by itself; when it chose them for OpenBLAS it says so in a warning;
# an OPENBLAS_CORETYPE the user set is left alone, with no warning.
# usage: openblas_kernels.sh LOCKSTEP MODEL_DIR WORKDIR
set -eu
bin=$1; model=$2; work=$3
here=$(dirname "$0")
mkdir -p "$work"
run() {  # run NAME [ENV...]: one rank, one token; the log in $work/NAME.txt
  local name=$1; shift
  env "$@" "$here/lsrun.sh" 1 "$bin" generate --model "$model" --prompt Hello --max-tokens 1 --quiet \
      2> "$work/$name.txt" || { cat "$work/$name.txt"; exit 1; }
  grep "model weights take" "$work/$name.txt"
}
run auto -u OPENBLAS_CORETYPE
run user OPENBLAS_CORETYPE=Prescott
/usr/bin/python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
pre_avx2 = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Katmai",
            "Coppermine", "Northwood", "Banias", "Unknown"}
flags = set()
for line in open("/proc/cpuinfo"):
    if line.startswith("flags"):
        flags = set(line.split(":", 1)[1].split())
        break
def kernels(name):
    text = open(f"{work}/{name}.txt").read()
    m = re.search(r"on cpu \(OpenBLAS (\w+), \d+ thread\(s\)\)", text)
    assert m, f"{name}: no 'on cpu (OpenBLAS CORE, N thread(s))' in the start-up log"
    return m[1], "OPENBLAS_CORETYPE=" in text and "WARNING" in text
core, warned = kernels("auto")
if "avx2" in flags and "fma" in flags:
    assert core not in pre_avx2, f"the CPU has AVX2 but OpenBLAS runs {core}'s kernels"
if warned:
    assert re.search(r"OpenBLAS took this CPU for (\w+)", open(f"{work}/auto.txt").read())[1] in pre_avx2
user_core, user_warned = kernels("user")
assert user_core == "Prescott" and not user_warned, f"OPENBLAS_CORETYPE=Prescott gave {user_core}, warning {user_warned}"
print(f"OK: kernels {core} ({'chosen by lockstep' if warned else 'as OpenBLAS detected them'}); "
      f"the user's OPENBLAS_CORETYPE=Prescott kept")
PY
