# Copyright (c) mmbrain contributors. All rights reserved.
"""Experiment tracking through mmengine's visualisation backends, switched in the runtime config."""

import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmbrain.evaluation.scalar_logs import load_scalar_log

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RUNTIME = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def test_a_config_switches_tensorboard_on(tmp_path):
    child = tmp_path / 'tracked.py'
    child.write_text(
        f'_base_ = [{RUNTIME!r}]\n'
        "visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), _base_.tensorboard_backend])\n"
    )
    cfg = Config.fromfile(str(child))
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend', 'TensorboardVisBackend']
    base = Config.fromfile(RUNTIME)
    assert base.wandb_backend.type == 'WandbVisBackend' and base.mlflow_backend.type == 'MLflowVisBackend'


@pytest.mark.slow
def test_a_tensorboard_run_writes_event_files_with_the_logged_scalars(tmp_path):
    cfg = Config.fromfile(RUNTIME)
    data = [dict(inputs=torch.tensor([float(i), 1.0])) for i in range(16)]
    runner = Runner(
        model=_Toy(),
        work_dir=str(tmp_path),
        experiment_name='tracked',
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4,
            collate_fn=dict(type='pseudo_collate'),
        ),
        train_cfg=dict(by_epoch=False, max_iters=6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.001)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=None),
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend'), cfg.tensorboard_backend]),
        default_scope='mmengine',
        log_level='WARNING',
    )
    runner.train()
    events = list(tmp_path.rglob('events.out.tfevents.*'))
    assert events and all(e.parent.name == 'vis_data' for e in events)
    local = load_scalar_log(str(tmp_path)).train
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    board = EventAccumulator(str(events[0]), size_guidance={SCALARS: 0})
    board.Reload()
    assert set(local) <= set(board.Tags()[SCALARS])
    for key in ('loss', 'lr'):
        steps, values = zip(*((e.step, e.value) for e in board.Scalars(key)))
        np.testing.assert_array_equal(steps, local[key][0])
        np.testing.assert_allclose(values, local[key][1], rtol=1e-6)
    assert len(local['loss'][0]) == 6
