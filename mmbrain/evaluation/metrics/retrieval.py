# Copyright (c) mmbrain contributors. All rights reserved.
"""Image <-> brain retrieval on held-out rows: the validation metric of Brainformer pretraining."""

from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmbrain.datasets.converted_file import subject_tag
from mmbrain.registry import METRICS


def chance_hit_rate(num_positives: torch.Tensor, gallery_size: int, k: int) -> float:
    """Expected top-``k`` hit rate (%) of a random ranking: mean over queries of
    ``1 - C(N - m, k) / C(N, k)`` for a query with ``m`` positives among ``N`` gallery items."""
    miss = torch.ones_like(num_positives, dtype=torch.float64)
    for j in range(min(k, gallery_size)):
        miss = miss * ((gallery_size - num_positives - j).clamp(min=0) / (gallery_size - j))
    return float((1 - miss).mean() * 100)


@METRICS.register_module()
class BrainRetrievalMetric(BaseMetric):
    """Top-k retrieval between the image embeddings ``p`` and brain embeddings ``q`` of the evaluated rows.

    Every evaluated row is a query (rows are gathered over processes). ``img2brain``: each image ranks all rows'
    brain embeddings by cosine similarity and is a hit at ``k`` if a positive is among the ``k`` nearest; a
    positive is a row showing the same stimulus (``match_by='nsd_id'``: another subject's or repetition's
    response to the same image counts) or only the row itself (``match_by=None``). ``brain2img``: each brain
    embedding ranks the distinct stimuli (rows of one stimulus share one image embedding, so the gallery holds
    each once) and is a hit if its own stimulus is among the ``k`` nearest. ``*_chance_top{k}`` is the expected
    hit rate of a random ranking of the same gallery, to read the figures against. The figures are reported over
    all rows (pooled, the gallery holding every subject's responses) and per subject (``subjXX/<key>``, queries
    and gallery of that subject only, so its chance level is that of a smaller gallery).

    Expects the data samples of ``BrainformerPretrainer.predict`` (fields ``img_embed``, ``brain_embed``), or with
    ``modality='text'`` those of ``ClipPretrainer.predict`` (``img_embed``, ``text_embed``: image <-> caption
    retrieval, keys ``img2text_*`` / ``text2img_*``); "brain" below then reads "text", except that the caption
    gallery, like the image gallery, holds each stimulus once (rows of one stimulus share its caption).

    Args:
        topk (Sequence[int]): Values of ``k``.
        match_by (str, optional): Metainfo key defining positives, or None for the row itself.
        modality (str): The second embedding, ``<modality>_embed``: ``'brain'`` or ``'text'``.
        chunk_size (int): Queries scored at once (memory grows as ``chunk_size x rows``).
        collect_device (str): ``'cpu'`` or ``'gpu'``, for gathering results across processes.
        prefix (str, optional): Metric name prefix; defaults to ``'retrieval'``.
    """

    default_prefix = 'retrieval'

    def __init__(
        self,
        topk: Sequence[int] = (1, 5),
        match_by: Optional[str] = 'nsd_id',
        modality: str = 'brain',
        chunk_size: int = 4096,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not topk or min(topk) < 1:
            raise ValueError(f'BrainRetrievalMetric: topk must be positive integers, got {topk}')
        self.topk = tuple(topk)
        self.match_by = match_by
        self.modality = modality
        self.chunk_size = chunk_size

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each row's embeddings, match key and subject."""
        pair = f'{self.modality}_embed'
        for sample in data_samples:
            if 'img_embed' not in sample or pair not in sample:
                raise KeyError(
                    f'BrainRetrievalMetric: data samples lack img_embed/{pair}; evaluate a '
                    'BrainformerPretrainer (modality="brain") or ClipPretrainer (modality="text") in '
                    'predict mode'
                )
            if self.match_by is not None and self.match_by not in sample:
                raise KeyError(
                    f'BrainRetrievalMetric: data samples lack the metainfo {self.match_by!r} '
                    'used to match rows (set match_by=None to match each row only to itself)'
                )
            self.results.append(
                dict(
                    img=sample['img_embed'].float().cpu(),
                    brain=sample[pair].float().cpu(),
                    key=int(sample[self.match_by]) if self.match_by is not None else -1,
                    subject=int(sample['subject']) if 'subject' in sample else None,
                )
            )

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Return ``{img2brain,brain2img}_top{k}`` and their ``{img2brain,brain2img}_chance_top{k}``, in percent,
        over all rows (pooled) and, when the samples carry ``subject``, over each subject's rows alone
        (``subjXX/<key>``: queries and gallery of that subject)."""
        img = torch.nn.functional.normalize(torch.stack([r['img'] for r in results]), dim=-1)
        brain = torch.nn.functional.normalize(torch.stack([r['brain'] for r in results]), dim=-1)
        keys = torch.arange(len(results)) if self.match_by is None else torch.tensor([r['key'] for r in results])
        metrics = self._scores(img, brain, keys)
        subjects = [r['subject'] for r in results]
        if None not in subjects:
            subjects = torch.tensor(subjects)
            for subject in torch.unique(subjects).tolist():
                rows = subjects == subject
                metrics.update(
                    {
                        f'{subject_tag(subject)}/{k}': v
                        for k, v in self._scores(img[rows], brain[rows], keys[rows]).items()
                    }
                )
        return metrics

    def _scores(self, img: torch.Tensor, brain: torch.Tensor, keys: torch.Tensor) -> Dict[str, float]:
        """Hit rates and chance levels of one set of rows (each row a query, the rows the gallery)."""
        num = len(keys)
        distinct, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
        # the image gallery holds each stimulus once: rows of the same stimulus have the same image embedding
        first = torch.full((len(distinct),), num).scatter_reduce(0, inverse, torch.arange(num), reduce='amin')
        metrics = {}
        # a caption gallery holds each stimulus once too (validation takes each image's first caption)
        pair_gallery = (
            (brain[first], distinct, torch.ones(num, dtype=torch.long))
            if self.modality == 'text'
            else (brain, keys, counts[inverse])
        )
        for name, queries, gallery, gallery_keys, positives in (
            (f'img2{self.modality}', img, *pair_gallery),
            (f'{self.modality}2img', brain, img[first], distinct, torch.ones(num, dtype=torch.long)),
        ):
            # Ours, not mmpretrain's RetrievalRecall (the same recall@k): that one calls np.in1d, gone in numpy 2.4
            # (this stack's), takes the whole [N, M] score matrix where this streams it by chunks, and loops in Python.
            hits = {k: 0 for k in self.topk}
            for start in range(0, num, self.chunk_size):  # [chunk, gallery] similarities at a time
                rows = slice(start, start + self.chunk_size)
                nearest = (queries[rows] @ gallery.t()).topk(min(max(self.topk), len(gallery)), dim=1).indices
                is_positive = gallery_keys[nearest] == keys[rows, None]
                for k in self.topk:
                    hits[k] += int(is_positive[:, :k].any(dim=1).sum())
            for k in self.topk:
                metrics[f'{name}_top{k}'] = 100.0 * hits[k] / num
                metrics[f'{name}_chance_top{k}'] = chance_hit_rate(positives, len(gallery), min(k, len(gallery)))
        return metrics
