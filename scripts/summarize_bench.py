#!/usr/bin/env python3
"""Turns the JSON files of scripts/bench.sh into a Markdown table (stdout). usage: summarize_bench.py DIR"""
import glob
import json
import os
import platform
import subprocess
import sys

d = sys.argv[1]
runs = []
for f in sorted(glob.glob(os.path.join(d, "*.json"))):
    j = json.load(open(f))
    j["name"] = os.path.basename(f)[:-5]
    runs.append(j)

def lscpu(field):
    return subprocess.run(["sh", "-c", f"lscpu | sed -n 's/^{field}: *//p'"], capture_output=True, text=True).stdout.strip()


cpu, l3 = lscpu("Model name"), lscpu("L3 cache")
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
print("# CPU benchmark: opt-125m shape, random weights\n")
print(f"Machine: {platform.node()}, {os.cpu_count()} cores ({cpu}, L3 {l3}), {mem:.0f} GiB, {platform.platform()}.")
devices = sorted({r.get("device", "?") for r in runs})
print(f"Backend as each run's start-up log names it: {', '.join(devices)}.")
print("Made by `scripts/bench.sh` (the exact command of each run is in its .log and in the JSON's `command`).")
print("Checkpoint: `lockstep make-model --preset opt-125m --dtype float16 --seed 0` (computed in float32);")
print("greedy, ignore_eos, 128 prompt tokens and 128 generated tokens per request.\n")
print("| run | tp | pp | requests | rate | output tok/s | total tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms "
      "| ITL p90 ms | ITL p99 ms | decode floor ms | rank 0 read GB/s | preemptions |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def read_bandwidth(r):  # with the threads it used (JSON of older builds: one thread)
    return f"{r['read_bandwidth_gb_s_rank0']:.1f} ({r.get('bandwidth_threads_rank0', 1)} thr)"


for r in runs:
    print(f"| {r['name']} | {r['tensor_parallel_size']} | {r.get('pipeline_parallel_size', 1)} | {r['num_prompts']} | {r['request_rate']} "
          f"| {r['output_tokens_per_s']:.1f} | {r['total_tokens_per_s']:.1f} | {r['ttft']['p50_ms']:.1f} "
          f"| {r['ttft']['p99_ms']:.1f} | {r['itl']['p50_ms']:.2f} | {r['itl']['p90_ms']:.2f} "
          f"| {r['itl']['p99_ms']:.2f} | {r['decode_floor_ms']:.2f} | {read_bandwidth(r)} | {r['preemptions']} |")
print("\nThe decode floor is, for each pipeline stage's slowest rank, the weight bytes it reads per decode step")
print("(all it holds but the tables it only looks rows up in: the positions, and the token table where the LM")
print("head does not read it) divided by its read bandwidth, summed over the stages (batch-1 decode runs them")
print("one after the other). The ranks of a stage measure at once (`read_bandwidth_gb_s_rank0` in the JSON),")
print("each with as many threads as it computes with, over a buffer as large as those weights (a last-level")
print("cache can hold a good part of them, and decode gets the same hits). It bounds batch-1 inter-token")
print("latency from below.")
