# Copyright (c) mmbrain contributors. All rights reserved.
"""The CLIP baseline's synthetic config trained and validated by mmengine's Runner on the synthetic world."""

import os.path as osp

import pytest
import torch
from _helpers import CLIP_PRETRAIN_CONFIGS, REPO, caption_options, world_data_options
from mmengine.config import Config
from mmengine.runner import Runner


@pytest.mark.slow
def test_one_clip_training_step_and_caption_retrieval(nsd_world, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, CLIP_PRETRAIN_CONFIGS['convnext']))
    options = {}
    for loader in ('train_dataloader', 'val_dataloader'):
        options.update(
            {
                **world_data_options(nsd_world, loader),
                **caption_options(nsd_world, loader),
                f'{loader}.dataset.subjects': [1, 2],
                f'{loader}.batch_size': 4,
            }
        )
    cfg.merge_from_dict(
        {
            **options,
            'train_dataloader.dataset.indices': 4,
            'val_dataloader.dataset.indices': 12,
            'train_cfg.max_epochs': 1,
            'log_level': 'WARNING',
        }
    )
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    after = runner.model.state_dict()
    for prefix in ('backbone.', 'img_proj.', 'text_encoder.', 'contrastive_loss.logit_scale'):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)), prefix
    metrics = {
        k: runner.message_hub.get_scalar(k).current()
        for k in runner.message_hub.log_scalars
        if k.startswith('val/retrieval/')
    }
    for key in ('img2text_top1', 'text2img_top1', 'img2text_chance_top1', 'text2img_top5'):
        assert 0 <= metrics[f'val/retrieval/{key}'] <= 100, metrics
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
