#!/usr/bin/env python3
"""The 40 prompts of the batching tests (tests/mpi/batching.sh, tests/gpu/gpu_batching.sh): the 7 of
../shared/expected/opt-tiny.json, then 33 of 1 to 80 words, so that a small KV budget must queue, chunk and
preempt them. usage: batching_prompts.py EXPECTED_JSON > prompts.txt"""
import json
import sys

prompts = [r["prompt"] for r in json.load(open(sys.argv[1]))["results"] if not r.get("skipped")]
words = ["cat", "river", "quantum", "the", "MPI", "blue", "seven", "lockstep"]
for i in range(33):
    prompts.append(" ".join(words[(i + k) % len(words)] for k in range(1 + (i * 7) % 80)))
print("\n".join(prompts))
