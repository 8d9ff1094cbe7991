# Copyright (c) mmbrain contributors. All rights reserved.
"""The CPU pieces of BrainRunner: a gloo process group from the launcher's environment and CPUDistributedDataParallel
in place of mmengine's DDP wrapper."""

import socket

import pytest
import torch
import torch.distributed as dist
from torch import nn


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


def test_cpu_wrapper_cfg():
    from mmbrain.engine import cpu_model_wrapper_cfg

    # mmengine's default wrapper options (what Runner.wrap_model builds without a config), as a CPU wrapper
    assert cpu_model_wrapper_cfg(None, find_unused_parameters=True) == dict(
        type='mmbrain.CPUDistributedDataParallel', broadcast_buffers=False, find_unused_parameters=True
    )
    assert cpu_model_wrapper_cfg(dict(type='MMDistributedDataParallel', broadcast_buffers=True)) == dict(
        type='mmbrain.CPUDistributedDataParallel', broadcast_buffers=True
    )
    other = dict(type='MMFullyShardedDataParallel')
    assert cpu_model_wrapper_cfg(other) == other


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path applies without CUDA only')
def test_gloo_group_and_cpu_wrapper(one_process_env):
    from mmengine.registry import MODEL_WRAPPERS

    from mmbrain.engine import cpu_model_wrapper_cfg, init_gloo_process_group

    init_gloo_process_group('pytorch', dict(backend='nccl', timeout=60))
    assert dist.is_initialized() and dist.get_backend() == 'gloo' and dist.get_world_size() == 1
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.SyncBatchNorm(4))
    wrapped = MODEL_WRAPPERS.build(cpu_model_wrapper_cfg(None), default_args=dict(module=model, device_ids=[0]))
    assert wrapped.device_ids is None
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in wrapped.modules())  # no CPU kernel: plain BN
    assert wrapped(torch.randn(2, 3, 4, 4)).shape == (2, 4, 4, 4)
