# Copyright (c) mmbrain contributors. All rights reserved.
"""The end-to-end job (``tools/run_pipeline.py``): declared stages with honest reuse, the plan, the report.

The names below are imported on first use, so that ``import mmbrain.pipeline.processes`` (tools/train.py under
torchrun) or a stage job (``python -m mmbrain.pipeline.job``) does not import the plan and the report.
"""

from mmbrain.utils.lazy import lazy_exports

_EXPORTS = {
    'DownstreamTask': '.plan',
    'Initialisation': '.plan',
    'PipelinePlan': '.plan',
    'build_stages': '.plan',
    'nsd_plan': '.plan',
    'synthetic_plan': '.plan',
    'PipelineResults': '.report',
    'collect_results': '.report',
    'write_figures': '.report',
    'write_report': '.report',
    'Checkpoint': '.stages',
    'GeneratedConfig': '.stages',
    'Out': '.stages',
    'Stage': '.stages',
    'StageConfig': '.stages',
    'final_checkpoint': '.stages',
    'PipelineError': '.errors',
    'PipelineUsageError': '.errors',
    'StageFailed': '.errors',
    'WorkDirLocked': '.errors',
    'StageRunner': '.runner',
    'run_command': '.processes',
    'paired_difference': '.statistics',
    'summarize': '.statistics',
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
