#!/usr/bin/python3
"""Charts from a lockstep HDF5 report (Debian's python3-h5py and python3-matplotlib).

usage: scripts/plot_report.py RUN.h5 [OUT_DIR]     (OUT_DIR defaults to the report's folder)
Writes <run>-memory.png (weights sharded/replicated, KV cache, activation peak per rank),
<run>-step-time.png (each rank's loop split into compute, collectives and waiting for the step plan; with
--profile-ops, compute split by op: GEMMs, attention, layer norm, ..., and the rest) and
<run>-itl.png (the distribution of inter-token latencies).
"""
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GIB = 2 ** 30


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(path))
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, os.path.splitext(os.path.basename(path))[0])
    f = h5py.File(path, "r")
    a, r = f.attrs, f["ranks"]
    title = (f"{os.path.basename(str(a['model'], 'utf-8') if isinstance(a['model'], bytes) else a['model'])}, "
             f"tp={int(a['tensor_parallel_size'])} pp={int(a['pipeline_parallel_size'])}")
    ranks = [f"rank {int(x)}" for x in r["world_rank"][:]]

    parts = [("weights, sharded", r["weight_bytes_sharded"][:]), ("weights, replicated", r["weight_bytes_replicated"][:]),
             ("KV cache", r["kv_bytes"][:]), ("activation peak", r["activation_peak"][:])]
    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = [0.0] * len(ranks)
    for label, values in parts:
        ax.bar(ranks, [v / GIB for v in values], bottom=bottom, label=label)
        bottom = [b + v / GIB for b, v in zip(bottom, values)]
    ax.set_ylabel("GiB")
    ax.set_title(f"Memory per rank: {title}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(stem + "-memory.png", dpi=100)

    compute, comm, wait = r["compute_seconds"][:], r["comm_seconds"][:], r["plan_wait_seconds"][:]
    # With --profile-ops, compute splits into the op kinds the device timed and the host's remainder.
    ops = sorted((k[3:-6], r[k[:-6] + "_seconds"][:]) for k in r
                 if k.startswith("op_") and k.endswith("_calls") and r[k][:].any())
    ops.sort(key=lambda kv: -kv[1].sum())
    if ops:
        compute_parts = ops + [("other: host work between ops", compute - sum(v for _, v in ops))]
    else:
        compute_parts = [("compute", compute)]
    fig, ax = plt.subplots(figsize=(8 if ops else 6, 4))
    bottom = 0 * compute
    for i, (label, values) in enumerate(compute_parts + [("collectives", comm), ("waiting for the step plan", wait)]):
        ax.bar(ranks, values, bottom=bottom, label=label, color=plt.cm.tab20.colors[i % 20])  # 14 parts, 14 colours
        bottom = bottom + values
    ax.set_ylabel("seconds")
    ax.set_title(f"Where each rank's time went: {title}")
    if ops:  # beside the bars: ten entries would hide them
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    else:
        ax.legend()
    fig.tight_layout()
    fig.savefig(stem + "-step-time.png", dpi=100)

    itl = f["requests/itl_s"][:] * 1e3
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(itl):
        ax.hist(itl, bins=50)
        for p, style in ((50, "-"), (99, "--")):
            v = sorted(itl)[min(len(itl) - 1, int(p / 100 * (len(itl) - 1)))]
            ax.axvline(v, color="k", linestyle=style, label=f"p{p} {v:.2f} ms")
        ax.legend()
    ax.set_xlabel("inter-token latency (ms)")
    ax.set_ylabel("tokens")
    ax.set_title(f"Inter-token latency: {title}")
    fig.tight_layout()
    fig.savefig(stem + "-itl.png", dpi=100)
    print("wrote", stem + "-memory.png,", stem + "-step-time.png,", stem + "-itl.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
