# Copyright (c) mmbrain contributors. All rights reserved.
"""mmengine checkpoints load under torch's ``weights_only=True`` default, arbitrary pickles do not, whatever the
scheme of the checkpoint's name (local, http(s), torchvision://, open-mmlab://, mmcls://, s3://)."""

import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from _checkpoint_server import save_payload, serve_folder
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

from mmbrain.utils import enable_safe_checkpoint_loading, load_checkpoint_safely, mmengine_checkpoint_types
from mmbrain.utils.checkpoint import CheckpointError


@pytest.fixture(scope='module', autouse=True)
def safe_loading():
    """The one explicit call (importing mmbrain does nothing global)."""
    enable_safe_checkpoint_loading()


class ToyModel(BaseModel):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return {'loss': out.pow(2).mean()}
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2,), float(idx)))


def make_runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='pseudo_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmengine',
        experiment_name=f'toy_{max_iters}_{len(kwargs)}_{osp.basename(str(work_dir))}',
        **kwargs,
    )


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ckpt')
    runner = make_runner(work_dir, max_iters=4)
    runner.train()
    first_losses = runner.message_hub.get_scalar('train/loss').data[0].copy()
    return work_dir, osp.join(work_dir, 'iter_4.pth'), runner.model.state_dict(), first_losses


def test_torch_defaults_to_weights_only():
    """The premise: plain torch.load refuses mmengine's checkpoint types unless they are allow-listed."""
    import inspect

    default = inspect.signature(torch.load).parameters['weights_only'].default
    assert default is None or default is True


@pytest.mark.slow
def test_allow_list_covers_what_mmengine_saves(runner_checkpoint):
    _, ckpt, _, _ = runner_checkpoint
    assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt) == []
    # Without mmbrain's allow-list the same checkpoint needs exactly the entries mmbrain adds (no more).
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(ckpt))
    finally:
        torch.serialization.add_safe_globals(saved)
    allowed = {
        entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'
        for entry in mmengine_checkpoint_types()
    }
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed
    assert needed <= allowed, f'not allow-listed: {needed - allowed}'


@pytest.mark.slow
def test_resume(runner_checkpoint, tmp_path):
    work_dir, _, _, first_losses = runner_checkpoint
    runner = make_runner(work_dir, max_iters=6, resume=True)
    runner.train()
    assert runner.iter == 6
    # The resumed run restored the message hub (HistoryBuffer with numpy arrays) of the first one: its 4 losses,
    # then 2 new ones.
    losses, _ = runner.message_hub.get_scalar('train/loss').data
    np.testing.assert_array_equal(losses[:4], first_losses)
    assert len(losses) == 6
    assert osp.exists(osp.join(work_dir, 'iter_6.pth'))


@pytest.mark.slow
def test_load_from(runner_checkpoint, tmp_path):
    _, ckpt, state, _ = runner_checkpoint
    runner = make_runner(tmp_path, max_iters=0, load_from=ckpt)
    runner.load_or_resume()
    for key, value in state.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)


@pytest.mark.slow
def test_init_cfg_pretrained(runner_checkpoint):
    _, ckpt, state, _ = runner_checkpoint
    model = ToyModel(init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    model.init_weights()
    torch.testing.assert_close(model.linear.weight, state['linear.weight'])


class ArbitraryObject:
    value = 1


class AttributeLookup:
    """Unpickling this would look up ``HistoryBuffer.__init__`` (the allowed getattr refuses all but statistics)."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        return (getattr, (HistoryBuffer, '__init__'))


@pytest.mark.parametrize('payload', ['exploit', 'object', 'getattr'])
def test_arbitrary_pickles_are_refused(tmp_path, payload):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    if payload == 'exploit':
        save_payload(path, ToyModel().state_dict(), marker)
    else:
        meta = dict(object=ArbitraryObject, getattr=AttributeLookup)[payload]()
        torch.save({'state_dict': ToyModel().state_dict(), 'meta': meta}, path)
    with pytest.raises(CheckpointError, match='evil.pth.*weights_only'):
        load_checkpoint(ToyModel(), str(path))
    with pytest.raises(ValueError, match='evil.pth'):
        load_checkpoint_safely(str(path))
    assert not marker.exists()


@pytest.mark.slow
def test_fresh_process_loads_a_runner_checkpoint(runner_checkpoint):
    """A new process (``tools/test.py``, ``--resume``) has created no HistoryBuffer before loading."""
    import subprocess
    import sys

    _, ckpt, _, _ = runner_checkpoint
    code = (
        'import torch; from mmbrain.utils import enable_safe_checkpoint_loading; enable_safe_checkpoint_loading(); '
        f'ckpt = torch.load({ckpt!r}, map_location="cpu", weights_only=True); '
        'print(sorted(ckpt["message_hub"]["log_scalars"]))'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'train/loss' in out.stdout


# ---------------------------------------------------------------------------------------------------------------
# Every scheme of mmengine's CheckpointLoader ends in the same weights_only load (mmengine's own http loader calls
# torch's hub with weights_only=False: before enable_safe_checkpoint_loading a payload URL ran its code).


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A clean and a payload checkpoint of ToyModel served from 127.0.0.1, torch's hub cache in tmp_path."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    root = tmp_path / 'served'
    root.mkdir()
    clean = ToyModel().state_dict()
    torch.save({'state_dict': clean, 'meta': dict(epoch=1)}, root / 'clean.pth')
    save_payload(root / 'evil.pth', clean, tmp_path / 'pwned')
    # an mmclassification classifier's checkpoint: mmcls:// keeps its backbone, without the prefix
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in clean.items()}}, root / 'clean_mmcls.pth')
    with serve_folder(root) as server:
        yield server, clean, tmp_path / 'pwned'


def _scheme_name(scheme, url, monkeypatch):
    """``url`` under ``scheme``: the model-name tables mmengine resolves those schemes with point at ``url``."""
    import mmengine.runner.checkpoint as mmengine_checkpoint

    if scheme == 'http':
        return url
    table = {'toy': url}
    if scheme == 'torchvision':
        monkeypatch.setattr(mmengine_checkpoint, 'get_torchvision_models', lambda: table)
    elif scheme == 'open-mmlab':
        monkeypatch.setattr(mmengine_checkpoint, 'get_external_models', lambda: table)
    elif scheme == 'mmcls':
        monkeypatch.setattr(mmengine_checkpoint, 'get_mmcls_models', lambda: table)
    return f'{scheme}://toy'


@pytest.mark.parametrize('scheme', ['http', 'torchvision', 'open-mmlab', 'mmcls'])
def test_url_schemes_load_safely(served, scheme, monkeypatch):
    server, clean, marker = served
    evil = _scheme_name(scheme, server.url + 'evil.pth', monkeypatch)
    with pytest.raises(CheckpointError, match=r'evil\.pth.*weights_only=True'):
        load_checkpoint(ToyModel(), evil)  # load_from, resume
    with pytest.raises(CheckpointError, match=r'evil\.pth'):
        ToyModel(init_cfg=dict(type='Pretrained', checkpoint=evil)).init_weights()  # init_cfg=Pretrained
    assert not marker.exists()
    good = _scheme_name(scheme, server.url + ('clean_mmcls.pth' if scheme == 'mmcls' else 'clean.pth'), monkeypatch)
    model = ToyModel()
    load_checkpoint(model, good, strict=True)
    torch.testing.assert_close(model.state_dict(), clean)


def test_s3_through_mmengines_file_backend(tmp_path, monkeypatch):
    """``s3://`` / ``petrel://`` names: the bytes come from mmengine's file backend (a stand-in for petrel)."""
    from mmengine.fileio import BaseStorageBackend
    from mmengine.fileio import io as mmengine_io
    from mmengine.fileio.backends import registry_utils

    marker = tmp_path / 'pwned'
    save_payload(tmp_path / 'evil.pth', ToyModel().state_dict(), marker)
    torch.save({'state_dict': ToyModel().state_dict()}, tmp_path / 'clean.pth')

    class Bucket(BaseStorageBackend):
        def __init__(self, **kwargs):
            pass

        def get(self, filepath):
            return (tmp_path / str(filepath).rsplit('/', 1)[-1]).read_bytes()

        def get_text(self, filepath, encoding='utf-8'):
            raise NotImplementedError

    monkeypatch.setitem(registry_utils.backends, 'petrel', Bucket)
    monkeypatch.setattr(mmengine_io, 'backend_instances', {})  # no instance of another test's backend
    with pytest.raises(CheckpointError, match='s3://bucket/evil.pth'):
        load_checkpoint(ToyModel(), 's3://bucket/evil.pth')
    assert not marker.exists()
    assert load_checkpoint_safely('open-mmlab:s3://bucket/clean.pth')['state_dict'].keys() == {
        'linear.weight',
        'linear.bias',
    }


def test_every_scheme_mmengine_knows_is_safe():
    """No loader of mmengine's CheckpointLoader is left that is not mmbrain's."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmbrain.utils.checkpoint import SAFE_SCHEMES

    assert set(CheckpointLoader._schemes) >= set(SAFE_SCHEMES)
    assert {CheckpointLoader._schemes[p] for p in SAFE_SCHEMES} == set(SAFE_SCHEMES.values())
    for prefix, loader in CheckpointLoader._schemes.items():
        assert loader in SAFE_SCHEMES.values() or loader.__name__ == '_refuse_unknown_scheme', prefix
