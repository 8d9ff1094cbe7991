# Copyright (c) mmbrain contributors. All rights reserved.
"""The synthetic NSD world: procedural scenes, synthetic brains, a ground-truth encoding model, NSD's layout."""

from .world import make_synthetic_nsd

__all__ = ['make_synthetic_nsd']
