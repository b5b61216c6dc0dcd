#!/usr/bin/env bash
# --profile-ops at TP=1, TP=2 and TP=2 × PP=2 on opt-tiny:
#   - every rank's op counts in the report are the model's: per step and layer it holds, the q, k and v GEMMs,
#     out_proj, fc1, fc2, one attention, one K/V write and 2 layer norms; 2 lookups on the first stage; the
#     final layer norm and the LM head's GEMM on the last; the ranks of a stage alike in every other op;
#   - `lockstep bench` counts the same ops per step as generate (nothing outside the forward, such as its
#     bandwidth measurement, is counted);
#   - the op times fit inside the forward time, the tokens are those of a run without profiling, and
#     `lockstep report` prints the time by op; a report without --profile-ops has no op figures and no table;
#   - on a GPU (--device cuda), `lockstep report` prints every rank's device memory, within what
#     --gpu-memory-utilization allows; a CPU run's report has no such section.
# usage: profile_ops.sh LOCKSTEP SHARED_DIR WORKDIR [GENERATE_ARGS...]   (e.g. --device cuda --comm mpi)
# PROFILE_OPS_RUNS: which of tp1 tp2 tp2-pp2 to run (default all; one GPU over NCCL takes tp1 alone).
set -eu
bin=$1; shared=$2; work=$3; shift 3
here=$(dirname "$0")
runs=${PROFILE_OPS_RUNS:-tp1 tp2 tp2-pp2}
rm -rf "$work"; mkdir -p "$work"
model=(--model "$shared/models/opt-tiny" --temperature 0 "$@")
args=(generate "${model[@]}" --quiet --max-tokens 12 --prompt "Hello, my dog is cute" --prompt "The capital of France is"
      --prompt "def f(x):")
run() {  # NAME NP ARGS...
  local name=$1 np=$2; shift 2
  "$here/lsrun.sh" "$np" "$bin" "$@" --output-json "$work/$name.json" --report "$work/$name.h5" \
      > "$work/$name.out" 2> "$work/$name.log" || { cat "$work/$name.log"; exit 1; }
}
run plain 1 "${args[@]}" -tp 1
for r in $runs; do
  case $r in
    tp1) run tp1 1 "${args[@]}" -tp 1 --profile-ops
         # Its bandwidth measurement takes 512 MiB beside the KV cache: room for it on the CPU's emulation of a
         # GPU (LOCKSTEP_EMU_GPU_MIB; a real GPU ignores it).
         LOCKSTEP_EMU_GPU_MIB=1536 run bench-tp1 1 bench "${model[@]}" -tp 1 --num-prompts 2 --input-len 8 \
             --output-len 4 --profile-ops --gpu-memory-utilization 0.4 ;;
    tp2) run tp2 2 "${args[@]}" -tp 2 --profile-ops ;;
    tp2-pp2) run tp2-pp2 4 "${args[@]}" -tp 2 -pp 2 --profile-ops ;;
    *) echo "profile_ops: unknown run $r"; exit 2 ;;
  esac
done
first=${runs%% *}
grep -q "time by op on the device (--profile-ops): qkv_proj" "$work/$first.log" || { cat "$work/$first.log"; exit 1; }

# A python with h5py: Debian's here; on the lent GPU machine, the one on PATH (with the library path it came with).
py=${LOCKSTEP_PYTHON:-/usr/bin/python3}
LD_LIBRARY_PATH=${LS_ORIG_LD_LIBRARY_PATH-${LD_LIBRARY_PATH-}} "$py" -c 'import h5py' 2>/dev/null || py=python3
LD_LIBRARY_PATH=${LS_ORIG_LD_LIBRARY_PATH-${LD_LIBRARY_PATH-}} "$py" - "$work" $runs <<'PY'
import h5py, json, os, sys
work, runs = sys.argv[1], sys.argv[2:]
tokens = lambda n: [r["token_ids"] for r in json.load(open(f"{work}/{n}.json"))["requests"]]
plain = tokens("plain")
assert not any(k.startswith("op_") for k in h5py.File(f"{work}/plain.h5")["ranks"]), "op figures without --profile-ops"
is_time = lambda k: k.startswith("op_") and k.endswith("_seconds") and not k.endswith("_host_seconds")
for name in runs:
    assert tokens(name) == plain, f"{name}: --profile-ops changed the tokens"
    f = h5py.File(f"{work}/{name}.h5")
    r, L = f["ranks"], f.attrs["n_layers"]
    stage_calls = {}
    for i in range(len(r["world_rank"])):
        steps, layers = r["steps"][i], r["layer_end"][i] - r["layer_begin"][i]
        first, last = r["layer_begin"][i] == 0, r["layer_end"][i] == L
        want = {"qkv_proj": layers, "out_proj": layers, "fc1": layers, "fc2": layers, "lm_head": last,
                "linear": 0, "attention": layers, "write_kv": layers, "layer_norm": 2 * layers + last,
                "embedding": 2 * first}
        for op, per_step in want.items():
            got = r[f"op_{op}_calls"][i]
            assert got == per_step * steps, f"{name} rank {i}: {op} {got} calls, want {per_step} × {steps} steps"
        calls = stage_calls.setdefault(r["pp_rank"][i], r["op_elementwise_calls"][i])
        assert r["op_elementwise_calls"][i] == calls, f"{name} rank {i}: elementwise calls differ within its stage"
        assert r["op_copy_calls"][i] >= steps, f"{name} rank {i}: fewer copies than one upload of the inputs a step"
        assert all(r[k][i] >= 0 for k in r if k.startswith("op_")), f"{name} rank {i}: a negative figure"
        ops = sum(r[k][i] for k in r if is_time(k))
        assert 0 < ops <= r["forward_seconds"][i], f"{name} rank {i}: ops {ops} s, forward {r['forward_seconds'][i]} s"
if "tp1" in runs:  # the same ops per step in bench as in generate: every step runs the whole model once
    g, b = h5py.File(f"{work}/tp1.h5")["ranks"], h5py.File(f"{work}/bench-tp1.h5")["ranks"]
    for k in g:
        if k.startswith("op_") and k.endswith("_calls") and k != "op_copy_calls":
            assert g[k][0] / g["steps"][0] == b[k][0] / b["steps"][0], (k, g[k][0], g["steps"][0], b[k][0], b["steps"][0])
print("profile_ops: op counts match the model on every rank; tokens unchanged")
PY
last=${runs##* }
"$bin" report "$work/$last.h5" > "$work/report.txt"
for op in qkv_proj out_proj fc1 fc2 lm_head attention write_kv layer_norm embedding elementwise copy collectives other; do
  grep -q "^  $op " "$work/report.txt" || { echo "lockstep report: no line for $op"; cat "$work/report.txt"; exit 1; }
done
grep -q "Time by op (--profile-ops" "$work/report.txt"
# A GPU run's report says what each rank's device held when serving began, never more than the flag allows.
if [[ " $* " == *" --device cuda "* ]]; then
  [ "$(grep -c '^  rank [0-9]*: .* in use of .*--gpu-memory-utilization' "$work/report.txt")" = \
    "$(grep -o '([0-9]* ranks)' "$work/report.txt" | head -1 | tr -dc 0-9)" ] || { echo "no device memory per rank"; cat "$work/report.txt"; exit 1; }
  ! grep -q "\[OVER\]" "$work/report.txt" || { echo "device memory over --gpu-memory-utilization"; exit 1; }
else
  ! grep -q "^Device memory" "$work/report.txt" || { echo "a device memory section in a CPU run's report"; exit 1; }
fi
! "$bin" report "$work/plain.h5" | grep -q "Time by op" || { echo "a time-by-op table without --profile-ops"; exit 1; }
echo "profile_ops: ok"
