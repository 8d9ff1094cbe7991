# Copyright (c) mmbrain contributors. All rights reserved.
from .algorithms import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .fmri_encoders import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
