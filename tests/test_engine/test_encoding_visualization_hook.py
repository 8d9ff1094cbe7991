# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainEncodingVisualizationHook: the per-ROI encoding figure of every validation reaches the vis backends."""

import types

import pytest
from mmengine.logging import MMLogger
from mmengine.visualization import Visualizer

from mmbrain.engine.hooks.encoding_visualization_hook import BrainEncodingVisualizationHook, roi_summary
from mmbrain.registry import HOOKS, VISUALIZERS

METRICS = {
    'nsd/pearson_mean': 0.2,
    'nsd/floc-faces/pearson_mean': 0.31,
    'nsd/streams/pearson_mean': 0.12,
    'nsd/floc-faces/noise_ceiling_mean': 40.0,
    'nsd/streams/noise_ceiling_mean': 25.0,
    'nsd/floc-faces/FFA-1/pearson_mean': 0.5,
    'other/streams/pearson_mean': 0.9,
}


def _runner(visualizer, step=7):
    return types.SimpleNamespace(visualizer=visualizer, iter=step, logger=MMLogger.get_instance('test_enc_vis_hook'))


def test_roi_summary_reads_group_keys_only():
    summary = roi_summary(METRICS)
    assert summary['pearson_mean'] == {'floc-faces': 0.31, 'streams': 0.12}
    assert summary['noise_ceiling_mean'] == {'floc-faces': 40.0, 'streams': 25.0}


def test_hook_draws_into_the_backends(tmp_path):
    vis = VISUALIZERS.build(
        dict(
            type='BrainVisualizer',
            name='test_encoding_hook',
            dpi=30,
            vis_backends=[dict(type='LocalVisBackend')],
            save_dir=str(tmp_path),
        )
    )
    hook = HOOKS.build(dict(type='BrainEncodingVisualizationHook', interval=2))
    runner = _runner(vis)
    hook.before_run(runner)
    hook.after_val_epoch(runner, METRICS)  # 1st validation: skipped (interval 2)
    images = tmp_path / 'vis_data' / 'vis_image'
    assert not images.exists() or not list(images.iterdir())
    hook.after_val_epoch(runner, METRICS)
    assert [p.name for p in images.iterdir()] == ['roi_correlations_7.png']
    hook.after_val_epoch(runner, {'loss': 1.0})  # 3rd: nothing to draw, a warning, no error
    hook.after_val_epoch(runner, {'loss': 1.0})
    assert len(list(images.iterdir())) == 1


def test_hook_needs_a_brain_visualizer():
    with pytest.raises(TypeError, match='BrainVisualizer'):
        BrainEncodingVisualizationHook().before_run(_runner(Visualizer(name='plain_for_hook_test')))
    with pytest.raises(ValueError, match='interval'):
        BrainEncodingVisualizationHook(interval=0)
