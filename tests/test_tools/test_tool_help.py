# Copyright (c) mmbrain contributors. All rights reserved.
"""Every command-line tool prints its usage without the heavy stack: ``--help`` runs with torch, OpenMMLab and
matplotlib made unimportable, so arguments are parsed before anything heavy is imported."""

import glob
import os.path as osp
import subprocess
import sys

import pytest
from _helpers import REPO

BLOCKED = (
    'torch',
    'torchvision',
    'mmengine',
    'mmcv',
    'mmdet',
    'mmseg',
    'mmpretrain',
    'matplotlib',
    'open_clip',
    'himalaya',
    'nilearn',
)
TOOLS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True))

# Run a tool as ``python TOOL --help`` would, after a meta-path finder that refuses the blocked packages.
_RUNNER = """
import runpy, sys
BLOCKED = set(sys.argv[2].split(','))


class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is blocked: --help must not import it')
        return None


sys.meta_path.insert(0, Block())
tool = sys.argv[1]
sys.argv = [tool, '--help']
sys.path.insert(0, __import__('os').path.dirname(tool))
runpy.run_path(tool, run_name='__main__')
"""


def test_every_tool_is_listed():
    assert 'tools/train.py' in TOOLS and 'tools/dataset_converters/nsd_to_mmbrain.py' in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
@pytest.mark.slow
def test_help_without_torch_or_openmmlab(tool):
    proc = subprocess.run(
        [sys.executable, '-c', _RUNNER, osp.join(REPO, tool), ','.join(BLOCKED)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f'{tool} --help exited {proc.returncode}:\n{proc.stderr[-3000:]}'
    assert 'usage:' in proc.stdout, f'{tool} --help printed no usage:\n{proc.stdout[-2000:]}'
