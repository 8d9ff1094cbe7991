# Copyright (c) mmbrain contributors. All rights reserved.
"""GroupedOptimWrapperConstructor: mmengine's per-parameter options in a few plain-dict groups, the same update."""

import copy

import pytest
import torch
from torch import nn

PARAMWISE = dict(
    norm_decay_mult=0.0, bias_decay_mult=0.0, custom_keys={'logit_scale': dict(decay_mult=0.0, lr_mult=2.0)}
)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 2)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return self.head(self.norm(self.fc(x))) * self.logit_scale


def _build(constructor, model, fused=False):
    from mmengine.optim import build_optim_wrapper

    return build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            constructor=constructor,
            paramwise_cfg=PARAMWISE,
            optimizer=dict(type='AdamW', lr=1e-2, betas=(0.9, 0.999), weight_decay=0.05, fused=fused),
        ),
    )


@pytest.mark.parametrize('fused', [False, True])
def test_same_update_as_mmengine_in_few_groups(fused):
    import mmbrain.engine  # noqa: F401  (registers the constructor)

    torch.manual_seed(0)
    ours, theirs = Toy(), Toy()
    theirs.load_state_dict(ours.state_dict())
    grouped = _build('mmbrain.GroupedOptimWrapperConstructor', ours, fused)
    default = _build('DefaultOptimWrapperConstructor', theirs, fused)
    groups = grouped.optimizer.param_groups
    assert len(default.optimizer.param_groups) == 7 and len(groups) == 3
    assert all(type(g) is dict for g in groups)
    by_options = {(g['lr'], g['weight_decay']): len(g['params']) for g in groups}
    assert by_options == {(1e-2, 0.05): 2, (1e-2, 0.0): 4, (2e-2, 0.0): 1}  # weights / norms + biases / temperature
    x = torch.randn(16, 4)
    for _ in range(3):
        for model, wrapper in ((ours, grouped), (theirs, default)):
            wrapper.update_params(model(copy.deepcopy(x)).square().mean())
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)


def test_without_paramwise_cfg_it_is_mmengine_constructor():
    from mmengine.optim import build_optim_wrapper

    import mmbrain.engine  # noqa: F401

    wrapper = build_optim_wrapper(
        Toy(), dict(constructor='mmbrain.GroupedOptimWrapperConstructor', optimizer=dict(type='AdamW', lr=1e-3))
    )
    assert len(wrapper.optimizer.param_groups) == 1
