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

    A pair without ``=`` is a usage error (exit 2). ``custom_imports`` given there is honoured: mmengine imports a
    config's ``custom_imports`` only while reading the file, so the modules named in the options are imported here
    (one that fails to import is a usage error, unless the options say ``allow_failed_imports=True``).
    """
    if pairs is None:
        return None
    from mmengine.config import DictAction

    bad = [p for p in pairs if '=' not in p]
    if bad:
        usage_error(f'--cfg-options takes KEY=VALUE pairs, got {bad}')
    namespace = argparse.Namespace()
    DictAction(option_strings=['--cfg-options'], dest='cfg_options')(None, namespace, pairs)
    options = namespace.cfg_options
    _import_custom_modules(options)
    return options


def _import_custom_modules(options: Dict[str, Any]) -> None:
    custom_imports = dict(options.get('custom_imports') or {})
    for key, value in options.items():
        if key.startswith('custom_imports.'):
            custom_imports[key.split('.', 1)[1]] = value
    if not custom_imports:
        return
    if not isinstance(custom_imports.get('imports'), (list, tuple, str)):
        usage_error(
            '--cfg-options custom_imports needs the modules to import, e.g. '
            f'custom_imports.imports="[\'my_module\']", got {custom_imports!r}'
        )
    from mmengine.utils import import_modules_from_strings

    try:
        import_modules_from_strings(
            custom_imports['imports'], allow_failed_imports=bool(custom_imports.get('allow_failed_imports', False))
        )
    except ImportError as err:
        usage_error(f'--cfg-options custom_imports: {err}')


def merge_cfg_options(cfg: Any, pairs: Optional[List[str]]) -> Optional[Dict]:
    """Merge ``--cfg-options`` (:func:`parse_cfg_options`) into ``cfg``, an ``mmengine.Config``; return them."""
    options = parse_cfg_options(pairs)
    if options:
        cfg.merge_from_dict(options)
    return options


def placeholder_problem(path: str) -> Optional[str]:
    """Why mmengine would change ``path`` when it reads back a config holding it (it replaces ``{{ ... }}``
    placeholders in every config text, the one dumped into the work dir included), or None."""
    if _PLACEHOLDER.search(str(path)):
        return (
            f'{path}: a path containing "{{{{ ... }}}}" is replaced by mmengine when a config holding it is read back '
            '(e.g. {{ fileDirname }}); choose a path without "{{"'
        )
    return None


def check_path_option(option: str, path: Optional[str]) -> None:
    """A usage error (exit 2) for a path that mmengine would change (:func:`placeholder_problem`)."""
    problem = placeholder_problem(path) if path is not None else None
    if problem:
        usage_error(f'{option} {problem}')
