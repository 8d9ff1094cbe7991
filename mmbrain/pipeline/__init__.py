# Copyright (c) mmbrain contributors. All rights reserved.
"""The end-to-end job (``tools/run_pipeline.py``): declared stages, honest reuse, the report."""
from .plan import DownstreamTask, PipelinePlan, build_stages, final_checkpoint, nsd_plan, synthetic_plan
from .report import PipelineResults, collect_results, write_figures, write_report
from .stages import Stage, StageRunner, run_command

__all__ = [
    'DownstreamTask', 'PipelinePlan', 'build_stages', 'final_checkpoint', 'nsd_plan', 'synthetic_plan',
    'PipelineResults', 'collect_results', 'write_figures', 'write_report', 'Stage', 'StageRunner', 'run_command'
]
