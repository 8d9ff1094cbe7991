# Copyright (c) mmbrain contributors. All rights reserved.
"""Where mmbrain's configs and tools are, from a source checkout or from an installed package."""

import os.path as osp
from typing import Optional

__all__ = ['package_path']


def package_path(relpath: str, package_dir: Optional[str] = None) -> str:
    """The absolute path of a file shipped with mmbrain (``configs/...``, ``tools/...``, ``model-index.yml``).

    An installed mmbrain carries ``configs/`` and ``tools/`` in its ``.mim`` folder (setup.py's mim extension copies
    them there, or links them for an editable install), as OpenMMLab packages do; a source checkout that was never
    installed has them beside the package folder.

    Args:
        relpath: Path relative to the repository root, e.g. ``'tools/train.py'``.
        package_dir: The ``mmbrain`` package folder (default: the one imported).

    Raises:
        FileNotFoundError: Neither place has the file.
    """
    package_dir = package_dir or osp.dirname(osp.dirname(osp.abspath(__file__)))
    candidates = [osp.join(package_dir, '.mim', relpath)]
    checkout = osp.dirname(package_dir)
    if osp.isfile(osp.join(checkout, 'setup.py')) and osp.isdir(osp.join(checkout, 'configs')):
        candidates.append(osp.join(checkout, relpath))
    for candidate in candidates:
        if osp.exists(candidate):
            return osp.realpath(candidate)
    raise FileNotFoundError(
        f'{relpath}: not shipped with mmbrain (looked in {" and ".join(candidates)}); '
        'install mmbrain with `pip install -e .` from its repository, or run from the checkout'
    )
