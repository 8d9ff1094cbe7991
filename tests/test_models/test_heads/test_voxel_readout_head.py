# Copyright (c) mmbrain contributors. All rights reserved.
"""VoxelReadoutHead and BrainResponsePredictor: shapes, the loss over real voxels only, sizes from the reader."""

import pytest
import torch

from mmbrain.datasets.converted_file import ConvertedSubject
from mmbrain.models.algorithms.brain_response_predictor import BrainResponsePredictor
from mmbrain.models.heads import VoxelReadoutHead

VOXELS = {'v1': 7, 'faces': 3}
BACKBONE = dict(
    type='mmpretrain.ConvNeXt',
    arch=dict(depths=[1, 1, 1, 1], channels=[8, 8, 16, 16]),
    out_indices=(0, 1, 2, 3),
    gap_before_final_norm=False,
)


def _feats(batch=2):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, s, s, generator=gen) for c, s in ((4, 8), (6, 4))]


def test_shapes_and_loss_over_real_voxels_only():
    torch.manual_seed(0)
    head = VoxelReadoutHead(in_channels=[4, 6], num_voxels=VOXELS, pool_size=2)
    feats = _feats()
    preds = head(feats)
    assert {g: tuple(p.shape) for g, p in preds.items()} == {'v1': (2, 7), 'faces': (2, 3)}
    fmri = {g: torch.randn(2, n) for g, n in VOXELS.items()}
    mask = {g: torch.ones(2, n, dtype=torch.bool) for g, n in VOXELS.items()}
    mask['v1'][1, 5:] = False  # the second sample's last two v1 voxels are padding
    loss = head.loss(feats, fmri, mask)['loss_mse']
    changed = {g: v.clone() for g, v in fmri.items()}
    changed['v1'][1, 5:] += 100.0  # values under the padding do not count
    assert torch.allclose(head.loss(feats, changed, mask)['loss_mse'], loss)
    sq = sum(((preds[g] - fmri[g]) ** 2 * mask[g]).sum() for g in VOXELS)
    assert torch.allclose(loss, sq / sum(m.sum() for m in mask.values()))


def test_clear_errors():
    head = VoxelReadoutHead(in_channels=[4, 6], num_voxels=VOXELS, pool_size=2)
    fmri = {'v1': torch.randn(2, 9), 'faces': torch.randn(2, 3)}
    mask = {g: torch.ones_like(v, dtype=torch.bool) for g, v in fmri.items()}
    with pytest.raises(ValueError, match="'v1': the batch has 9 voxels, the readout was built for 7"):
        head.loss(_feats(), fmri, mask)
    with pytest.raises(KeyError, match="'faces'"):
        head.loss(_feats(), {'v1': fmri['v1'][:, :7]}, {'v1': mask['v1'][:, :7]})
    with pytest.raises(ValueError, match='num_voxels must map every ROI group'):
        VoxelReadoutHead(in_channels=[4], num_voxels='subj01.h5')  # a file name: the predictor resolves those
    with pytest.raises(ValueError, match='expected 2 backbone levels'):
        head(_feats()[:1])


def test_predictor_takes_voxel_counts_from_the_converted_file(nsd_world):
    path = nsd_world.converted_file(2, averaged=True)
    model = BrainResponsePredictor(
        backbone=BACKBONE, head=dict(type='VoxelReadoutHead', in_channels=[8, 8, 16, 16], num_voxels=path)
    )
    assert model.head.num_voxels == ConvertedSubject(path).voxel_counts
    # parts given as modules are used as they are (as BrainformerPretrainer does)
    same = BrainResponsePredictor(backbone=model.backbone, head=model.head)
    assert same.backbone is model.backbone and same.head is model.head
    out = same(dict(img=torch.randn(2, 3, 32, 32)), mode='tensor')
    assert {g: o.shape[1] for g, o in out.items()} == model.head.num_voxels
