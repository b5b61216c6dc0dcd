#!/usr/bin/env bash
# Greedy generation at a given -np/-tp on a shared checkpoint must reproduce Hugging Face's tokens (and
# log-probs within the tolerance). usage: golden.sh LOCKSTEP NP MODEL_DIR EXPECTED_JSON TOL WORKDIR [ARGS...]
# ARGS (e.g. -tp 4 -pp 2) default to -tp NP.
set -eu
bin=$1; np=$2; model=$3; expected=$4; tol=$5; work=$6; shift 6
grid=("$@"); [ ${#grid[@]} -gt 0 ] || grid=(-tp "$np")
here=$(dirname "$0")
py=${LOCKSTEP_PYTHON:-/usr/bin/python3}  # any python3: check_expected.py needs only json
mkdir -p "$work"
"$py" "$here/check_expected.py" prompts "$expected" > "$work/prompts.txt"
"$here/lsrun.sh" "$np" "$bin" generate --model "$model" "${grid[@]}" --prompts-file "$work/prompts.txt" \
    --temperature 0 --max-tokens 32 --logprobs 5 --check-lockstep --output-json "$work/out.json" --quiet 2> "$work/log.txt" \
    || { cat "$work/log.txt"; exit 1; }
grep -E "pipeline stage|model weights take|KV blocks|generated" "$work/log.txt"
# GOLDEN_NEAR_TIE (half precision): a request may part from the reference where its margin is below this.
"$py" "$here/check_expected.py" compare "$expected" "$work/out.json" --logprob-tol "$tol" \
    ${GOLDEN_NEAR_TIE:+--near-tie "$GOLDEN_NEAR_TIE"}
