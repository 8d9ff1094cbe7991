# Copyright (c) mmbrain contributors. All rights reserved.
from .checkpoint_backend import AtomicLocalBackend

__all__ = ['AtomicLocalBackend']
