# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainRetrievalMetric(modality='text'): image <-> caption retrieval of the CLIP baseline."""

import pytest
import torch
from mmpretrain.structures import DataSample

from mmbrain.evaluation.metrics import BrainRetrievalMetric


def _samples(img, text, nsd_ids):
    """Predicted samples as mmengine's Evaluator hands them to metrics (``to_dict()``)."""
    return [
        DataSample(metainfo=dict(nsd_id=n), img_embed=i, text_embed=t).to_dict() for i, t, n in zip(img, text, nsd_ids)
    ]


def test_caption_gallery_holds_each_stimulus_once():
    """4 stimuli, each shown in 3 rows that share its image and caption embeddings."""
    torch.manual_seed(0)
    nsd_ids = [0, 1, 2, 3] * 3
    stimuli = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    metric = BrainRetrievalMetric(topk=(1, 2), modality='text')
    metric.process({}, _samples(stimuli[nsd_ids], stimuli[nsd_ids] + 0.01, nsd_ids))
    out = metric.compute_metrics(metric.results)
    assert out['img2text_top1'] == out['text2img_top1'] == 100.0
    # chance of a random ranking of 4 distinct captions (not of 12 rows holding 3 copies of each)
    assert out['img2text_chance_top1'] == pytest.approx(25.0) and out['img2text_chance_top2'] == pytest.approx(50.0)
    assert out['text2img_chance_top1'] == pytest.approx(25.0)
    shuffled = BrainRetrievalMetric(topk=(1,), modality='text')
    shuffled.process({}, _samples(stimuli[nsd_ids], stimuli[[(n + 1) % 4 for n in nsd_ids]], nsd_ids))
    assert shuffled.compute_metrics(shuffled.results)['img2text_top1'] == 0.0


def test_needs_text_embeddings():
    metric = BrainRetrievalMetric(modality='text')
    with pytest.raises(KeyError, match='lack img_embed/text_embed'):
        metric.process({}, [DataSample(metainfo=dict(nsd_id=0), img_embed=torch.zeros(2)).to_dict()])
