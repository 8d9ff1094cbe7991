# Copyright (c) mmbrain contributors. All rights reserved.
"""Brain response prediction: BrainEncodingMetric against direct numpy computations, and the voxel readout on a
converted Brainformer backbone trained with mmengine's Runner on a synthetic held-out subject."""

import os.path as osp

import h5py
import numpy as np
import pytest
import torch
from _helpers import REPO, world_args

from mmbrain.evaluation.metrics import BrainEncodingMetric

ENCODING_CONFIG = 'configs/encoding/voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'


def _samples(subject_file, rng):
    """Metric inputs for images shown 1-3 times: data samples as the Evaluator passes them (dicts)."""
    with h5py.File(subject_file, 'r') as f:
        voxels = {g: f['rois'][g]['label'].shape[0] for g in f['rois']}
    image_ids = np.repeat(np.arange(30), rng.choice([1, 2, 3], size=30))
    signal = {g: rng.standard_normal((30, v)) for g, v in voxels.items()}
    pred = {g: s + rng.standard_normal(s.shape) for g, s in signal.items()}  # one prediction per image
    samples = [
        dict(
            nsd_id=int(i),
            pred_fmri={g: torch.tensor(pred[g][i], dtype=torch.float32) for g in voxels},
            gt_fmri={
                g: torch.tensor(signal[g][i] + rng.standard_normal(v), dtype=torch.float32) for g, v in voxels.items()
            },
        )
        for i in image_ids
    ]
    return samples, image_ids


def test_metric_matches_direct_numpy(nsd_world):
    subject_file = nsd_world.converted_file(3)
    samples, image_ids = _samples(subject_file, np.random.default_rng(0))
    metric = BrainEncodingMetric(subject_file=subject_file, noise_ceiling='test_split')
    metric.process({}, samples)
    results = metric.compute_metrics(metric.results)

    images = np.unique(image_ids)
    n = np.array([(image_ids == i).sum() for i in images])
    preds, gts, ncs, keys = [], [], [], []
    with h5py.File(subject_file, 'r') as f:
        for group in samples[0]['gt_fmri']:
            gt_trials = np.stack([s['gt_fmri'][group].double().numpy() for s in samples])
            gt = np.stack([gt_trials[image_ids == i].mean(0) for i in images])
            pred = np.stack(
                [samples[int(np.flatnonzero(image_ids == i)[0])]['pred_fmri'][group].double().numpy() for i in images]
            )
            r = np.array([np.corrcoef(pred[:, v], gt[:, v])[0, 1] for v in range(gt.shape[1])])
            assert results[f'{group}/pearson_mean'] == pytest.approx(r.mean(), abs=1e-6)
            assert results[f'{group}/pearson_median'] == pytest.approx(np.median(r), abs=1e-6)
            labels = f['rois'][group]['label'][()]
            names = f['rois'][group].attrs['label_names']
            for k in np.unique(labels):
                assert results[f'{group}/{names[k]}/pearson_mean'] == pytest.approx(r[labels == k].mean(), abs=1e-6)
            # NSD's ncsnr: noise variance pooled within images, signal variance what the total leaves.
            residual = np.concatenate(
                [gt_trials[image_ids == i] - gt_trials[image_ids == i].mean(0) for i in images[n > 1]]
            )
            var_noise = (residual**2).sum(0) / (n[n > 1] - 1).sum()
            var_signal = np.maximum(gt_trials.var(0, ddof=1) - var_noise, 0)
            ncsnr2 = var_signal / var_noise
            nc = 100 * ncsnr2 / (ncsnr2 + np.mean(1 / n))
            # the devkit: a zero ceiling becomes 1e-14 (the voxel is kept), median over voxels
            score = np.minimum(100 * np.maximum(r, 0) ** 2 / np.where(nc > 0, nc / 100, 1e-14), 100)
            assert results[f'{group}/algonauts_score'] == pytest.approx(np.median(score), abs=1e-4)
            assert results[f'{group}/algonauts_score_mean'] == pytest.approx(score.mean(), abs=1e-4)
            assert results[f'{group}/noise_ceiling_mean'] == pytest.approx(nc.mean(), abs=1e-4)
            preds.append(pred)
            gts.append(gt)
            ncs.append(nc)
            keys.append(f['rois'][group]['ijk'][()])
    # overall: each voxel once (streams overlaps the other groups), predicted by the mean of its groups' predictions
    keys = np.concatenate(keys)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    assert len(unique) < len(keys)  # the test world has voxels in two groups
    pred_all, gt_all, nc_all = np.concatenate(preds, 1), np.concatenate(gts, 1), np.concatenate(ncs)
    pred_u = np.stack([pred_all[:, inverse == u].mean(1) for u in range(len(unique))], 1)
    gt_u = np.stack([gt_all[:, inverse == u].mean(1) for u in range(len(unique))], 1)  # (real data: all equal)
    first = np.array([np.flatnonzero(inverse == u)[0] for u in range(len(unique))])
    r = np.array([np.corrcoef(pred_u[:, u], gt_u[:, u])[0, 1] for u in range(len(unique))])
    score = np.minimum(100 * np.maximum(r, 0) ** 2 / np.where(nc_all[first] > 0, nc_all[first] / 100, 1e-14), 100)
    assert results['num_voxels'] == len(unique)
    assert results['pearson_mean'] == pytest.approx(r.mean(), abs=1e-6)
    assert results['pearson_median'] == pytest.approx(np.median(r), abs=1e-6)
    assert results['algonauts_score'] == pytest.approx(np.median(score), abs=1e-4)
    assert results['algonauts_score_mean'] == pytest.approx(score.mean(), abs=1e-4)
    assert results['noise_ceiling_mean'] == pytest.approx(nc_all[first].mean(), abs=1e-4)


def test_noise_ceiling_from_the_converted_files_ncsnr(nsd_world):
    """noise_ceiling='file' (default): the ncsnr the converted file stores (all its sessions), for the test split's
    number of trials per image; the test split's own estimate where the file has none, and with 'test_split'."""
    from mmbrain.datasets.converted_file import ConvertedSubject
    from mmbrain.evaluation.functional import ncsnr_from_repeats, noise_ceiling

    subject_file = nsd_world.converted_file(3)
    subject = ConvertedSubject(subject_file)
    samples, image_ids = _samples(subject_file, np.random.default_rng(0))
    n = np.unique(image_ids, return_counts=True)[1]
    results = {}
    for mode in ('file', 'test_split'):
        metric = BrainEncodingMetric(subject_file=subject_file, noise_ceiling=mode)
        metric.process({}, samples)
        results[mode] = metric.compute_metrics(metric.results)
    for group in subject.groups:
        stored = subject.ncsnr(group)
        assert stored is not None and subject.ncsnr_source in ('nsd', 'estimated')
        gt = np.stack([s['gt_fmri'][group].double().numpy() for s in samples])
        for mode, ncsnr in (('file', stored), ('test_split', ncsnr_from_repeats(gt, image_ids))):
            nc = noise_ceiling(ncsnr, n)
            assert results[mode][f'{group}/noise_ceiling_mean'] == pytest.approx(nc.mean(), abs=1e-4), (mode, group)
        assert results['file'][f'{group}/pearson_mean'] == results['test_split'][f'{group}/pearson_mean']
    assert results['file']['noise_ceiling_mean'] != pytest.approx(results['test_split']['noise_ceiling_mean'])
    with pytest.raises(ValueError, match='noise_ceiling must be one of'):
        BrainEncodingMetric(noise_ceiling='nsd')
    # without a subject file: the test split's estimate, and the groups' voxels pooled as they are
    metric = BrainEncodingMetric()
    metric.process({}, samples)
    plain = metric.compute_metrics(metric.results)
    for group in subject.groups:
        key = f'{group}/noise_ceiling_mean'
        assert plain[key] == results['test_split'][key]
    assert plain['num_voxels'] == sum(subject.voxel_counts.values()) > results['file']['num_voxels']


def test_metric_on_averaged_responses_uses_the_stored_ceiling(nsd_world):
    """Rows that already average an image's repetitions: ncsnr and n_repeats come from the converted file."""
    subject_file = nsd_world.converted_file(3, averaged=True)
    rng = np.random.default_rng(1)
    with h5py.File(subject_file, 'r') as f:
        nsd_ids, n_repeats = f['nsd_id'][()], f['n_repeats'][()]
        betas = {g: f['rois'][g]['betas'][()] for g in f['rois']}
        ncsnr = {g: f['rois'][g]['ncsnr'][()].astype(np.float64) for g in f['rois']}
    samples = [
        dict(
            nsd_id=int(nsd_ids[row]),
            row=row,
            pred_fmri={
                g: torch.tensor(b[row] + rng.standard_normal(b.shape[1]), dtype=torch.float32) for g, b in betas.items()
            },
            gt_fmri={g: torch.tensor(b[row]) for g, b in betas.items()},
        )
        for row in range(len(nsd_ids))
    ]
    metric = BrainEncodingMetric(subject_file=subject_file)
    metric.process({}, samples)
    results = metric.compute_metrics(metric.results)
    for group, b in betas.items():
        pred = np.stack([s['pred_fmri'][group].double().numpy() for s in samples])
        r = np.array([np.corrcoef(pred[:, v], b[:, v])[0, 1] for v in range(b.shape[1])])
        nc = 100 * ncsnr[group] ** 2 / (ncsnr[group] ** 2 + np.mean(1 / n_repeats))
        score = np.minimum(100 * np.maximum(r, 0) ** 2 / np.where(nc > 0, nc / 100, 1e-14), 100)
        assert results[f'{group}/pearson_mean'] == pytest.approx(r.mean(), abs=1e-6)
        assert results[f'{group}/noise_ceiling_mean'] == pytest.approx(nc.mean(), abs=1e-4)
        assert results[f'{group}/algonauts_score'] == pytest.approx(np.median(score), abs=1e-4)
        assert results[f'{group}/algonauts_score_mean'] == pytest.approx(score.mean(), abs=1e-4)


@pytest.fixture(scope='module')
def held_out_world(tmp_path_factory):
    """A small world whose held-out subject (3) has 200 images, 40 of them shared (the test images)."""
    from mmbrain.datasets.converter import convert_nsd
    from mmbrain.datasets.synthetic import make_synthetic_nsd

    root = str(tmp_path_factory.mktemp('encoding_world') / 'world')
    world = make_synthetic_nsd(
        root, **world_args(n_subjects=3, n_sessions=2, trials_per_session=300, image_size=32, seed=1)
    )
    convert_nsd(root, osp.join(root, 'mmbrain'), progress=False)
    return root, world


@pytest.mark.slow
def test_readout_predicts_held_out_subject(held_out_world, backbone_checkpoints, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    root, world = held_out_world
    subject_file = osp.join(root, 'mmbrain', 'subj03.h5')
    checkpoint = backbone_checkpoints['convnext']
    cfg = Config.fromfile(osp.join(REPO, ENCODING_CONFIG))
    options = {
        'work_dir': str(tmp_path),
        'model.backbone.init_cfg.checkpoint': checkpoint,
        'model.head.num_voxels': subject_file,
        'val_evaluator.subject_file': subject_file,
        'train_cfg.max_epochs': 4,
        'train_cfg.val_interval': 4,
        'param_scheduler.0.T_max': 4,
        'param_scheduler.0.end': 4,
        'default_hooks.checkpoint.interval': 4,
        'log_level': 'WARNING',
    }
    for loader in ('train_dataloader', 'val_dataloader'):
        options.update(
            {
                f'{loader}.dataset.data_root': osp.join(root, 'mmbrain'),
                f'{loader}.dataset.subjects': [3],
                f'{loader}.dataset.stimuli_file': osp.join(
                    root, 'nsddata_stimuli', 'stimuli', 'nsd', 'nsd_stimuli.hdf5'
                ),
                f'{loader}.num_workers': 0,
                f'{loader}.persistent_workers': False,
            }
        )
    cfg.merge_from_dict(options)
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()

    # The frozen stages are the converted Brainformer weights, untouched by training.
    converted = torch.load(checkpoint, weights_only=True)['state_dict']
    for name, value in runner.model.backbone.state_dict().items():
        if name.startswith(('stages.', 'downsample_layers.')):
            assert torch.equal(value, converted['backbone.' + name]), name

    groups = world['roi_groups']
    assert all(f'nsd/{g}/pearson_mean' in metrics for g in groups)
    assert metrics['nsd/pearson_mean'] > 0.1, metrics
    assert 0 < metrics['nsd/noise_ceiling_mean'] < 100 and metrics['nsd/algonauts_score'] > 0
