# Copyright (c) mmbrain contributors. All rights reserved.
"""Package attributes imported on first use (PEP 562), so that ``import mmbrain.datasets.converter`` or a tool's
``--help`` does not import torch and the OpenMMLab stack.

Registration does not depend on these imports: every registry in :mod:`mmbrain.registry` names the modules that
register into it (``locations``), and mmengine imports them the first time the registry is searched.
"""

import importlib
import importlib.abc
import importlib.util
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


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds top-level package ``name`` as the other finders do, and calls ``callback`` once it has executed."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once, and out of the way of the search below
        spec = importlib.util.find_spec(fullname)
        if spec is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_call(module) -> None:
            exec_module(module)
            self.callback()

        spec.loader.exec_module = exec_then_call
        return spec


def call_after_import(name: str, callback: Callable[[], None]) -> None:
    """Call ``callback`` right after top-level package ``name`` is imported (now, if it already is)."""
    if name in sys.modules:
        callback()
    else:
        sys.meta_path.insert(0, _AfterImport(name, callback))
