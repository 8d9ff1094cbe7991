# Copyright (c) mmbrain contributors. All rights reserved.
from .brainformer_pretrainer import BrainformerPretrainer  # noqa: F401
