# Copyright (c) mmbrain contributors. All rights reserved.
from .captions import LoadNSDCaption
from .formatting import PackBrainInputs
from .loading import LoadNSDResponses, LoadNSDStimulus

__all__ = ['LoadNSDStimulus', 'LoadNSDResponses', 'LoadNSDCaption', 'PackBrainInputs']
