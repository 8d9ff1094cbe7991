# Copyright (c) mmbrain contributors. All rights reserved.
"""VoxelReadoutHead and BrainResponsePredictor: shapes, the loss over real voxels only, sizes from the reader."""

import pytest
import torch

from mmbrain.datasets.converted_file import ConvertedSubject
from mmbrain.models.algorithms.brain_response_predictor import BrainResponsePredictor
from mmbrain.models.heads import FactorizedReadoutHead, VoxelReadoutHead

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


def test_factorized_readout_reads_each_voxels_place():
    """FactorizedReadoutHead: P + C + 1 weights per voxel; uniform masks at the start (a readout of the spatial
    mean); a voxel whose mask picks one grid position ignores the rest of the image."""
    torch.manual_seed(0)
    head = FactorizedReadoutHead(in_channels=[4, 6], num_voxels=VOXELS, grid_size=4)
    feats = _feats()  # levels of 8 x 8 and 4 x 4 positions
    assert sum(p.numel() for n, p in head.named_parameters() if not n.startswith('norm')) == sum(
        n * (16 + 10 + 1) for n in VOXELS.values()
    )
    f = head.feature_map(feats)
    assert f.shape == (2, 10, 16)
    preds = head(feats)
    for g, n in VOXELS.items():
        expected = f.mean(dim=2) @ head.features[g].T + head.bias[g]
        assert preds[g].shape == (2, n) and torch.allclose(preds[g], expected, atol=1e-6)
    with torch.no_grad():
        head.spatial['v1'].zero_()
        head.spatial['v1'][0, 5] = 1.0  # voxel 0 of v1 reads grid position (1, 1) only
    changed = [x.clone() for x in feats]
    # the bottom-right quarter of the image (grid positions (2..3, 2..3)), differently per channel (the features are
    # layer-normalised over channels at each position, so a shift of all channels alike would not change them)
    changed[0][:, :, 4:, 4:] += 10.0 * torch.randn(2, 4, 4, 4)
    changed[1][:, :, 2:, 2:] += 10.0 * torch.randn(2, 6, 2, 2)
    before, after = head(feats)['v1'][:, 0], head(changed)['v1'][:, 0]
    assert torch.allclose(before, after, atol=1e-5)
    assert not torch.allclose(head(feats)['faces'], head(changed)['faces'])  # uniform masks see the change
    fmri = {g: torch.randn(2, n) for g, n in VOXELS.items()}
    mask = {g: torch.ones(2, n, dtype=torch.bool) for g, n in VOXELS.items()}
    loss = head.loss(feats, fmri, mask)['loss_mse']
    sq = sum(((head(feats)[g] - fmri[g]) ** 2).sum() for g in VOXELS)
    assert torch.allclose(loss, sq / 20)  # 2 samples x 10 voxels
    assert head.pool(feats).shape == (2, 160)
    with pytest.raises(ValueError, match='needs \\(B, C, H, W\\) levels'):
        head([torch.randn(2, 4), torch.randn(2, 6)])


def test_predictor_builds_the_spatial_readout_from_the_converted_file(nsd_world):
    path = nsd_world.converted_file(2, averaged=True)
    model = BrainResponsePredictor(
        backbone=BACKBONE,
        head=dict(type='FactorizedReadoutHead', in_channels=[8, 8, 16, 16], num_voxels=path, grid_size=2),
    )
    out = model(dict(img=torch.randn(2, 3, 32, 32)), mode='tensor')
    assert {g: o.shape[1] for g, o in out.items()} == ConvertedSubject(path).voxel_counts
