# Copyright (c) mmbrain contributors. All rights reserved.
"""Package attributes imported on first use (PEP 562), so that ``import mmbrain.datasets.converter`` or a tool's
``--help`` does not import torch and the OpenMMLab stack.

Registration does not depend on these imports: every registry in :mod:`mmbrain.registry` names the modules that
register into it (``locations``), and mmengine imports them the first time the registry is searched.
"""

import importlib
import sys
from typing import Callable, Dict, List, Tuple


def lazy_exports(package: str, exports: Dict[str, str]) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose public names live in submodules.

    Args:
        package: the package's ``__name__``.
        exports: ``{name: relative submodule}``, e.g. ``{'NSDDataset': '.nsd_dataset'}``.

    Example::

        __getattr__, __dir__ = lazy_exports(__name__, {'NSDDataset': '.nsd_dataset'})
    """

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f'module {package!r} has no attribute {name!r}')
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
