# Copyright (c) mmbrain contributors. All rights reserved.
"""Inference APIs, following mmpretrain's inferencers (the end-to-end job lives in :mod:`mmbrain.pipeline`).

- :class:`BrainEncodingInferencer`: a subject's voxel responses to any images, from an encoding checkpoint;
- :class:`BrainRetrievalInferencer`: images for fMRI and fMRI for images, from a pretraining checkpoint.
"""

from .brain_encoding_inferencer import BrainEncodingInferencer
from .brain_retrieval_inferencer import BrainRetrievalInferencer

__all__ = ['BrainEncodingInferencer', 'BrainRetrievalInferencer']
