# Copyright (c) mmbrain contributors. All rights reserved.
"""FiniteLossHook: a NaN / Inf loss stops training at that iteration, before a NaN model is checkpointed."""

import math
import os.path as osp

import pytest
import torch
from _helpers import REPO
from mmengine.config import Config

from mmbrain.engine.hooks.finite_loss_hook import FiniteLossHook, non_finite_values

from ._toy_runner import DivergesAt, toy_runner


def _runner(tmp_path, model):
    return toy_runner(tmp_path, model, finite_loss=dict(type='FiniteLossHook'))


@pytest.mark.parametrize('bad', [math.nan, math.inf])
@pytest.mark.slow
def test_a_non_finite_loss_stops_training_at_that_iteration(tmp_path, bad):
    runner = _runner(tmp_path, DivergesAt(at=3, bad=bad))
    assert any(isinstance(h, FiniteLossHook) for h in runner.hooks)
    with pytest.raises(FloatingPointError, match=rf'at iteration 3 \(epoch 1\): loss={bad}; training stopped'):
        runner.train()
    assert osp.isfile(tmp_path / 'iter_2.pth')
    assert not osp.exists(tmp_path / 'iter_3.pth')  # the NaN model was never checkpointed


@pytest.mark.slow
def test_finite_training_is_untouched(tmp_path):
    runner = _runner(tmp_path, DivergesAt())
    runner.train()
    assert osp.isfile(tmp_path / 'iter_8.pth')


def test_non_finite_values():
    assert non_finite_values(
        dict(loss=torch.tensor(1.0), loss_bfg=torch.tensor(math.inf), temperature=0.07, n=torch.tensor(3))
    ) == dict(loss_bfg=math.inf)
    assert non_finite_values(None) == {}


def test_mmbrain_runtime_enables_it():
    """In default_hooks (a dict, merged with a config's own), so a config that sets hooks keeps it."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'))
    assert cfg.default_hooks.finite_loss.type == 'FiniteLossHook'
