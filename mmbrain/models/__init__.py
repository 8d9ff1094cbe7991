# Copyright (c) mmbrain contributors. All rights reserved.
from ..utils import checkpoint as _checkpoint  # noqa: F401  (allow-lists mmengine's checkpoint types)
from .algorithms import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .fmri_encoders import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
