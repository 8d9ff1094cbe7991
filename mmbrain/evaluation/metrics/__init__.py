# Copyright (c) mmbrain contributors. All rights reserved.
from .retrieval import BrainRetrievalMetric  # noqa: F401
