# Copyright (c) mmbrain contributors. All rights reserved.
"""Shipped configs and tools are found in an installed package's .mim folder or in a source checkout."""

import os.path as osp

import pytest

from mmbrain.utils import package_path


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('')


def test_installed_package_uses_its_mim_folder(tmp_path):
    package = tmp_path / 'site-packages' / 'mmbrain'
    _touch(package / '.mim' / 'tools' / 'train.py')
    _touch(tmp_path / 'site-packages' / 'configs' / 'x.py')  # not a checkout: no setup.py beside the package
    assert package_path('tools/train.py', str(package)) == str(package / '.mim' / 'tools' / 'train.py')
    with pytest.raises(FileNotFoundError, match='configs/x.py: not shipped with mmbrain'):
        package_path('configs/x.py', str(package))


def test_source_checkout_without_install(tmp_path):
    checkout = tmp_path / 'mmbrain-repo'
    _touch(checkout / 'setup.py')
    _touch(checkout / 'configs' / 'demo' / 'a.py')
    (checkout / 'mmbrain').mkdir()
    assert package_path('configs/demo/a.py', str(checkout / 'mmbrain')) == str(checkout / 'configs' / 'demo' / 'a.py')


def test_this_mmbrain_ships_its_tools():
    assert osp.isfile(package_path('tools/train.py'))
    assert osp.isdir(package_path('configs/demo'))
