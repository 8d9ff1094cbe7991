# Copyright (c) mmbrain contributors. All rights reserved.
"""The end-to-end job (``tools/run_pipeline.py``): declared stages with honest reuse, the plan, the report."""

from .errors import PipelineError, PipelineUsageError, StageFailed, WorkDirLocked
from .plan import (
    DownstreamTask,
    Initialisation,
    PipelinePlan,
    build_stages,
    nsd_plan,
    synthetic_plan,
)
from .processes import run_command
from .report import PipelineResults, collect_results, write_figures, write_report
from .runner import StageRunner
from .stages import Checkpoint, GeneratedConfig, Out, Stage, StageConfig, final_checkpoint
from .statistics import paired_difference, summarize

__all__ = [
    'DownstreamTask',
    'Initialisation',
    'PipelinePlan',
    'build_stages',
    'nsd_plan',
    'synthetic_plan',
    'PipelineResults',
    'collect_results',
    'write_figures',
    'write_report',
    'Checkpoint',
    'GeneratedConfig',
    'Out',
    'PipelineError',
    'PipelineUsageError',
    'Stage',
    'StageConfig',
    'StageFailed',
    'StageRunner',
    'WorkDirLocked',
    'final_checkpoint',
    'run_command',
    'paired_difference',
    'summarize',
]
