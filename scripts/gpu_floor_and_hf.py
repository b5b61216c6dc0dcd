#!/usr/bin/env python3
"""The yardsticks of scripts/bench_gpu.sh, measured on the same GPU as lockstep:
1. the HBM floor of one decode step: the checkpoint's weight bytes (a step reads every weight once) ÷ the
   device-to-device copy bandwidth torch measures (a copy reads and writes: 2 × bytes per copy);
2. Hugging Face transformers' greedy generate() on the checkpoint in fp16: batch 1 (128 in, 128 out) time per
   output token after the first, and 32 requests' output tokens per second;
3. transformers' greedy tokens and top-5 log-probs (fp32 log_softmax of its fp16 logits) for the prompt ids
   of a lockstep --output-json, written as OUT_DIR/tokens-hf.json in that format, for `lockstep compare`.
usage: gpu_floor_and_hf.py MODEL_DIR OUT_DIR LOCKSTEP_TOKENS_JSON"""
import json, os, sys, time

import torch

model_dir, out, lockstep_json = sys.argv[1], sys.argv[2], sys.argv[3]
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # cpu: a dry run of the script
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
# cuBLAS's fp16 GEMMs accumulate in fp32 in lockstep; ask the same of torch, which allows fp16 reductions.
torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False

# 1. Copy bandwidth: 1 GiB buffers, best of 10.
n = 1 << 30
a = torch.empty(n, dtype=torch.uint8, device=dev)
b = torch.empty_like(a)
b.copy_(a)
best = 0.0
for _ in range(10):
    sync()
    t0 = time.perf_counter()
    b.copy_(a)
    sync()
    best = max(best, 2 * n / (time.perf_counter() - t0))
del a, b
weight_bytes = sum(os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir) if f.endswith(".safetensors"))
floor_ms = weight_bytes / best * 1e3
print(f"copy bandwidth {best / 1e9:.0f} GB/s; checkpoint {weight_bytes / 2**30:.2f} GiB; HBM floor {floor_ms:.3f} ms per decode step")

# 2. transformers generate().
import transformers  # noqa: E402
from transformers import OPTForCausalLM  # noqa: E402

try:
    m = OPTForCausalLM.from_pretrained(model_dir, dtype=torch.float16)
except TypeError:  # transformers before 4.56 spells it torch_dtype
    m = OPTForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float16)
m = m.to(dev).eval()


def timed(batch, n_in=128, n_out=128):
    ids = torch.randint(4, 50000, (batch, n_in), device=dev)
    with torch.no_grad():
        m.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)  # warm-up
        sync(); t0 = time.perf_counter()
        m.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        sync(); t1 = time.perf_counter()
        m.generate(ids, max_new_tokens=n_out, min_new_tokens=n_out, do_sample=False)
        sync(); t2 = time.perf_counter()
    ttft = t1 - t0
    return ttft, (t2 - t1 - ttft) / (n_out - 1), batch * n_out / (t2 - t1)


ttft1, itl1, _ = timed(1)
_, _, tput32 = timed(32)
print(f"transformers generate: batch 1 ITL {itl1 * 1e3:.2f} ms (TTFT {ttft1 * 1e3:.1f} ms); "
      f"32 requests {tput32:.0f} output tok/s")

# 3. Greedy tokens with the model's forward and its KV cache, one prompt at a time (no padding), EOS ignored.
reqs = []
with torch.no_grad():
    for r in json.load(open(lockstep_json))["requests"]:
        x = torch.tensor([r["prompt_token_ids"]], device=dev)
        past, toks, lps = None, [], []
        for _ in range(len(r["token_ids"])):
            o = m(input_ids=x, past_key_values=past, use_cache=True)
            past = o.past_key_values
            lp = torch.log_softmax(o.logits[0, -1].float(), dim=-1)
            v, i = lp.topk(5)
            toks.append(int(i[0]))
            lps.append([{"id": int(t), "logprob": float(l)} for t, l in zip(i.tolist(), v.tolist())])
            x = torch.tensor([[toks[-1]]], device=dev)
        reqs.append({"prompt_token_ids": r["prompt_token_ids"], "token_ids": toks, "finish_reason": "length",
                     "logprobs": lps})
json.dump({"requests": reqs, "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, fp16"},
          open(os.path.join(out, "tokens-hf.json"), "w"))
print(f"transformers greedy tokens: {len(reqs)} prompts -> {os.path.join(out, 'tokens-hf.json')}")

res = {"copy_bandwidth_GBps": best / 1e9, "weight_bytes": weight_bytes, "hbm_floor_ms": floor_ms,
       "hf_batch1_ttft_ms": ttft1 * 1e3, "hf_batch1_itl_ms": itl1 * 1e3, "hf_batch32_output_tok_s": tput32,
       "torch": torch.__version__, "transformers": transformers.__version__, "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"}
json.dump(res, open(os.path.join(out, "floor_and_hf.json"), "w"), indent=1)
