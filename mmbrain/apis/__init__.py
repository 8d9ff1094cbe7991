# Copyright (c) mmbrain contributors. All rights reserved.
"""Inference APIs, following mmpretrain's (the end-to-end job lives in :mod:`mmbrain.pipeline`).

- :func:`init_model`: a model from a config and a checkpoint (as mmpretrain's ``apis/model.py``), the one way every
  inferencer and analysis tool builds one;
- :class:`BrainEncodingInferencer`: a subject's voxel responses to any images, from an encoding checkpoint;
- :class:`BrainRetrievalInferencer`: images for fMRI and fMRI for images, from a pretraining checkpoint.

Each is imported on first use (:mod:`mmbrain.utils.lazy`): ``init_model`` does not import mmpretrain's inferencers.
"""

from ..utils.lazy import lazy_exports

__all__ = ['init_model', 'BrainEncodingInferencer', 'BrainRetrievalInferencer']
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        'init_model': '.model',
        'BrainEncodingInferencer': '.brain_encoding_inferencer',
        'BrainRetrievalInferencer': '.brain_retrieval_inferencer',
    },
)
