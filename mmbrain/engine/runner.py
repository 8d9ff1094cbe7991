# Copyright (c) mmbrain contributors. All rights reserved.
"""mmengine's Runner with what every mmbrain run needs, selected by ``runner_type`` in the configs.

mmbrain's own runtime (``configs/_base_/default_runtime.py``) and the detection and segmentation configs set
``runner_type = 'mmbrain.BrainRunner'``; ``tools/train.py`` and ``tools/test.py`` and mmdet's and mmseg's own
``tools/train.py`` / ``tools/test.py`` build the runner of that type (``RUNNERS.build(cfg)``), so each of them gets:

* **safe checkpoints**: :func:`mmbrain.utils.checkpoint.enable_safe_checkpoint_loading` before anything is loaded
  (``load_from``, ``resume``, ``init_cfg=dict(type='Pretrained')``, for every URL scheme);
* **pretrained weights that fit**: after the model's ``init_weights``, every ``Pretrained`` ``init_cfg`` is checked
  to have given its module the checkpoint's weights (:func:`~mmbrain.utils.checkpoint.check_pretrained_init`);
* **resumable checkpoints only**: ``resume`` refuses, with the file named, a checkpoint without a training state
  (optimizer, message hub, epoch / iteration) or whose weights do not fit the model, before mmengine would fail
  with a bare ``KeyError`` or "resume" from random weights;
* **ranks that end with their torchrun agent** (:func:`mmbrain.pipeline.processes.die_with_torchrun_agent`);
* **multi-process training on CPUs**: without CUDA, a distributed launch (``--launcher pytorch`` / ``slurm`` /
  ``mpi``) starts gloo instead of NCCL and wraps the model in
  :class:`~mmbrain.engine.cpu_distributed.CPUDistributedDataParallel`; with CUDA everything stays mmengine's.
"""

from typing import Dict, Optional

import torch
import torch.distributed as dist
from mmengine.runner import Runner

from mmbrain.registry import RUNNERS
from mmbrain.utils.checkpoint import (
    check_pretrained_init,
    check_resumable,
    check_weights_match,
    enable_safe_checkpoint_loading,
    load_checkpoint_safely,
)
from mmbrain.utils.cli import placeholder_problem

from .cpu_distributed import cpu_model_wrapper_cfg, init_gloo_process_group


@RUNNERS.register_module()
class BrainRunner(Runner):
    """:class:`mmengine.runner.Runner` with safe checkpoint loading, checked ``Pretrained`` initialisation and
    resumption, and gloo / a CPU model wrapper for distributed runs without CUDA (see the module docstring).

    Takes the arguments of :class:`mmengine.runner.Runner`; built from a config by ``RUNNERS.build(cfg)`` with
    ``cfg.runner_type = 'mmbrain.BrainRunner'``.
    """

    def __init__(self, *args, **kwargs) -> None:
        from mmbrain.pipeline.processes import die_with_torchrun_agent

        # under torchrun (mmdet's / mmseg's own tools too): end with the agent, which starts each rank in a session
        # of its own (tools/train.py does this first thing; here it covers the other libraries' tools)
        die_with_torchrun_agent()
        work_dir = kwargs.get('work_dir', args[1] if len(args) > 1 else None)
        problem = placeholder_problem(work_dir) if work_dir is not None else None
        if problem:  # the work dir's dumped config would read back with another path
            raise ValueError(f'work_dir {problem}')
        enable_safe_checkpoint_loading()
        super().__init__(*args, **kwargs)

    @property
    def _cpu_distributed(self) -> bool:
        return self.distributed and not torch.cuda.is_available()

    def setup_env(self, env_cfg: Dict) -> None:
        """mmengine's, with gloo for a distributed launch without CUDA (mmengine's ``init_dist`` would call
        ``torch.cuda.set_device``)."""
        if self._cpu_distributed and not dist.is_initialized():
            init_gloo_process_group(self.launcher, env_cfg.get('dist_cfg'))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model: torch.nn.Module):
        """mmengine's, with :class:`CPUDistributedDataParallel` in place of its DDP wrapper on CPUs."""
        if self._cpu_distributed:
            model_wrapper_cfg = cpu_model_wrapper_cfg(model_wrapper_cfg, self.cfg.get('find_unused_parameters', False))
        return super().wrap_model(model_wrapper_cfg, model)

    def _init_model_weights(self) -> None:
        """mmengine's, then the check that every ``Pretrained`` ``init_cfg`` gave its module the checkpoint's
        weights (mmengine only warns about keys that do not fit)."""
        super()._init_model_weights()
        for checkpoint in check_pretrained_init(self.model):
            self.logger.info(f'pretrained weights checked: {checkpoint} fits the module it initialised')

    def resume(self, filename: str, *args, **kwargs) -> None:
        """mmengine's, after checking that ``filename`` is a training checkpoint of this model."""
        ckpt = load_checkpoint_safely(filename)
        check_resumable(ckpt, filename)
        check_weights_match(self.model, ckpt, filename)
        del ckpt
        super().resume(filename, *args, **kwargs)
