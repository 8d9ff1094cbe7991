# Copyright (c) mmbrain contributors. All rights reserved.
"""The console output of mmbrain's data tools: one logger for data-quality messages, and progress bars.

Library code reports what it finds in the data (NaN betas, missing surfaces, constant voxels) with
``get_logger().warning(...)``; a tool's ``--quiet`` calls :func:`set_quiet`, which silences everything below
ERROR and the progress bars. Messages go to stderr as ``mmbrain WARNING: ...`` and reach ``logging`` handlers
(pytest's ``caplog`` included) like any other logger's. Training and testing log through mmengine's ``MMLogger``.
"""

import logging
import sys
from typing import Iterable, TypeVar

LOGGER_NAME = 'mmbrain'
T = TypeVar('T')


def get_logger() -> logging.Logger:
    """The ``mmbrain`` logger (a stderr handler is attached on first use; INFO and above unless quiet)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, '_mmbrain', False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter('%(name)s %(levelname)s: %(message)s'))
        handler._mmbrain = True
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    return logger


def set_quiet(quiet: bool = True) -> None:
    """Only errors from now on (``--quiet``), or back to INFO; also turns :func:`progress_bar` bars off / on."""
    get_logger().setLevel(logging.ERROR if quiet else logging.INFO)


def is_quiet() -> bool:
    return get_logger().level >= logging.ERROR


def progress_bar(iterable: Iterable[T], enabled: bool = True, **kwargs) -> Iterable[T]:
    """``iterable`` wrapped in a tqdm progress bar (on stderr), unless disabled or quiet.

    Args:
        iterable: what to iterate.
        enabled: False returns ``iterable`` as is (library callers pass their ``progress`` argument).
        **kwargs: tqdm options (``desc``, ``unit``, ``total``, ``leave``, ...).
    """
    if not enabled or is_quiet():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, **kwargs)
