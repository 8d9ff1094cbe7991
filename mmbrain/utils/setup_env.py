# Copyright (c) mmbrain contributors. All rights reserved.
"""Registration helpers, following mmpretrain's ``register_all_modules``."""

import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmbrain module so that its components are registered.

    Args:
        init_default_scope: Whether to make ``mmbrain`` the default scope. If the current default scope is not
            ``mmbrain``, a new, uniquely named ``mmbrain`` scope instance is created (as mmpretrain does), so a
            config's ``default_scope`` of another library is left intact for code that holds it.
    """
    from mmengine.registry import Registry

    import mmbrain.registry as registries

    for registry in vars(registries).values():
        if isinstance(registry, Registry):
            registry.import_from_location()  # the modules named in its ``locations``

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('mmbrain', scope_name='mmbrain')
    elif current_scope.scope_name != 'mmbrain':
        warnings.warn(
            f'The current default scope "{current_scope.scope_name}" is not "mmbrain"; '
            '`register_all_modules` creates a new default scope named "mmbrain".',
            stacklevel=2,
        )
        new_instance_name = f'mmbrain-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='mmbrain')
