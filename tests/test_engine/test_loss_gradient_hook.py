# Copyright (c) mmbrain contributors. All rights reserved.
"""LossGradientNormHook: the gradient each loss alone sends to the backbone, and what it shows about Eq. 6."""

import glob
import json
import math
import os.path as osp

import pytest
import torch
from _brain_batch import make_brain_batch
from _helpers import PRETRAIN_CONFIGS, REPO, TINY_CONVNEXT, tiny_brainformer_encoder, world_data_options
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmbrain.datasets.nsd_files import ROI_GROUPS
from mmbrain.engine.hooks import loss_gradient_norms
from mmbrain.registry import MODELS


def _model(negatives='rois', rois=ROI_GROUPS):
    init_default_scope('mmbrain')
    torch.manual_seed(0)
    guidance = None if negatives is None else dict(type='BrainFMRIGuidanceLoss', negatives=negatives)
    model = MODELS.build(
        dict(
            type='BrainformerPretrainer',
            backbone=TINY_CONVNEXT,
            backbone_out_dims=32,
            fmri_encoder=tiny_brainformer_encoder(rois, pos_embed=dict(type='Voxel3DEmbedding', coord_scale=0.01)),
            guidance_loss=guidance,
        )
    )
    model.init_weights()
    return model.train()


def _random_batch(batch=4):
    brain = make_brain_batch({0: dict(v1=60, faces=20), 1: dict(v1=45, faces=33)}, subjects=[0, 1] * (batch // 2))
    img = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return dict(inputs=dict(img=img, **brain), data_samples=None)


def test_norms_are_each_loss_alone_and_leave_training_untouched():
    model = _model(rois=['v1', 'faces'])
    data = _random_batch()
    torch.manual_seed(123)
    norms = loss_gradient_norms(model, data)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # the random streams of training are not advanced
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated for the optimiser
    assert set(norms) == {'loss_bfg', 'loss_con'}
    for name in ('loss_bfg', 'loss_con'):
        model.zero_grad()
        model(**model.data_preprocessor(data, True), mode='loss')[name].backward()
        expected = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.backbone.parameters()))
        assert norms[name] == pytest.approx(expected, rel=1e-5)
    assert loss_gradient_norms(_model(None, rois=['v1', 'faces']), data).keys() == {'loss_con'}
    with pytest.raises(ValueError, match='no submodule'):
        loss_gradient_norms(model, data, module='neck')


@pytest.mark.slow
def test_hook_writes_backbone_gradients_to_the_training_log(nsd_world, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, PRETRAIN_CONFIGS['convnext']))
    assert any(h['type'] == 'LossGradientNormHook' for h in cfg.custom_hooks)
    cfg.merge_from_dict(
        {
            **world_data_options(nsd_world, 'train_dataloader'),
            'train_dataloader.dataset.subjects': nsd_world.subjects[:-1],
            'train_dataloader.dataset.indices': 8,
            'train_dataloader.batch_size': 4,
            'train_cfg.max_epochs': 1,
            'default_hooks.logger.interval': 1,
            'default_hooks.checkpoint.interval': 100,
        }
    )
    cfg.custom_hooks = [dict(type='LossGradientNormHook', interval=1)]
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = str(tmp_path)
    Runner.from_cfg(cfg).train()
    (scalars,) = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    assert [r['step'] for r in records] == [1, 2]
    for record in records:
        assert record['backbone_grad_bfg'] > 0 and record['backbone_grad_con'] > 0
        assert math.isfinite(record['backbone_grad_bfg'])
    (log,) = glob.glob(str(tmp_path / '*' / '*.log'))
    with open(log) as f:
        assert 'backbone_grad_bfg' in f.read()


def _train(negatives, batches, steps):
    """``steps`` AdamW steps of a tiny pretrainer on ``batches`` (cycled): ``loss_bfg`` and its backbone gradient
    at the first step and averaged over the last five."""
    model = _model(negatives)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    history = []
    for step in range(steps):
        data = batches[step % len(batches)]
        grad = loss_gradient_norms(model, data, losses=('loss_bfg',))['loss_bfg']
        losses = model(**model.data_preprocessor(data, True), mode='loss')
        optimizer.zero_grad()
        (losses['loss_con'] + losses['loss_bfg']).backward()
        optimizer.step()
        history.append((float(losses['loss_bfg']), grad))
    last = [sum(h[i] for h in history[-5:]) / 5 for i in range(2)]
    return dict(loss_first=history[0][0], grad_first=history[0][1], loss_last=last[0], grad_last=last[1])


@pytest.mark.slow
def test_printed_guidance_stops_reaching_the_backbone_cross_sample_does_not(nsd_world):
    """Eq. 6 as printed is solved within a few dozen steps, after which its gradient into the backbone has all but
    vanished; with negatives from other samples the loss stays informative and so does its gradient."""
    init_default_scope('mmbrain')
    loader_cfg = dict(
        batch_size=8,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='mmbrain.brain_collate'),
        dataset=dict(
            type='NSDDataset',
            data_root=nsd_world.converted_dir,
            stimuli_file=nsd_world.stimuli_file,
            subjects=[1, 2],
            split='train',
            pipeline=[
                dict(type='LoadNSDStimulus', img_size=32),
                dict(type='LoadNSDResponses'),
                dict(type='PackBrainInputs'),
            ],
        ),
    )
    batches = [batch for _, batch in zip(range(4), Runner.build_dataloader(loader_cfg, seed=0))]
    steps, result = 40, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits (and on a loaded machine spins)
    try:
        for negatives in ('rois', 'samples', 'rois+samples'):
            result[negatives] = _train(negatives, batches, steps)
    finally:
        torch.set_num_threads(threads)
    printed = result['rois']
    assert printed['loss_last'] < 0.05 * printed['loss_first'] and printed['loss_last'] < 0.1, result
    assert printed['grad_last'] < 0.01 * printed['grad_first'], result  # measured ~0.001
    for negatives in ('samples', 'rois+samples'):
        got = result[negatives]
        assert got['loss_last'] > 1.0, result  # far from solved (chance: 0.5 * 6 * log 8 = 6.2 for 'samples')
        assert got['grad_last'] > 0.03 * got['grad_first'], result  # measured ~0.1-0.2
        assert got['grad_last'] > 20 * printed['grad_last'], result  # measured ~150x
