# Copyright (c) mmbrain contributors. All rights reserved.
"""FiniteLossHook: a NaN / Inf loss stops training at that iteration, before a NaN model is checkpointed."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader, Dataset

from _helpers import REPO
from mmbrain.engine.hooks.finite_loss_hook import FiniteLossHook, non_finite_values


class _Ones(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, idx):
        return dict(inputs=torch.ones(1))


class _DivergesAt(BaseModel):
    """A one-weight model whose loss is ``bad`` (NaN or Inf) from training step ``at`` (1-based) on."""

    def __init__(self, at: int, bad: float):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.at, self.bad, self.steps = at, bad, 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.steps += 1
        loss = ((self.w * inputs) ** 2).mean()
        return dict(loss=loss * self.bad if self.steps >= self.at else loss, acc=torch.tensor(1.0))


def _runner(tmp_path, model):
    return Runner(
        model=model, work_dir=str(tmp_path), train_dataloader=DataLoader(_Ones(), batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)), train_cfg=dict(by_epoch=False, max_iters=8),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           finite_loss=dict(type='FiniteLossHook')),
        default_scope='mmbrain', log_level='WARNING')


@pytest.mark.parametrize('bad', [math.nan, math.inf])
def test_a_non_finite_loss_stops_training_at_that_iteration(tmp_path, bad):
    runner = _runner(tmp_path, _DivergesAt(at=3, bad=bad))
    assert any(isinstance(h, FiniteLossHook) for h in runner.hooks)
    with pytest.raises(FloatingPointError, match=rf'at iteration 3 \(epoch 1\): loss={bad}; training stopped'):
        runner.train()
    assert osp.isfile(tmp_path / 'iter_2.pth')
    assert not osp.exists(tmp_path / 'iter_3.pth')  # the NaN model was never checkpointed


def test_finite_training_is_untouched(tmp_path):
    runner = _runner(tmp_path, _DivergesAt(at=10 ** 9, bad=math.nan))
    runner.train()
    assert osp.isfile(tmp_path / 'iter_8.pth')


def test_non_finite_values():
    assert non_finite_values(dict(loss=torch.tensor(1.0), loss_bfg=torch.tensor(math.inf), temperature=0.07,
                                  n=torch.tensor(3))) == dict(loss_bfg=math.inf)
    assert non_finite_values(None) == {}


def test_mmbrain_runtime_enables_it():
    """In default_hooks (a dict, merged with a config's own), so a config that sets hooks keeps it."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'))
    assert cfg.default_hooks.finite_loss.type == 'FiniteLossHook'
