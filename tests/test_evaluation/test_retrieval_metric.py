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
    assert res['img2brain_top1'] == res['brain2img_top1'] == 100.0
    assert res['img2brain_chance_top1'] == pytest.approx(100 / 40)
    assert res['brain2img_chance_top5'] == pytest.approx(500 / 40)
    metric = BrainRetrievalMetric(topk=(1, 5))
    samples = _samples(torch.randn(400, 8), torch.randn(400, 8), [i // 2 for i in range(400)])
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    assert res['img2brain_top5'] < 4 * res['img2brain_chance_top5']
    assert res['brain2img_chance_top1'] == pytest.approx(100 / 200)  # 200 distinct stimuli in the image gallery
    chunked = BrainRetrievalMetric(topk=(1, 5), chunk_size=7)  # queries scored 7 at a time: same figures
    chunked.process({}, samples)
    assert chunked.compute_metrics(chunked.results) == res


def test_same_stimulus_counts_as_hit():
    eye = torch.eye(4)
    img = eye[[0, 0, 2, 3]]  # rows 0 and 1 show the same stimulus (nsd_id 7): same image embedding
    brain = torch.stack([eye[0] + 0.2 * eye[2], eye[0], eye[2], eye[3]])
    metric = BrainRetrievalMetric(topk=(1,))
    metric.process({}, _samples(img, brain, [7, 7, 8, 9]))
    res = metric.compute_metrics(metric.results)
    assert res['img2brain_top1'] == 100.0  # image 0's nearest brain row is row 1, the other response to nsd_id 7
    assert res['brain2img_top1'] == 100.0  # brain rows rank the 3 distinct stimuli
    assert res['brain2img_chance_top1'] == pytest.approx(100 / 3)
    assert res['img2brain_chance_top1'] == pytest.approx(100 * (2 / 4 + 2 / 4 + 1 / 4 + 1 / 4) / 4)
    by_row = BrainRetrievalMetric(topk=(1,), match_by=None)
    by_row.process({}, _samples(img, brain, [7, 7, 8, 9]))
    assert by_row.compute_metrics(by_row.results)['img2brain_top1'] == 75.0  # image 0 now misses (row 1 is not its own)


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


def test_per_subject_keys_score_each_subjects_rows_alone():
    """Subject 1's rows retrieve perfectly, subject 2's at random: the pooled figure hides what per subject shows."""
    torch.manual_seed(1)
    emb = torch.randn(30, 16)
    img = torch.cat([emb, torch.randn(30, 16)])
    brain = torch.cat([emb, torch.randn(30, 16)])
    samples = [dict(s, subject=1 if i < 30 else 2) for i, s in enumerate(_samples(img, brain, range(60)))]
    metric = BrainRetrievalMetric(topk=(1, 5))
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    assert res['subj01/img2brain_top1'] == res['subj01/brain2img_top1'] == 100.0
    assert res['subj02/img2brain_top5'] < 50.0
    assert res['subj01/brain2img_chance_top1'] == res['subj02/img2brain_chance_top1'] == pytest.approx(100 / 30)
    assert res['brain2img_chance_top1'] == pytest.approx(100 / 60)  # pooled gallery: both subjects' rows
    alone = BrainRetrievalMetric(topk=(1, 5))
    alone.process({}, samples[30:])
    assert {k: v for k, v in alone.compute_metrics(alone.results).items() if '/' not in k} == {
        k[len('subj02/') :]: v for k, v in res.items() if k.startswith('subj02/')
    }
