# Copyright (c) mmbrain contributors. All rights reserved.
"""The GPU switches of the paper configs (docs/performance.md): defaults that run anywhere, and each switch built and
run on the CPU where mmengine allows it (bf16 autocast, fused AdamW, channels-last images, torch.compile through
the Runner's ``compile`` option)."""

import math
import os.path as osp

import pytest
import torch
from _helpers import REPO, load_tool, world_data_options

PAPER_CONFIGS = [
    'configs/pretrain/brainformer_convnext-s_8xb64-coslr-100e_nsd.py',
    'configs/pretrain/brainformer_swin-s_8xb64-coslr-100e_nsd.py',
]
TINY_CONFIG = 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'
ROIS = ['prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams']


def _config(path):
    from mmengine.config import Config

    return Config.fromfile(osp.join(REPO, path))


def _shrink(cfg) -> None:
    """The paper model at a size a CPU test can step (same classes, switches and losses)."""
    backbone = cfg.model.backbone
    if 'Swin' in backbone.type:
        backbone.update(
            arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]),
            img_size=64,
            window_size=2,
            drop_path_rate=0.0,
        )
        cfg.model.backbone_out_dims = 128
    else:
        backbone.update(arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]), drop_path_rate=0.0)
        cfg.model.backbone_out_dims = 64
    cfg.model.fmri_encoder.update(
        embed_dims=16, num_heads=2, conv_kernel=8, conv_stride=4, window_size=8, window_stride=4
    )


def _batch(batch: int = 4, voxels: int = 96) -> dict:
    gen = torch.Generator().manual_seed(0)
    fmri = {g: torch.randn(batch, voxels, generator=gen) for g in ROIS}
    inputs = dict(
        img=torch.randint(0, 256, (batch, 3, 64, 64), dtype=torch.uint8, generator=gen),
        fmri=fmri,
        fmri_mask={g: torch.ones(batch, voxels, dtype=torch.bool) for g in ROIS},
        xyz={g: torch.rand(1, voxels, 3, generator=gen) * 100 for g in ROIS},
        subject_index=torch.zeros(batch, dtype=torch.long),
    )
    return dict(inputs=inputs, data_samples=None)


@pytest.mark.parametrize('path', PAPER_CONFIGS)
def test_paper_config_defaults_run_anywhere(path):
    cfg = _config(path)
    assert cfg.compile is False
    assert cfg.optim_wrapper.type == 'OptimWrapper' and cfg.optim_wrapper.optimizer.fused is False
    assert cfg.model.data_preprocessor.channels_last is True
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # tools/ switch to gloo where CUDA is missing


@pytest.mark.parametrize('path', PAPER_CONFIGS)
def test_switches_step_the_paper_model_on_cpu(path):
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner.amp import autocast

    from mmbrain.registry import MODELS

    cfg = _config(path)
    _shrink(cfg)
    cfg.optim_wrapper.optimizer.fused = True
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert optim_wrapper.optimizer.defaults['fused'] is True
    data = model.data_preprocessor(_batch(), True)
    assert data['inputs']['img'].is_contiguous(memory_format=torch.channels_last)
    with autocast(device_type='cpu', dtype=torch.bfloat16):  # what AmpOptimWrapper(dtype='bfloat16') wraps
        losses = model(**data, mode='loss')
    loss = losses['loss_con'] + losses['loss_bfg']
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    before = model.img_proj.weight.detach().clone()
    optim_wrapper.update_params(loss)
    assert not torch.equal(before, model.img_proj.weight)


def test_amp_switch(monkeypatch):
    """--amp is the config's AmpOptimWrapper in bf16; mmengine 0.10.7 builds it only on a GPU."""
    from mmengine.optim import build_optim_wrapper
    from torch import nn

    train = load_tool('tools/train.py')
    monkeypatch.setattr('sys.argv', ['train.py', PAPER_CONFIGS[0], '--amp'])
    cfg = train.merge_args(_config(PAPER_CONFIGS[0]), train.parse_args())
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.dtype == 'bfloat16'
    if not torch.cuda.is_available():
        with pytest.raises(AssertionError, match='only available'):
            build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)


@pytest.mark.slow
def test_compile_switch_through_the_runner(nsd_world, tmp_path):
    """``compile=dict(backend='eager')``: dynamo traces the Runner's train_step, the optimiser step included
    (the inductor backend that ``compile=True`` uses needs minutes of C++ compilation on a CPU; the GPU check runs
    it). One ROI group and one window level keep the trace short."""
    import torch._dynamo
    from mmengine.runner import Runner

    cfg = _config(TINY_CONFIG)
    cfg.merge_from_dict(
        {
            **world_data_options(nsd_world, 'train_dataloader'),
            'train_dataloader.dataset.subjects': nsd_world.subjects,
            'train_dataloader.dataset.indices': 8,
            'train_dataloader.batch_size': 4,
            'train_cfg.max_epochs': 1,
            'log_level': 'WARNING',
            'default_hooks.checkpoint': None,
            'model.fmri_encoder.roi_names': ROIS[:1],
            'model.fmri_encoder.num_levels': 1,
            'model.backbone.arch.depths': [1, 1, 1, 1],
        }
    )
    cfg.compile = dict(backend='eager')  # a dict replaces the base's False (merging a dict into it is refused)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.work_dir = str(tmp_path)
    torch._dynamo.reset()
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert hasattr(runner.model.train_step, '_torchdynamo_orig_callable')
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] > 0
    assert runner.iter == 2 and math.isfinite(runner.message_hub.get_scalar('train/loss').current())
