# Copyright (c) mmbrain contributors. All rights reserved.
from .base import BaseFMRIEncoder, BaseSpatialEmbedding
from .brainformer_encoder import BrainformerEncoder
from .linear_encoder import LinearFMRIEncoder
from .multiscale_transformer import MultiScaleFMRITransformer
from .transblock import TransBlock
from .voxel_embedding import LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, Voxel3DEmbedding

__all__ = [
    'BaseFMRIEncoder',
    'BaseSpatialEmbedding',
    'BrainformerEncoder',
    'LinearFMRIEncoder',
    'MultiScaleFMRITransformer',
    'TransBlock',
    'Voxel3DEmbedding',
    'LearnedPositionalEmbedding',
    'SinusoidalPositionalEmbedding',
]
