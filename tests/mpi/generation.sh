#!/usr/bin/env bash
# Sampling and stopping, end to end under mpirun on opt-tiny (Hugging Face's greedy text in ../shared/expected):
#   a seed gives the same sampled tokens at tp 1, 2 and 4; --stop cuts the text before the stop string;
#   </s> inside a prompt does not stop generation; --max-model-len ends a sequence with "length";
#   greedy without --logprobs (the last stage picks the tokens on its device, StepPlan::greedy) gives Hugging
#   Face's tokens at tp 1, 2 and 4 and tp 2 × pp 2, the same as the host's sampler (--logprobs 1).
# usage: generation.sh LOCKSTEP SHARED_DIR WORKDIR
set -eu
bin=$1; shared=$2; work=$3
here=$(dirname "$0")
model=$shared/models/opt-tiny
mkdir -p "$work"
gen() { local np=$1 out=$2; shift 2
  "$here/lsrun.sh" "$np" "$bin" generate --model "$model" -tp "$np" --quiet --output-json "$work/$out" "$@" \
      2> "$work/$out.log" || { cat "$work/$out.log"; exit 1; }
}
sampled=(--prompt "Hello, my dog is cute" --prompt "The capital of France is" --max-tokens 24
         --temperature 0.9 --top-p 0.95 --top-k 200 --seed 1234)
for np in 1 2 4; do gen "$np" "sampled-tp$np.json" "${sampled[@]}"; done
gen 1 sampled-seed2.json "${sampled[@]/1234/99}"
gen 2 stop.json --prompt "Hello, my dog is cute" --temperature 0 --max-tokens 32 --stop " Army"
gen 2 eos-in-prompt.json --prompt "Hello</s> my dog is cute" --temperature 0 --max-tokens 8
gen 1 max-len.json --prompt "Hello, my dog is cute" --temperature 0 --max-tokens 32 --max-model-len 10
greedy=(--prompt "Hello, my dog is cute" --temperature 0 --max-tokens 32 --ignore-eos)
for np in 1 2 4; do gen "$np" "greedy-tp$np.json" "${greedy[@]}"; done
gen 2 greedy-logprobs-tp2.json "${greedy[@]}" --logprobs 1
"$here/lsrun.sh" 4 "$bin" generate --model "$model" -tp 2 -pp 2 --quiet --output-json "$work/greedy-tp2-pp2.json" \
    "${greedy[@]}" 2> "$work/greedy-tp2-pp2.json.log" || { cat "$work/greedy-tp2-pp2.json.log"; exit 1; }

/usr/bin/python3 - "$work" "$shared/expected/opt-tiny.json" <<'PY'
import json, sys
work, expected = sys.argv[1], json.load(open(sys.argv[2]))["results"][0]
load = lambda f: json.load(open(f"{work}/{f}"))["requests"]
tp = [[r["token_ids"] for r in load(f"sampled-tp{np}.json")] for np in (1, 2, 4)]
assert tp[0] == tp[1] == tp[2], f"seeded sampling differs across tp: {tp}"
assert tp[0] != [r["token_ids"] for r in load("sampled-seed2.json")], "another seed gave the same tokens"
assert tp[0][0] != expected["generated_ids"][:24], "sampling at temperature 0.9 gave the greedy tokens"
print("seed 1234 gives the same 2 × 24 sampled tokens at tp 1, 2 and 4; seed 99 gives others")

stop = load("stop.json")[0]
want = expected["generated_text"].split(" Army")[0]
assert stop["finish_reason"] == "stop" and stop["text"] == want, (stop["finish_reason"], stop["text"], want)
print(f"--stop ' Army' ended the text at {stop['text']!r}")

eos = load("eos-in-prompt.json")[0]
assert 2 in eos["prompt_token_ids"][1:], eos["prompt_token_ids"]
assert len(eos["token_ids"]) == 8 and eos["finish_reason"] == "length", eos
print("</s> in the prompt (ids", eos["prompt_token_ids"], ") did not stop generation")

ml = load("max-len.json")[0]
assert len(ml["prompt_token_ids"]) + len(ml["token_ids"]) == 10 and ml["finish_reason"] == "length", ml
assert ml["token_ids"] == expected["generated_ids"][:len(ml["token_ids"])]
print(f"--max-model-len 10: {len(ml['prompt_token_ids'])} prompt + {len(ml['token_ids'])} generated, 'length'")
want = expected["generated_ids"][:32]
for name in ("greedy-tp1", "greedy-tp2", "greedy-tp4", "greedy-tp2-pp2", "greedy-logprobs-tp2"):
    got = load(f"{name}.json")[0]["token_ids"]
    assert got == want, f"{name}: {got} != Hugging Face's {want}"
print("greedy on the device (tp 1, 2, 4; tp 2 x pp 2) and on the host (--logprobs 1) give Hugging Face's 32 tokens")
print("PASS")
PY
