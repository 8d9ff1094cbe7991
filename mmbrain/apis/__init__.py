# Copyright (c) mmbrain contributors. All rights reserved.
"""Inference APIs (the end-to-end job lives in :mod:`mmbrain.pipeline`)."""

__all__: list = []
