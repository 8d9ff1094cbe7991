# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainformerPretrainer with mmpretrain backbones: modes, losses, checkpoint keys, preprocessing."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _brain_batch import make_brain_batch
from _helpers import TINY_CONVNEXT, tiny_brainformer_encoder
from mmengine.registry import init_default_scope

from mmbrain.registry import MODELS

ROIS = ['v1', 'faces']
ENCODER = tiny_brainformer_encoder(ROIS)
CONVNEXT = TINY_CONVNEXT
SWIN = dict(
    type='mmpretrain.SwinTransformer',
    arch=dict(embed_dims=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1]),
    img_size=32,
    window_size=1,
    out_indices=(3,),
)


def _model(backbone=CONVNEXT, out_dims=32, **kwargs):
    init_default_scope('mmbrain')
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='BrainformerPretrainer', backbone=backbone, backbone_out_dims=out_dims, fmri_encoder=ENCODER, **kwargs
        )
    )


def _data(batch=4):
    brain = make_brain_batch({0: dict(v1=60, faces=20), 1: dict(v1=45, faces=33)}, subjects=[0, 1] * (batch // 2))
    img = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8)
    return dict(inputs=dict(img=img, **brain), data_samples=None)


@pytest.mark.parametrize('backbone, out_dims', [(CONVNEXT, 32), (SWIN, 64)])
def test_loss_backward_and_keys(backbone, out_dims):
    model = _model(backbone, out_dims)
    assert all(
        k.startswith(('backbone.', 'fmri_encoder.', 'img_proj.', 'img_roi_proj.', 'contrastive_loss.'))
        for k in model.state_dict()
    )
    assert any(k.startswith('backbone.') for k in model.state_dict())
    data = model.data_preprocessor(_data(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_con', 'loss_bfg', 'temperature'}
    assert float(losses['temperature']) == pytest.approx(0.07)
    loss, log_vars = model.parse_losses(losses)
    # temperature is only logged, not summed into the loss
    assert float(loss.detach()) == pytest.approx(float((losses['loss_con'] + losses['loss_bfg']).detach()))
    loss.backward()
    for name in ('backbone', 'fmri_encoder', 'img_proj', 'img_roi_proj', 'contrastive_loss'):
        grads = [p.grad for p in getattr(model, name).parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), name


def test_predict_and_tensor_modes():
    model = _model().eval()
    data = model.data_preprocessor(_data(), False)
    samples = model(**data, mode='predict')
    assert len(samples) == 4
    assert torch.allclose(samples[0].img_embed.norm(), torch.tensor(1.0)) and samples[0].brain_embed.shape == (16,)
    feats = model(**data, mode='tensor')
    assert feats['img'].shape == (4, 16)
    assert feats['img_roi'].shape == feats['brain_roi'].shape == (4, 2, 16)


def test_without_guidance_loss_and_linear_encoder():
    model = _model(guidance_loss=None)
    assert model.img_roi_proj is None
    assert set(model(**model.data_preprocessor(_data(), True), mode='loss')) == {'loss_con', 'temperature'}
    init_default_scope('mmbrain')
    linear = MODELS.build(
        dict(
            type='BrainformerPretrainer',
            backbone=CONVNEXT,
            backbone_out_dims=32,
            fmri_encoder=dict(
                type='LinearFMRIEncoder', roi_names=ROIS, num_voxels=dict(v1=64, faces=40), embed_dims=16, num_heads=2
            ),
        )
    )
    losses = linear(**linear.data_preprocessor(_data(), True), mode='loss')
    assert set(losses) == {'loss_con', 'loss_bfg', 'temperature'}


def test_data_preprocessor_normalises_bgr_to_rgb():
    init_default_scope('mmbrain')
    pre = MODELS.build(dict(type='BrainDataPreprocessor', mean=[1.0, 2.0, 3.0], std=[2.0, 2.0, 2.0], to_rgb=True))
    data = _data(2)
    out = pre(data)
    img = data['inputs']['img'].float()
    assert torch.allclose(out['inputs']['img'][:, 0], (img[:, 2] - 1) / 2)  # R from the BGR's last channel
    assert out['inputs']['fmri']['v1'] is not None and out['inputs']['subject_index'].dtype == torch.long
    with pytest.raises(TypeError, match='brain_collate'):
        pre(dict(inputs=torch.zeros(1, 3, 4, 4)))


@pytest.mark.slow
def test_pretraining_path_needs_no_mmdet_mmseg_or_mmcv_ops():
    """The GPU machines have mmengine, mmcv-lite and mmpretrain only: the pretraining path must not import more."""
    code = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('mmdet', 'mmseg') or name.startswith('mmcv.ops') or name == 'mmcv._ext':
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import mmbrain
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmbrain.registry import MODELS, METRICS
init_default_scope('mmbrain')
cfg = Config.fromfile('configs/_base_/models/brainformer_convnext-s.py')
cfg.model.backbone.arch = 'atto'
cfg.model.backbone_out_dims = 320
MODELS.build(cfg.model)
METRICS.build(dict(type='BrainRetrievalMetric'))
print('ok')
"""
    repo = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, cwd=repo)
    assert out.returncode == 0 and out.stdout.strip().endswith('ok'), out.stderr[-3000:]
