#!/usr/bin/env bash
# The HDF5 report: written at tp 1 and 2, readable with h5py (and h5dump), its figures consistent with the
# sharding math (2L+1 all-reduces per step of tokens × hidden × 4 bytes; sharded bytes summing to TP=1's);
# `lockstep report` reads one file and two side by side; a driver failure after loading leaves an incomplete
# report; at tp 2 × pp 2 with an uneven split, lockstep plan's per-stage prediction matches every rank. usage:
# report.sh LOCKSTEP SHARED_DIR WORKDIR
set -eu
bin=$1; shared=$2; work=$3
here=$(dirname "$0")
model=$shared/models/opt-tiny
rm -rf "$work"; mkdir -p "$work"
args=(generate --model "$model" --quiet --temperature 0 --max-tokens 16 --prompt "Hello, my dog is cute"
      --prompt "The capital of France is" --prompt "Q: Why is the sky blue? A: Because" --prompt "def f(x):")
"$here/lsrun.sh" 1 "$bin" "${args[@]}" -tp 1 --device-memory 512MiB --report "$work/tp1.h5" 2> "$work/tp1.log" || { cat "$work/tp1.log"; exit 1; }
"$here/lsrun.sh" 2 "$bin" "${args[@]}" -tp 2 --device-memory 512MiB --report "$work/tp2.h5" 2> "$work/tp2.log" || { cat "$work/tp2.log"; exit 1; }
h5dump -H "$work/tp2.h5" > /dev/null

/usr/bin/python3 - "$work" <<'PY'
import h5py, json, sys
work = sys.argv[1]
a, b = h5py.File(f"{work}/tp1.h5"), h5py.File(f"{work}/tp2.h5")
for f, tp in ((a, 1), (b, 2)):
    at = f.attrs
    assert at["format"] == b"lockstep-report-1" or at["format"] == "lockstep-report-1"
    assert at["complete"] == 1 and at["tensor_parallel_size"] == tp and at["world_size"] == tp
    assert json.loads(at["model_config"])["model_type"] == "opt"
    for k in ("command_line", "version", "git_commit", "hosts", "start_time", "dtype", "block_size"):
        assert k in at, k
    r = f["ranks"]
    assert len(r["world_rank"]) == tp and list(r["tp_rank"][:]) == list(range(tp))
    L, H = at["n_layers"], at["hidden_size"]
    steps, tokens = len(f["steps/step"]), f["steps/n_tokens"][:].sum()
    assert (f["steps/seconds"][:] > 0).all()
    per_step = 2 * L + 1 if tp > 1 else 0
    assert (r["all_reduce_calls"][:] == per_step * steps).all(), (r["all_reduce_calls"][:], per_step, steps)
    assert (r["all_reduce_bytes"][:] == per_step * tokens * H * 4).all(), (r["all_reduce_bytes"][:], tokens)
    assert (r["compute_seconds"][:] > 0).all() and (r["kv_blocks"][:] > 0).all()
    q = f["requests"]
    assert list(q["output_len"][:]) == [16] * 4 and list(q["finish_reason"][:]) == [b"length"] * 4
    assert list(q["itl_offsets"][:]) == [0, 15, 30, 45, 60] and len(q["itl_s"]) == 60
    assert (q["ttft_s"][:] > 0).all()
for f in (a, b):  # lockstep plan's prediction: weights exact, KV blocks within 5%
    pl, r = f["plan"], f["ranks"]
    assert pl["weight_bytes_sharded"][0] == r["weight_bytes_sharded"][0], (pl["weight_bytes_sharded"][0], r["weight_bytes_sharded"][0])
    assert pl["weight_bytes_replicated"][0] == r["weight_bytes_replicated"][0]
    assert abs(pl["kv_blocks"][0] / r["kv_blocks_local"][0] - 1) <= 0.05, (pl["kv_blocks"][0], r["kv_blocks_local"][0])
    print(f"tp{f.attrs['tensor_parallel_size']}: plan predicted weights {pl['weight_bytes_sharded'][0] + pl['weight_bytes_replicated'][0]:.0f} bytes "
          f"(measured the same) and {pl['kv_blocks'][0]:.0f} KV blocks (measured {r['kv_blocks_local'][0]:.0f})")
sharded1 = a["ranks/weight_bytes_sharded"][0]
assert b["ranks/weight_bytes_sharded"][:].sum() == sharded1
assert (b["ranks/weight_bytes_replicated"][:] == a["ranks/weight_bytes_replicated"][0]).all()
print(f"tp1 and tp2 reports consistent: {len(b['steps/step'])} steps, {b['ranks/all_reduce_calls'][0]:.0f} all-reduces "
      f"of {b['ranks/all_reduce_bytes'][0]:.0f} bytes at tp2, sharded bytes {sharded1:.0f} split in two")
PY
"$bin" report "$work/tp2.h5" | tee "$work/report-tp2.txt"
grep -q "all-reduces per step on rank 0: 5.00 measured" "$work/report-tp2.txt"
grep -q "each rank holds 0.501 of one copy" "$work/report-tp2.txt"
"$bin" report "$work/tp1.h5" "$work/tp2.h5" | tee "$work/report-pair.txt"
grep -q "B / A: weights per rank 0.50" "$work/report-pair.txt"
# Pipeline stages, split unevenly: lockstep plan's prediction for each stage against each of its ranks.
"$here/lsrun.sh" 4 "$bin" generate --model "$shared/models/opt-tiny-16h" --quiet --temperature 0 --max-tokens 8 \
    --prompt "Hello" -tp 2 -pp 2 --pipeline-layer-partition 1,3 --device-memory 256MiB --report "$work/pp2.h5" \
    2> "$work/pp2.log" || { cat "$work/pp2.log"; exit 1; }
/usr/bin/python3 - "$work/pp2.h5" <<'PY'
import h5py, sys
f = h5py.File(sys.argv[1])
pl, r = f["plan"], f["ranks"]
assert len(pl["weight_bytes_sharded"]) == 2, "one plan per stage"
for i in range(len(r["world_rank"])):
    s = int(r["pp_rank"][i])
    assert (pl["layer_begin"][s], pl["layer_end"][s]) == (r["layer_begin"][i], r["layer_end"][i])
    assert pl["weight_bytes_sharded"][s] == r["weight_bytes_sharded"][i], (i, pl["weight_bytes_sharded"][s], r["weight_bytes_sharded"][i])
    assert pl["weight_bytes_replicated"][s] == r["weight_bytes_replicated"][i]
    assert abs(pl["kv_blocks_local"][s] / r["kv_blocks_local"][i] - 1) <= 0.05, (i, pl["kv_blocks_local"][s], r["kv_blocks_local"][i])
    assert abs(pl["kv_blocks"][s] / r["kv_blocks"][i] - 1) <= 0.05
print(f"pp2: plan predicted each stage's weights ({pl['weight_bytes_sharded'][0] + pl['weight_bytes_replicated'][0]:.0f} and "
      f"{pl['weight_bytes_sharded'][1] + pl['weight_bytes_replicated'][1]:.0f} bytes, measured the same) and the KV blocks "
      f"each could hold ({pl['kv_blocks_local'][0]:.0f} and {pl['kv_blocks_local'][1]:.0f}; measured "
      f"{r['kv_blocks_local'][0]:.0f} and {r['kv_blocks_local'][2]:.0f})")
PY
"$bin" report "$work/pp2.h5" | grep "stage 1, rank 2: weights"
# The committed example reports stay readable by the current reader.
src=$(cd "$here/../.." && pwd)
"$bin" report "$src/results/example-reports/opt-125m-bench32-tp1.h5" "$src/results/example-reports/opt-125m-bench32-tp2.h5" \
    | grep "B / A: weights per rank"
# A report from before pipeline parallelism (no per-rank layer ranges) is read as one stage of every layer.
cp "$work/tp2.h5" "$work/old-format.h5"
/usr/bin/python3 -c 'import h5py, sys; f = h5py.File(sys.argv[1], "a"); del f["ranks/layer_begin"], f["ranks/layer_end"]' "$work/old-format.h5"
"$bin" report "$work/old-format.h5" | grep "5 predicted (2 × its 2 layers + 1)"
"$bin" report "$work/tp1.log" > /dev/null 2> "$work/report-bad.txt" && { echo "FAIL: a log file read as a report"; exit 1; }
grep "tp1.log" "$work/report-bad.txt"

set +e
"$here/lsrun.sh" 2 "$bin" "${args[@]}" -tp 2 --report "$work/fail.h5" --inject-fault rank=0,at=step:3,kind=throw \
    2> "$work/fail.log"
code=$?
set -e
[ "$code" -ne 0 ] || { echo "FAIL: the injected fault did not fail the job"; exit 1; }
grep "injected fault (kind=throw) on rank 0 at step 3" "$work/fail.log"
/usr/bin/python3 -c '
import h5py, sys
f = h5py.File(sys.argv[1])
assert f.attrs["complete"] == 0 and b"injected fault" in f.attrs["error"], dict(f.attrs)
assert len(f["steps/step"]) == 3
print("incomplete report after the fault:", f.attrs["error"].decode(), "-", len(f["steps/step"]), "steps")' "$work/fail.h5"
"$bin" report "$work/fail.h5" | grep INCOMPLETE
# A worker's failure: it tells the driver, who names it, writes the incomplete report and ends the job.
set +e
"$here/lsrun.sh" 2 "$bin" "${args[@]}" -tp 2 --report "$work/fail-worker.h5" \
    --inject-fault rank=1,at=step:5,kind=throw 2> "$work/fail-worker.log"
code=$?
set -e
[ "$code" -ne 0 ] || { echo "FAIL: the injected worker fault did not fail the job"; exit 1; }
grep "\[rank 0 .*\] error: rank 1 failed: injected fault (kind=throw) on rank 1 at step 5" "$work/fail-worker.log"
/usr/bin/python3 -c '
import h5py, sys
f = h5py.File(sys.argv[1])
assert f.attrs["complete"] == 0 and b"rank 1 failed" in f.attrs["error"], dict(f.attrs)
print("incomplete report after the worker fault:", f.attrs["error"].decode())' "$work/fail-worker.h5"
echo PASS
