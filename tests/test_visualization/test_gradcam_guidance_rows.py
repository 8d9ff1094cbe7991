# Copyright (c) mmbrain contributors. All rights reserved.
"""Fig. 6 rows for the guidance settings (none / Eq. 6 as printed / cross-sample): one score for every row."""

import torch
import torch.nn.functional as F
from _helpers import tiny_brain_batch, tiny_pretrainer

from mmbrain.visualization import brainformer_gradcam, plot_brainformer_gradcam


def _pretrainer(negatives):
    guidance = None if negatives is None else dict(type='BrainFMRIGuidanceLoss', negatives=negatives)
    return tiny_pretrainer(guidance_loss=guidance)


def test_every_guidance_row_explains_cos_p_q_and_never_the_roi_features(tmp_path):
    data = tiny_brain_batch(2)
    rows = {
        'w/o guidance loss': _pretrainer(None),
        'printed Eq. 6': _pretrainer('rois'),
        'Brainformer': _pretrainer('rois+samples'),
    }
    fig = plot_brainformer_gradcam(rows, data, tmp_path / 'rows.png')
    assert [ax.get_ylabel() for ax in fig.axes[:8:2]] == ['input', *(f'{row}\nvs brain embedding' for row in rows)]
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
