# Copyright (c) mmbrain contributors. All rights reserved.
"""``_base_ = 'mmbrain::pretrain/...'`` in a config outside the repository, as ``mmdet::`` bases work: from the
editable install this environment has, and from a regular install of a wheel built from the checkout."""

import os
import subprocess
import sys
import tarfile

import pytest
from _helpers import REPO

CONFIG = "_base_ = 'mmbrain::pretrain/brainformer_convnext-s.py'\ntrain_cfg = dict(max_epochs=1)\n"
READ = (
    'import mmbrain; from mmengine.config import Config; from mmbrain.utils import register_all_modules; '
    'register_all_modules(); cfg = Config.fromfile("outside.py"); '
    'print(cfg.model.type, cfg.train_cfg.max_epochs, cfg.runner_type, mmbrain.__file__)'
)


def _read_outside(tmp_path, code=READ, **env):
    (tmp_path / 'outside.py').write_text(CONFIG)
    return subprocess.run(
        [sys.executable, '-c', code],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, **env),
    )


@pytest.mark.slow
def test_mmbrain_bases_from_the_installed_package(tmp_path):
    result = _read_outside(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[:3] == ['BrainformerPretrainer', '1', 'mmbrain.BrainRunner']


@pytest.mark.slow
def test_mmengine_alone_does_not_know_mmbrain(tmp_path):
    """The premise (and the old behaviour): without register_config_package mmengine refuses the reference."""
    result = _read_outside(tmp_path, 'from mmengine.config import Config; Config.fromfile("outside.py")')
    assert result.returncode != 0 and 'mmengine does not support to load mmbrain config' in result.stderr


@pytest.mark.slow
def test_mmbrain_bases_from_a_regular_install(tmp_path):
    """A wheel built from a copy of the checkout (setup.py copies configs/ into mmbrain/.mim), installed apart."""
    src = tmp_path / 'src'
    files = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(tmp_path / 'src.tar', 'w') as tar:
        for name in files:
            if os.path.isfile(os.path.join(REPO, name)) and not name.startswith('mmbrain/.mim'):
                tar.add(os.path.join(REPO, name), arcname=name)
    with tarfile.open(tmp_path / 'src.tar') as tar:
        tar.extractall(src, filter='data')
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q']
    subprocess.run(
        [*pip, 'wheel', '--no-deps', '--no-build-isolation', '-w', str(tmp_path / 'wheel'), str(src)], check=True
    )
    (wheel,) = (tmp_path / 'wheel').glob('mmbrain-*.whl')
    subprocess.run([*pip, 'install', '--no-deps', '--target', str(tmp_path / 'site'), str(wheel)], check=True)
    result = _read_outside(tmp_path, PYTHONPATH=str(tmp_path / 'site'))
    assert result.returncode == 0, result.stderr[-3000:]
    model, epochs, runner, package = result.stdout.split()[:4]
    assert (model, epochs, runner) == ('BrainformerPretrainer', '1', 'mmbrain.BrainRunner')
    assert package.startswith(str(tmp_path / 'site')), package  # the wheel's mmbrain, not the checkout
