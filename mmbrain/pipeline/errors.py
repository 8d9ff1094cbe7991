# Copyright (c) mmbrain contributors. All rights reserved.
"""Why a pipeline stops: the exceptions of :mod:`mmbrain.pipeline` and the exit statuses they stand for."""

import signal
from collections import deque

__all__ = ['PipelineError', 'StageFailed', 'WorkDirLocked', 'PipelineUsageError', 'Interrupted', 'log_tail']

#: How many of a failed stage's last log lines its error message quotes.
TAIL_LINES = 15


class PipelineError(RuntimeError):
    """The pipeline cannot go on: a stage failed, a config is missing, the work dir is in use (exit status 1)."""


class StageFailed(PipelineError):
    """A stage's command exited non-zero."""


def log_tail(path: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, indented, after a line saying how many: for the message of
    :class:`StageFailed` where the output was not streamed to the pipeline's console (a Slurm job's log lies on its
    node's file system), so that the cause is read where the failure is reported. An empty string where the log
    cannot be read or is empty."""
    try:
        with open(path, errors='replace') as f:
            last = [line.rstrip('\n') for line in deque(f, maxlen=lines)]
    except OSError:
        return ''
    return f'\nits last {len(last)} lines:\n' + '\n'.join(f'    {line}' for line in last) if last else ''


class WorkDirLocked(PipelineError):
    """Another pipeline holds the lock of the work dir (or of a data folder a stage writes)."""


class PipelineUsageError(ValueError):
    """The command line names something that does not exist, e.g. a misspelled ``--redo`` stage (exit status 2)."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP reached the pipeline (SIGINT raises ``KeyboardInterrupt``)."""

    def __init__(self, signum: int):
        super().__init__(f'interrupted by {signal.Signals(signum).name}')
        self.signum = signum
