# Copyright (c) mmbrain contributors. All rights reserved.
"""The pipeline's children: each command runs under :mod:`mmbrain.pipeline.supervise` and ends with the pipeline.

Each command is started in a session of its own (``start_new_session``; no ``preexec_fn``, which is unsafe in a
program with threads) under the supervisor, which receives SIGTERM from the kernel when the pipeline dies (SIGKILL
included) and then ends the command's whole process tree (torchrun's workers, in sessions of their own, included).
SIGINT / SIGTERM / SIGHUP of the pipeline are passed on to every running command (:class:`ChildProcesses`).
Training processes started by torchrun also end when their torchrun agent dies (:func:`die_with_torchrun_agent`).
"""

import os
import os.path as osp
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, List, Optional, Set

from . import supervise
from .errors import Interrupted, StageFailed

__all__ = ['ChildProcesses', 'run_command', 'forward_signals', 'die_with_torchrun_agent']

SUPERVISOR = osp.abspath(supervise.__file__)


@contextmanager
def forward_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` for the block (so the running children are stopped too)."""

    def handler(signum, _frame):
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _reap(proc: subprocess.Popen, grace: float = supervise.GRACE + 5.0) -> None:
    """Wait for a signalled child; SIGKILL it if it is still running after ``grace`` seconds (its supervisor
    SIGKILLs the command's tree after :data:`~mmbrain.pipeline.supervise.GRACE`)."""
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stop(proc: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(signum)
    _reap(proc)


class ChildProcesses:
    """The children running now, so that an interrupt caught in the main thread stops those of every stage."""

    def __init__(self):
        self._procs: Set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop(self, signum: int) -> None:
        """Send ``signum`` to every running child, then wait for each (SIGKILL after a grace period)."""
        with self._lock:
            procs = list(self._procs)
        for proc in procs:  # all signalled first, so they stop together
            if proc.poll() is None:
                proc.send_signal(signum)
        for proc in procs:
            _reap(proc)


def run_command(
    cmd: List[str],
    log_file: str,
    env: Optional[dict] = None,
    prefix: str = '    ',
    children: Optional[ChildProcesses] = None,
) -> None:
    """Run ``cmd`` under the supervisor, streaming its output to stdout and to ``log_file``.

    Call it from a thread that lives until it returns (the kernel's death signal follows the starting thread).

    Args:
        cmd: The argument list.
        log_file: Gets the command line and the whole output (appended).
        env: Variables set for the child on top of this process's environment.
        prefix: Put before each output line on stdout.
        children: Where the running child is registered (for :meth:`ChildProcesses.stop`).

    Raises:
        StageFailed: The command exited non-zero (its output is in ``log_file``).
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    with open(log_file, 'a') as log:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, '-I', '-S', SUPERVISOR, str(os.getpid()), *cmd],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors='replace',
            bufsize=1,
            start_new_session=True,
        )
        if children is not None:
            children.add(proc)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(prefix + line)
                log.write(line)
            returncode = proc.wait()
        except KeyboardInterrupt:
            _stop(proc, signal.SIGINT)
            raise
        except Interrupted as err:
            _stop(proc, err.signum)
            raise
        except BaseException:
            _stop(proc)
            raise
        finally:
            if children is not None:
                children.discard(proc)
    if returncode != 0:
        raise StageFailed(f'{" ".join(cmd)} exited with status {returncode}; its output is in {log_file}')


def die_with_torchrun_agent() -> None:
    """In a process started by torchrun: be SIGKILLed when the torchrun agent that started it dies (Linux).

    torchrun starts its workers in sessions of their own, so that neither a signal to the agent's process group nor
    the agent's own death reaches them; a tool calls this first thing in ``main``. Does nothing elsewhere.
    """
    if 'TORCHELASTIC_RUN_ID' not in os.environ:
        return
    agent = os.getppid()
    supervise.prctl(supervise.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != agent:  # the agent died before the death signal was set
        os._exit(1)
