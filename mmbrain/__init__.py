# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain: Brainformer, fMRI-guided vision pretraining, as an OpenMMLab plugin.

Importing the package is cheap: it imports neither torch nor the OpenMMLab stack, so the data converters and every
tool's ``--help`` start fast. Components register on first use: each registry of :mod:`mmbrain.registry` names the
modules that register into it, which mmengine imports the first time it searches that registry, so
``custom_imports=dict(imports=['mmbrain'])`` in a config (mmdet's and mmseg's own tools included) is enough for
``type='mmbrain.X'`` or, in the ``mmbrain`` default scope, ``type='X'``. :func:`register_all_modules` imports them
all at once.

As soon as torch is imported (before or after mmbrain), the types of mmengine's checkpoints are allow-listed for
``torch.load(weights_only=True)`` (:mod:`mmbrain.utils.checkpoint`); mmbrain's models, engine and checkpoint helpers
do so as well when they are imported.
"""

import sys

from .utils.lazy import call_after_import, lazy_exports
from .version import __version__, version_info

__getattr__, __dir__ = lazy_exports(__name__, {'register_all_modules': '.utils.setup_env'})


def _allow_checkpoint_types() -> None:
    """Allow-list mmengine's checkpoint types, unless torch is being imported by mmengine's own ``__init__`` (then
    mmbrain's models, engine and checkpoint helpers do it when imported)."""
    engine = sys.modules.get('mmengine')
    if engine is not None and getattr(getattr(engine, '__spec__', None), '_initializing', False):
        return
    try:
        from .utils.checkpoint import allow_mmengine_checkpoint_types
    except ImportError:  # no mmengine (a data-only environment): nothing to allow-list
        return
    allow_mmengine_checkpoint_types()


call_after_import('torch', _allow_checkpoint_types)

__all__ = ['__version__', 'version_info', 'register_all_modules']
