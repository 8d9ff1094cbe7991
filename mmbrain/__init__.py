# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain: Brainformer, fMRI-guided vision pretraining, as an OpenMMLab plugin.

Importing the package is cheap and changes nothing global: it imports neither torch nor the OpenMMLab stack, so the
data converters and every tool's ``--help`` start fast. Components register on first use: each registry of
:mod:`mmbrain.registry` names the modules that register into it, which mmengine imports the first time it searches
that registry, so ``custom_imports=dict(imports=['mmbrain'])`` in a config (mmdet's and mmseg's own tools included)
is enough for ``type='mmbrain.X'`` or, in the ``mmbrain`` default scope, ``type='X'``. :func:`register_all_modules`
imports them all at once.

Safe checkpoint loading (``weights_only=True`` for every URL scheme, mmengine's own checkpoint types allow-listed)
is one explicit call, :func:`mmbrain.utils.enable_safe_checkpoint_loading`, made by :func:`register_all_modules`,
mmbrain's tools and :class:`mmbrain.engine.BrainRunner` (the ``runner_type`` of every mmbrain config).
"""

from .utils.lazy import lazy_exports
from .version import __version__, version_info

__getattr__, __dir__ = lazy_exports(__name__, {'register_all_modules': '.utils.setup_env'})

__all__ = ['__version__', 'version_info', 'register_all_modules']
