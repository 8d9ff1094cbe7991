# Copyright (c) mmbrain contributors. All rights reserved.
from .formatting import PackBrainInputs
from .loading import LoadNSDResponses, LoadNSDStimulus

__all__ = ['LoadNSDStimulus', 'LoadNSDResponses', 'PackBrainInputs']
