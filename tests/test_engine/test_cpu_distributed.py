# Copyright (c) mmbrain contributors. All rights reserved.
"""setup_cpu_distributed / CPUDistributedDataParallel: gloo and a CPU wrapper without CUDA, nothing with CUDA."""

import socket

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from torch import nn


def _cfg(launcher='pytorch', **extra):
    return Config(dict(launcher=launcher, env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)), **extra))


@pytest.fixture
def one_process_env(monkeypatch, tmp_path):
    """torchrun's variables for a world of one process."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for key, value in dict(
        RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port)
    ).items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_nothing_changes_with_cuda_or_without_a_launcher(monkeypatch):
    from mmbrain.engine import setup_cpu_distributed

    cfg = _cfg('none')
    assert not setup_cpu_distributed(cfg) and cfg.env_cfg.dist_cfg.backend == 'nccl'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg('pytorch', model_wrapper_cfg=dict(type='MMDistributedDataParallel'))
    assert not setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert not dist.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path applies without CUDA only')
def test_gloo_group_and_cpu_wrapper(one_process_env):
    from mmengine.registry import MODEL_WRAPPERS

    from mmbrain.engine import setup_cpu_distributed

    cfg = _cfg('pytorch', find_unused_parameters=True)
    assert setup_cpu_distributed(cfg)
    assert dist.is_initialized() and dist.get_backend() == 'gloo' and dist.get_world_size() == 1
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    # mmengine's default wrapper options, as a CPU wrapper
    assert cfg.model_wrapper_cfg == dict(
        type='mmbrain.CPUDistributedDataParallel', broadcast_buffers=False, find_unused_parameters=True
    )
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.SyncBatchNorm(4))
    wrapped = MODEL_WRAPPERS.build(cfg.model_wrapper_cfg, default_args=dict(module=model, device_ids=[0]))
    assert wrapped.device_ids is None
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in wrapped.modules())  # no CPU kernel: plain BN
    assert wrapped(torch.randn(2, 3, 4, 4)).shape == (2, 4, 4, 4)
