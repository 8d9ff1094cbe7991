# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain: Brainformer, fMRI-guided vision pretraining, as an OpenMMLab plugin.

Importing the package (as ``custom_imports=dict(imports=['mmbrain'])`` does in every config, mmdet's and mmseg's
own tools included) allow-lists the types of mmengine's checkpoints for ``torch.load(weights_only=True)``
(see :mod:`mmbrain.utils.checkpoint`) and registers mmbrain's components in the ``mmbrain`` scope.
"""
from .utils import allow_mmengine_checkpoint_types, register_all_modules
from .version import __version__, version_info

allow_mmengine_checkpoint_types()
register_all_modules(init_default_scope=False)

__all__ = ['__version__', 'version_info', 'register_all_modules']
