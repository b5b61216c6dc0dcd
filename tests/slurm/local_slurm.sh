#!/usr/bin/env bash
# Starts a private single-node Slurm (munge, slurmctld, slurmd: one node advertising 16 CPUs; config, state,
# logs and ports of its own under WORKDIR), submits scripts/slurm/two_nodes.sbatch as TP=8 × PP=2 on the
# 16-head checkpoint with sbatch (squeezed onto the one node), waits for it, checks its tokens against
# Hugging Face's, and stops the daemons it started, by PID. Needs root (as CI runs) and slurm-wlm + munge.
# usage: local_slurm.sh SOURCE_DIR LOCKSTEP SHARED_DIR WORKDIR
set -u
src=$1; bin=$2; shared=$3; work=$4
[ "$(id -u)" -eq 0 ] || { echo "FAIL: the local Slurm test runs as root (as CI does)"; exit 1; }
for c in munged slurmctld slurmd sbatch; do
  command -v "$c" > /dev/null || [ -x "/usr/sbin/$c" ] || { echo "FAIL: $c missing (scripts/setup.sh installs slurm-wlm munge)"; exit 1; }
done
rm -rf "$work"; mkdir -p "$work"/{state,spool,log}
conf=$work/slurm.conf
cat > "$conf" <<CONF
ClusterName=lockstep-test
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=16 Sockets=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF=$conf

munge_pid=""
cleanup() {
  for f in "$work/slurmd.pid" "$work/slurmctld.pid"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  [ -n "$munge_pid" ] && kill "$munge_pid" 2>/dev/null
  sleep 1
}
trap cleanup EXIT
if ! munge -n > /dev/null 2>&1; then  # no munged answering: start one, and stop it afterwards
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged || { echo "FAIL: munged did not start"; exit 1; }
  munge_pid=$(cat /run/munge/munged.pid)
fi
/usr/sbin/slurmctld -f "$conf" || { echo "FAIL: slurmctld did not start"; cat "$work/log/slurmctld.log"; exit 1; }
/usr/sbin/slurmd -f "$conf" -N localhost || { echo "FAIL: slurmd did not start"; cat "$work/log/slurmd.log"; exit 1; }
for _ in $(seq 40); do sinfo -h -o %t 2>/dev/null | grep -qE "idle|mix" && break; sleep 0.5; done
sinfo

/usr/bin/python3 "$src/tests/mpi/check_expected.py" prompts "$shared/expected/opt-tiny-16h.json" > "$work/prompts.txt"
cd "$src"
for launcher in srun mpirun; do
  echo "--- sbatch scripts/slurm/two_nodes.sbatch with LAUNCHER=$launcher"
  rm -f "$work/out.json"
  timeout 240 sbatch --wait --nodes=1 --ntasks-per-node=16 --output="$work/job-$launcher.out" \
      --export=ALL,LAUNCHER=$launcher,MODEL="$shared/models/opt-tiny-16h",PROMPTS="$work/prompts.txt",OUT_JSON="$work/out.json",LOCKSTEP="$bin",OPENBLAS_NUM_THREADS=1 \
      scripts/slurm/two_nodes.sbatch
  code=$?
  grep -vE "^INFO \(Worker" "$work/job-$launcher.out" | head -20
  [ "$code" -eq 0 ] || { echo "FAIL: the job exited with $code"; tail -20 "$work/log/slurmctld.log"; exit 1; }
  grep -q "Worker_PP1_TP7" "$work/job-$launcher.out" || { echo "FAIL: no rank PP1_TP7 in the job's log"; exit 1; }
  /usr/bin/python3 "$src/tests/mpi/check_expected.py" compare "$shared/expected/opt-tiny-16h.json" "$work/out.json" || exit 1
done
echo PASS
