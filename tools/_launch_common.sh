# Sourced by tools/dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh (not run on its own).
#
# The interpreter: $PYTHON if set, else the repository's .venv/bin/python if there is one, else python on PATH.
# mmbrain_args MIN USAGE HELP "$@": with -h/--help first, prints USAGE and HELP and exits 0; with fewer than MIN
# arguments, prints USAGE and the missing count to stderr and exits 2.
MMBRAIN_TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$MMBRAIN_TOOLS/../.venv/bin/python" ]]; then
    PYTHON="$(cd "$MMBRAIN_TOOLS/.." && pwd)/.venv/bin/python"
  else
    PYTHON=python
  fi
fi
MMBRAIN_PYTHON_HELP="PYTHON: the interpreter (default: the repository's .venv/bin/python if present, else python on PATH; now: $PYTHON)."

mmbrain_args() {
  local min=$1 usage=$2 help=$3
  shift 3
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    printf 'usage: %s\n%s\n%s\n' "$usage" "$help" "$MMBRAIN_PYTHON_HELP"
    exit 0
  fi
  if [[ $# -lt $min ]]; then
    printf 'usage: %s\nerror: %d argument(s) given, %d needed (--help for more)\n' "$usage" $# "$min" >&2
    exit 2
  fi
}

MMBRAIN_SRUN_HELP="GPUS: tasks, one per GPU (default 8); GPUS_PER_NODE (8); CPUS_PER_TASK (5); GRES (default gpu:GPUS_PER_NODE;
GRES= for nodes without GPUs, e.g. gloo on CPUs); SRUN_ARGS: more srun options; MASTER_PORT (29500): give each of
several jobs sharing a node its own. Each task runs the tool with --launcher=slurm."

# mmbrain_srun PARTITION JOB_NAME SCRIPT [ARGS]: SCRIPT (a tool in this folder) under srun, one task per GPU.
# The callers pass --launcher=slurm (mmengine then reads SLURM_PROCID etc.).
mmbrain_srun() {
  local partition=$1 job_name=$2 script=$3
  shift 3
  local gpus=${GPUS:-8} per_node=${GPUS_PER_NODE:-8}
  local gres=${GRES-gpu:$per_node}
  PYTHONPATH="$MMBRAIN_TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
  exec srun -p "$partition" --job-name="$job_name" ${gres:+--gres="$gres"} --ntasks="$gpus" \
    --ntasks-per-node="$per_node" --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "$PYTHON" -u "$MMBRAIN_TOOLS/$script" "$@"
}
