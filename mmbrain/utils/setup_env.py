# Copyright (c) mmbrain contributors. All rights reserved.
"""Registration helpers, following mmpretrain's ``register_all_modules``."""

import datetime
import importlib
import os.path as osp
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmbrain module so that its components are registered, make checkpoint loading safe
    (:func:`mmbrain.utils.enable_safe_checkpoint_loading`: ``weights_only=True`` for every URL scheme) and let
    configs inherit ``mmbrain::`` bases (:func:`register_config_package`).

    Args:
        init_default_scope: Whether to make ``mmbrain`` the default scope. If the current default scope is not
            ``mmbrain``, a new, uniquely named ``mmbrain`` scope instance is created (as mmpretrain does), so a
            config's ``default_scope`` of another library is left intact for code that holds it.
    """
    from mmengine.registry import Registry

    import mmbrain.registry as registries
    from mmbrain.utils.checkpoint import enable_safe_checkpoint_loading

    enable_safe_checkpoint_loading()
    register_config_package()
    # The modules named in each registry's ``locations``, imported directly: mmengine calls this function itself
    # (``Registry.import_from_location``) for a registry without locations of a package in MODULE2PACKAGE.
    for registry in vars(registries).values():
        if isinstance(registry, Registry):
            for location in registry._locations:
                importlib.import_module(location)

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


def register_config_package() -> None:
    """Let mmengine's ``Config`` resolve ``mmbrain::`` references, as it resolves ``mmdet::`` and
    ``mmpretrain::``: ``_base_ = 'mmbrain::pretrain/brainformer_convnext-s.py'`` in a config anywhere.

    mmengine looks such a path up in the installed package's ``.mim/configs`` folder (which setup.py fills: copies
    for a regular install, links to the checkout's ``configs/`` for an editable one), but only for the packages of
    its own list (``mmengine.config.utils.MODULE2PACKAGE``), and it finds the package folder through the
    distribution's location, which for an editable (PEP 660) install is ``site-packages``, not the checkout. This
    adds mmbrain to the list and makes the lookup of mmbrain's folder return the folder of the imported package.
    Idempotent. mmbrain's ``tools/train.py`` and ``tools/test.py`` call it before reading a config;
    :func:`register_all_modules` calls it too.
    """
    import mmengine.config.config as mmengine_config
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault('mmbrain', 'mmbrain')
    installed_path = mmengine_config.get_installed_path
    if getattr(installed_path, 'mmbrain_aware', False):
        return

    def get_installed_path(package: str) -> str:
        if package == 'mmbrain':
            import mmbrain

            return osp.dirname(osp.abspath(mmbrain.__file__))
        return installed_path(package)

    get_installed_path.mmbrain_aware = True
    mmengine_config.get_installed_path = get_installed_path
