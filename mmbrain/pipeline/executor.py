# Copyright (c) mmbrain contributors. All rights reserved.
"""Where a stage's commands run: the seam between the runner's decisions and the machines that do the work.

The runner (:class:`~mmbrain.pipeline.runner.StageRunner`) decides what runs and hands each stage to an executor
as a :class:`~mmbrain.pipeline.job.StageJob`, after creating its ``NAME.partial/`` folder and writing the job's spec
there (``stage_job.json``). The contract of an :class:`Executor`:

- :meth:`~Executor.start` runs the job's commands with ``job.env`` on top of the environment, their output in
  ``job.log_file``, and publishes the folder when they succeed, by :func:`~mmbrain.pipeline.job.run_job`: either in
  the pipeline process (:class:`LocalExecutor`) or at the end of a job elsewhere, which runs
  ``python -m mmbrain.pipeline.job NAME.partial/stage_job.json`` (publication is then the job's last step, so a
  job that depends on it can start as soon as it succeeded, e.g. Slurm's ``--dependency=afterok``);
- :meth:`~Executor.wait` blocks until at least one started job ended and reports each ended one: its name and None
  when it succeeded (its folder is published), else the error (its log named);
- with :attr:`~Executor.ahead`, the runner also starts a job whose inputs are started but not finished: the executor
  must then start it only after they succeeded (and fail it if one fails); otherwise the runner starts a job only
  when its inputs are published, and only when :meth:`~Executor.can_start` says the resources are free;
- :meth:`~Executor.stop` passes a signal on to every started job (Ctrl-C, SIGTERM: cancel them) and
  :meth:`~Executor.close` waits until none runs;
- :meth:`~Executor.running_elsewhere`: a restarted pipeline asks whether a ``.partial`` folder left behind belongs to
  a job still running (e.g. a submitted Slurm job whose pipeline died); such a folder is kept and the job is adopted
  (:meth:`~Executor.adopt`) when its spec matches what the runner decided now, else cancelled
  (:meth:`~Executor.cancel_elsewhere`). Locally nothing runs elsewhere: another pipeline would hold the lock.
"""

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import PipelineError, PipelineUsageError
from .job import StageJob, run_job
from .processes import ChildProcesses
from .stages import Stage

__all__ = ['Executor', 'LocalExecutor', 'available_cpus', 'visible_gpus']


class Executor:
    """Runs stage jobs (see the module docstring for the contract). This base runs nothing."""

    #: Whether jobs may be started before the jobs they read ended (the executor orders them).
    ahead: bool = False

    def check(self, stages: Sequence[Stage]) -> None:
        """Raise :class:`PipelineError` before anything runs if a stage can never start here."""

    def can_start(self, job: StageJob) -> bool:
        """Whether ``job`` can start now (free slots, GPUs)."""
        return True

    def start(self, job: StageJob) -> None:
        raise NotImplementedError

    def wait(self) -> List[Tuple[str, Optional[BaseException]]]:
        raise NotImplementedError

    def stop(self, signum: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Wait until no started job runs."""

    def running_elsewhere(self, partial_dir: str) -> bool:
        """Whether the ``.partial`` folder ``partial_dir`` belongs to a job of this executor still running."""
        return False

    def adopt(self, job: StageJob) -> None:
        """Treat the job running elsewhere in ``job.partial_dir`` as started by this pipeline."""
        raise NotImplementedError

    def cancel_elsewhere(self, partial_dir: str) -> None:
        """Cancel the job running elsewhere in ``partial_dir`` and wait until it ended."""
        raise NotImplementedError

    def describe(self, stages: Sequence[Stage]) -> Dict[str, str]:
        """What ``--list`` shows of each stage's job, by stage name (e.g. its Slurm job id and state); none here."""
        return {}


def available_cpus() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def visible_gpus(count: int) -> List[str]:
    """The ids of ``count`` GPUs this process may give out: the first ``count`` of ``CUDA_VISIBLE_DEVICES`` where it
    is set, else ``0 .. count-1``.

    Raises:
        PipelineUsageError: ``CUDA_VISIBLE_DEVICES`` names fewer than ``count`` (a usage error: exit status 2).
    """
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if visible is None:
        return [str(i) for i in range(count)]
    ids = [i.strip() for i in visible.split(',') if i.strip()]
    if len(ids) < count:
        raise PipelineUsageError(f'--gpus {count}, but CUDA_VISIBLE_DEVICES={visible!r} names {len(ids)}')
    return ids[:count]


class LocalExecutor(Executor):
    """Runs jobs as children of this process, up to ``jobs`` at once, each in a thread of its own that waits for it.

    Args:
        jobs: Stages running at once. With more than one, each job's commands get ``OMP_NUM_THREADS`` = CPU cores
            / jobs unless the environment sets it, and their output lines are prefixed with the stage name.
        gpus: GPUs of this machine to share among running stages (None: not managed, every command sees what this
            process sees). Each running stage gets its own ``CUDA_VISIBLE_DEVICES``: ``stage.gpus`` ids no other
            running stage holds (none for a stage of 0 GPUs), and starts only when that many are free.
    """

    def __init__(self, jobs: int = 1, gpus: Optional[int] = None):
        if jobs < 1:
            raise ValueError(f'jobs must be at least 1, got {jobs}')
        self.jobs = jobs
        self.free_gpus = None if gpus is None else visible_gpus(gpus)
        self.children = ChildProcesses()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._running: Dict[Future, StageJob] = {}
        self._held: Dict[str, List[str]] = {}

    def check(self, stages: Sequence[Stage]) -> None:
        if self.free_gpus is None:
            return
        greedy = [f'{s.name} needs {s.gpus}' for s in stages if s.gpus > len(self.free_gpus)]
        if greedy:
            raise PipelineError(f'nothing was run; --gpus {len(self.free_gpus)} is too few: ' + ', '.join(greedy))

    def can_start(self, job: StageJob) -> bool:
        if len(self._running) >= self.jobs:
            return False
        return self.free_gpus is None or job.stage.gpus <= len(self.free_gpus)

    def start(self, job: StageJob) -> None:
        if self.jobs > 1:
            job.prefix = f'[{job.name}] '
            if 'OMP_NUM_THREADS' not in os.environ:
                job.env.setdefault('OMP_NUM_THREADS', str(max(1, available_cpus() // self.jobs)))
        if self.free_gpus is not None:
            held, self.free_gpus = self.free_gpus[: job.stage.gpus], self.free_gpus[job.stage.gpus :]
            self._held[job.name] = held
            job.env['CUDA_VISIBLE_DEVICES'] = ','.join(held)
        if self._pool is None:
            # Each child is started and waited for by one pool thread, which lives until the pool shuts down after
            # the child ended (the kernel's death signal follows the thread that started a child).
            self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix='stage')
        self._running[self._pool.submit(run_job, job, self.children)] = job

    def wait(self) -> List[Tuple[str, Optional[BaseException]]]:
        ended, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        report = []
        for future in ended:
            job = self._running.pop(future)
            if self.free_gpus is not None:
                self.free_gpus += self._held.pop(job.name)
            report.append((job.name, future.exception()))
        return report

    def stop(self, signum: int) -> None:
        self.children.stop(signum)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
