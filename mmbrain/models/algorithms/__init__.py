# Copyright (c) mmbrain contributors. All rights reserved.
from .base_pretrainer import BaseContrastivePretrainer  # noqa: F401
from .brain_response_predictor import BrainResponsePredictor  # noqa: F401
from .brainformer_pretrainer import BrainformerPretrainer  # noqa: F401
from .clip_pretrainer import ClipPretrainer  # noqa: F401
