# Copyright (c) mmbrain contributors. All rights reserved.
"""Fixtures of the visualization tests: a scalar log written by a real mmengine Runner."""

from types import SimpleNamespace

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset


class _PairDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, idx):
        gen = torch.Generator().manual_seed(idx)
        return dict(inputs=torch.randn(4, generator=gen))


class _TwoLossModel(BaseModel):
    """Logs what BrainformerPretrainer logs: loss_con, loss_bfg and a non-loss ``temperature``."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss_con=out.pow(2).mean(), loss_bfg=out.abs().mean(), temperature=torch.tensor(0.07))
        return [dict(score=float(v)) for v in out.sum(1)]


class _RetrievalMetric(BaseMetric):
    default_prefix = 'retrieval'

    def process(self, data_batch, data_samples):
        self.results.extend(s['score'] for s in data_samples)

    def compute_metrics(self, results):
        return dict(i2b_top1=12.5, b2i_top1=10.0, i2b_top5=50.0)


@pytest.fixture(scope='session')
def runner_run(tmp_path_factory):
    """A real mmengine Runner with mmengine's ``Visualizer`` and ``LocalVisBackend`` as the configs set them: 6
    iterations, logging every 2, validating after iterations 3 and 6. Returns its work dir and visualizer."""
    work_dir = tmp_path_factory.mktemp('runner')
    loader = dict(
        dataset=_PairDataset(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=2,
        num_workers=0,
        collate_fn=dict(type='default_collate'),
    )
    runner = Runner(
        model=_TwoLossModel(),
        work_dir=str(work_dir),
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=dict(type=_RetrievalMetric),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=3),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=2, log_metric_by_epoch=False),
            checkpoint=dict(type='CheckpointHook', interval=-1, save_last=False),
        ),
        log_processor=dict(by_epoch=False),
        default_scope='mmbrain',
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
    )
    runner.train()
    return SimpleNamespace(work_dir=work_dir, visualizer=runner.visualizer)
