# Copyright (c) mmbrain contributors. All rights reserved.
from .retrieval import BrainRetrievalMetric  # noqa: F401
from .brain_encoding import BrainEncodingMetric  # noqa: F401
