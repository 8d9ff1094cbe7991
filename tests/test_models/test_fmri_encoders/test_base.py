# Copyright (c) mmbrain contributors. All rights reserved.
"""The fMRI-encoder contract (BaseFMRIEncoder), the spatial-embedding contract and the sliding-window count; the
encoders' forward never reads a value back to the host (so torch.compile / CUDA graphs can capture it)."""

import contextlib

import pytest
import torch
from _brain_batch import make_brain_batch
from torch.utils._python_dispatch import TorchDispatchMode

from mmbrain.models.fmri_encoders import (
    BaseFMRIEncoder,
    BaseSpatialEmbedding,
    BrainformerEncoder,
    LearnedPositionalEmbedding,
    LinearFMRIEncoder,
    SinusoidalPositionalEmbedding,
    Voxel3DEmbedding,
)
from mmbrain.models.fmri_encoders.windows import num_windows, window_padding
from mmbrain.registry import MODELS

RAGGED = {
    0: dict(v1=300, faces=5, streams=61),
    1: dict(v1=257, faces=40, streams=0),
    2: dict(v1=13, faces=100, streams=33),
}
TINY = dict(embed_dims=16, num_heads=2, conv_kernel=8, conv_stride=4, window_size=8, window_stride=4)

# Operators that copy a device value to the host (item / bool / int / tolist) or whose output shape depends on
# values (so the host must wait for the device to know it).
_SYNCING_OPS = ('_local_scalar_dense', 'nonzero', 'masked_select', 'unique', 'item', 'is_nonzero', 'equal')


class _NoHostSync(TorchDispatchMode):
    """Fails on any operator that would synchronise the host with the device."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if any(name == op or name.startswith(f'{op}_') for op in _SYNCING_OPS):
            raise AssertionError(f'host-device synchronisation in the forward: aten.{name}')
        if (
            name.startswith('index')
            and len(args) > 1
            and isinstance(args[1], (list, tuple))
            and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])
        ):
            raise AssertionError(f'host-device synchronisation in the forward: aten.{name} with a boolean mask')
        if name == 'repeat_interleave' and (kwargs or {}).get('output_size') is None:
            raise AssertionError('host-device synchronisation in the forward: repeat_interleave without output_size')
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def no_host_sync(monkeypatch):
    """Also patch the Python entry points that read a tensor's value on the host (tolist, numpy, item, bool)."""

    def forbid(name):
        def raiser(self, *args, **kwargs):
            raise AssertionError(f'host-device synchronisation in the forward: Tensor.{name}')

        return raiser

    with monkeypatch.context() as m:
        for name in ('tolist', 'item', 'numpy', 'cpu', '__bool__', '__int__', '__float__', '__index__'):
            m.setattr(torch.Tensor, name, forbid(name))
        with _NoHostSync():
            yield


def test_the_guard_catches_syncs(monkeypatch):
    x = torch.arange(4)
    for sync in (
        lambda: x.sum().item(),
        lambda: x.tolist(),
        lambda: bool(x.any()),
        lambda: x[x > 1],
        lambda: x.nonzero(),
        lambda: int(x.max()),
    ):
        with pytest.raises(AssertionError, match='host-device synchronisation'), no_host_sync(monkeypatch):
            sync()


# Small but ragged: several Conv1D tokens and windows at both levels, an ROI shorter than the kernel, an empty one.
SMALL = {0: dict(v1=60, faces=5, streams=20), 1: dict(v1=41, faces=12, streams=0)}


@pytest.mark.parametrize(
    'pos_embed',
    [
        dict(type='Voxel3DEmbedding'),
        dict(type='SinusoidalPositionalEmbedding'),
        dict(type='LearnedPositionalEmbedding', max_tokens=32),
        None,
    ],
)
def test_brainformer_forward_has_no_host_sync(monkeypatch, pos_embed):
    torch.manual_seed(0)
    enc = BrainformerEncoder(roi_names=['v1', 'faces', 'streams'], pos_embed=pos_embed, **TINY).eval()
    batch = make_brain_batch(SMALL, subjects=[0, 1, 1])
    with torch.no_grad():
        expected = enc(**batch)
        with no_host_sync(monkeypatch):
            q, roi = enc(**batch)
    assert torch.allclose(q, expected[0]) and torch.allclose(roi, expected[1])
    enc.train()  # dropout, and the backward pass
    with no_host_sync(monkeypatch):
        enc(**batch)[0].sum().backward()


def test_linear_forward_has_no_host_sync(monkeypatch):
    enc = LinearFMRIEncoder(roi_names=['v1', 'faces'], num_voxels=dict(v1=320, faces=60), embed_dims=16, num_heads=2)
    batch = make_brain_batch({0: dict(v1=300, faces=5), 1: dict(v1=257, faces=40)}, subjects=[0, 1, 1])
    with no_host_sync(monkeypatch):
        q, _ = enc(**batch)
        q.sum().backward()


def test_encoders_follow_the_contract():
    for enc in (
        BrainformerEncoder(roi_names=['v1', 'faces'], **TINY),
        LinearFMRIEncoder(roi_names=['v1', 'faces'], num_voxels=dict(v1=8, faces=8), embed_dims=16, num_heads=2),
    ):
        assert isinstance(enc, BaseFMRIEncoder) and enc.roi_names == ['v1', 'faces'] and enc.embed_dims == 16
    assert BrainformerEncoder(roi_names=['v1'], **TINY).needs_xyz
    assert not BrainformerEncoder(roi_names=['v1'], pos_embed=None, **TINY).needs_xyz

    class NoForward(BaseFMRIEncoder):
        pass

    with pytest.raises(TypeError, match='abstract'):
        NoForward(['v1'], 8)
    with pytest.raises(ValueError, match='non-empty'):
        BrainformerEncoder(roi_names=[], **TINY)
    with pytest.raises(ValueError, match='non-empty'):
        BrainformerEncoder(roi_names='v1', **TINY)
    with pytest.raises(ValueError, match='duplicates'):
        BrainformerEncoder(roi_names=['v1', 'v1'], **TINY)


def test_input_checks_name_the_problem():
    enc = BrainformerEncoder(roi_names=['v1', 'faces'], **TINY)
    batch = make_brain_batch({0: dict(v1=30, faces=20), 1: dict(v1=25, faces=10)}, subjects=[0, 1])
    bad = dict(batch, subject_index=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r'subject_index \(3,\) must be \[2\]'):
        enc(**bad)
    bad = dict(batch, xyz=dict(batch['xyz'], v1=batch['xyz']['v1'][:, :5]))
    with pytest.raises(ValueError, match="ROI 'v1': xyz"):
        enc(**bad)
    bad = dict(batch, fmri=dict(batch['fmri'], faces=batch['fmri']['faces'][:1]))
    with pytest.raises(ValueError, match="ROI 'faces'"):
        enc(**bad)
    with pytest.raises(ValueError, match='no `subject_index`'):
        enc(**dict(batch, subject_index=None))


def test_spatial_embeddings_declare_their_kind():
    for cls in (Voxel3DEmbedding, LearnedPositionalEmbedding, SinusoidalPositionalEmbedding):
        assert issubclass(cls, BaseSpatialEmbedding)
    assert Voxel3DEmbedding.per_subject and Voxel3DEmbedding.pooled_to_conv_tokens and Voxel3DEmbedding.needs_xyz
    for cls in (LearnedPositionalEmbedding, SinusoidalPositionalEmbedding):
        assert not (cls.per_subject or cls.pooled_to_conv_tokens or cls.needs_xyz)
    # the encoder hands its Conv1D kernel and stride to an embedding pooled to the Conv1D tokens
    enc = BrainformerEncoder(roi_names=['v1'], **TINY)
    assert (enc.rois['v1'].pos_embed.kernel_size, enc.rois['v1'].pos_embed.stride) == (8, 4)

    @MODELS.register_module(force=True)
    class NotAnEmbedding(torch.nn.Module):
        def __init__(self, embed_dims):
            super().__init__()

    with pytest.raises(TypeError, match='not a BaseSpatialEmbedding'):
        BrainformerEncoder(roi_names=['v1'], pos_embed=dict(type='NotAnEmbedding'), **TINY)


def test_one_sliding_window_count():
    for size, stride in ((8, 4), (64, 32), (32, 16), (5, 5)):
        for n in (0, 1, size - 1, size, size + 1, 3 * size + 2, 1000):
            count = num_windows(n, size, stride)
            if n == 0:
                assert count == 0
                continue
            assert (count - 1) * stride < n <= (count - 1) * stride + size  # the last window starts inside
            assert (n + window_padding(n, size, stride) - size) == (count - 1) * stride  # whole windows
            assert num_windows(torch.tensor([n]), size, stride).tolist() == [count]
