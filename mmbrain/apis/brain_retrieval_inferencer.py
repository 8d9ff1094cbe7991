# Copyright (c) mmbrain contributors. All rights reserved.
"""Retrieve images for fMRI and fMRI for images with a pretraining checkpoint (paper Sec. 4.2, Eq. 5)."""

import logging
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from mmbrain.datasets.converted_file import ConvertedSubject
from mmbrain.datasets.transforms.loading import check_finite_responses

from .base import BaseBrainInferencer, ModelType, chunks

QUERIES = ('fmri', 'image')


class BrainRetrievalInferencer(BaseBrainInferencer):
    """Cross-modal retrieval with a ``BrainformerPretrainer`` checkpoint: the images closest to an fMRI response,
    or the fMRI responses closest to an image, by the cosine similarity of the two towers' embeddings (``p`` and
    ``q`` of Eq. 5, as ``BrainRetrievalMetric`` ranks them).

    The fMRI side is rows of one subject's converted file; the image side is any images (paths, a folder, or
    (H, W, 3) uint8 BGR arrays), prepared as the config's pipeline prepares NSD stimuli. The gallery
    (``prototype``) is embedded once, when the inferencer is created.

    Example::

        >>> from mmbrain.apis import BrainRetrievalInferencer
        >>> images = ['a.png', 'b.png', 'c.png']
        >>> inferencer = BrainRetrievalInferencer('configs/pretrain/<config>.py', 'work_dirs/<run>/epoch_4.pth',
        ...                                       subject_file='data/nsd/mmbrain/subj01.h5', prototype=images)
        >>> inferencer([0, 1], topk=2)[0]['match']   # images for rows 0 and 1: [dict(match_score, sample_idx, sample)]
        >>> back = BrainRetrievalInferencer('configs/...', 'epoch_4.pth', subject_file='...subj01.h5', query='image')
        >>> back(images, topk=5)[0]['match'][0]['sample']   # dict(row=..., nsd_id=...) of the closest response

    Args:
        model: a pretraining config (file or :class:`mmengine.Config`) or a built ``BrainformerPretrainer``.
        pretrained: its checkpoint.
        subject_file: the converted ``subjXX.h5`` whose rows are the fMRI side.
        query: ``'fmri'``: inputs are rows of ``subject_file`` and the gallery is images; ``'image'``: inputs are
            images and the gallery is rows of ``subject_file``.
        prototype: the gallery: images (``query='fmri'``; required), or rows of ``subject_file`` (``query='image'``;
            default all rows).
        batch_size: samples per forward pass while embedding the gallery.
        device: device to run on.
    """

    postprocess_kwargs = {'topk'}

    def __init__(
        self,
        model: ModelType,
        pretrained: Optional[str] = None,
        subject_file: Optional[str] = None,
        query: str = 'fmri',
        prototype: Union[Sequence, str, None] = None,
        batch_size: int = 8,
        device: Union[str, torch.device, None] = None,
    ) -> None:
        if query not in QUERIES:
            raise ValueError(f'query must be one of {QUERIES}, got {query!r}')
        if subject_file is None:
            raise ValueError('BrainRetrievalInferencer: subject_file (the converted fMRI of a subject) is required')
        super().__init__(model, pretrained, device)
        for attr in ('fmri_encoder', 'img_proj', 'extract_img_feat'):
            if not hasattr(self.model, attr):
                raise TypeError(f'{type(self.model).__name__} has no {attr}: retrieval needs a BrainformerPretrainer')
        self.subject = ConvertedSubject(subject_file)
        missing = [g for g in self.model.fmri_encoder.roi_names if g not in self.subject.groups]
        if missing:
            raise ValueError(f'{subject_file}: no ROI groups {missing} that the fMRI encoder reads')
        self.query = query
        if query == 'fmri':
            if prototype is None:
                raise ValueError('BrainRetrievalInferencer(query="fmri"): prototype must give the gallery images')
            self.prototype = self._inputs_to_list(prototype)
            self.prototype_embeds = torch.cat(list(self._embed(self.prototype, 'image', batch_size)))
        elif prototype is None:  # every row with finite betas (rows with NaN/Inf are left out, and said so)
            self.prototype, embeds = [], []
            for rows in chunks(range(self.subject.n_rows), batch_size):
                finite = self._finite_rows(rows)
                if finite:
                    self.prototype += finite
                    embeds += list(self._embed(finite, 'fmri', batch_size))
            left_out = self.subject.n_rows - len(self.prototype)
            if left_out:
                print_log(
                    f'{subject_file}: {left_out} of {self.subject.n_rows} rows have NaN/Inf betas and are left out '
                    'of the gallery',
                    logger='current',
                    level=logging.WARNING,
                )
            if not embeds:
                raise ValueError(f'{subject_file}: no row with finite betas for the gallery')
            self.prototype_embeds = torch.cat(embeds)
        else:
            self.prototype = [int(r) for r in np.asarray(prototype, np.int64)]
            self.prototype_embeds = torch.cat(list(self._embed(self.prototype, 'fmri', batch_size)))

    def __call__(self, inputs, return_datasamples: bool = False, batch_size: int = 8, topk: int = 5) -> List[dict]:
        """Rank the gallery for each query.

        Args:
            inputs: ``query='fmri'``: row indices of ``subject_file``; ``query='image'``: images.
            return_datasamples: not supported (results are plain dicts).
            batch_size: queries per forward pass.
            topk: matches returned per query.

        Returns:
            one dict per query, ``match``: the ``topk`` best, each ``dict(match_score, sample_idx, sample)``
            (``sample``: the gallery image, or ``dict(row, nsd_id)`` of the gallery response), best first.
        """
        if return_datasamples:
            raise ValueError('BrainRetrievalInferencer returns plain dicts (return_datasamples=False)')
        if self.query == 'fmri' and isinstance(inputs, (int, np.integer)):
            inputs = [inputs]
        return super().__call__(inputs, False, batch_size, topk=topk)

    def preprocess(self, inputs: list, batch_size: int = 8):
        yield from self._embed(inputs, self.query, batch_size)

    @torch.no_grad()
    def forward(self, embeds: torch.Tensor) -> List[torch.Tensor]:
        return list(embeds @ self.prototype_embeds.T)

    def postprocess(
        self, preds: List[torch.Tensor], visualization=None, return_datasamples: bool = False, topk: int = 5
    ) -> List[dict]:
        k = min(int(topk), len(self.prototype))
        results = []
        for scores in preds:
            top = torch.topk(scores, k)
            results.append(
                dict(
                    match=[
                        dict(match_score=float(s), sample_idx=int(i), sample=self._sample(int(i)))
                        for s, i in zip(top.values, top.indices)
                    ]
                )
            )
        return results

    def _sample(self, index: int):
        if self.query == 'fmri':
            return self.prototype[index]
        row = self.prototype[index]
        return dict(row=row, nsd_id=int(self.subject.nsd_id[row]))

    @torch.no_grad()
    def _embed(self, items: Sequence, kind: str, batch_size: int):
        """L2-normalised embeddings [b, d] of images (``p``) or of rows of the subject file (``q``), batch by batch."""
        if kind == 'image':
            for img in self.image_batches(items, batch_size):
                yield F.normalize(self.model.img_proj(self.model.extract_img_feat(img)).float(), dim=-1)
            return
        for rows in chunks(items, batch_size):
            batch = self._fmri_batch(rows)
            yield F.normalize(self.model.fmri_encoder(**batch)[0].float(), dim=-1)

    def _finite_rows(self, rows: Sequence[int]) -> List[int]:
        """The rows among ``rows`` whose betas are all finite in every ROI group the fMRI encoder reads."""
        finite = np.ones(len(rows), dtype=bool)
        for g in self.model.fmri_encoder.roi_names:
            finite &= np.isfinite(self.subject.betas(g, list(rows))).all(axis=1)
        return [int(r) for r, ok in zip(rows, finite) if ok]

    def _fmri_batch(self, rows: Sequence[int]) -> Dict[str, object]:
        """Rows of the subject file in the ``brain_collate`` format (one subject: no padding, one ``xyz`` row)."""
        rows = [int(r) for r in rows]
        if any(not 0 <= r < self.subject.n_rows for r in rows):
            raise IndexError(f'{self.subject.path}: rows {rows} out of range 0..{self.subject.n_rows - 1}')
        device, groups = self.device, self.model.fmri_encoder.roi_names
        betas = {g: self.subject.betas(g, rows) for g in groups}
        for i, row in enumerate(rows):  # NaN would give NaN scores and an arbitrary ranking
            check_finite_responses({g: b[i] for g, b in betas.items()}, self.subject.path, row)
        fmri = {g: torch.from_numpy(b).to(device) for g, b in betas.items()}
        coords = {g: self.subject.xyz(g) for g in groups}
        xyz = (
            None
            if any(c is None for c in coords.values())
            else {g: torch.from_numpy(c)[None].to(device) for g, c in coords.items()}
        )
        return dict(
            fmri=fmri,
            fmri_mask={g: torch.ones_like(v, dtype=torch.bool) for g, v in fmri.items()},
            xyz=xyz,
            subject_index=torch.zeros(len(rows), dtype=torch.long, device=device),
        )
