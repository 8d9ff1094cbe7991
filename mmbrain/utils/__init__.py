# Copyright (c) mmbrain contributors. All rights reserved.
from .checkpoint import allow_mmengine_checkpoint_types, load_checkpoint_safely, mmengine_checkpoint_types
from .fileio import atomic_write
from .paths import package_path
from .setup_env import register_all_modules

__all__ = [
    'atomic_write', 'package_path',
    'allow_mmengine_checkpoint_types', 'load_checkpoint_safely', 'mmengine_checkpoint_types', 'register_all_modules'
]
