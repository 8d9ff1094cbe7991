# Copyright (c) mmbrain contributors. All rights reserved.
"""Per-ROI encoding accuracy drawn at every validation, as mmpretrain's ``VisualizationHook`` draws predictions."""

from typing import Dict, Optional

from mmengine.hooks import Hook

from mmbrain.registry import HOOKS


def roi_summary(metrics: Dict[str, float], prefix: str = 'nsd') -> Dict[str, Dict[str, float]]:
    """``{'pearson_mean': {group: r}, 'noise_ceiling_mean': {group: nc %}}`` from ``BrainEncodingMetric``'s keys
    ``<prefix>/<group>/pearson_mean`` and ``<prefix>/<group>/noise_ceiling_mean`` (sub-ROI keys are left out)."""
    out: Dict[str, Dict[str, float]] = dict(pearson_mean={}, noise_ceiling_mean={})
    for key, value in metrics.items():
        parts = key.split('/')
        if len(parts) == 3 and parts[0] == prefix and parts[2] in out:
            out[parts[2]][parts[1]] = float(value)
    return out


@HOOKS.register_module()
class BrainEncodingVisualizationHook(Hook):
    """After each validation of an encoding model, draw the mean Pearson r of every ROI group beside its noise
    ceiling (:func:`~mmbrain.visualization.plot_roi_correlations`) with the runner's ``BrainVisualizer``, which
    records it in every vis backend (``LocalVisBackend``: ``vis_data/vis_image/roi_correlations_<step>.png``;
    TensorBoard / W&B log it).

    Config::

        visualizer = dict(type='BrainVisualizer', vis_backends=[dict(type='LocalVisBackend')])
        custom_hooks = [dict(type='BrainEncodingVisualizationHook')]

    Args:
        prefix: the metric's key prefix (``BrainEncodingMetric``'s default is ``nsd``).
        label: the bars' legend label.
        interval: draw every ``interval`` validations.
    """

    priority = 'LOW'

    def __init__(self, prefix: str = 'nsd', label: str = 'model', interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'BrainEncodingVisualizationHook: interval must be >= 1, got {interval}')
        self.prefix = prefix
        self.label = label
        self.interval = interval
        self._validations = 0

    def before_run(self, runner) -> None:
        from mmbrain.visualization import BrainVisualizer

        if not isinstance(runner.visualizer, BrainVisualizer):
            raise TypeError(
                f'BrainEncodingVisualizationHook draws with a BrainVisualizer; the runner has '
                f"{type(runner.visualizer).__name__} (set visualizer=dict(type='BrainVisualizer', ...))"
            )

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._validations += 1
        if not metrics or self._validations % self.interval:
            return
        summary = roi_summary(metrics, self.prefix)
        if not summary['pearson_mean']:
            runner.logger.warning(
                f'BrainEncodingVisualizationHook: no "{self.prefix}/<group>/pearson_mean" metric '
                '(is the evaluator BrainEncodingMetric, with this prefix?): nothing drawn'
            )
            return
        runner.visualizer.draw_roi_correlations(
            {self.label: summary['pearson_mean']}, noise_ceiling=summary['noise_ceiling_mean'] or None, step=runner.iter
        )
