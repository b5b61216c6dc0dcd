#!/usr/bin/env bash
# Golden test on a checkpoint made by `lockstep make-model` (opt-350m's layout: post-LN, projections), against
# the Hugging Face outputs committed beside its recipe. usage: golden_made.sh LOCKSTEP EXPECTED_JSON WORKDIR
set -eu
bin=$1; expected=$2; work=$3
here=$(dirname "$0")
mkdir -p "$work"
mapfile -t args < <(/usr/bin/python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["make_model"]))' "$expected")
"$bin" "${args[@]}" --out "$work/model"
want=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_sha256"])' "$expected")
got=$(sha256sum "$work/model/model.safetensors" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "FAIL: make-model wrote other weights ($got) than the reference was made from ($want)"; exit 1; }
for np in 1 2 4; do
  echo "--- tp $np"
  "$here/golden.sh" "$bin" "$np" "$work/model" "$expected" 1e-4 "$work/tp$np"
done
