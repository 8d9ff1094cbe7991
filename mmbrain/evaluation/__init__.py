# Copyright (c) mmbrain contributors. All rights reserved.
"""Metrics (mmengine ``METRICS``) and their numpy functions (:mod:`.functional`, no torch needed)."""

from ..utils.lazy import lazy_exports

__all__ = ['BrainEncodingMetric', 'BrainRetrievalMetric']
__getattr__, __dir__ = lazy_exports(__name__, {'BrainEncodingMetric': '.metrics', 'BrainRetrievalMetric': '.metrics'})
