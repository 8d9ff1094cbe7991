# Copyright (c) mmbrain contributors. All rights reserved.
"""How much gradient each pretraining loss alone sends into the image backbone, logged during training.

The question this answers: does the Brain fMRI Guidance Loss (Sec. 3.3.2, Eq. 6) still teach the vision model
anything once it is low? ``loss_bfg`` falling is not enough: Eq. 6 as printed can be solved by the ROI projection
heads and the fMRI encoder alone, after which it sends the backbone (almost) nothing. docs/guidance_loss.md.
"""

from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmbrain.registry import HOOKS


def loss_gradient_norms(
    model: nn.Module, data_batch: dict, losses: Sequence[str] = ('loss_bfg', 'loss_con'), module: str = 'backbone'
) -> Dict[str, float]:
    """The L2 norm of ``d loss / d θ`` over the parameters ``θ`` of ``module``, for each loss on its own.

    The model's ``loss`` mode is re-run on ``data_batch`` (through its data preprocessor, in the model's current
    train/eval mode) and each named loss is differentiated alone with :func:`torch.autograd.grad`, so nothing is
    accumulated into ``.grad`` and the optimiser's step is untouched. The random number generators are forked,
    so dropout / drop-path draws of the training step that follows are the same as without the measurement. With
    several processes the gradients are averaged over them first (as DistributedDataParallel does), so every
    process reports the norm of the gradient the optimiser would see.

    Args:
        model: a ``BaseModel`` (or a model wrapper around one) whose ``mode='loss'`` returns the named losses.
        data_batch: a batch as the dataloader gives it.
        losses: names of the losses to measure; names the model does not return are skipped.
        module: name of the submodule whose parameters receive the gradient (``'backbone'``).

    Returns:
        ``{loss name: gradient norm}`` for the losses the model returned.
    """
    model = model.module if is_model_wrapper(model) else model
    try:
        target = model.get_submodule(module)
    except AttributeError as err:
        raise ValueError(f'loss_gradient_norms: {type(model).__name__} has no submodule {module!r}') from err
    params = [p for p in target.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f'loss_gradient_norms: {module!r} of {type(model).__name__} has no trainable parameters')
    devices = [params[0].device.index or 0] if params[0].is_cuda else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        data = model.data_preprocessor(data_batch, training=True)
        outputs = model(**data, mode='loss') if isinstance(data, dict) else model(*data, mode='loss')
    names = [name for name in losses if name in outputs]
    norms = {}
    for i, name in enumerate(names):
        grads = torch.autograd.grad(outputs[name], params, retain_graph=i < len(names) - 1, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).flatten().float() for p, g in zip(params, grads)])
        if get_world_size() > 1:
            all_reduce(flat, op='mean')
        norms[name] = float(flat.norm())
    return norms


@HOOKS.register_module()
class LossGradientNormHook(Hook):
    """Log ``backbone_grad_<loss>``: the norm of the gradient each loss alone sends to the backbone.

    Every ``interval`` training iterations, before the step, :func:`loss_gradient_norms` re-runs the model on the
    step's batch and logs, for ``loss_bfg`` say, the scalar ``backbone_grad_bfg`` (the loss name without its
    ``loss_`` prefix) into the training log and the visualiser's scalars (``vis_data/scalars.json``). The
    measurement costs one extra forward and one backward per loss; it changes neither the gradients nor the random
    draws of training. mmengine's log processor shows these names as the latest measurement (names matching
    ``loss``, ``time`` or ``grad_norm`` would be averaged over its window instead).

    Args:
        interval (int): Measure every ``interval`` iterations (the iterations the logger logs when the two
            intervals are equal).
        losses (Sequence[str]): Losses to measure (those the model does not return, e.g. ``loss_bfg`` without
            the guidance loss, are skipped).
        module (str): Submodule whose parameters receive the gradient.
    """

    priority = 'NORMAL'

    def __init__(
        self, interval: int = 10, losses: Sequence[str] = ('loss_bfg', 'loss_con'), module: str = 'backbone'
    ) -> None:
        if interval < 1:
            raise ValueError(f'LossGradientNormHook: interval must be >= 1, got {interval}')
        self.interval = interval
        self.losses = tuple(losses)
        self.module = module

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        if data_batch is None or not self.every_n_train_iters(runner, self.interval):
            return
        norms = loss_gradient_norms(runner.model, data_batch, self.losses, self.module)
        for name, value in norms.items():
            runner.message_hub.update_scalar(f'train/backbone_grad_{name.removeprefix("loss_")}', value)
