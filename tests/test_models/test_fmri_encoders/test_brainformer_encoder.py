# Copyright (c) mmbrain contributors. All rights reserved.
"""The batched Brainformer encoder against the literal Algorithm 1 loop, and its building blocks."""

import pytest
import torch
import torch.nn.functional as F
from _brain_batch import make_brain_batch

from mmbrain.models.fmri_encoders import (
    BrainformerEncoder,
    LinearFMRIEncoder,
    MultiScaleFMRITransformer,
    Voxel3DEmbedding,
)
from mmbrain.models.fmri_encoders.feature_encoding import Conv1DFeatureEncoding
from mmbrain.models.fmri_encoders.windows import num_windows

TINY = dict(embed_dims=16, num_heads=2, conv_kernel=8, conv_stride=4, window_size=8, window_stride=4)
# Three subjects with ragged counts: long ROIs (several windows at both levels), ROIs shorter than the Conv1D
# kernel, shorter than one window, and an empty one.
RAGGED = {
    0: dict(v1=300, faces=5, streams=61),
    1: dict(v1=257, faces=40, streams=0),
    2: dict(v1=13, faces=100, streams=33),
}


def _encoder(**kwargs):
    torch.manual_seed(0)
    cfg = dict(TINY, **kwargs)
    return BrainformerEncoder(**cfg).eval()


@pytest.mark.parametrize(
    'pos_embed',
    [
        dict(type='Voxel3DEmbedding'),
        dict(type='LearnedPositionalEmbedding', max_tokens=128),
        dict(type='SinusoidalPositionalEmbedding'),
        None,
    ],
)
def test_batched_equals_loop_ragged(pos_embed):
    enc = _encoder(roi_names=['v1', 'faces', 'streams'], pos_embed=pos_embed)
    batch = make_brain_batch(RAGGED, subjects=[0, 1, 2, 1, 0, 2, 2])
    with torch.no_grad():
        q, roi = enc(**batch)
        q_loop, roi_loop = enc.forward_unbatched(**batch)
    assert q.shape == (7, 16) and roi.shape == (7, 3, 16)
    assert (roi - roi_loop).abs().max() <= 1e-5
    assert (q - q_loop).abs().max() <= 1e-5
    assert roi[:, 0].abs().sum() > 0 and (roi[[1, 3], 2] == 0).all()  # empty ROI of subject 1 gives q̄ = 0


@pytest.mark.parametrize('window_count', ['cover', 'printed'])
@pytest.mark.parametrize('levels, w, s', [(1, 8, 8), (3, 4, 2), (2, 16, 4)])
def test_batched_equals_loop_levels_and_windows(levels, w, s, window_count):
    enc = _encoder(roi_names=['a'], num_levels=levels, window_size=w, window_stride=s, window_count=window_count)
    batch = make_brain_batch({0: dict(a=700), 1: dict(a=9), 2: dict(a=333)}, subjects=[0, 1, 2, 0], seed=1)
    with torch.no_grad():
        assert (enc(**batch)[0] - enc.forward_unbatched(**batch)[0]).abs().max() <= 1e-5


def test_gradients_match_loop():
    enc = _encoder(roi_names=['v1', 'faces'])
    batch = make_brain_batch({0: dict(v1=200, faces=30), 1: dict(v1=150, faces=70)}, subjects=[0, 1, 1])
    grads = []
    for fn in (enc.forward, enc.forward_unbatched):
        enc.zero_grad()
        q, roi = fn(**batch)
        (q.square().sum() + roi.sum()).backward()
        grads.append({n: p.grad.clone() for n, p in enc.named_parameters()})
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-5), name


def test_extra_padding_changes_nothing():
    enc = _encoder(roi_names=['v1', 'faces', 'streams'])
    with torch.no_grad():
        q1 = enc(**make_brain_batch(RAGGED, subjects=[0, 1, 2]))[0]
        q2 = enc(**make_brain_batch(RAGGED, subjects=[0, 1, 2], extra_padding=77))[0]
    assert (q1 - q2).abs().max() <= 1e-5


def test_one_attention_call_per_level(monkeypatch):
    """All windows of a level go through one scaled_dot_product_attention call (no loop over windows)."""
    calls = []
    sdpa = F.scaled_dot_product_attention

    def counting_sdpa(q, *args, **kwargs):
        calls.append(q.shape[0])
        return sdpa(q, *args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', counting_sdpa)
    enc = _encoder(roi_names=['v1', 'faces'], num_levels=2)
    with torch.no_grad():
        enc(**make_brain_batch({0: dict(v1=600, faces=300), 1: dict(v1=500, faces=200)}, subjects=[0, 1]))
    # per ROI: 2 levels + the final TransBlock; then the ROI transformer
    assert len(calls) == 2 * 3 + 1
    # v1: 600 voxels -> 149 conv tokens -> ceil(141 / 4) + 1 = 37 windows per sample at level 1, both samples at once
    assert calls[0] == 2 * 37


def test_voxel3d_embedding_is_pooled_eq3():
    """Linear of window-mean coordinates == window mean of the per-voxel embeddings v_i of Eq. 3."""
    torch.manual_seed(0)
    emb = Voxel3DEmbedding(embed_dims=8, kernel_size=8, stride=4, coord_scale=0.01)
    n, xyz = 23, torch.randn(1, 30, 3) * 50
    mask = torch.arange(30)[None] < n
    out = emb(torch.zeros(1, 5, 8), xyz, mask)
    per_voxel = emb.linear(xyz[0, :n] * 0.01)  # Eq. 3
    for t in range(5):
        expected = per_voxel[t * 4 : t * 4 + 8].mean(0)  # the last window is partial: its real voxels only
        assert torch.allclose(out[0, t], expected, atol=1e-6)


def test_conv1d_covers_the_tail():
    torch.manual_seed(0)
    conv = Conv1DFeatureEncoding(embed_dims=4, kernel_size=8, stride=4)
    x = torch.randn(1, 23)
    assert conv.num_tokens(23) == 5 and conv(x).shape == (1, 5, 4)
    y = x.clone()
    y[0, -1] += 1  # the last voxel is seen by the last token
    assert not torch.allclose(conv(x)[0, -1], conv(y)[0, -1])
    assert conv.num_tokens(3) == 1 and conv.num_tokens(0) == 0
    assert conv.num_tokens(torch.tensor([0, 3, 8, 9, 23])).tolist() == [0, 1, 1, 2, 5]


def test_printed_window_count_at_the_paper_sizes():
    """20 000 voxels, Conv1D k=32 s=16, w=64 s=32, h=2: levels of 1249, 39, 1 tokens ('cover') / 1249, 40, 2
    (Algorithm 1's printed loop i = 0..L/s), in the count, the batched forward and the unbatched loop."""
    expected = dict(cover=[1249, 39, 1], printed=[1249, 40, 2])
    for window_count, sizes in expected.items():
        enc = BrainformerEncoder(
            roi_names=['streams'], embed_dims=8, num_heads=1, pos_embed=None, window_count=window_count
        ).eval()
        roi = enc.rois['streams']
        tokens = [roi.feature_encoding.num_tokens(20000)]
        for _ in roi.transformer.levels:
            tokens.append(roi.transformer.num_windows(tokens[-1]))
        assert tokens == sizes, window_count
        seen = []  # sequence lengths entering each level's TransBlock and the final one, per implementation
        hooks = [
            block.register_forward_hook(lambda m, args, out, seen=seen: seen.append(args[0].shape[:2]))
            for block in (*roi.transformer.levels, roi.transformer.final)
        ]
        batch = make_brain_batch({0: dict(streams=20000)}, subjects=[0])
        with torch.no_grad():
            q, _ = enc(**batch)
            q_loop, _ = enc.forward_unbatched(**batch)
        for hook in hooks:
            hook.remove()
        assert (q - q_loop).abs().max() <= 1e-5
        batched, unbatched = seen[:3], seen[3:]
        # batched: all windows of a level at once ([windows, w]; one window of fewer than w tokens is not padded);
        # the final TransBlock over the last level's tokens
        level2 = (1, 39) if window_count == 'cover' else (2, 64)
        assert [tuple(x) for x in batched] == [(sizes[1], 64), level2, (1, sizes[2])]
        # unbatched: one call per window; the printed loop's last windows shrink (1249 - 39 * 32 = 1 token)
        assert len(unbatched) == sizes[1] + sizes[2] + 1 and tuple(unbatched[-1]) == (1, sizes[2])
        if window_count == 'printed':
            assert unbatched[sizes[1] - 1][1] == 1249 - 39 * 32 and unbatched[-2][1] == 40 - 32
    # the printed loop never cuts an empty window: when s divides L the window starting at L is dropped
    assert num_windows(64, 64, 32, 'printed') == 2 and num_windows(65, 64, 32, 'printed') == 3
    assert num_windows(torch.tensor([0, 1, 32, 33, 64]), 64, 32, 'printed').tolist() == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match='window_count'):
        BrainformerEncoder(roi_names=['a'], **TINY, window_count='paper')


def test_windows_cover_every_token():
    mst = MultiScaleFMRITransformer(8, 2, window_size=64, window_stride=32)
    for n in (1, 63, 64, 65, 96, 97, 1000):
        count = mst.num_windows(n)
        assert (count - 1) * 32 < n <= (count - 1) * 32 + 64  # last window starts inside, reaches the end
    assert mst.num_windows(torch.tensor([0, 64, 65])).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match='window_stride'):
        MultiScaleFMRITransformer(8, 2, window_size=16, window_stride=32)


def test_batches_without_coordinates():
    """Converted files without coordinates give batches without xyz: positional embeddings still work."""
    batch = make_brain_batch(RAGGED, subjects=[0, 1, 2])
    batch['xyz'] = None
    enc = _encoder(roi_names=['v1', 'faces', 'streams'], pos_embed=dict(type='SinusoidalPositionalEmbedding'))
    with torch.no_grad():
        assert (enc(**batch)[0] - enc.forward_unbatched(**batch)[0]).abs().max() <= 1e-5
    with pytest.raises(ValueError, match='needs voxel coordinates'):
        _encoder(roi_names=['v1'])(**batch)


def test_clear_errors():
    enc = _encoder(roi_names=['v1', 'missing'])
    with pytest.raises(KeyError, match="'missing'"):
        enc(**make_brain_batch({0: dict(v1=40)}, subjects=[0]))
    enc = _encoder(roi_names=['v1'], pos_embed=dict(type='LearnedPositionalEmbedding', max_tokens=4))
    with pytest.raises(ValueError, match='max_tokens'):
        enc(**make_brain_batch({0: dict(v1=400)}, subjects=[0]))


def test_linear_encoder():
    torch.manual_seed(0)
    enc = LinearFMRIEncoder(roi_names=['v1', 'faces'], num_voxels=dict(v1=320, faces=60), embed_dims=16, num_heads=2)
    counts = {0: dict(v1=300, faces=5), 1: dict(v1=257, faces=40)}
    batch = make_brain_batch(counts, subjects=[0, 1, 1])
    q, roi = enc(**batch)
    assert q.shape == (3, 16) and roi.shape == (3, 2, 16)
    # more zero-padding in the batch does not change the features
    assert torch.allclose(enc(**make_brain_batch(counts, subjects=[0, 1, 1], extra_padding=10))[1], roi)
    small = LinearFMRIEncoder(roi_names=['v1', 'faces'], num_voxels=dict(v1=100, faces=60), embed_dims=16, num_heads=2)
    with pytest.raises(ValueError, match='num_voxels=100'):
        small(**batch)
