# Copyright (c) mmbrain contributors. All rights reserved.
"""The synthetic world is published like every output: with the mode the umask gives, never over an existing one."""

import os
import stat

import pytest
from _helpers import world_args

from mmbrain.datasets.synthetic import make_synthetic_nsd
from mmbrain.utils.atomic import OutputExistsError

TINY = world_args(n_coco_extra=2, n_ade=2)


def test_the_world_folder_gets_the_umask_mode_and_is_not_replaced_unasked(tmp_path):
    out = tmp_path / 'world'
    old = os.umask(0o022)
    try:
        make_synthetic_nsd(str(out), **TINY)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755  # not mkdtemp's 0700
    with pytest.raises(OutputExistsError, match=r'world: already exists \(pass overwrite=True / --overwrite'):
        make_synthetic_nsd(str(out), **TINY)
    assert sorted(os.listdir(tmp_path)) == ['world']
