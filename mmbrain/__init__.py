# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain: Brainformer, fMRI-guided vision pretraining, as an OpenMMLab plugin."""
from .version import __version__, version_info

__all__ = ['__version__', 'version_info']
