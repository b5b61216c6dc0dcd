#!/usr/bin/env bash
# --profile-ops at TP=1, TP=2 and TP=2 × PP=2 on opt-tiny: every rank's op counts in the report are the model's
# (per step and layer it holds: the q, k and v GEMMs, out_proj, fc1, fc2, one attention, one K/V write and 2 layer
# norms; 2 lookups on the first stage; the final layer norm and the LM head's GEMM on the last), the op times fit inside the forward time, the tokens
# are those of a run without profiling, and `lockstep report` prints the time by op. A report without
# --profile-ops has no op figures and no such table.
# usage: profile_ops.sh LOCKSTEP SHARED_DIR WORKDIR [GENERATE_ARGS...]   (e.g. --device cuda --comm mpi)
set -eu
bin=$1; shared=$2; work=$3; shift 3
here=$(dirname "$0")
rm -rf "$work"; mkdir -p "$work"
args=(generate --model "$shared/models/opt-tiny" --quiet --temperature 0 --max-tokens 12 --prompt "Hello, my dog is cute"
      --prompt "The capital of France is" --prompt "def f(x):" "$@")
run() {  # NAME NP ARGS...
  local name=$1 np=$2; shift 2
  "$here/lsrun.sh" "$np" "$bin" "${args[@]}" "$@" --output-json "$work/$name.json" --report "$work/$name.h5" \
      2> "$work/$name.log" || { cat "$work/$name.log"; exit 1; }
}
run plain 1 -tp 1
run tp1 1 -tp 1 --profile-ops
run tp2 2 -tp 2 --profile-ops
run tp2-pp2 4 -tp 2 -pp 2 --profile-ops
grep -q "time by op on the device (--profile-ops): qkv_proj" "$work/tp2.log" || { cat "$work/tp2.log"; exit 1; }

# A python with h5py: Debian's here; on the lent GPU machine, the one on PATH (with the library path it came with).
py=${LOCKSTEP_PYTHON:-/usr/bin/python3}
LD_LIBRARY_PATH=${LS_ORIG_LD_LIBRARY_PATH-${LD_LIBRARY_PATH-}} "$py" -c 'import h5py' 2>/dev/null || py=python3
LD_LIBRARY_PATH=${LS_ORIG_LD_LIBRARY_PATH-${LD_LIBRARY_PATH-}} "$py" - "$work" <<'PY'
import h5py, json, sys
work = sys.argv[1]
tokens = lambda n: [r["token_ids"] for r in json.load(open(f"{work}/{n}.json"))["requests"]]
plain = tokens("plain")
assert not any(k.startswith("op_") for k in h5py.File(f"{work}/plain.h5")["ranks"]), "op figures without --profile-ops"
for name in ("tp1", "tp2", "tp2-pp2"):
    assert tokens(name) == plain, f"{name}: --profile-ops changed the tokens"
    f = h5py.File(f"{work}/{name}.h5")
    r, L = f["ranks"], f.attrs["n_layers"]
    for i in range(len(r["world_rank"])):
        steps, layers = r["steps"][i], r["layer_end"][i] - r["layer_begin"][i]
        first, last = r["layer_begin"][i] == 0, r["layer_end"][i] == L
        want = {"qkv_proj": 3 * layers, "out_proj": layers, "fc1": layers, "fc2": layers, "lm_head": last,
                "linear": 0, "attention": layers, "write_kv": layers, "layer_norm": 2 * layers + last,
                "embedding": 2 * first}
        for op, per_step in want.items():
            got = r[f"op_{op}_calls"][i]
            assert got == per_step * steps, f"{name} rank {i}: {op} {got} calls, want {per_step} × {steps} steps"
        ops = sum(r[k][i] for k in r if k.startswith("op_") and k.endswith("_seconds"))
        assert all(r[k][i] >= 0 for k in r if k.startswith("op_")), f"{name} rank {i}: a negative figure"
        assert 0 < ops <= r["forward_seconds"][i], f"{name} rank {i}: ops {ops} s, forward {r['forward_seconds'][i]} s"
print("profile_ops: op counts match the model on every rank; tokens unchanged")
PY
"$bin" report "$work/tp2-pp2.h5" > "$work/report.txt"
for op in qkv_proj out_proj fc1 fc2 lm_head attention write_kv layer_norm embedding elementwise copy collectives host; do
  grep -q "^  $op " "$work/report.txt" || { echo "lockstep report: no line for $op"; cat "$work/report.txt"; exit 1; }
done
grep -q "Time by op (--profile-ops" "$work/report.txt"
! "$bin" report "$work/plain.h5" | grep -q "Time by op" || { echo "a time-by-op table without --profile-ops"; exit 1; }
echo "profile_ops: ok"
