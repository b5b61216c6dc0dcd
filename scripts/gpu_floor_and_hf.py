#!/usr/bin/env python3
"""The two yardsticks of scripts/bench_gpu.sh, measured on the same GPU:
1. the HBM floor of one decode step: the checkpoint's weight bytes (each step reads every weight once) ÷ the
   device-to-device copy bandwidth torch measures (a copy reads and writes: 2 × bytes per copy);
2. Hugging Face transformers' greedy generate() on the checkpoint: batch 1 (128 in, 128 out) time per output
   token after the first, and 32 requests' output tokens per second.
usage: gpu_floor_and_hf.py MODEL_DIR OUT_DIR"""
import json, os, sys, time

import torch

model_dir, out = sys.argv[1], sys.argv[2]
dev = torch.device("cuda")

# 1. Copy bandwidth: 1 GiB buffers, best of 10.
n = 1 << 30
a = torch.empty(n, dtype=torch.uint8, device=dev)
b = torch.empty_like(a)
best = 0.0
for _ in range(10):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    b.copy_(a)
    torch.cuda.synchronize()
    best = max(best, 2 * n / (time.perf_counter() - t0))
weight_bytes = sum(os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir) if f.endswith(".safetensors"))
floor_ms = weight_bytes / best * 1e3
print(f"copy bandwidth {best / 1e9:.0f} GB/s; weights {weight_bytes / 2**30:.2f} GiB; HBM floor {floor_ms:.3f} ms per decode step")

# 2. transformers generate().
from transformers import AutoTokenizer, OPTForCausalLM  # noqa: E402

tok = AutoTokenizer.from_pretrained(model_dir)
m = OPTForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float16).to(dev).eval()
def run(batch, n_in=128, n_out=128):
    ids = torch.randint(4, 50000, (batch, n_in), device=dev)
    with torch.no_grad():
        m.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)  # warm-up
        torch.cuda.synchronize(); t0 = time.perf_counter()
        m.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        torch.cuda.synchronize(); t1 = time.perf_counter()
        m.generate(ids, max_new_tokens=n_out, min_new_tokens=n_out, do_sample=False)
        torch.cuda.synchronize(); t2 = time.perf_counter()
    ttft = t1 - t0
    return ttft, (t2 - t1 - ttft) / (n_out - 1), batch * n_out / (t2 - t1)
ttft1, itl1, _ = run(1)
_, _, tput32 = run(32)
res = {"copy_bandwidth_GBps": best / 1e9, "weight_bytes": weight_bytes, "hbm_floor_ms": floor_ms,
       "hf_batch1_ttft_ms": ttft1 * 1e3, "hf_batch1_itl_ms": itl1 * 1e3, "hf_batch32_output_tok_s": tput32,
       "torch": torch.__version__, "gpu": torch.cuda.get_device_name()}
print(f"transformers generate: batch 1 ITL {itl1 * 1e3:.2f} ms (TTFT {ttft1 * 1e3:.1f} ms); 32 requests {tput32:.0f} output tok/s")
json.dump(res, open(os.path.join(out, "floor_and_hf.json"), "w"), indent=1)
