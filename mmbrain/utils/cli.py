# Copyright (c) mmbrain contributors. All rights reserved.
"""Command-line helpers of tools/ (imported after argument parsing, so ``--help`` needs no torch)."""

import argparse
from typing import Dict, List, Optional


def parse_cfg_options(pairs: Optional[List[str]]) -> Optional[Dict]:
    """``--cfg-options KEY=VALUE ...`` (given to argparse as ``nargs='+'`` strings) as mmengine's ``DictAction``
    parses them: ``'a.b=1'`` -> ``{'a.b': 1}``, lists and tuples in brackets, ``None`` / ``True`` / ``False``."""
    if pairs is None:
        return None
    from mmengine.config import DictAction

    bad = [p for p in pairs if '=' not in p]
    if bad:
        raise SystemExit(f'error: --cfg-options takes KEY=VALUE pairs, got {bad}')
    namespace = argparse.Namespace()
    DictAction(option_strings=['--cfg-options'], dest='cfg_options')(None, namespace, pairs)
    return namespace.cfg_options
