# Copyright (c) mmbrain contributors. All rights reserved.
"""Why a pipeline stops: the exceptions of :mod:`mmbrain.pipeline` and the exit statuses they stand for."""

import signal

__all__ = ['PipelineError', 'StageFailed', 'WorkDirLocked', 'PipelineUsageError', 'Interrupted']


class PipelineError(RuntimeError):
    """The pipeline cannot go on: a stage failed, a config is missing, the work dir is in use (exit status 1)."""


class StageFailed(PipelineError):
    """A stage's command exited non-zero."""


class WorkDirLocked(PipelineError):
    """Another pipeline holds the lock of the work dir (or of a data folder a stage writes)."""


class PipelineUsageError(ValueError):
    """The command line names something that does not exist, e.g. a misspelled ``--redo`` stage (exit status 2)."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP reached the pipeline (SIGINT raises ``KeyboardInterrupt``)."""

    def __init__(self, signum: int):
        super().__init__(f'interrupted by {signal.Signals(signum).name}')
        self.signum = signum
