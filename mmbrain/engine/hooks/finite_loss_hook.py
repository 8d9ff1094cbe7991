# Copyright (c) mmbrain contributors. All rights reserved.
"""Stop training at the first non-finite loss, before a NaN model is checkpointed or reported as trained.

A NaN or Inf loss (from non-finite inputs, an exploding temperature, a too-high learning rate) makes every later
step NaN too, yet the Runner would train on, save NaN checkpoints and exit 0. mmengine has no such hook; mmdet's
``CheckInvalidLossHook`` checks only every ``interval`` iterations with an ``assert`` (no message, skipped under
``python -O``) and needs mmdet (mmcv's compiled ops) to import.
"""

import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook

from mmbrain.registry import HOOKS


def non_finite_values(outputs: Optional[Dict]) -> Dict[str, float]:
    """The entries of a train step's outputs (``log_vars``: losses, temperature, ...) that are NaN or infinite."""
    bad = {}
    for key, value in (outputs or {}).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            value = value.detach().float().mean().item() if value.numel() else 0.0
        if isinstance(value, float) and not math.isfinite(value):
            bad[key] = value
    return bad


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise :class:`FloatingPointError` after the first training iteration whose outputs are not finite.

    Runs after every iteration, before the logger and checkpoint hooks, so no checkpoint of a NaN model is saved.
    With several processes the decision is agreed over all of them (one all-reduce of a flag), so every process
    stops at the same iteration instead of the others waiting for the one that stopped. The message names the
    iteration and the non-finite values, and is also written to the run's log.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[Dict] = None) -> None:
        bad = non_finite_values(outputs)
        if is_distributed():
            flag = torch.tensor(float(bool(bad)), device=next(runner.model.parameters()).device)
            all_reduce(flag)
            stop = flag.item() > 0
        else:
            stop = bool(bad)
        if not stop:
            return
        values = ', '.join(f'{k}={v}' for k, v in bad.items()) or 'on another process'
        msg = (
            f'non-finite training outputs at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): {values}; '
            f'training stopped (work dir {runner.work_dir}; no checkpoint of this iteration was saved). Check the '
            'inputs (non-finite betas are refused when read) and the learning rate.'
        )
        runner.logger.error(msg)
        raise FloatingPointError(msg)
