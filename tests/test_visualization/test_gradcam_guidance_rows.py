# Copyright (c) mmbrain contributors. All rights reserved.
"""Fig. 6 rows for the guidance settings (none / Eq. 6 as printed / cross-sample): one score for every row."""

import torch
import torch.nn.functional as F
from _helpers import TINY_CONVNEXT
from mmengine.registry import init_default_scope

from mmbrain.visualization import brainformer_gradcam, plot_brainformer_gradcam

ROIS = ['v1', 'faces']
VOXELS = dict(v1=40, faces=24)


def _pretrainer(negatives):
    init_default_scope('mmbrain')
    from mmbrain.registry import MODELS

    torch.manual_seed(0)
    guidance = None if negatives is None else dict(type='BrainFMRIGuidanceLoss', negatives=negatives)
    return MODELS.build(
        dict(
            type='BrainformerPretrainer',
            guidance_loss=guidance,
            backbone_out_dims=32,
            backbone=TINY_CONVNEXT,
            fmri_encoder=dict(type='LinearFMRIEncoder', roi_names=ROIS, num_voxels=VOXELS, embed_dims=16, num_heads=2),
        )
    )


def _batch(batch=2):
    gen = torch.Generator().manual_seed(0)
    return dict(
        inputs=dict(
            img=torch.randint(0, 256, (batch, 3, 64, 64), dtype=torch.uint8, generator=gen),
            fmri={r: torch.randn(batch, n, generator=gen) for r, n in VOXELS.items()},
            fmri_mask={r: torch.ones(batch, n, dtype=torch.bool) for r, n in VOXELS.items()},
            xyz={r: torch.randn(1, n, 3, generator=gen) * 30 for r, n in VOXELS.items()},
            subject_index=torch.zeros(batch, dtype=torch.long),
        ),
        data_samples=None,
    )


def test_every_guidance_row_explains_cos_p_q_and_never_the_roi_features(tmp_path):
    data = _batch()
    rows = {
        'w/o guidance loss': _pretrainer(None),
        'printed Eq. 6': _pretrainer('rois'),
        'Brainformer': _pretrainer('rois+samples'),
    }
    fig = plot_brainformer_gradcam(rows, data, tmp_path / 'rows.png')
    assert [ax.get_ylabel() for ax in fig.axes[:8:2]] == ['input', *rows]
    for model in rows.values():
        result, _ = brainformer_gradcam(model, data)
        model.eval()
        feats = model(**model.data_preprocessor(data, False), mode='tensor')
        torch.testing.assert_close(result.similarity, F.cosine_similarity(feats['img'], feats['brain'], dim=-1))
    # the guidance head (p̄ = img_roi_proj) takes no part in the map: changing it changes nothing
    printed = rows['printed Eq. 6']
    before, _ = brainformer_gradcam(printed, data)
    with torch.no_grad():
        printed.img_roi_proj.weight.normal_()
    after, _ = brainformer_gradcam(printed, data)
    torch.testing.assert_close(before.cams, after.cams)
    torch.testing.assert_close(before.similarity, after.similarity)
