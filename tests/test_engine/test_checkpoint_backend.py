# Copyright (c) mmbrain contributors. All rights reserved.
"""Checkpoints are published atomically: a failed save (full disk, kill) leaves the previous ones intact."""

import errno
import os
import os.path as osp
import stat

import pytest
from _helpers import REPO
from mmengine.config import Config
from mmengine.fileio import get_file_backend

from mmbrain.engine.checkpoint_backend import AtomicLocalBackend
from mmbrain.utils import load_checkpoint_safely
from mmbrain.utils.atomic import OutputError

from ._toy_runner import DivergesAt, toy_runner

CONFIG = osp.join(REPO, 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py')


def test_mmbrain_runtime_saves_checkpoints_through_it():
    hook = Config.fromfile(CONFIG).default_hooks.checkpoint
    assert isinstance(get_file_backend('work_dirs', backend_args=hook.backend_args), AtomicLocalBackend)


@pytest.mark.slow
def test_a_failed_save_keeps_the_previous_checkpoints(tmp_path, monkeypatch):
    backend_args = Config.fromfile(CONFIG).default_hooks.checkpoint.backend_args
    runner = toy_runner(
        tmp_path,
        DivergesAt(),
        max_iters=4,
        checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False, backend_args=backend_args),
    )
    real_fsync = os.fsync

    def disk_full_at_the_third_checkpoint(fd):
        if '.iter_3.pth.' in os.readlink(f'/proc/self/fd/{fd}'):  # its temporary file
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_fsync(fd)

    old = os.umask(0o022)
    monkeypatch.setattr(os, 'fsync', disk_full_at_the_third_checkpoint)
    try:
        with pytest.raises(OutputError, match=r'iter_3.pth: cannot write the output \(No space left on device\)'):
            runner.train()
    finally:
        os.umask(old)
    monkeypatch.undo()
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith('.pth')) == ['iter_1.pth', 'iter_2.pth']
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.partial')]
    ckpt = load_checkpoint_safely(str(tmp_path / 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    assert stat.S_IMODE(os.stat(tmp_path / 'iter_2.pth').st_mode) == 0o644
