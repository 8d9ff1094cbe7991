# Copyright (c) mmbrain contributors. All rights reserved.
"""Every figure renders to a PNG of the expected size, shows the numbers right, and gives a reader what they need
(legends that hide no panel, titles that overlap nothing, rows cut at the same place, labelled colour bars)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mmbrain.evaluation.scalar_logs import load_scalar_log
from mmbrain.visualization import (
    ceiling_in_r,
    nilearn_available,
    plot_ablation,
    plot_brain_map,
    plot_gradcam_grid,
    plot_result_maps,
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


@pytest.mark.slow
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
    assert fig._suptitle.get_text() == 'Grad-CAM of cos(image embedding, partner embedding)'
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
    assert _png_size(out) == _expected((2 * 3.6, 3.4 + 0.6))
    box = fig.axes[0]
    assert [p.get_height() for p in box.patches] == pytest.approx([45.1, 42.7])
    labels = [t.get_text() for t in box.texts]
    assert '42.7\n(-2.4)' in labels and 'not\nmeasured' in labels
    # A reader sees which bar is which variant on the axis itself (not ticks "1", "2" and a legend to decode).
    ticks = [t.get_text().replace('\n', ' ') for t in box.get_xticklabels()]
    assert ticks == ['Brainformer (reference)', 'w/o guidance loss', 'pos embed']
    # The default title names no paper table: variants that are not the paper's ablations are not "Table 3".
    assert 'Table' not in fig._suptitle.get_text()


def test_save_figure_is_atomic(tmp_path):
    fig = plot_ablation({'a': {'m': 1.0}}, dpi=DPI)
    out = save_figure(fig, tmp_path / 'sub' / 'fig.png')
    assert _png_size(out) and sorted(p.name for p in out.parent.iterdir()) == ['fig.png']
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / 'sub' / 'fig.nosuchformat')
    assert sorted(p.name for p in out.parent.iterdir()) == ['fig.png']
    with pytest.raises(ValueError, match='no suffix'):
        save_figure(fig, tmp_path / 'noext')


# ----------------------------------------------------------------------------------- what a reader needs
def _extent(artist, renderer):
    return artist.get_window_extent(renderer)


def _texts_of(fig):
    """Every visible, non-empty text of the figure (titles, labels, tick labels, offset texts, legends' texts)."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _many_metric_runs(tmp_path, n_runs=5):
    """Runs that log what a study logs: 4 directions x top-1/5/10, per-subject copies, chance (dozens of keys)."""
    runs = {}
    directions = ['img2brain', 'brain2img', 'img2text', 'text2img']
    for r in range(n_runs):
        lines = [
            json.dumps(
                dict(loss=1.0 + r, loss_con=1.0, loss_bfg=0.5, temperature=0.07, lr=0.001 * (r + 1), iter=i, step=i)
            )
            for i in (2, 4, 6)
        ]
        for step in (3, 6):
            metrics = {f'retrieval/{d}_top{k}': 10.0 * k + r for d in directions for k in (1, 5, 10)}
            metrics.update({f'retrieval/chance_top{k}': 0.5 * k for k in (1, 5, 10)})
            metrics.update(
                {f'retrieval/subj{s}/{d}_top{k}': 1.0 for s in (1, 2, 3) for d in directions for k in (1, 5)}
            )
            lines.append(json.dumps(dict(metrics, step=step)))
        log = tmp_path / f'run{r}' / 'scalars.json'
        log.parent.mkdir()
        log.write_text('\n'.join(lines) + '\n')
        runs[f'variant {r}'] = log
    return runs


def test_training_curves_legends_hide_no_panel_and_titles_overlap_nothing(tmp_path):
    runs = _many_metric_runs(tmp_path)
    n_keys = len(load_scalar_log(next(iter(runs.values()))).retrieval_keys())
    assert n_keys > 30
    fig = plot_training_curves(runs, tmp_path / 'curves.png', dpi=DPI)
    renderer = fig.canvas.get_renderer()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    entries = sum(len(legend.get_texts()) for legend in legends)
    # runs + k values (3) + directions (4) + chance: small, whatever the number of logged keys.
    assert entries <= len(runs) + 3 + 4 + 1, [t.get_text() for legend in legends for t in legend.get_texts()]
    for legend in legends:
        for ax in fig.axes:
            assert not _extent(legend, renderer).overlaps(_extent(ax, renderer)), 'a legend covers a panel'
    texts = _texts_of(fig)
    for ax in fig.axes:
        title = _extent(ax.title, renderer)
        for other in texts:
            if other is not ax.title:
                assert not title.overlaps(_extent(other, renderer)), (ax.get_title(), other.get_text())


def test_brain_map_says_a_voxel_in_two_groups_shows_their_mean():
    xyz = np.array([[0.0, 0.0, 0.0], [1.8, 0.0, 0.0], [3.6, 0.0, 0.0], [1.8, 0.0, 0.0]])
    fig = plot_brain_map(xyz, np.array([0.1, 0.2, 0.3, 0.4]), dpi=DPI)
    assert '1 voxel listings repeat a voxel' in fig._supxlabel.get_text()
    assert 'mean' in fig._supxlabel.get_text()
    fig = plot_brain_map(xyz[:3], np.array([0.1, 0.2, 0.3]), dpi=DPI)
    assert fig._supxlabel is None  # nothing shared, nothing said


def _nifti_maps(tmp_path, peaks):
    """maps.json-like indexes of one r map per model, each with its strongest voxels around its own peak."""
    import nibabel as nib

    grid = (20, 24, 16)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-20.0, -30.0, -10.0]
    maps = {}
    for label, peak in peaks.items():
        ijk = np.indices(grid).reshape(3, -1).T
        r = np.exp(-((ijk - np.array(peak)) ** 2).sum(1) / 8.0).reshape(grid).astype(np.float32)
        r[r < 0.05] = np.nan
        path = tmp_path / f'{label}_r.nii.gz'
        nib.save(nib.Nifti1Image(r, affine), str(path))
        maps[label] = dict(space='func1pt8mm', maps=dict(r=str(path)), anatomy=None)
    return maps


@pytest.mark.skipif(not nilearn_available(), reason='nilearn is an optional extra')
def test_result_maps_rows_are_cut_at_the_same_place_with_a_labelled_colorbar(tmp_path):
    maps = _nifti_maps(tmp_path, {'random init': (4, 5, 3), 'CLIP': (10, 12, 8), 'Brainformer': (15, 18, 12)})
    fig = plot_result_maps(maps, tmp_path / 'maps.png', value_label='Pearson r', dpi=DPI)
    cuts = {}
    for ax in fig.axes:
        for text in ax.texts:
            if text.get_text()[:2] in ('x=', 'y=', 'z='):
                cuts.setdefault(text.get_text()[0], set()).add(text.get_text())
    # nilearn annotates each row's cuts; every row shows the same x, y and z.
    assert sorted(cuts) == ['x', 'y', 'z'] and all(len(v) == 1 for v in cuts.values()), cuts
    colorbars = [ax for ax in fig.axes if ax.get_ylabel() == 'Pearson r']
    assert len(colorbars) == 1, 'one labelled colour bar for all rows (one shared scale)'
    assert "shows the mean of its groups' values" in ' '.join(t.get_text() for t in fig.texts)
    explicit = plot_result_maps(maps, cut_coords=(0.0, 0.0, 0.0), dpi=DPI)
    assert 'x, y, z = 0.0, 0.0, 0.0 mm' in ' '.join(t.get_text() for t in explicit.texts)


def test_gradcam_rows_name_what_the_image_embedding_is_compared_with():
    images = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    cams = {'CLIP': np.zeros((2, 16, 16)), 'Brainformer': np.zeros((2, 16, 16))}
    partners = {'CLIP': 'caption embedding', 'Brainformer': 'brain embedding'}
    fig = plot_gradcam_grid(images, cams, partners=partners, footer=['Sanity checks: ...'], dpi=DPI)
    ylabels = [ax.get_ylabel() for ax in fig.axes[2:6:2]]
    assert ylabels == ['CLIP\nvs caption embedding', 'Brainformer\nvs brain embedding']
    assert fig._suptitle.get_text() == 'Grad-CAM of cos(image embedding, caption embedding or brain embedding)'
    assert fig._supxlabel.get_text() == 'Sanity checks: ...'


def test_roi_bars_legend_covers_no_bar_and_the_axis_says_its_unit():
    scores = {f'model {i}': {g: 0.1 * (i + 1) for g in GROUPS} for i in range(6)}
    fig = plot_roi_correlations(scores, noise_ceiling={g: [36.0] for g in GROUPS}, dpi=DPI)
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    legend = ax.get_legend()
    assert len(legend.get_texts()) == 6 + 1  # the models and the noise ceiling, nothing per group
    assert not _extent(legend, renderer).overlaps(_extent(ax, renderer)), 'the legend covers the bars'
    assert 'Pearson r' in ax.get_ylabel()
