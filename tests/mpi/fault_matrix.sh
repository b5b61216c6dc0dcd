#!/usr/bin/env bash
# One case of the fault matrix (docs/fault-matrix.md): `lockstep generate` at -tp NP with
# --inject-fault rank=R,at=AT,kind=KIND must end the whole job within 10 s of the fault, with a non-zero exit
# and a message naming the rank and the cause, and no lsrun timeout. A failure the driver sees (throw, hang),
# at step N or just after loading (at=load), leaves its HDF5 report written with complete = 0 and an "error"
# attribute; a worker that dies by exit or SIGKILL is noticed by mpirun, which sends the other ranks SIGTERM
# (then SIGKILL 1 s later): the driver turns the SIGTERM into a failure (core/check.h catch_sigterm) and
# writes its report, incomplete, saying so.
# Every output line is time-stamped as it arrives, so "seconds" is measured from the fault's own line
# ("injected fault (kind=...)", printed by the faulty rank at the moment of the fault) to the end of mpirun.
# usage: fault_matrix.sh LOCKSTEP MODELS_DIR WORKDIR NP KIND AT [RANK [ARGS...]]   (RANK defaults to NP-1, the
#        last worker; ARGS go to `lockstep generate`, e.g. --device cuda)
# Prints: np=N rank=R at=AT kind=K exit=C seconds=S total=T report=complete|incomplete|absent fault="..." message="..."
set -u
bin=$1; models=$2; work=$3; np=$4; kind=$5; at=$6; rank=${7:-$((np - 1))}; shift $(( $# < 7 ? $# : 7 ))
here=$(cd "$(dirname "$0")" && pwd)
limit_s=10           # from the fault to the end of the job
timeout_s=3          # --collective-timeout: a hang is noticed after this long
export LOCKSTEP_TEST_TIMEOUT=${LOCKSTEP_TEST_TIMEOUT:-45}  # below ctest's TIMEOUT 60, so lsrun reports a hang
rm -rf "$work"; mkdir -p "$work"
report=$work/r.h5
cmd=("$here/lsrun.sh" "$np" "$bin" generate --model "$models/opt-tiny-16h" -tp "$np"
     --prompt "Hello, my dog is cute" --max-tokens 8 --temperature 0 --collective-timeout "$timeout_s"
     --report "$report" --inject-fault "rank=$rank,at=$at,kind=$kind" "$@")
printf '%q ' "${cmd[@]}" > "$work/command.txt"; echo >> "$work/command.txt"

t0=$EPOCHREALTIME
"${cmd[@]}" 2>&1 > "$work/stdout.txt" | while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done \
    > "$work/log.txt"
code=${PIPESTATUS[0]}
t1=$EPOCHREALTIME
cut -d' ' -f2- "$work/log.txt" > "$work/stderr.txt"

fail() { echo "FAIL: $*"; echo "--- stderr:"; grep -v '^INFO' "$work/stderr.txt" | head -n 40; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

fault_line=$(grep -m1 -E "injected fault \(kind=$kind\)" "$work/log.txt")
total=$(secs "$t0" "$t1")
if [ -n "$fault_line" ]; then seconds=$(secs "${fault_line%% *}" "$t1"); else seconds=?; fi
fault_text=$(grep -m1 -E "injected fault \(kind=$kind\)" "$work/stderr.txt")
message=$(grep -m1 -E " error: |^mpirun (noticed|detected)" "$work/stderr.txt")

state=absent
if [ -f "$report" ]; then
    state=$(/usr/bin/python3 -c '
import h5py, sys
f = h5py.File(sys.argv[1])
print("complete" if f.attrs["complete"] == 1 else "incomplete")
e = f.attrs.get("error", b"")
open(sys.argv[2], "w").write(e.decode() if isinstance(e, bytes) else str(e))' "$report" "$work/report-error.txt") \
        || state=unreadable
fi
report_error=$(cat "$work/report-error.txt" 2> /dev/null)

echo "np=$np rank=$rank at=$at kind=$kind exit=$code seconds=$seconds total=$total report=$state" \
     "fault=\"$fault_text\" message=\"$message\"" | tee "$work/outcome.txt"
[ -n "$report_error" ] && echo "report error attribute: \"$report_error\""

grep -q "lsrun: TIMED OUT" "$work/stderr.txt" && fail "lsrun timed out (a hang)"
[ "$code" -ne 0 ] || fail "exit code 0"
[ -n "$fault_line" ] || fail "no \"injected fault (kind=$kind)\" line: the fault did not fire"
awk -v s="$seconds" -v l="$limit_s" 'BEGIN { exit !(s + 0 <= l) }' || fail "the job took $seconds s after the fault (limit $limit_s s)"

# A message naming the rank and the cause.
case $kind in
    throw) want="injected fault \(kind=throw\) on rank $rank" ;;
    *)     want="\[rank $rank\] injected fault \(kind=$kind\)" ;;
esac
grep -Eq "$want" "$work/stderr.txt" || fail "no line matches /$want/"
case $kind in
    throw) [ "$rank" -eq 0 ] || want="\[rank 0 [^]]*\] error: rank $rank failed: injected fault \(kind=throw\)" ;;
    exit) want="Exit code: +3" ;;  # mpirun, under "Process name: [[job,1],$rank]"
    sigkill) want="process rank $rank .* exited on signal 9" ;;
    hang) want="error: .*no progress for [0-9]+ s \(--collective-timeout $timeout_s s\)" ;;
esac
grep -Eq "$want" "$work/stderr.txt" || fail "no line matches /$want/"
[ "$kind" != exit ] || grep -Eq "Process name: +\[\[[0-9]+,[0-9]+\],$rank\]" "$work/stderr.txt" \
    || fail "mpirun does not name process $rank"

# The report.
[ "$state" != complete ] || fail "the report claims complete after a fault"
[ "$state" != unreadable ] || fail "the report exists but h5py cannot read it"
case $kind in
    throw | hang | exit | sigkill)  # at=load fires just after loading, once the report is armed: written too
        [ "$state" = incomplete ] || fail "report $state after a fault at $at (expected incomplete)"
        if [ "$kind" = exit ] || [ "$kind" = sigkill ]; then
            # mpirun's SIGTERM reached the driver, or, over NCCL, the communicator's asynchronous error came
            # first (the dead peer's connection closed; core/wait.h polls it).
            want="terminated by SIGTERM while waiting for .*another rank exited or was killed|NCCL \(TP group\) reports an asynchronous error: remote process exited"
        elif [ "$kind" = throw ]; then
            [ "$rank" -eq 0 ] && want="injected fault \(kind=throw\) on rank 0" || want="rank $rank failed: injected fault"
        else  # the watchdog's message: it names the rank that gave up waiting, not the one that hangs
            want="no progress for [0-9]+ s \(--collective-timeout $timeout_s s\)"
        fi
        grep -Eq "$want" <<< "$report_error" || fail "the report's error \"$report_error\" does not match /$want/" ;;
esac
echo PASS
