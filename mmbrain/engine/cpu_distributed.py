# Copyright (c) mmbrain contributors. All rights reserved.
"""Multi-process training and testing through mmengine's Runner on machines without CUDA (gloo).

mmengine 0.10.7 assumes a GPU per process: its ``init_dist`` calls ``torch.cuda.set_device`` for every launcher,
and ``Runner.wrap_model`` hands ``DistributedDataParallel`` ``device_ids=[LOCAL_RANK]``, which DDP refuses for a
module on the CPU. :class:`mmbrain.engine.BrainRunner` (``runner_type`` of every mmbrain config) fixes both with
the pieces of this module, and only when CUDA is unavailable:

* :func:`init_gloo_process_group` starts the process group with the gloo backend from the launcher's environment,
  so the Runner finds it initialised and skips its own ``init_dist`` (sampler sharding, loss gathering, rank-0
  checkpoints and logs, result collection all work as on GPUs);
* :func:`cpu_model_wrapper_cfg` selects :class:`CPUDistributedDataParallel` as model wrapper, an
  ``MMDistributedDataParallel`` that drops ``device_ids``.

With CUDA it does nothing: NCCL (or the config's backend), one device per local rank and ``sync_bn`` conversion
stay exactly mmengine's.
"""

import datetime
import os
import subprocess
from typing import Dict, Optional

import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from torch import nn

from mmbrain.registry import MODEL_WRAPPERS

#: Wrapper types that :func:`cpu_model_wrapper_cfg` swaps for :class:`CPUDistributedDataParallel`.
_DDP_TYPES = ('MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel')


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a model on the CPU: ``device_ids`` (which mmengine's Runner always
    passes, and DDP refuses for CPU modules) are dropped.

    ``SyncBatchNorm`` has no CPU kernel in PyTorch, so such layers are reverted to plain batch norm (each process
    normalises with its own batch statistics; a warning says so). Everything else, gradient averaging included,
    is ``MMDistributedDataParallel``'s.

    Args:
        module (nn.Module): The model, on the CPU.
        device_ids: Ignored (must be None or what the Runner passes, ``[LOCAL_RANK]``).
        **kwargs: ``MMDistributedDataParallel`` / ``DistributedDataParallel`` arguments
            (``find_unused_parameters``, ``broadcast_buffers``, ``detect_anomalous_params``, ...).
    """

    def __init__(self, module: nn.Module, device_ids=None, **kwargs) -> None:
        devices = {p.device.type for p in module.parameters()} | {b.device.type for b in module.buffers()}
        if devices - {'cpu'}:
            raise ValueError(
                f'CPUDistributedDataParallel: the model is on {sorted(devices)}, not the CPU; use '
                'MMDistributedDataParallel on GPUs'
            )
        if any(isinstance(m, nn.SyncBatchNorm) for m in module.modules()):
            print_log(
                'CPUDistributedDataParallel: SyncBatchNorm needs CUDA; reverted to BatchNorm, so each process '
                'normalises with the statistics of its own batch',
                logger='current',
                level=30,
            )
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, **kwargs)


def _launcher_env(launcher: str) -> Dict[str, str]:
    """RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT from the launcher's own variables, as mmengine's
    ``init_dist`` derives them (but with the local rank from the launcher rather than ``rank % GPUs``)."""
    env = os.environ
    if launcher == 'pytorch':  # torchrun sets all of them
        return {}
    if launcher == 'slurm':
        out = dict(
            RANK=env['SLURM_PROCID'],
            WORLD_SIZE=env['SLURM_NTASKS'],
            LOCAL_RANK=env.get('SLURM_LOCALID', '0'),
            MASTER_PORT=env.get('MASTER_PORT', '29500'),
        )
        if 'MASTER_ADDR' not in env:
            hosts = subprocess.run(
                ['scontrol', 'show', 'hostname', env['SLURM_NODELIST']], check=True, capture_output=True, text=True
            ).stdout.split()
            out['MASTER_ADDR'] = hosts[0]
        return out
    if launcher == 'mpi':
        return dict(
            RANK=env['OMPI_COMM_WORLD_RANK'],
            WORLD_SIZE=env['OMPI_COMM_WORLD_SIZE'],
            LOCAL_RANK=env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'),
            MASTER_ADDR=env.get('MASTER_ADDR', '127.0.0.1'),
            MASTER_PORT=env.get('MASTER_PORT', '29500'),
        )
    raise ValueError(f'unknown launcher {launcher!r} (none, pytorch, slurm, mpi)')


def init_gloo_process_group(launcher: str, dist_cfg: Optional[Dict] = None) -> None:
    """Start ``torch.distributed`` with gloo from the launcher's environment (what mmengine's ``init_dist`` does for
    NCCL, without ``torch.cuda.set_device``); the options of ``dist_cfg`` other than the backend (e.g. ``timeout``
    in seconds) are kept."""
    os.environ.update(_launcher_env(launcher))
    kwargs = {k: v for k, v in (dist_cfg or {}).items() if k not in ('backend', 'init_backend')}
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    dist.init_process_group(backend='gloo', **kwargs)


def cpu_model_wrapper_cfg(model_wrapper_cfg: Optional[Dict], find_unused_parameters: bool = False) -> Dict:
    """The wrapper config for a CPU process: mmengine's DDP wrapper (the config's, or the one ``Runner.wrap_model``
    builds when the config names none) as :class:`CPUDistributedDataParallel` with the same options; any other
    wrapper unchanged."""
    wrapper = model_wrapper_cfg
    if wrapper is None:  # what Runner.wrap_model builds when the config names none
        wrapper = dict(
            type='MMDistributedDataParallel', broadcast_buffers=False, find_unused_parameters=find_unused_parameters
        )
    if wrapper.get('type', 'MMDistributedDataParallel') in _DDP_TYPES:
        return dict(wrapper, type='mmbrain.CPUDistributedDataParallel')
    return dict(wrapper)
