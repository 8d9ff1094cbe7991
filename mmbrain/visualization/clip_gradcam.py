# Copyright (c) mmbrain contributors. All rights reserved.
"""Captions for the CLIP row of the Grad-CAM figure (paper Fig. 6, second row).

A ``ClipPretrainer`` row uses the same similarity as the other rows, ``cos(p, ·)`` between the image embedding
``p`` and the pretrainer's second tower (:meth:`~mmbrain.models.algorithms.BaseContrastivePretrainer.
extract_pair_feat`): for CLIP, the text features of the image's own caption. The figure's stimuli come from one
batch (the first row's config, whose samples carry fMRI but no caption), so :func:`attach_captions` gives each
sample the first caption of its image, read by the ``LoadNSDCaption`` step of the CLIP config's own pipeline.
"""

from typing import Sequence

from mmengine.config import Config

from mmbrain.registry import TRANSFORMS


def attach_captions(data_samples: Sequence, cfg: Config, split: str = 'val') -> None:
    """Set ``text`` on each data sample (by its ``nsd_id``) to the first caption of its image.

    Args:
        data_samples: the samples of a ``brain_collate`` batch (with ``nsd_id`` metainfo); changed in place.
        cfg: a CLIP pretraining config; its ``<split>_dataloader`` pipeline names the caption files.
        split: ``'val'``, ``'test'`` or ``'train'``.

    Raises:
        ValueError: the config's pipeline has no ``LoadNSDCaption`` step.
    """
    steps = [
        dict(t)
        for t in cfg[f'{split}_dataloader']['dataset']['pipeline']
        if str(t.get('type', '')).split('.')[-1] == 'LoadNSDCaption'
    ]
    if not steps:
        raise ValueError(
            f'{cfg.filename}: the {split} pipeline has no LoadNSDCaption step, so its model has no '
            'captions to attend to'
        )
    load = TRANSFORMS.build(dict(steps[0], draw='first'))
    for sample in data_samples:
        sample.set_metainfo(dict(text=load(dict(nsd_id=int(sample.nsd_id)))['text']))
