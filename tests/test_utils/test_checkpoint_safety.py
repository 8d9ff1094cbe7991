# Copyright (c) mmbrain contributors. All rights reserved.
"""mmengine checkpoints load under torch's ``weights_only=True`` default, arbitrary pickles do not."""

import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import mmbrain  # noqa: F401  (importing mmbrain allow-lists mmengine's checkpoint types)
from mmbrain.utils import load_checkpoint_safely, mmengine_checkpoint_types


class ToyModel(BaseModel):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return {'loss': out.pow(2).mean()}
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2,), float(idx)))


def make_runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='pseudo_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmengine',
        experiment_name=f'toy_{max_iters}_{len(kwargs)}_{osp.basename(str(work_dir))}',
        **kwargs,
    )


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ckpt')
    runner = make_runner(work_dir, max_iters=4)
    runner.train()
    first_losses = runner.message_hub.get_scalar('train/loss').data[0].copy()
    return work_dir, osp.join(work_dir, 'iter_4.pth'), runner.model.state_dict(), first_losses


def test_torch_defaults_to_weights_only():
    """The premise: plain torch.load refuses mmengine's checkpoint types unless they are allow-listed."""
    import inspect

    default = inspect.signature(torch.load).parameters['weights_only'].default
    assert default is None or default is True


def test_allow_list_covers_what_mmengine_saves(runner_checkpoint):
    _, ckpt, _, _ = runner_checkpoint
    assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt) == []
    # Without mmbrain's allow-list the same checkpoint needs exactly the entries mmbrain adds (no more).
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(ckpt))
    finally:
        torch.serialization.add_safe_globals(saved)
    allowed = {
        entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'
        for entry in mmengine_checkpoint_types()
    }
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed
    assert needed <= allowed, f'not allow-listed: {needed - allowed}'


def test_resume(runner_checkpoint, tmp_path):
    work_dir, _, _, first_losses = runner_checkpoint
    runner = make_runner(work_dir, max_iters=6, resume=True)
    runner.train()
    assert runner.iter == 6
    # The resumed run restored the message hub (HistoryBuffer with numpy arrays) of the first one: its 4 losses,
    # then 2 new ones.
    losses, _ = runner.message_hub.get_scalar('train/loss').data
    np.testing.assert_array_equal(losses[:4], first_losses)
    assert len(losses) == 6
    assert osp.exists(osp.join(work_dir, 'iter_6.pth'))


def test_load_from(runner_checkpoint, tmp_path):
    _, ckpt, state, _ = runner_checkpoint
    runner = make_runner(tmp_path, max_iters=0, load_from=ckpt)
    runner.load_or_resume()
    for key, value in state.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)


def test_init_cfg_pretrained(runner_checkpoint):
    _, ckpt, state, _ = runner_checkpoint
    model = ToyModel(init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    model.init_weights()
    torch.testing.assert_close(model.linear.weight, state['linear.weight'])


class Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


class ArbitraryObject:
    value = 1


class AttributeLookup:
    """Unpickling this would look up ``HistoryBuffer.__init__`` (the allowed getattr refuses all but statistics)."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        return (getattr, (HistoryBuffer, '__init__'))


@pytest.mark.parametrize('payload', ['exploit', 'object', 'getattr'])
def test_arbitrary_pickles_are_refused(tmp_path, payload):
    marker = tmp_path / 'pwned'
    meta = dict(exploit=lambda: Exploit(marker), object=ArbitraryObject, getattr=AttributeLookup)[payload]()
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': ToyModel().state_dict(), 'meta': meta}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(ToyModel(), str(path))
    with pytest.raises(ValueError, match='evil.pth'):
        load_checkpoint_safely(str(path))
    assert not marker.exists()


def test_fresh_process_loads_a_runner_checkpoint(runner_checkpoint):
    """A new process (``tools/test.py``, ``--resume``) has created no HistoryBuffer before loading."""
    import subprocess
    import sys

    _, ckpt, _, _ = runner_checkpoint
    code = (
        'import torch, mmbrain; '
        f'ckpt = torch.load({ckpt!r}, map_location="cpu", weights_only=True); '
        'print(sorted(ckpt["message_hub"]["log_scalars"]))'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'train/loss' in out.stdout
