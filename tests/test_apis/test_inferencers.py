# Copyright (c) mmbrain contributors. All rights reserved.
"""The inference APIs on checkpoints of the synthetic world: they give what the model gives on the dataset's own
pipeline, for images handed in from outside."""

import os.path as osp

import cv2
import h5py
import numpy as np
import pytest
import torch
from _helpers import PRETRAIN_CONFIGS, REPO, world_data_options
from mmengine.config import Config

from mmbrain.apis import BrainEncodingInferencer, BrainRetrievalInferencer
from mmbrain.datasets import NSDDataset
from mmbrain.datasets.collate import brain_collate
from mmbrain.datasets.converted_file import ConvertedSubject

ENCODING_CONFIG = osp.join(
    REPO, 'configs/encoding/voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'
)


def _stimuli_bgr(nsd_world, nsd_ids):
    """The world's stimuli as an outside caller would hand them in: (H, W, 3) uint8 BGR arrays."""
    with h5py.File(nsd_world.stimuli_file, 'r') as f:
        return [cv2.cvtColor(f['imgBrick'][int(i)], cv2.COLOR_RGB2BGR) for i in nsd_ids]


def _dataset_batch(cfg, nsd_world, subject, n, split='all', subject_file=None):
    """The first ``n`` samples of ``subject`` through the config's own pipeline, collated."""
    pipeline = cfg.test_dataloader.dataset.pipeline
    dataset = NSDDataset(
        data_root=osp.dirname(subject_file),
        subjects=[subject],
        split=split,
        stimuli_file=nsd_world.stimuli_file,
        pipeline=pipeline,
        indices=n,
    )
    return brain_collate([dataset[i] for i in range(n)])


@pytest.fixture(scope='module')
def encoding_checkpoint(nsd_world, tmp_path_factory):
    """One epoch of the synthetic encoding config on subject 3 (averaged rows), backbone from scratch."""
    from mmengine.runner import Runner

    subject_file = nsd_world.converted_file(3, averaged=True)
    cfg = Config.fromfile(ENCODING_CONFIG)
    cfg.merge_from_dict(
        {
            **world_data_options(nsd_world, 'train_dataloader'),
            'train_dataloader.dataset.data_root': osp.dirname(subject_file),
            'train_dataloader.dataset.subjects': [3],
            'train_dataloader.dataset.indices': 8,
            'train_dataloader.batch_size': 4,
            'model.head.num_voxels': subject_file,
            'model.backbone.init_cfg': None,
            'train_cfg.max_epochs': 1,
            'log_level': 'WARNING',
        }
    )
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = str(tmp_path_factory.mktemp('encoding_run'))
    Runner.from_cfg(cfg).train()
    return osp.join(cfg.work_dir, 'epoch_1.pth'), subject_file


@pytest.mark.slow
def test_encoding_inferencer_predicts_what_the_model_predicts(nsd_world, encoding_checkpoint, tmp_path):
    ckpt, subject_file = encoding_checkpoint
    inferencer = BrainEncodingInferencer(ENCODING_CONFIG, ckpt, subject_file=subject_file)
    subject = ConvertedSubject(subject_file)
    batch = _dataset_batch(inferencer.config, nsd_world, 3, 5, subject_file=subject_file)
    with torch.no_grad():
        expected = inferencer.model.test_step(batch)
    nsd_ids = [s.nsd_id for s in batch['data_samples']]
    images = _stimuli_bgr(nsd_world, nsd_ids)
    png = str(tmp_path / 'first.png')
    cv2.imwrite(png, images[0])
    out_file = str(tmp_path / 'responses.npz')
    results = inferencer([png] + images[1:], batch_size=2, out_file=out_file)
    assert len(results) == 5
    for result, sample in zip(results, expected):
        assert set(result) == set(subject.groups)
        for g, r in result.items():
            np.testing.assert_allclose(r['response'], sample.pred_fmri[g].numpy(), rtol=1e-4, atol=1e-5)
            np.testing.assert_array_equal(r['xyz'], subject.xyz(g))
            assert r['label'].shape == (subject.voxel_counts[g],)
    saved = np.load(out_file, allow_pickle=False)
    g = subject.groups[0]
    assert saved[f'{g}/response'].shape == (5, subject.voxel_counts[g])
    np.testing.assert_array_equal(saved[f'{g}/ijk'], subject.ijk(g))
    assert saved['inputs'][0] == png
    with pytest.raises(ValueError, match='voxel counts'):  # another subject's file for this subject's model
        BrainEncodingInferencer(inferencer.model, subject_file=nsd_world.converted_file(1, averaged=True))


@pytest.mark.slow
@pytest.mark.parametrize('query', ['fmri', 'image'])
def test_retrieval_inferencer_ranks_like_the_model(nsd_world, brainformer_checkpoints, query):
    config = osp.join(REPO, PRETRAIN_CONFIGS['convnext'])
    subject_file = nsd_world.converted_file(1)
    n = 10
    cfg = Config.fromfile(config)
    batch = _dataset_batch(cfg, nsd_world, 1, n, subject_file=subject_file)
    images = _stimuli_bgr(nsd_world, [s.nsd_id for s in batch['data_samples']])
    rows = list(range(n))
    gallery = images if query == 'fmri' else rows
    inferencer = BrainRetrievalInferencer(
        config,
        brainformer_checkpoints['convnext'],
        subject_file=subject_file,
        query=query,
        prototype=gallery,
        batch_size=4,
    )
    with torch.no_grad():
        samples = inferencer.model.test_step(batch)
    img = torch.stack([s.img_embed for s in samples])
    brain = torch.stack([s.brain_embed for s in samples])
    sim = brain @ img.T if query == 'fmri' else img @ brain.T
    results = inferencer(rows if query == 'fmri' else images, topk=3, batch_size=3)
    assert len(results) == n
    for q, result in enumerate(results):
        top = torch.topk(sim[q], 3)
        assert [m['sample_idx'] for m in result['match']] == top.indices.tolist()
        np.testing.assert_allclose([m['match_score'] for m in result['match']], top.values.numpy(), atol=1e-4)
    first = results[0]['match'][0]
    if query == 'image':
        row = first['sample_idx']
        assert first['sample'] == dict(row=row, nsd_id=batch['data_samples'][row].nsd_id)
    else:
        assert first['sample'] is images[first['sample_idx']]


@pytest.mark.slow
def test_retrieval_inferencer_errors(nsd_world, brainformer_checkpoints):
    config = osp.join(REPO, PRETRAIN_CONFIGS['convnext'])
    with pytest.raises(ValueError, match='prototype must give the gallery images'):
        BrainRetrievalInferencer(
            config, brainformer_checkpoints['convnext'], subject_file=nsd_world.converted_file(1), query='fmri'
        )
    with pytest.raises(ValueError, match='query must be one of'):
        BrainRetrievalInferencer(config, None, subject_file=nsd_world.converted_file(1), query='text')
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        BrainRetrievalInferencer(config, '/nonexistent.pth', subject_file=nsd_world.converted_file(1), query='image')


@pytest.mark.slow  # the checkpoints of a Runner
def test_a_checkpoint_of_the_wrong_kind_or_subject_is_named_not_size_mismatched(
    nsd_world, encoding_checkpoint, brainformer_checkpoints
):
    ckpt, subject_file = encoding_checkpoint  # trained on subject 3
    with pytest.raises(ValueError, match='trained for subject 3, not 1') as err:
        BrainEncodingInferencer(ENCODING_CONFIG, ckpt, subject_file=nsd_world.converted_file(1, averaged=True))
    assert 'size mismatch' not in str(err.value) and ckpt in str(err.value)
    pretraining = brainformer_checkpoints['convnext']
    with pytest.raises(
        ValueError, match='this is a pretraining checkpoint; BrainEncodingInferencer needs an encoding one'
    ):
        BrainEncodingInferencer(ENCODING_CONFIG, pretraining, subject_file=subject_file)
    config = osp.join(REPO, PRETRAIN_CONFIGS['convnext'])
    with pytest.raises(
        ValueError, match='this is an encoding checkpoint; BrainRetrievalInferencer needs a pretraining one'
    ):
        BrainRetrievalInferencer(config, ckpt, subject_file=subject_file, query='image')


@pytest.mark.slow  # a checkpoint of a Runner
def test_retrieval_on_a_subject_file_with_nan_rows(nsd_world, brainformer_checkpoints, tmp_path, monkeypatch):
    import shutil

    subject_file = str(tmp_path / 'subj01.h5')
    shutil.copyfile(nsd_world.converted_file(1), subject_file)
    subject = ConvertedSubject(subject_file)
    with h5py.File(subject_file, 'r+') as f:
        f[f'rois/{subject.groups[0]}/betas'][2, 0] = np.nan
    config = osp.join(REPO, PRETRAIN_CONFIGS['convnext'])
    said = []
    monkeypatch.setattr('mmbrain.apis.brain_retrieval_inferencer.print_log', lambda msg, **kwargs: said.append(msg))
    inferencer = BrainRetrievalInferencer(
        config, brainformer_checkpoints['convnext'], subject_file=subject_file, query='image'
    )
    # The default gallery (every row) leaves the NaN row out, and says so; no score is NaN.
    assert 2 not in inferencer.prototype and len(inferencer.prototype) == subject.n_rows - 1
    assert said == [f'{subject_file}: 1 of {subject.n_rows} rows have NaN/Inf betas and are left out of the gallery']
    images = _stimuli_bgr(nsd_world, subject.nsd_id[:2])
    scores = [m['match_score'] for r in inferencer(images, topk=5) for m in r['match']]
    assert np.isfinite(scores).all()
    # A NaN row asked for (as a query or in a given gallery) is an error naming the file and the row.
    query = BrainRetrievalInferencer(
        config, brainformer_checkpoints['convnext'], subject_file=subject_file, prototype=images
    )
    with pytest.raises(ValueError, match=r'subj01.h5: row 2, ROI group .*non-finite betas'):
        query([1, 2])
    with pytest.raises(ValueError, match='row 2'):
        BrainRetrievalInferencer(
            config, brainformer_checkpoints['convnext'], subject_file=subject_file, query='image', prototype=[0, 2]
        )
