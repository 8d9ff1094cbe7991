# Copyright (c) mmbrain contributors. All rights reserved.
"""``LoadNSDCaption``: one COCO caption of the sample's stimulus (the text of the CLIP baseline)."""

from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ..captions import read_nsd_captions

DRAWS = ('random', 'first')


@TRANSFORMS.register_module()
class LoadNSDCaption(BaseTransform):
    """Set ``text`` to one of the captions of ``nsd_id``'s COCO image (:func:`~..captions.read_nsd_captions`).

    ``draw='random'`` picks one of the image's (about five) captions each time the sample is loaded, from numpy's
    global generator, which mmengine seeds in every process and dataloader worker from the run's ``randomness``
    seed (as mmcv's random transforms do): the same seed and worker count give the same captions. ``'first'``
    always takes the first caption (lowest annotation id), for validation.

    Required keys: ``nsd_id``. Added keys: ``text`` (str); carry it to the model with
    ``PackBrainInputs(meta_keys=(..., 'text'))``.

    Args:
        stim_info: NSD's ``nsd_stim_info_merged.csv``.
        caption_files: COCO's ``captions_train2017.json`` and ``captions_val2017.json`` (or the synthetic world's).
        draw: ``'random'`` or ``'first'``.
    """

    def __init__(self, stim_info: str, caption_files: Sequence[str], draw: str = 'random') -> None:
        if draw not in DRAWS:
            raise ValueError(f'LoadNSDCaption: draw must be one of {DRAWS}, got {draw!r}')
        if isinstance(caption_files, str) or not caption_files:
            raise ValueError('LoadNSDCaption: caption_files must be a list of COCO captions files')
        self.stim_info = stim_info
        self.caption_files = tuple(caption_files)
        self.draw = draw

    def transform(self, results: dict) -> dict:
        captions = read_nsd_captions(self.stim_info, self.caption_files).get(int(results['nsd_id']))
        if not captions:
            raise KeyError(
                f'{self.stim_info}: no NSD image nsd_id {results["nsd_id"]} (its captions come from '
                f'{list(self.caption_files)})'
            )
        results['text'] = captions[np.random.randint(len(captions))] if self.draw == 'random' else captions[0]
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(stim_info={self.stim_info!r}, caption_files={list(self.caption_files)}, '
            f'draw={self.draw!r})'
        )
