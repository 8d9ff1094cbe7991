# Copyright (c) mmbrain contributors. All rights reserved.
"""An optimiser-wrapper constructor whose parameter groups are few, plain dicts (for fused AdamW and compile)."""

from typing import Dict, List

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from mmbrain.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS


def merge_param_groups(groups: List[Dict]) -> List[Dict]:
    """One group per distinct set of options (lr, weight_decay, ...), in order of first appearance."""
    merged: Dict[tuple, Dict] = {}
    for group in groups:
        options = {k: v for k, v in group.items() if k != 'params'}
        key = tuple(sorted((k, repr(v)) for k, v in options.items()))
        merged.setdefault(key, dict(options, params=[]))['params'].extend(group['params'])
    return list(merged.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroupedOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's ``DefaultOptimWrapperConstructor`` (same ``paramwise_cfg``, same per-parameter options), with
    the per-parameter groups it makes merged into one group per distinct set of options.

    With ``paramwise_cfg`` mmengine gives every parameter its own group, as an mmengine ``ConfigDict``. Each group is
    then a separate multi-tensor (``foreach`` / ``fused``) AdamW launch, several hundred per step for the paper
    model, and ``torch.compile`` of the Runner's ``train_step`` (config ``compile=True``) fails to trace the optimiser
    over ``ConfigDict`` groups. Merged plain-dict groups (a handful: with / without weight decay, the temperature)
    give the same update with a few launches, and compile. Without ``paramwise_cfg`` it is mmengine's constructor.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if not self.paramwise_cfg:
            return super().__call__(model)
        if hasattr(model, 'module'):
            model = model.module
        params: List[Dict] = []
        self.add_params(params, model)
        options = dict(self.optimizer_cfg)
        optimizer_cls = options.pop('type')
        if isinstance(optimizer_cls, str):
            optimizer_cls = OPTIMIZERS.get(optimizer_cls)
        optimizer = optimizer_cls(merge_param_groups(params), **options)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
