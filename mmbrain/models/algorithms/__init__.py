# Copyright (c) mmbrain contributors. All rights reserved.
from .brain_response_predictor import BrainResponsePredictor  # noqa: F401
from .brainformer_pretrainer import BrainformerPretrainer  # noqa: F401
