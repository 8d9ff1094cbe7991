# Copyright (c) mmbrain contributors. All rights reserved.
"""brainformer_to_backbone.py never replaces its input, never clobbers, refuses NaN weights, and reports a full disk."""

import os
import subprocess
import sys

import pytest
import torch
from _helpers import REPO, load_tool
from _tmpfs import tiny_tmpfs

from mmbrain.utils.atomic import OutputExistsError, SameFileError

TOOL = os.path.join(REPO, 'tools/model_converters/brainformer_to_backbone.py')
convert = load_tool('tools/model_converters/brainformer_to_backbone.py').convert


def _run(*args):
    return subprocess.run(
        [sys.executable, TOOL, *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def _checkpoint(path, backbone_value=0.5):
    state = {'backbone.stem.weight': torch.full((4, 3), backbone_value), 'fmri_encoder.proj.weight': torch.ones(2)}
    torch.save({'state_dict': state, 'meta': {'iter': 2}}, path)
    return path


@pytest.mark.slow
def test_in_in_is_refused_even_through_a_symlinked_folder(tmp_path):
    src = _checkpoint(tmp_path / 'epoch_4.pth')
    before = src.read_bytes()
    (tmp_path / 'alias').symlink_to(tmp_path, target_is_directory=True)
    result = _run(src, tmp_path / 'alias' / 'epoch_4.pth', '--overwrite')
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith(f'is the input {src}; refusing to replace an input with an output')
    with pytest.raises(SameFileError):
        convert(str(src), str(src))
    assert src.read_bytes() == before


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    src = _checkpoint(tmp_path / 'epoch_4.pth')
    dst = tmp_path / 'backbone.pth'
    dst.write_bytes(b'an earlier backbone')
    with pytest.raises(OutputExistsError, match='already exists \\(pass --overwrite to replace it\\)'):
        convert(str(src), str(dst))
    assert dst.read_bytes() == b'an earlier backbone'
    convert(str(src), str(dst), overwrite=True)
    assert torch.load(dst, weights_only=True)['state_dict']['backbone.stem.weight'].eq(0.5).all()


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_weights_are_refused(tmp_path, bad):
    src = _checkpoint(tmp_path / 'diverged.pth', backbone_value=bad)
    with pytest.raises(
        ValueError,
        match='backbone weight backbone.stem.weight has 12 NaN/Inf values '
        '\\(the training diverged\\); refusing to convert it',
    ):
        convert(str(src), str(tmp_path / 'backbone.pth'))
    assert not (tmp_path / 'backbone.pth').exists()


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_old_output(tmp_path):
    src = _checkpoint(tmp_path / 'epoch_4.pth')
    with tiny_tmpfs(tmp_path, size='8k') as disk:
        dst = disk / 'backbone.pth'
        dst.write_bytes(b'good old backbone')
        with open(disk / 'filler', 'wb') as f:  # leave less room than the new file needs
            f.write(b'\0' * 4096)
        result = _run(src, dst, '--overwrite')
        assert result.returncode == 1
        assert result.stderr.strip() == f'error: {dst}: cannot write the output (No space left on device)'
        assert dst.read_bytes() == b'good old backbone'
        assert sorted(os.listdir(disk)) == ['backbone.pth', 'filler']
