# Copyright (c) mmbrain contributors. All rights reserved.
"""Every figure renders to a PNG of the expected size; the numbers the figures show are computed right."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from mmbrain.registry import VISUALIZERS
from mmbrain.visualization import (
    BrainVisualizer,
    ceiling_in_r,
    load_scalar_log,
    plot_ablation,
    plot_brain_map,
    plot_gradcam_grid,
    plot_roi_correlations,
    plot_training_curves,
    save_figure,
)
from mmbrain.visualization.brain_map import project

DPI = 40
GROUPS = ['prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams']


def _png_size(path):
    assert path.is_file() and path.stat().st_size > 1000, path
    with Image.open(path) as img:
        assert img.format == 'PNG'
        return img.size


def _expected(figsize):
    return round(figsize[0] * DPI), round(figsize[1] * DPI)


def test_training_curves_from_runner_log_and_a_second_run(runner_run, tmp_path):
    ablation = tmp_path / 'ablation' / '20240101_000000' / 'vis_data' / 'scalars.json'
    ablation.parent.mkdir(parents=True)
    ablation.write_text(
        '{"loss": 1.0, "loss_con": 1.0, "temperature": 0.08, "lr": 0.1, "iter": 2, "step": 2}\n'
        '{"retrieval/i2b_top1": 20.0, "step": 3}\n'
    )
    out = tmp_path / 'curves.png'
    runs = {'Brainformer': runner_run.work_dir, 'w/o guidance loss': load_scalar_log(ablation)}
    fig = plot_training_curves(runs, out, figsize=(15, 8), dpi=DPI)
    assert _png_size(out) == _expected((15, 8))
    axes = fig.axes
    # One line per run in the loss panels; the ablation logged no loss_bfg, so only one line there.
    assert len(axes[1].lines) == 2 and len(axes[2].lines) == 1
    # The retrieval panel: 3 metrics of the Runner run + 1 of the ablation.
    assert len(axes[5].lines) == 4
    np.testing.assert_array_equal(axes[5].lines[0].get_xdata(), [3, 6])


def test_training_curves_say_when_nothing_was_logged(tmp_path):
    log = tmp_path / 'scalars.json'
    log.write_text('{"loss": 1.0, "iter": 1, "step": 1}\n')
    fig = plot_training_curves(log, dpi=DPI)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any('retrieval metrics\nnot logged' in t for t in texts)
    assert any('temperature (Eq. 5)\nnot logged' in t for t in texts)


def test_roi_correlations_png_and_ceiling(tmp_path, caplog):
    rng = np.random.default_rng(0)
    brainformer = {g: rng.normal(0.3, 0.1, 50) for g in GROUPS}
    brainformer['floc-words'][:3] = np.nan
    scores = {'Brainformer': brainformer, 'random init': {g: 0.1 for g in GROUPS}}
    nc = {g: np.full(50, 36.0) for g in GROUPS}
    out = tmp_path / 'roi.png'
    fig = plot_roi_correlations(scores, out, noise_ceiling=nc, figsize=(11, 4.8), dpi=DPI)
    assert _png_size(out) == _expected((11, 4.8))
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:6] == pytest.approx([np.nanmean(brainformer[g]) for g in GROUPS])
    assert heights[6:] == pytest.approx([0.1] * 6)
    # NC = 36 % of the variance -> the highest r is 0.6.
    ceilings = [c for c in ax.collections if c.get_segments() and len(c.get_segments()) == 1]
    assert len(ceilings) == 6
    assert all(seg[0][:, 1] == pytest.approx([0.6, 0.6]) for c in ceilings for seg in [c.get_segments()])
    assert [t.get_text() for t in ax.get_xticklabels()] == GROUPS


def test_ceiling_in_r():
    assert ceiling_in_r([25.0, 100.0]) == pytest.approx(0.75)
    assert ceiling_in_r([0.25, 1.0], 'nc_fraction') == pytest.approx(0.75)
    assert ceiling_in_r([0.4, 0.6], 'r') == pytest.approx(0.5)
    assert ceiling_in_r([-5.0, 400.0]) == pytest.approx(0.5)  # clipped to [0, 100] %
    with pytest.raises(ValueError, match='ceiling unit'):
        ceiling_in_r([1.0], 'variance')


def test_projection_orientation():
    # Voxels on a 3 x 4 x 5 grid: value = 10 * i + j - k.
    ijk = np.stack(np.meshgrid(np.arange(3), np.arange(4), np.arange(5), indexing='ij'), -1).reshape(-1, 3)
    values = 10.0 * ijk[:, 0] + ijk[:, 1] - ijk[:, 2]
    axial = project(ijk, values, axis=2, projection='max')  # [y, x], max over z is at k = 0
    assert axial.shape == (4, 3)
    assert axial[1, 2] == 21.0
    sagittal = project(ijk, values, axis=0, projection='mean')  # [z, y], mean over x = 10 + j - k
    assert sagittal.shape == (5, 4)
    assert sagittal[4, 3] == pytest.approx(10 + 3 - 4)
    sparse = project(np.array([[0, 0, 0], [2, 1, 0]]), np.array([1.0, 2.0]), axis=2)
    assert np.isnan(sparse[0, 1]) and sparse[1, 2] == 2.0


def test_brain_map_png(tmp_path):
    rng = np.random.default_rng(0)
    ijk = np.unique(rng.integers(0, 12, (600, 3)), axis=0)
    xyz = ijk * 1.8 + np.array([-20.0, -90.0, -10.0])
    values = np.tanh(rng.normal(0, 0.3, len(xyz)))
    values[:5] = np.nan
    # A voxel listed twice (two ROI groups) counts once.
    xyz = np.concatenate([xyz, xyz[-1:]])
    values = np.concatenate([values, values[-1:]])
    out = tmp_path / 'brain.png'
    fig = plot_brain_map(xyz, values, out, figsize=(16, 4.4), dpi=DPI)
    assert _png_size(out) == _expected((16, 4.4))
    assert f'({len(ijk) - 5} voxels)' in fig._suptitle.get_text()
    assert [ax.get_title() for ax in fig.axes[:3]] == [
        'sagittal (max along x)',
        'coronal (max along y)',
        'axial (max along z)',
    ]
    out2 = tmp_path / 'brain_2d.png'
    plot_brain_map(xyz, values, out2, with_3d=False, projection='mean', dpi=DPI)
    assert _png_size(out2) == _expected((12.5, 4.4))
    with pytest.raises(ValueError, match='xyz must be'):
        plot_brain_map(xyz[:, :2], values)


def test_gradcam_grid_png(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    cams = {name: torch.rand(3, 48, 48) for name in ('random init', 'w/o guidance loss', 'Brainformer')}
    out = tmp_path / 'gradcam.png'
    fig = plot_gradcam_grid(
        images,
        cams,
        out,
        similarity={'Brainformer': [0.1, 0.2, -0.3]},
        column_titles=['a', 'b', 'c'],
        panel_inches=2.0,
        dpi=DPI,
    )
    assert _png_size(out) == _expected((3 * 2.0 + 0.8, 4 * 2.0 + 0.6))
    assert [ax.get_ylabel() for ax in fig.axes[:12:3]] == ['input', 'random init', 'w/o guidance loss', 'Brainformer']
    assert fig.axes[10].texts[0].get_text() == 'cos=+0.20'
    with pytest.raises(ValueError, match="maps of 'bad'"):
        plot_gradcam_grid(images, {'bad': np.zeros((3, 10, 10))})


def test_ablation_png(tmp_path):
    results = {
        'Brainformer': {'AP box': 45.1, 'PCC': 57.43},
        'w/o guidance loss': {'AP box': 42.7, 'PCC': 56.25},
        'pos embed': {'PCC': 56.19},
    }
    out = tmp_path / 'ablation.png'
    fig = plot_ablation(results, out, panel_size=(3.6, 3.4), dpi=DPI)
    assert _png_size(out) == _expected((2 * 3.6, 3.4 + 0.9))
    box = fig.axes[0]
    assert [p.get_height() for p in box.patches] == pytest.approx([45.1, 42.7])
    labels = [t.get_text() for t in box.texts]
    assert '42.7\n(-2.4)' in labels and 'n/a' in labels


def test_save_figure_is_atomic(tmp_path):
    fig = plot_ablation({'a': {'m': 1.0}}, dpi=DPI)
    out = save_figure(fig, tmp_path / 'sub' / 'fig.png')
    assert _png_size(out) and sorted(p.name for p in out.parent.iterdir()) == ['fig.png']
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / 'sub' / 'fig.nosuchformat')
    assert sorted(p.name for p in out.parent.iterdir()) == ['fig.png']
    with pytest.raises(ValueError, match='no suffix'):
        save_figure(fig, tmp_path / 'noext')


def test_brain_visualizer_writes_to_its_backends(tmp_path):
    vis = VISUALIZERS.build(
        dict(
            type='BrainVisualizer',
            name='test_brain_visualizer',
            dpi=DPI,
            vis_backends=[dict(type='LocalVisBackend')],
            save_dir=str(tmp_path),
        )
    )
    assert isinstance(vis, BrainVisualizer) and BrainVisualizer.get_current_instance() is vis
    image = vis.draw_ablation({'a': {'m': 1.0}, 'b': {'m': 2.0}}, name='ablation', step=3)
    assert image.shape == (round((3.4 + 0.9) * DPI), round(3.6 * DPI), 3) and image.dtype == np.uint8
    assert _png_size(tmp_path / 'vis_data' / 'vis_image' / 'ablation_3.png') == (image.shape[1], image.shape[0])
    assert vis.get_image().shape == image.shape
    out = tmp_path / 'roi.png'
    vis.draw_roi_correlations({'m': {'streams': [0.1, 0.2]}}, out_file=out)
    assert _png_size(out) == _expected((11, 4.8))
    assert not (tmp_path / 'vis_data' / 'vis_image' / 'roi_correlations_0.png').exists()
    assert isinstance(plot_ablation({'a': {'m': 1.0}}), Figure)
