# Copyright (c) mmbrain contributors. All rights reserved.
"""Command-line helpers of tools/ (imported after argument parsing, so ``--help`` needs no torch)."""

import argparse
import re
import sys
from typing import Any, Dict, List, Optional

#: mmengine's ``Config.fromfile`` replaces ``{{ fileDirname }}``-style placeholders (and ``{{ _base_.x }}``) in the
#: text of every config it reads, a dumped config included: a path holding one would come back changed.
_PLACEHOLDER = re.compile(r'\{\{.*?\}\}')


def usage_error(message: str) -> None:
    """Exit with status 2 and ``error: message`` on stderr, as argparse does for a usage error."""
    print(f'error: {message}', file=sys.stderr)
    raise SystemExit(2)


def parse_cfg_options(pairs: Optional[List[str]]) -> Optional[Dict]:
    """``--cfg-options KEY=VALUE ...`` (given to argparse as ``nargs='+'`` strings) as mmengine's ``DictAction``
    parses them: ``'a.b=1'`` -> ``{'a.b': 1}``, lists and tuples in brackets, ``None`` / ``True`` / ``False``.
    A pair without ``=`` is a usage error (exit 2)."""
    if pairs is None:
        return None
    from mmengine.config import DictAction

    bad = [p for p in pairs if '=' not in p]
    if bad:
        usage_error(f'--cfg-options takes KEY=VALUE pairs, got {bad}')
    namespace = argparse.Namespace()
    DictAction(option_strings=['--cfg-options'], dest='cfg_options')(None, namespace, pairs)
    return namespace.cfg_options


def merge_cfg_options(cfg: Any, pairs: Optional[List[str]]) -> Optional[Dict]:
    """Merge ``--cfg-options`` into ``cfg`` (an ``mmengine.Config``) and return the parsed options.

    ``custom_imports`` given there is honoured: mmengine imports a config's ``custom_imports`` only while reading
    the file, so the merged value's modules are imported here (an import that fails is an error, unless the value
    says ``allow_failed_imports=True``).
    """
    options = parse_cfg_options(pairs)
    if not options:
        return options
    cfg.merge_from_dict(options)
    if any(key == 'custom_imports' or key.startswith('custom_imports.') for key in options):
        from mmengine.utils import import_modules_from_strings

        custom_imports = cfg.get('custom_imports')
        if not isinstance(custom_imports, dict) or 'imports' not in custom_imports:
            usage_error(
                f'--cfg-options custom_imports must be a dict with imports (e.g. '
                f'custom_imports.imports="[mod]"), got {custom_imports!r}'
            )
        try:
            import_modules_from_strings(**custom_imports)
        except ImportError as err:
            usage_error(f'--cfg-options custom_imports: {err}')
    return options


def check_path_option(option: str, path: Optional[str]) -> None:
    """A usage error (exit 2) for a path that mmengine would change when it reads a config back (it replaces
    ``{{ ... }}`` placeholders in every config text, the one dumped into the work dir included)."""
    if path is not None and _PLACEHOLDER.search(str(path)):
        usage_error(
            f'{option} {path}: a path containing "{{{{ ... }}}}" is replaced by mmengine when a config holding it is '
            'read back (e.g. {{ fileDirname }}); choose a path without "{{"'
        )
