# Copyright (c) mmbrain contributors. All rights reserved.
"""init_model: the one way to build a model from a config and a checkpoint (inferencers, Grad-CAM, ridge, FLOPs)."""

import pytest
import torch
from _helpers import tiny_pretrainer_cfg
from mmengine.config import Config

from mmbrain.apis import init_model
from mmbrain.apis.model import checkpoint_kind


def _cfg():
    return Config(dict(default_scope='mmbrain', model=tiny_pretrainer_cfg()))


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_initialised_as_the_runner_would_and_seeded():
    a, b, c = init_model(_cfg(), seed=0), init_model(_cfg(), seed=0), init_model(_cfg(), seed=1)
    assert _same(a, b) and not _same(a, c)
    assert not a.training and a._config is a.cfg and a.cfg.model.type == 'BrainformerPretrainer'


def test_a_checkpoint_gives_every_weight_and_its_dataset_meta(tmp_path):
    trained = init_model(_cfg(), seed=3)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=trained.state_dict(), meta=dict(dataset_meta=dict(subjects=[1, 2]))), ckpt)
    loaded = init_model(_cfg(), str(ckpt), seed=0)
    assert _same(loaded, trained) and loaded.dataset_meta == dict(subjects=[1, 2])
    with pytest.raises(FileNotFoundError, match='nope.pth: checkpoint not found'):
        init_model(_cfg(), str(tmp_path / 'nope.pth'))


def test_a_checkpoint_of_another_kind_says_what_it_is(tmp_path):
    state = init_model(_cfg()).state_dict()
    encoding = {k: v for k, v in state.items() if k.startswith('backbone.')} | {
        'head.readouts.v1.weight': torch.zeros(1)
    }
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    for name, weights, message in (
        ('enc.pth', encoding, 'this is an encoding checkpoint; Caller needs a pretraining one'),
        ('bb.pth', backbone, 'this is a backbone-only checkpoint'),
    ):
        torch.save(dict(state_dict=weights), tmp_path / name)
        with pytest.raises(ValueError, match=message):
            init_model(_cfg(), str(tmp_path / name), caller='Caller')
    assert checkpoint_kind({'module.fmri_encoder.w': 0}) == 'pretraining' and checkpoint_kind({'x.w': 0}) == 'other'


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_never_unpickles_a_payload(tmp_path):
    marker = tmp_path / 'ran'
    torch.save(dict(state_dict=init_model(_cfg()).state_dict(), meta=_Payload(str(marker))), tmp_path / 'evil.pth')
    with pytest.raises(ValueError, match='evil.pth'):
        init_model(_cfg(), str(tmp_path / 'evil.pth'))
    assert not marker.exists()


def test_without_init_weights_the_weights_are_as_built(monkeypatch):
    called = []
    monkeypatch.setattr('mmbrain.models.algorithms.BrainformerPretrainer.init_weights', lambda self: called.append(1))
    init_model(_cfg(), init_weights=False)
    assert not called
    init_model(_cfg())
    assert called == [1]
