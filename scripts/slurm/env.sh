# Sourced by the sbatch scripts: what a lockstep job needs, and the launch.
#   LAUNCHER=srun   srun --mpi=pmix (Slurm starts the ranks; Debian's Open MPI has PMIx, not PMI-2)
#   LAUNCHER=mpirun mpirun inside the allocation (it reads the node list and slots from Slurm; no -np)
# Slurm places tasks node by node (block distribution), so world ranks 0-7 share node 1: each TP group of
# 8 consecutive ranks stays inside a node.
: "${LOCKSTEP:=$SLURM_SUBMIT_DIR/build/lockstep}"
: "${MODEL:?set MODEL to a Hugging Face model directory}"
: "${LAUNCHER:=srun}"
: "${OUT_JSON:=$SLURM_SUBMIT_DIR/lockstep-$SLURM_JOB_ID.json}"
# Yield when idle: Slurm advertises the node's CPUs, so Open MPI assumes one core per rank and busy-polls.
# On a real GPU node with a core per rank, 0 is the faster choice.
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

run_lockstep() {
  local args=(generate --model "$MODEL" "$@" --temperature 0 --max-tokens "${MAX_TOKENS:-32}" --quiet
              --output-json "$OUT_JSON" --report "${REPORT:-none}")
  if [ -n "${PROMPTS:-}" ]; then args+=(--prompts-file "$PROMPTS"); else args+=(--prompt "Hello, my name is"); fi
  echo "lockstep job $SLURM_JOB_ID on $SLURM_JOB_NODELIST: $LAUNCHER ${args[*]}"
  if [ "$LAUNCHER" = mpirun ]; then
    mpirun --oversubscribe "$LOCKSTEP" "${args[@]}"
  else
    srun --mpi=pmix "$LOCKSTEP" "${args[@]}"
  fi
}
