# Copyright (c) mmbrain contributors. All rights reserved.
"""The CLIP row of Fig. 6: a ClipPretrainer explains cos(p, its own caption's text features) on the same batch."""

import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from _helpers import CLIP_PRETRAIN_CONFIGS, PRETRAIN_CONFIGS, REPO, caption_options, load_tool, world_data_options
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmbrain.datasets.captions import read_nsd_captions
from mmbrain.registry import MODELS
from mmbrain.visualization import brainformer_gradcam, plot_brainformer_gradcam

attach_captions = load_tool('tools/analysis_tools/visualize_gradcam.py').attach_captions


def _config(path, nsd_world, with_captions):
    cfg = Config.fromfile(osp.join(REPO, path))
    cfg.merge_from_dict(
        {
            **world_data_options(nsd_world, 'val_dataloader'),
            'val_dataloader.dataset.subjects': [1, 2],
            **(caption_options(nsd_world, 'val_dataloader') if with_captions else {}),
        }
    )
    return cfg


@pytest.mark.slow  # two pretrainers of the synthetic configs and a figure
def test_clip_row_uses_the_stimuli_own_captions(nsd_world, tmp_path):
    init_default_scope('mmbrain')
    brainformer_cfg = _config(PRETRAIN_CONFIGS['convnext'], nsd_world, False)
    clip_cfg = _config(CLIP_PRETRAIN_CONFIGS['convnext'], nsd_world, True)
    loader = dict(brainformer_cfg.val_dataloader, batch_size=2, num_workers=0, persistent_workers=False)
    data = next(iter(Runner.build_dataloader(loader)))  # the figure's batch: fMRI, no captions
    assert not any('text' in s for s in data['data_samples'])
    attach_captions(data['data_samples'], clip_cfg, 'val')
    load = clip_cfg.val_dataloader.dataset.pipeline[1]
    captions = read_nsd_captions(load.stim_info, tuple(load.caption_files))
    assert [s.text for s in data['data_samples']] == [captions[int(s.nsd_id)][0] for s in data['data_samples']]

    torch.manual_seed(0)
    clip, brainformer = MODELS.build(clip_cfg.model), MODELS.build(brainformer_cfg.model)
    result, _ = brainformer_gradcam(clip, data, target_layer='backbone.stages.2')
    clip.eval()
    feats = clip(**clip.data_preprocessor(data, False), mode='tensor')
    torch.testing.assert_close(result.similarity, F.cosine_similarity(feats['img'], feats['text'], dim=-1))
    fig = plot_brainformer_gradcam(
        {'CLIP': clip, 'Brainformer': brainformer}, data, tmp_path / 'fig6.png', target_layer='backbone.stages.2'
    )
    assert [ax.get_ylabel() for ax in fig.axes[:6:2]] == [
        'input',
        'CLIP\nvs caption embedding',
        'Brainformer\nvs brain embedding',
    ]
    assert fig._suptitle.get_text() == 'Grad-CAM of cos(image embedding, caption embedding or brain embedding)'
    assert (tmp_path / 'fig6.png').stat().st_size > 1000

    brainformer_cfg.val_dataloader.dataset.pipeline = brainformer_cfg.val_dataloader.dataset.pipeline[:1]
    with pytest.raises(ValueError, match='no LoadNSDCaption step'):
        attach_captions(data['data_samples'], brainformer_cfg, 'val')
