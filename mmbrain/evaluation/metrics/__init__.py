# Copyright (c) mmbrain contributors. All rights reserved.
from .brain_encoding import BrainEncodingMetric  # noqa: F401
from .retrieval import BrainRetrievalMetric  # noqa: F401
