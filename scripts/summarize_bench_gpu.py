#!/usr/bin/env python3
"""Turns the files of scripts/bench_gpu.sh into a Markdown summary (stdout). usage: summarize_bench_gpu.py DIR"""
import glob
import json
import os
import sys

d = sys.argv[1]
runs = []
for f in sorted(glob.glob(os.path.join(d, "batch*.json"))):
    j = json.load(open(f))
    j["name"] = os.path.basename(f)[:-5]
    runs.append(j)
ref = json.load(open(os.path.join(d, "floor_and_hf.json"))) if os.path.exists(os.path.join(d, "floor_and_hf.json")) else {}
gpu_lines = open(os.path.join(d, "gpu.txt")).read().split("\n") if os.path.exists(os.path.join(d, "gpu.txt")) else []
gpu = ([line for line in gpu_lines if line.strip()] or ["?"])[-1]

shape = os.path.basename(runs[0]["model"].rstrip("/")).replace("-random", "") if runs else "?"
print(f"# GPU benchmark: {shape} shape, random fp16 weights, {runs[0].get('dtype', '?') if runs else '?'} compute\n")
print(f"GPU (nvidia-smi: name, bus id, memory, driver): {gpu}. torch {ref.get('torch', '?')}, "
      f"transformers {ref.get('transformers', '?')}.")
print("Made by `scripts/gpu_check.sh` on the lent GPU machine, which runs `scripts/bench_gpu.sh` (each run's "
      "command is the first line of its .log and in its JSON's `command`). Checkpoint: `lockstep make-model "
      f"--preset {shape} --dtype float16 --seed 0`; greedy, ignore_eos, all requests at once. The -nosplit runs "
      "had LOCKSTEP_DECODE_SPLITS=1 (decode attention a block per sequence and head; the others as the backend "
      "chooses); the -cublas runs LOCKSTEP_GEMV=0 (every linear layer through cuBLAS), batch8-gemv8 steps of 8 "
      "sequences in kernels::gemv (LOCKSTEP_GEMV=8); the others multiply a step of one sequence in kernels::gemv, "
      "more in cuBLAS.\n")
print("| run | requests | prompt + generated tokens | CUDA graph replays | output tok/s | TTFT p50 ms | ITL p50 ms "
      "| ITL p90 ms | ITL p99 ms | lockstep's floor ms | KV blocks |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    graphs = f"{r.get('cuda_graph_steps', 0)} of {r['steps']} steps" if r.get("cuda_graphs") else "no"
    print(f"| {r['name']} | {r['num_prompts']} | {r.get('input_len', '?')} + {r.get('output_len', '?')} | {graphs} "
          f"| {r['output_tokens_per_s']:.0f} | {r['ttft']['p50_ms']:.1f} | {r['itl']['p50_ms']:.3f} "
          f"| {r['itl']['p90_ms']:.3f} | {r['itl']['p99_ms']:.3f} | {r['decode_floor_ms']:.3f} | {r['kv_blocks']} |")
if ref:
    print(f"\nYardsticks on the same GPU (`scripts/gpu_floor_and_hf.py`):\n")
    print(f"- device-to-device copy bandwidth (torch, 1 GiB, best of 10): {ref['copy_bandwidth_GBps']:.0f} GB/s; "
          f"checkpoint {ref['weight_bytes'] / 2**30:.2f} GiB → **HBM floor {ref['hbm_floor_ms']:.3f} ms** per "
          f"decode step (every weight read once)")
    print(f"- transformers generate(), fp16: batch 1 ITL **{ref['hf_batch1_itl_ms']:.2f} ms** "
          f"(TTFT {ref['hf_batch1_ttft_ms']:.1f} ms); 32 requests **{ref['hf_batch32_output_tok_s']:.0f} output tok/s**")
    b1 = [r["itl"]["p50_ms"] for r in runs if r["num_prompts"] == 1 and r.get("cuda_graphs")
          and r.get("input_len") == 128 and not r["name"].endswith(("nosplit", "cublas"))]
    b32 = [r["output_tokens_per_s"] for r in runs if r["num_prompts"] == 32]
    if b1:
        print(f"- lockstep batch-1 ITL p50 (graphs, best run) {min(b1):.3f} ms = {min(b1) / ref['hbm_floor_ms']:.2f}× "
              f"the HBM floor, {ref['hf_batch1_itl_ms'] / min(b1):.2f}× faster than transformers")
    if b32:
        print(f"- lockstep 32 requests {max(b32):.0f} output tok/s = {max(b32) / ref['hf_batch32_output_tok_s']:.2f}× "
              f"transformers")
itl = {r["name"]: r["itl"]["p50_ms"] for r in runs}
split_lines = []
for ctx, split, nosplit in (("1920-2047", "batch1-long-graphs", "batch1-long-nosplit"),
                            ("128-255", "batch1-graphs-1", "batch1-graphs-nosplit")):
    if split in itl and nosplit in itl:
        split_lines.append(f"- {ctx} tokens of context: ITL p50 {itl[split]:.3f} ms as chosen ({split}), "
                           f"{itl[nosplit]:.3f} ms unsplit ({nosplit})")
cublas8 = "batch8-graphs" if "batch8-graphs" in itl else "batch8-graphs-cublas"
for label, ours, theirs in (("1 sequence", "batch1-graphs-1", "batch1-graphs-cublas"),
                            ("8 sequences", "batch8-gemv8", cublas8)):
    if ours in itl and theirs in itl:
        split_lines.append(f"- linear layers at {label}: ITL p50 {itl[ours]:.3f} ms with kernels::gemv ({ours}), "
                           f"{itl[theirs]:.3f} ms with cuBLAS ({theirs})")
if split_lines:
    print("\nOne knob at a time (CUDA graphs; decode attention unsplit: LOCKSTEP_DECODE_SPLITS=1; linear layers "
          "through cuBLAS: LOCKSTEP_GEMV=0), one run each:\n")
    print("\n".join(split_lines))
for n in (1, 32):
    f = os.path.join(d, f"profile-batch{n}.txt")
    if not os.path.exists(f):
        continue
    text = open(f).read()
    if "Time by op" not in text:
        continue
    table = text[text.index("Time by op"):].split("\n\n")[0]
    print(f"\nWhere the forward time goes at {n} request(s) (`lockstep bench ... --profile-ops`, eager: each op "
          f"timed by CUDA events; `lockstep report profile-batch{n}.h5`):\n")
    print("```\n" + table.rstrip() + "\n```")
c = os.path.join(d, "compare.txt")
if os.path.exists(c):
    print("\nCorrectness at this shape: lockstep's greedy tokens against transformers' (same prompt ids, fp16), "
          "`lockstep compare tokens-lockstep.json tokens-hf.json --near-tie 5e-2 --logprob-tol 5e-2`:\n")
    print("```\n" + open(c).read().rstrip() + "\n```")
