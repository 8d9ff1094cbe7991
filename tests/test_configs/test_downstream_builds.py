# Copyright (c) mmbrain contributors. All rights reserved.
"""mmdet's Mask R-CNN and mmseg's UperNet, from their own base configs, with mmpretrain's ConvNeXt-S as backbone,
build and take one training step on the CPU (the models a Brainformer backbone is fine-tuned in)."""

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData

CONVNEXT_S = dict(
    _delete_=True,
    type='mmpretrain.ConvNeXt',
    arch='small',
    out_indices=[0, 1, 2, 3],
    drop_path_rate=0.0,
    gap_before_final_norm=False,
    init_cfg=None,
)
CONVNEXT_S_CHANNELS = [96, 192, 384, 768]


def _config(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def _one_step(model, data):
    """One optimisation step through the model's own train_step; returns the logged losses."""
    optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=1e-3)))
    before = [p.detach().clone() for p in model.backbone.parameters()]
    log_vars = model.train_step(data, optim_wrapper)
    changed = any(not torch.equal(b, p) for b, p in zip(before, model.backbone.parameters()))
    return log_vars, changed


def test_mask_rcnn_convnext_s_trains_one_step(tmp_path):
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks

    cfg = _config(
        tmp_path,
        f"""
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmpretrain.models', 'mmbrain'], allow_failed_imports=False)
model = dict(backbone={CONVNEXT_S!r}, neck=dict(in_channels={CONVNEXT_S_CHANNELS!r}))
""",
    )
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.manual_seed(0)
    size = 128
    masks = np.zeros((2, size, size), dtype=np.uint8)
    masks[0, 10:60, 20:70] = 1
    masks[1, 70:120, 60:110] = 1
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            pad_shape=(size, size),
            scale_factor=(1.0, 1.0),
            batch_input_shape=(size, size),
        )
    )
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20.0, 10.0, 70.0, 60.0], [60.0, 70.0, 110.0, 120.0]]),
        labels=torch.tensor([0, 5]),
        masks=BitmapMasks(masks, size, size),
    )
    data = dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8)], data_samples=[sample])
    log_vars, changed = _one_step(model, data)
    for key in ('loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert np.isfinite(float(log_vars[key])), key
    assert changed, 'the ConvNeXt backbone received no update'


def test_upernet_convnext_s_trains_one_step(tmp_path):
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    cfg = _config(
        tmp_path,
        f"""
_base_ = 'mmseg::_base_/models/upernet_convnext.py'
custom_imports = dict(imports=['mmpretrain.models', 'mmbrain'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone={CONVNEXT_S!r},
    decode_head=dict(in_channels={CONVNEXT_S_CHANNELS!r}, channels=64, num_classes=5),
    auxiliary_head=dict(in_channels=384, channels=32, num_classes=5))
""",
    )
    init_default_scope('mmseg')
    # Single CPU process: SyncBN becomes BN, as mmengine's Runner does when not distributed.
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    size = 64
    samples = []
    for seed in range(2):  # batch 2: UperNet's pooling pyramid cannot run BatchNorm on a batch of 1
        gen = torch.Generator().manual_seed(seed)
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, size, size), generator=gen))
        samples.append(sample)
    inputs = [torch.randint(0, 255, (3, size, size), dtype=torch.uint8) for _ in samples]
    log_vars, changed = _one_step(model, dict(inputs=inputs, data_samples=samples))
    assert np.isfinite(float(log_vars['decode.loss_ce'])) and np.isfinite(float(log_vars['aux.loss_ce']))
    assert changed, 'the ConvNeXt backbone received no update'
