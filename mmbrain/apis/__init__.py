# Copyright (c) mmbrain contributors. All rights reserved.
"""High-level entry points: the resumable end-to-end pipeline and its report."""
from .pipeline import DownstreamTask, PipelinePlan, build_stages, final_checkpoint, nsd_plan, synthetic_plan
from .report import PipelineResults, collect_results, write_figures, write_report
from .stages import Stage, StageRunner, run_command

__all__ = [
    'DownstreamTask', 'PipelinePlan', 'build_stages', 'final_checkpoint', 'nsd_plan', 'synthetic_plan',
    'PipelineResults', 'collect_results', 'write_figures', 'write_report', 'Stage', 'StageRunner', 'run_command'
]
