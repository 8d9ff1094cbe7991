# Copyright (c) mmbrain contributors. All rights reserved.
"""``import mmbrain`` and the data converters need no torch; components still register on first use; importing
mmbrain changes nothing global (no import hook, no allow-list), and the one explicit call allow-lists mmengine's
checkpoint types whichever of mmbrain and torch is imported first."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts an interpreter


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_converters_import_without_torch():
    out = _run(
        'import sys, mmbrain, mmbrain.datasets.converter, mmbrain.datasets.algonauts, '
        'mmbrain.datasets.converted_file, mmbrain.datasets.synthetic; '
        'print(sorted(m for m in ("torch", "mmengine", "mmcv", "mmpretrain", "matplotlib") '
        'if m in sys.modules))'
    )
    assert out.strip() == '[]'


def test_components_register_on_first_use():
    # as mmengine's Runner looks them up: the mmbrain registries, or mmengine's roots with the scope prefix
    out = _run(
        'import mmbrain; from mmbrain.registry import DATASETS, TRANSFORMS; '
        'from mmengine.registry import FUNCTIONS, MODELS; '
        'print(DATASETS.get("NSDDataset").__name__, TRANSFORMS.get("PackBrainInputs").__name__, '
        'FUNCTIONS.get("mmbrain.brain_collate").__name__, MODELS.get("mmbrain.BrainformerPretrainer").__name__)'
    )
    assert out.split() == ['NSDDataset', 'PackBrainInputs', 'brain_collate', 'BrainformerPretrainer']


def test_importing_mmbrain_changes_nothing_global():
    out = _run(
        'import sys; finders = list(sys.meta_path); import mmbrain, mmbrain.utils; '
        'print(sys.meta_path == finders); import torch; from mmengine.runner.checkpoint import CheckpointLoader; '
        'print([str(g) for g in torch.serialization.get_safe_globals() if "mmengine" in str(g)]); '
        'print(CheckpointLoader._schemes["http://"].__module__)'
    )
    assert out.split('\n')[:3] == ['True', '[]', 'mmengine.runner.checkpoint']


def test_checkpoint_types_allowed_when_torch_comes_after_mmbrain(tmp_path):
    ckpt = tmp_path / 'hub.pth'
    _run(
        'import torch; from mmengine.logging import HistoryBuffer; buf = HistoryBuffer(); buf.update(1.0); '
        f'buf.update(2.0); torch.save(dict(message_hub=dict(loss=buf)), {str(ckpt)!r})'
    )
    out = _run(
        'import mmbrain; mmbrain.register_all_modules(); import torch; '
        f'print(torch.load({str(ckpt)!r}, weights_only=True)["message_hub"]["loss"].mean())'
    )
    assert float(out) == 1.5
