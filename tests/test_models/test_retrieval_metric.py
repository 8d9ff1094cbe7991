# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainRetrievalMetric: perfect and random embeddings, and the chance level."""
import itertools

import pytest
import torch

from mmbrain.evaluation.metrics.retrieval import BrainRetrievalMetric, chance_hit_rate


def _samples(img, brain, nsd_ids):
    return [dict(img_embed=i, brain_embed=b, nsd_id=n) for i, b, n in zip(img, brain, nsd_ids)]


def test_perfect_and_random_embeddings():
    torch.manual_seed(0)
    emb = torch.randn(40, 8)
    metric = BrainRetrievalMetric(topk=(1, 5))
    metric.process({}, _samples(emb, emb * 3, range(40)))
    res = metric.compute_metrics(metric.results)
    assert res['img2brain_top1'] == res['brain2img_top1'] == 100.
    assert res['chance_top1'] == pytest.approx(100 / 40) and res['chance_top5'] == pytest.approx(500 / 40)
    metric = BrainRetrievalMetric(topk=(1, 5))
    samples = _samples(torch.randn(400, 8), torch.randn(400, 8), [i // 2 for i in range(400)])
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    assert res['img2brain_top5'] < 4 * res['chance_top5']
    chunked = BrainRetrievalMetric(topk=(1, 5), chunk_size=7)  # queries scored 7 at a time: same figures
    chunked.process({}, samples)
    assert chunked.compute_metrics(chunked.results) == res


def test_same_stimulus_counts_as_hit():
    img = torch.eye(4)
    brain = torch.eye(4)[[1, 0, 2, 3]]  # rows 0 and 1 swapped: both show nsd_id 7
    metric = BrainRetrievalMetric(topk=(1, ))
    metric.process({}, _samples(img, brain, [7, 7, 8, 9]))
    assert metric.compute_metrics(metric.results)['img2brain_top1'] == 100.
    by_row = BrainRetrievalMetric(topk=(1, ), match_by=None)
    by_row.process({}, _samples(img, brain, [7, 7, 8, 9]))
    assert by_row.compute_metrics(by_row.results)['img2brain_top1'] == 50.


def test_chance_matches_enumeration():
    n, k, m = 7, 3, 2
    hits = [any(i < m for i in top) for top in itertools.combinations(range(n), k)]
    assert chance_hit_rate(torch.tensor([m]), n, k) == pytest.approx(100 * sum(hits) / len(hits))


def test_missing_fields_are_clear():
    metric = BrainRetrievalMetric()
    with pytest.raises(KeyError, match='predict mode'):
        metric.process({}, [dict(nsd_id=1)])
    with pytest.raises(KeyError, match='nsd_id'):
        metric.process({}, [dict(img_embed=torch.zeros(2), brain_embed=torch.zeros(2))])
