# Copyright (c) mmbrain contributors. All rights reserved.
"""Pipeline stages as Slurm jobs (``tools/run_pipeline.py --executor slurm``).

Each stage that must run becomes one batch job (``sbatch --parsable``) with ``--dependency=afterok:`` on the jobs of
the stages it reads and ``--kill-on-invalid-dep=yes``, so Slurm itself starts it when they have succeeded and
cancels it when one of them failed. The job runs the stage exactly as the local executor does (its commands in
``NAME.partial/``, then its record, then the folder published) and so publishes its own folder at its end: a
dependent job that starts has its inputs' final folders. A training command that runs several processes
(``dist_train.sh CONFIG G`` or ``torch.distributed.run --nproc_per_node=G``) runs as ``srun`` tasks with
``--launcher slurm``, one per GPU, as ``tools/slurm_train.sh`` does.

A published stage's folder holds the batch script, the job's id and nodes (``slurm_job.json``) and Slurm's log
(``slurm-JOBID.log``). Until the job succeeded these two are beside the folder (``NAME.slurm_job.json``,
``NAME.slurm-JOBID.log``), where a command that replaces its output folder cannot take them away and where a failed
job's log stays. A pipeline restarted after its own process died reads those job ids, asks ``squeue`` (then
``scontrol``, then ``sacct``) for their state, and waits for the jobs that are still pending or running instead of
submitting them again.
"""

import dataclasses
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import PipelineError, StageFailed, log_tail
from .executor import Executor
from .job import StageJob
from .job import main as job_main
from .stages import Stage, read_record
from .workdir import PARTIAL, write_json

__all__ = [
    'SlurmExecutor',
    'add_executor_arguments',
    'executor_from_args',
    'where_ran',
    'read_job_file',
    'submitted_job_file',
    'submitted_log',
    'SlurmError',
    'SlurmOptions',
    'SlurmClient',
    'JobState',
    'ACTIVE_STATES',
    'stage_kind',
    'job_resources',
    'srun_command',
    'render_batch_script',
]

#: Job states in which a job may still succeed (``squeue``'s long names).
ACTIVE_STATES = frozenset(
    {
        'PENDING',
        'CONFIGURING',
        'RUNNING',
        'COMPLETING',
        'SUSPENDED',
        'REQUEUED',
        'REQUEUE_HOLD',
        'RESIZING',
        'STAGE_OUT',
    }
)
COMPLETED = 'COMPLETED'
#: In a published stage's folder: the job id and the nodes it ran on (while the job is pending or running, and
#: after it failed, beside the folder as ``NAME.slurm_job.json``, as is Slurm's log, ``NAME.slurm-JOBID.log``:
#: a stage's command may replace its whole ``.partial`` folder, as the synthetic world's generator does).
JOB_ID_FILE = 'slurm_job.json'
#: The batch script, in the stage's ``.partial`` folder.
BATCH_SCRIPT = 'slurm_job.sh'


def submitted_job_file(stage_dir: str) -> str:
    """Where the id of the job submitted for the stage of folder ``stage_dir`` is kept until it succeeded."""
    return stage_dir + '.' + JOB_ID_FILE


def submitted_log(stage_dir: str, job_id: str) -> str:
    """Slurm's log of a job submitted for ``stage_dir``, until the job succeeded (then ``stage_dir/slurm-ID.log``)."""
    return f'{stage_dir}.slurm-{job_id}.log'


class SlurmError(PipelineError):
    """A Slurm command failed or is missing (the message holds the command and what it printed)."""


def stage_kind(stage_name: str) -> str:
    """The kind of a stage, which per-kind options name: ``seed0/det_clip`` -> ``det``, ``world`` -> ``world``."""
    return stage_name.rsplit('/', 1)[-1].split('_', 1)[0]


@dataclass
class SlurmOptions:
    """What every job of a pipeline is submitted with.

    Attributes:
        partition: ``--partition`` (None: the cluster's default).
        account: ``--account``.
        qos: ``--qos``.
        time_limits: Stage kind (:func:`stage_kind`) or full stage name -> ``--time`` (``'8:00:00'``); the key
            ``'*'`` is for every other stage (none: the partition's default limit).
        gpus: Stage kind or name -> GPUs of its job (default: the stage's own ``gpus``, 0 where it has none).
        cpus_per_task: Stage kind or name (``'*'``: every other) -> CPUs per task (one task per GPU, one task for a
            stage without GPUs); each command gets ``OMP_NUM_THREADS`` = this.
        gpus_per_node: GPUs of one node: a job of more GPUs spans several nodes, as ``GPUS_PER_NODE`` of
            ``tools/slurm_train.sh``.
        extra_args: More ``sbatch`` arguments, given to every job (``['--constraint=a100', '--mem=64G']``).
        poll_seconds: How often the pipeline asks Slurm for the state of its jobs.
    """

    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    time_limits: Dict[str, str] = field(default_factory=dict)
    gpus: Dict[str, int] = field(default_factory=dict)
    cpus_per_task: Dict[str, int] = field(default_factory=dict)
    gpus_per_node: int = 8
    extra_args: List[str] = field(default_factory=list)
    poll_seconds: float = 10.0

    @staticmethod
    def _for(table: Dict, stage_name: str, default=None):
        for key in (stage_name, stage_name.rsplit('/', 1)[-1], stage_kind(stage_name), '*'):
            if key in table:
                return table[key]
        return default

    def time_limit(self, stage_name: str) -> Optional[str]:
        return self._for(self.time_limits, stage_name)

    def stage_gpus(self, stage_name: str, declared: int = 0) -> int:
        return int(self._for(self.gpus, stage_name, declared))

    def stage_cpus(self, stage_name: str) -> int:
        return int(self._for(self.cpus_per_task, stage_name, 1))


def job_resources(gpus: int, cpus_per_task: int, gpus_per_node: int) -> List[str]:
    """The ``sbatch`` resource options of a job of ``gpus`` GPUs (``tools/slurm_train.sh``'s conventions: one task
    per GPU, ``--gres=gpu:N`` per node), or of one task on CPUs only for ``gpus`` = 0."""
    if gpus < 0 or cpus_per_task < 1 or gpus_per_node < 1:
        raise ValueError(f'gpus {gpus}, cpus per task {cpus_per_task}, gpus per node {gpus_per_node}: out of range')
    if gpus == 0:
        return ['--nodes=1', '--ntasks=1', f'--cpus-per-task={cpus_per_task}']
    per_node = min(gpus, gpus_per_node)
    if gpus % per_node:
        raise ValueError(f'{gpus} GPUs do not fill whole nodes of {gpus_per_node}')
    return [
        f'--nodes={gpus // per_node}',
        f'--ntasks={gpus}',
        f'--ntasks-per-node={per_node}',
        f'--gres=gpu:{per_node}',
        f'--cpus-per-task={cpus_per_task}',
    ]


_TORCHRUN_OPTION = re.compile(r'--(nproc_per_node|nproc-per-node|nnodes|node_rank|master_addr|master_port)(=.*)?$')


def srun_command(argv: Sequence, python: str = sys.executable) -> List:
    """A declared multi-process training command as ``srun`` tasks with ``--launcher slurm``; any other command
    unchanged (it runs once, in the batch step). Run-time arguments (:class:`~mmbrain.pipeline.stages.Out`, ...)
    are kept as they are.

    ``bash .../dist_train.sh CONFIG G [options]`` becomes ``srun ... python -u .../train.py CONFIG --launcher slurm
    [options]``; ``python -m torch.distributed.run --nproc_per_node=G SCRIPT [args] --launcher pytorch [args]``
    becomes ``srun ... python -u SCRIPT [args] --launcher slurm [args]``. The tasks are the job's (one per GPU).
    """
    srun = ['srun', '--kill-on-bad-exit=1']
    argv = list(argv)
    if len(argv) >= 4 and argv[0] == 'bash' and isinstance(argv[1], str) and osp.basename(argv[1]) == 'dist_train.sh':
        train = osp.join(osp.dirname(argv[1]), 'train.py')
        return [*srun, python, '-u', train, argv[2], '--launcher', 'slurm', *argv[4:]]
    if len(argv) >= 3 and argv[1:3] == ['-m', 'torch.distributed.run']:
        rest = argv[3:]
        while rest and isinstance(rest[0], str) and _TORCHRUN_OPTION.match(rest[0]):
            rest = rest[1:] if '=' in rest[0] else rest[2:]
        out = [*srun, argv[0], '-u']
        for i, arg in enumerate(rest):
            if arg == 'pytorch' and i > 0 and rest[i - 1] == '--launcher':
                arg = 'slurm'
            out.append('--launcher=slurm' if arg == '--launcher=pytorch' else arg)
        return out
    return argv


def render_batch_script(
    job_name: str,
    command: Sequence[str],
    log_file: str,
    options: Sequence[str],
    workdir: str,
    env: Optional[Dict[str, str]] = None,
) -> str:
    """The text of a batch script: ``#SBATCH`` lines for ``options``, the job's log, name and folder, then
    ``env`` exported and ``command`` executed.

    Dependencies are not written here: they are given on the ``sbatch`` command line, where a restarted pipeline
    can see what it submitted.
    """
    lines = [
        '#!/bin/bash',
        f'#SBATCH --job-name={job_name}',
        f'#SBATCH --output={log_file}',
        f'#SBATCH --chdir={workdir}',
        *(f'#SBATCH {option}' for option in options),
        '# One port per job for torch.distributed, so that jobs sharing a node do not collide (a MASTER_PORT',
        '# exported by the submitting shell is not kept: sbatch passes it to every job, and they would share it).',
        'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))',
    ]
    lines += [f'export {key}={shlex.quote(value)}' for key, value in (env or {}).items()]
    lines.append('exec ' + ' '.join(shlex.quote(a) for a in command))
    return '\n'.join(lines) + '\n'


@dataclass(frozen=True)
class JobState:
    """A job's state as Slurm reports it."""

    job_id: str
    state: str  # COMPLETED, FAILED, PENDING, ... ('UNKNOWN' when no Slurm command knows the job any more)
    reason: str = ''
    exit_code: str = ''

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == COMPLETED


class SlurmClient:
    """The Slurm commands the executor runs: ``sbatch``, ``squeue``, ``scontrol``, ``sacct``, ``scancel``.

    Args:
        env: The environment of the commands (default: this process's, e.g. with ``SLURM_CONF``).
    """

    def __init__(self, env: Optional[Dict[str, str]] = None):
        self.env = env

    def _run(self, cmd: List[str], check: bool = True) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise SlurmError(f'{cmd[0]} not found: is Slurm installed and on PATH?') from None
        if check and proc.returncode != 0:
            raise SlurmError(f'{" ".join(cmd)} exited with status {proc.returncode}: {proc.stderr.strip()}')
        return proc

    def submit(self, script: str, dependencies: Iterable[str] = ()) -> str:
        """Submit a batch script; returns the job id.

        Args:
            script: The batch script's path.
            dependencies: Job ids that must succeed first (``afterok``); the job is cancelled if one fails.
        """
        cmd = ['sbatch', '--parsable']
        deps = list(dependencies)
        if deps:
            cmd += [f'--dependency=afterok:{":".join(deps)}', '--kill-on-invalid-dep=yes']
        out = self._run([*cmd, script]).stdout.strip()
        job_id = out.split(';', 1)[0]  # --parsable prints "id" or "id;cluster"
        if not job_id.isdigit():
            raise SlurmError(f'sbatch printed {out!r}, not a job id')
        return job_id

    def states(self, job_ids: Iterable[str]) -> Dict[str, JobState]:
        """The state of each job: from ``squeue`` while Slurm holds it, then ``scontrol show job`` (finished jobs,
        for ``MinJobAge``), then ``sacct`` (where accounting is on); 'UNKNOWN' when none knows it."""
        ids = list(dict.fromkeys(job_ids))
        found: Dict[str, JobState] = {}
        if not ids:
            return found
        out = self._run(['squeue', '-h', '-j', ','.join(ids), '-o', '%i|%T|%r'], check=False).stdout
        for line in out.splitlines():
            job_id, state, reason = (line.split('|') + ['', ''])[:3]
            if job_id in ids:
                found[job_id] = JobState(job_id, state, reason)
        for job_id in ids:
            if job_id not in found:
                found[job_id] = self._finished_state(job_id)
        return found

    def _finished_state(self, job_id: str) -> JobState:
        out = self._run(['scontrol', '-o', 'show', 'job', job_id], check=False).stdout
        fields = dict(f.split('=', 1) for f in out.split() if '=' in f)
        if fields.get('JobId') == job_id and 'JobState' in fields:
            return JobState(job_id, fields['JobState'], fields.get('Reason', ''), fields.get('ExitCode', ''))
        proc = self._run(['sacct', '-n', '-X', '-P', '-j', job_id, '-o', 'JobID,State,ExitCode'], check=False)
        for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
            parts = line.split('|')
            if len(parts) == 3 and parts[0] == job_id:
                return JobState(job_id, parts[1].split()[0], '', parts[2])  # "CANCELLED by 0" -> CANCELLED
        return JobState(job_id, 'UNKNOWN')

    def cancel(self, job_ids: Iterable[str]) -> None:
        """``scancel`` the jobs (those already ended are left as they are)."""
        ids = list(dict.fromkeys(job_ids))
        if ids:
            self._run(['scancel', *ids], check=False)


# -------------------------------------------------------------------------------------------------- the executor
def read_job_file(path: str) -> Optional[Dict]:
    """A job file (:func:`submitted_job_file`, or ``JOB_ID_FILE`` in a published folder), or None if unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and str(data.get('job_id', '')).isdigit() else None


class SlurmExecutor(Executor):
    """Runs each stage as a Slurm batch job (see the module docstring).

    Args:
        options: Partition, account, QOS, time limits, GPUs and CPUs per stage, extra ``sbatch`` arguments.
        client: The Slurm commands (default: :class:`SlurmClient` with this process's environment).
        log: Where it says which job runs which stage.
        python: The interpreter of the jobs (the same path must exist on the compute nodes).
    """

    ahead = True

    def __init__(
        self,
        options: Optional[SlurmOptions] = None,
        client: Optional[SlurmClient] = None,
        log: Callable[[str], None] = print,
        python: str = sys.executable,
    ):
        self.options = options or SlurmOptions()
        self.client = client or SlurmClient()
        self.log = log
        self.python = python
        self._jobs: Dict[str, StageJob] = {}  # started or adopted, not yet reported, by stage name
        self._ids: Dict[str, str] = {}  # their Slurm job ids
        self._cancelled: Dict[str, str] = {}  # stage -> the failed stage it read, directly or not

    def _resources(self, stage: Stage) -> List[str]:
        gpus = self.options.stage_gpus(stage.name, stage.gpus)
        return job_resources(gpus, self.options.stage_cpus(stage.name), self.options.gpus_per_node)

    def check(self, stages: Sequence[Stage]) -> None:
        if not shutil.which('sbatch', path=(self.client.env or os.environ).get('PATH')):
            raise PipelineError('nothing was run; --executor slurm needs Slurm, and sbatch is not on PATH')
        for stage in stages:
            try:
                self._resources(stage)
            except ValueError as err:
                raise PipelineError(f'nothing was run; {stage.name}: {err}') from None

    def can_start(self, job: StageJob) -> bool:
        """Yes (the job waits in Slurm for its inputs' jobs), unless its folder lies inside the folder of an input
        whose job has not ended (the convert stage inside the world's): publishing that input would replace the
        folder holding the job's spec; it is submitted when that input has succeeded."""
        return not any(
            name in self._jobs and (job.final_dir + os.sep).startswith(folder + os.sep)
            for name, folder in job.input_dirs.items()
        )

    def start(self, job: StageJob) -> None:
        options = self.options
        resources = self._resources(job.stage)
        if '--ntasks=1' not in resources:  # one task per GPU: the multi-process commands run as srun tasks
            commands = [srun_command(cmd, self.python) for cmd in job.stage.commands]
            job.stage = dataclasses.replace(job.stage, commands=commands)
        stage = job.stage
        spec = job.write()
        sbatch = [*resources]
        sbatch += [
            f'--{key}={value}'
            for key, value in (
                ('partition', options.partition),
                ('account', options.account),
                ('qos', options.qos),
                ('time', options.time_limit(stage.name)),
            )
            if value
        ]
        sbatch += options.extra_args
        threads = os.environ.get('OMP_NUM_THREADS', str(options.stage_cpus(stage.name)))
        script = osp.join(job.partial_dir, BATCH_SCRIPT)
        with open(script, 'w') as f:
            f.write(
                render_batch_script(
                    f'mmbrain:{stage.name}',
                    [self.python, '-m', 'mmbrain.pipeline.slurm', spec],
                    submitted_log(job.final_dir, '%j'),
                    sbatch,
                    os.getcwd(),
                    env={'OMP_NUM_THREADS': threads},
                )
            )
        dependencies = [self._ids[name] for name in stage.inputs if name in self._jobs]  # not ended yet
        job_id = self.client.submit(script, dependencies)
        write_json(
            submitted_job_file(job.final_dir),
            dict(
                job_id=job_id, stage=stage.name, dependencies=dependencies, submitted=time.strftime('%Y-%m-%d %H:%M:%S')
            ),
        )
        self._track(job, job_id)
        after = f' after {", ".join(dependencies)}' if dependencies else ''
        self.log(f'{stage.name}: submitted as Slurm job {job_id}{after}; log {self.log_file(job)}')

    def _track(self, job: StageJob, job_id: str) -> None:
        self._jobs[job.name] = job
        self._ids[job.name] = job_id

    def log_file(self, job: StageJob) -> str:
        """Slurm's log of the job (beside the stage's folder until the job succeeded, then in it)."""
        job_id = self._ids[job.name]
        published = osp.join(job.final_dir, f'slurm-{job_id}.log')
        return published if osp.exists(published) else submitted_log(job.final_dir, job_id)

    def wait(self) -> List[Tuple[str, Optional[BaseException]]]:
        while True:
            states = self.client.states(self._ids[name] for name in self._jobs)
            report = []
            for name, job in list(self._jobs.items()):  # in the order started: inputs before what reads them
                state = states[self._ids[name]]
                if state.active:
                    continue
                error = self._outcome(job, state)
                if error is not None:
                    self._cancel_dependents(name)
                report.append((name, error))
                del self._jobs[name]
            if report:
                return report
            time.sleep(self.options.poll_seconds)

    def _outcome(self, job: StageJob, state: JobState) -> Optional[BaseException]:
        """None if the job published its stage, else the error naming the stage, the job and its log. (The runner
        invalidated the stage's record before the job started: a valid one now is the job's.)"""
        job_id = self._ids[job.name]
        if read_record(job.final_dir, job.name) is not None:
            return None
        if state.state == 'CANCELLED' and (job.name in self._cancelled or state.reason == 'DependencyNeverSatisfied'):
            cause = self._cancelled.get(job.name, 'an input')
            return StageFailed(f'{job.name}: Slurm job {job_id} cancelled, because {cause} failed')
        why = state.state + (f', exit code {state.exit_code}' if state.exit_code else '')
        if state.state == COMPLETED:
            why += ', but its folder was not published'
        log = self.log_file(job)
        return StageFailed(f'{job.name}: Slurm job {job_id} ended {why}; its log is {log}{log_tail(log)}')

    def _cancel_dependents(self, failed: str) -> None:
        """Cancel the jobs that read ``failed``, directly or not (Slurm cancels them too: --kill-on-invalid-dep)."""
        doomed, grew = {failed}, True
        while grew:
            more = {n for n, job in self._jobs.items() if n not in doomed and doomed & set(job.stage.inputs)}
            doomed |= more
            grew = bool(more)
        doomed.discard(failed)
        for name in doomed:
            self._cancelled.setdefault(name, self._cancelled.get(failed, failed))
        self.client.cancel(self._ids[n] for n in doomed)

    def stop(self, signum: int) -> None:
        """Cancel every job started or adopted that has not ended (whatever the signal)."""
        self.client.cancel(self._ids[name] for name in self._jobs)

    def close(self, timeout: float = 120.0) -> None:
        """Wait until no job started or adopted is pending or running (after :meth:`stop`: until the cancelled jobs
        have ended, so that nothing writes into their folders any more)."""
        deadline = time.monotonic() + timeout
        while self._jobs and time.monotonic() < deadline:
            states = self.client.states(self._ids[name] for name in self._jobs)
            for name in [n for n in self._jobs if not states[self._ids[n]].active]:
                del self._jobs[name]
            if self._jobs:
                time.sleep(min(1.0, self.options.poll_seconds))

    def _job_id_in(self, partial_dir: str) -> Optional[str]:
        data = read_job_file(submitted_job_file(partial_dir[: -len(PARTIAL)]))
        return None if data is None else data['job_id']

    def running_elsewhere(self, partial_dir: str) -> bool:
        job_id = self._job_id_in(partial_dir)
        return job_id is not None and self.client.states([job_id])[job_id].active

    def adopt(self, job: StageJob) -> None:
        job_id = self._job_id_in(job.partial_dir)
        self._track(job, job_id)
        self.log(f'{job.name}: Slurm job {job_id} of an earlier pipeline is still there; waiting for it')

    def cancel_elsewhere(self, partial_dir: str) -> None:
        job_id = self._job_id_in(partial_dir)
        if job_id is None:
            return
        self.client.cancel([job_id])
        deadline = time.monotonic() + 120
        while self.client.states([job_id])[job_id].active and time.monotonic() < deadline:
            time.sleep(min(1.0, self.options.poll_seconds))

    def describe(self, stages: Sequence[Stage]) -> Dict[str, str]:
        """Each stage's job as ``--list`` shows it: the job submitted for it (id and state, from Slurm) or the job
        that published its folder."""
        submitted = {s.name: read_job_file(submitted_job_file(s.output_dir)) for s in stages}
        submitted = {name: data['job_id'] for name, data in submitted.items() if data is not None}
        states = self.client.states(submitted.values())
        out = {}
        for stage in stages:
            if stage.name in submitted:
                state = states[submitted[stage.name]]
                reason = f' ({state.reason})' if state.reason and state.reason != 'None' else ''
                out[stage.name] = f'Slurm job {state.job_id}: {state.state}{reason}'
            elif read_job_file(osp.join(stage.output_dir, JOB_ID_FILE)) is not None:
                out[stage.name] = 'ran as ' + where_ran(stage.output_dir)
        return out


def where_ran(stage_dir: str) -> str:
    """Where a published stage ran: ``Slurm job 12 on node01`` for a Slurm job, else ``local``."""
    data = read_job_file(osp.join(stage_dir, JOB_ID_FILE))
    if data is None:
        return 'local'
    return f'Slurm job {data["job_id"]}' + (f' on {data["nodes"]}' if data.get('nodes') else '')


# ---------------------------------------------------------------------------------------------- the command line
_TIME = re.compile(r'(\d+-)?\d+(:\d+){0,2}|UNLIMITED|INFINITE')


def add_executor_arguments(parser) -> None:
    """``--executor`` and the Slurm options, for ``tools/run_pipeline.py``."""
    parser.add_argument(
        '--executor',
        choices=['local', 'slurm'],
        default='local',
        help='where the stages run: children of this process (local), or each stage as a Slurm batch job that starts '
        'when the jobs of the stages it reads have succeeded (slurm; the options below, docs/pipeline.md)',
    )
    group = parser.add_argument_group('with --executor slurm')
    group.add_argument('--partition', help="sbatch --partition of every job (default: the cluster's default)")
    group.add_argument('--account', help='sbatch --account')
    group.add_argument('--qos', help='sbatch --qos')
    group.add_argument(
        '--time-limit',
        nargs='+',
        default=[],
        metavar='[KIND=]LIMIT',
        help='sbatch --time per stage kind (the part of the name before "_": pretrain, det, seg, encoding, ...) or '
        'stage name, a bare LIMIT for every other stage; e.g. --time-limit 2:00:00 pretrain=8:00:00 det=1-00:00:00',
    )
    group.add_argument(
        '--stage-gpus',
        nargs='+',
        default=[],
        metavar='[KIND=]N',
        help="GPUs of a stage kind's jobs (default: what the stage declares: --gpus for the trainings with "
        '--nsd-root, none on the synthetic world); one task per GPU',
    )
    group.add_argument(
        '--cpus-per-task',
        nargs='+',
        default=[],
        metavar='[KIND=]N',
        help="CPUs per task (per GPU, or of a job without GPUs), also each command's OMP_NUM_THREADS unless set "
        '(default 1)',
    )
    group.add_argument(
        '--gpus-per-node', type=int, default=8, help='GPUs of one node: larger jobs span several nodes (default 8)'
    )
    group.add_argument(
        '--sbatch-args',
        default='',
        metavar='ARGS',
        help="more sbatch options for every job, one string (e.g. --sbatch-args='--constraint=a100 --mem=64G')",
    )
    group.add_argument(
        '--poll-seconds', type=float, default=10.0, help="how often the jobs' states are asked for (default 10)"
    )


def executor_from_args(args, parser) -> Optional[SlurmExecutor]:
    """The executor ``args`` ask for (None: the local one); a malformed option is a usage error (exit 2)."""
    if args.executor != 'slurm':
        return None

    def per_kind(option: str, values: List[str], convert) -> Dict:
        table = {}
        for value in values:
            key, sep, text = value.rpartition('=')
            try:
                table[key if sep else '*'] = convert(text)
            except ValueError:
                parser.error(f'--{option}: {value!r} is not [KIND=]VALUE with a valid value')
        return table

    def time_limit(text: str) -> str:
        if not _TIME.fullmatch(text):
            raise ValueError(text)
        return text

    def count(minimum: int):
        def convert(text: str) -> int:
            if int(text) < minimum:
                raise ValueError(text)
            return int(text)

        return convert

    if args.gpus_per_node < 1 or args.poll_seconds <= 0:
        parser.error('--gpus-per-node must be at least 1 and --poll-seconds positive')
    try:
        extra = shlex.split(args.sbatch_args)
    except ValueError as err:
        parser.error(f'--sbatch-args: {err}')
    options = SlurmOptions(
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        time_limits=per_kind('time-limit', args.time_limit, time_limit),
        gpus=per_kind('stage-gpus', args.stage_gpus, count(0)),
        cpus_per_task=per_kind('cpus-per-task', args.cpus_per_task, count(1)),
        gpus_per_node=args.gpus_per_node,
        extra_args=extra,
        poll_seconds=args.poll_seconds,
    )
    return SlurmExecutor(options)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m mmbrain.pipeline.slurm NAME.partial/stage_job.json`` (a job's batch script): run the stage as
    ``python -m mmbrain.pipeline.job`` does, then move the job file (with the nodes it ran on) and Slurm's log into
    the published folder."""
    argv = sys.argv[1:] if argv is None else argv
    final = osp.dirname(osp.abspath(argv[0]))[: -len(PARTIAL)] if len(argv) == 1 else None
    data = None if final is None else read_job_file(submitted_job_file(final))
    if data is not None:
        data.update(nodes=os.environ.get('SLURM_JOB_NODELIST', ''), started=time.strftime('%Y-%m-%d %H:%M:%S'))
        write_json(submitted_job_file(final), data)
    status = job_main(argv)
    if status == 0 and data is not None:
        write_json(osp.join(final, JOB_ID_FILE), data)
        os.remove(submitted_job_file(final))
        log = submitted_log(final, data['job_id'])
        if osp.exists(log):  # Slurm goes on writing the same file under its new name
            os.replace(log, osp.join(final, f'slurm-{data["job_id"]}.log'))
    return status


if __name__ == '__main__':
    sys.exit(main())
