# Copyright (c) mmbrain contributors. All rights reserved.
"""A one-weight model and a Runner around it: hooks and checkpoint writing tested in seconds."""

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader, Dataset


class _Ones(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, idx):
        return dict(inputs=torch.ones(1))


class DivergesAt(BaseModel):
    """A one-weight model whose loss is multiplied by ``bad`` (NaN or Inf) from training step ``at`` (1-based) on."""

    def __init__(self, at: int = 10**9, bad: float = float('nan')):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.at, self.bad, self.steps = at, bad, 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.steps += 1
        loss = ((self.w * inputs) ** 2).mean()
        return dict(loss=loss * self.bad if self.steps >= self.at else loss, acc=torch.tensor(1.0))


def toy_runner(work_dir, model: BaseModel, max_iters: int = 8, **default_hooks) -> Runner:
    """An iteration-based Runner checkpointing every iteration (``iter_N.pth``), mmbrain scope."""
    hooks = dict(dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)), **default_hooks)
    return Runner(
        model=model,
        work_dir=str(work_dir),
        train_dataloader=DataLoader(_Ones(), batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=hooks,
        default_scope='mmbrain',
        log_level='WARNING',
    )
