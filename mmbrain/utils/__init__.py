# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain's utilities; each is imported on first use (:mod:`.lazy`), so the light ones need no torch."""

from .lazy import lazy_exports

__all__ = [
    'atomic_write',
    'package_path',
    'allow_mmengine_checkpoint_types',
    'enable_safe_checkpoint_loading',
    'load_checkpoint_safely',
    'mmengine_checkpoint_types',
    'register_all_modules',
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        'allow_mmengine_checkpoint_types': '.checkpoint',
        'enable_safe_checkpoint_loading': '.checkpoint',
        'load_checkpoint_safely': '.checkpoint',
        'mmengine_checkpoint_types': '.checkpoint',
        'atomic_write': '.atomic',
        'package_path': '.paths',
        'register_all_modules': '.setup_env',
    },
)
