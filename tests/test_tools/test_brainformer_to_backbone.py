# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/model_converters/brainformer_to_backbone.py on real Brainformer checkpoints saved by mmengine's Runner."""

import ast
import os
import subprocess
import sys

import pytest
import torch
from _helpers import PRETRAIN_CONFIGS, REPO, load_tool

TOOL = os.path.join(REPO, 'tools/model_converters/brainformer_to_backbone.py')


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.slow
def test_cli_keeps_exactly_the_backbone(brainformer_checkpoints, tmp_path):
    src = brainformer_checkpoints['convnext']
    dst = tmp_path / 'out' / 'backbone.pth'
    result = _run(src, str(dst))
    assert result.returncode == 0, result.stderr
    assert 'kept' in result.stdout and 'fmri_encoder' in result.stdout  # reports what it kept and dropped
    assert os.listdir(dst.parent) == ['backbone.pth']  # written atomically: no temporary file left

    # A fresh interpreter without mmbrain or mmengine, so no allow-list: plain tensors only.
    check = subprocess.run(
        [
            sys.executable,
            '-c',
            'import sys, torch; c = torch.load(sys.argv[1], weights_only=True); '
            'assert "mmengine" not in sys.modules and "mmbrain" not in sys.modules; '
            'assert all(isinstance(v, torch.Tensor) for v in c["state_dict"].values()); '
            'print(len(c["state_dict"]), sorted(c["meta"]))',
            str(dst),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr

    from mmbrain.utils import load_checkpoint_safely

    source = load_checkpoint_safely(src)['state_dict']
    converted = torch.load(dst, weights_only=True)
    expected = {k for k in source if k.startswith('backbone.')}
    assert set(converted['state_dict']) == expected
    for key in expected:
        assert torch.equal(converted['state_dict'][key], source[key]), key
    assert converted['meta']['converted_from'] == os.path.abspath(src)
    assert converted['meta']['iter'] == 2
    # The architecture travels with the weights: the training config's model.backbone, printed by the extractor.
    from mmengine.config import Config

    trained_with = Config.fromfile(os.path.join(REPO, PRETRAIN_CONFIGS['convnext'])).model.backbone.to_dict()
    assert converted['meta']['backbone_cfg'] == trained_with
    (printed,) = [line for line in result.stdout.splitlines() if 'backbone config (meta["backbone_cfg"]): ' in line]
    assert ast.literal_eval(printed.split(': ', 1)[1]) == trained_with


@pytest.mark.slow
def test_refuses_a_checkpoint_that_is_not_brainformer(tmp_path):
    classifier = tmp_path / 'classifier.pth'
    torch.save({'state_dict': {'backbone.w': torch.zeros(2), 'head.fc.weight': torch.zeros(2)}}, classifier)
    result = _run(str(classifier), str(tmp_path / 'out.pth'))
    assert result.returncode == 1
    assert 'classifier.pth: not a Brainformer checkpoint' in result.stderr and 'fmri_encoder' in result.stderr
    assert not (tmp_path / 'out.pth').exists()

    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all')
    convert = load_tool('tools/model_converters/brainformer_to_backbone.py').convert
    with pytest.raises(ValueError, match='garbage.pth'):
        convert(str(garbage), str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()


class _Exploit:
    """A pickle that would create a file when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_never_unpickles_arbitrary_objects(tmp_path):
    marker = tmp_path / 'pwned'
    malicious = tmp_path / 'malicious.pth'
    torch.save(
        {'state_dict': {'backbone.w': torch.zeros(1), 'fmri_encoder.w': torch.zeros(1)}, 'meta': _Exploit(str(marker))},
        malicious,
    )
    convert = load_tool('tools/model_converters/brainformer_to_backbone.py').convert
    with pytest.raises(ValueError, match='malicious.pth'):
        convert(str(malicious), str(tmp_path / 'out.pth'))
    assert not marker.exists()
    assert not (tmp_path / 'out.pth').exists()


def test_backbone_config_is_read_as_literals_never_executed(tmp_path):
    tool = load_tool('tools/model_converters/brainformer_to_backbone.py')
    text = "model = dict(type='BrainformerPretrainer', backbone=dict(type='mmpretrain.ConvNeXt', out_indices=(3,)))\n"
    assert tool.backbone_config({'meta': {'cfg': text}}) == dict(type='mmpretrain.ConvNeXt', out_indices=(3,))
    marker = tmp_path / 'ran'
    evil = f"model = dict(backbone=dict(type=open({str(marker)!r}, 'w')))\n"
    assert tool.backbone_config({'meta': {'cfg': evil}}) is None and not marker.exists()
    assert tool.backbone_config({'meta': {}}) is None


@pytest.mark.slow
def test_a_full_disk_names_the_output_and_publishes_nothing(brainformer_checkpoints, tmp_path):
    import resource

    convert = load_tool('tools/model_converters/brainformer_to_backbone.py').convert
    dst = tmp_path / 'backbone.pth'
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # writes past 4 kB fail with EFBIG, as on a full disk
    try:
        with pytest.raises(OSError, match='backbone.pth: could not be written') as err:
            convert(brainformer_checkpoints['convnext'], str(dst))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert 'disk full' in str(err.value)
    assert os.listdir(tmp_path) == []
