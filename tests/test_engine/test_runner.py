# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainRunner: pretrained weights that do not fit, and checkpoints that cannot be resumed, stop the run with the
file named (mmengine would warn, or fail with a bare KeyError, and train on)."""

import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

from mmbrain.utils.checkpoint import CheckpointError, check_pretrained_init

from ._toy_runner import DivergesAt


class Backbone(BaseModule):
    def __init__(self, width=4, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.stem = nn.Conv2d(3, width, 1)
        self.stage = nn.Sequential(nn.Conv2d(width, width, 1), nn.BatchNorm2d(width))
        self.out_norm = nn.BatchNorm2d(width)  # a part that downstream models add (e.g. a multi-scale norm)


class Net(BaseModule):
    def __init__(self, checkpoint, width=4):
        super().__init__()
        self.backbone = Backbone(width, init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.'))
        self.head = nn.Linear(width, 2)


def _pretrained(tmp_path, edit=None, width=4):
    """A pretraining checkpoint (``backbone.`` and ``neck.`` weights) of a Backbone without ``out_norm``."""
    state = {f'backbone.{k}': v for k, v in Backbone(width).state_dict().items() if not k.startswith('out_norm')}
    state['neck.weight'] = torch.zeros(3)  # not under the prefix: ignored, as PretrainedInit ignores it
    if edit:
        edit(state)
    path = tmp_path / 'pretrained.pth'
    torch.save(dict(state_dict=state), path)
    return str(path), state


def test_a_fitting_checkpoint_passes_and_new_parts_keep_their_init(tmp_path):
    path, state = _pretrained(tmp_path)
    net = Net(path)
    net.init_weights()
    assert check_pretrained_init(net) == [path]
    torch.testing.assert_close(net.backbone.stem.weight, state['backbone.stem.weight'])


@pytest.mark.parametrize(
    'edit, kind',
    [
        (lambda s: s.update({'backbone.stem.weight': torch.zeros(8, 3, 1, 1)}), 'shape mismatches'),
        (lambda s: s.update({'backbone.blocks.0.weight': torch.zeros(1)}), 'unexpected keys'),
        (lambda s: s.pop('backbone.stage.1.weight'), 'missing keys'),  # a part the checkpoint has, incomplete
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path, edit, kind):
    path, _ = _pretrained(tmp_path, edit)
    net = Net(path)
    net.init_weights()  # mmengine: a warning, and random weights where they did not fit
    with pytest.raises(CheckpointError, match=rf'pretrained.pth \(init_cfg of backbone, Backbone.*: .*\d+ {kind}'):
        check_pretrained_init(net)


def test_weights_overwritten_after_loading_are_refused(tmp_path):
    path, _ = _pretrained(tmp_path)
    net = Net(path)
    net.init_weights()
    with torch.no_grad():
        net.backbone.stem.weight.add_(1)
    with pytest.raises(CheckpointError, match=r'1 weights not received \(stem.weight\)'):
        check_pretrained_init(net)


def _runner(work_dir, **kwargs):
    from torch.utils.data import DataLoader

    from mmbrain.engine import BrainRunner

    from ._toy_runner import _Ones

    return BrainRunner(
        model=DivergesAt(),
        work_dir=str(work_dir),
        train_dataloader=DataLoader(_Ones(), batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmbrain',
        log_level='WARNING',
        **kwargs,
    )


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('trained')
    _runner(work_dir).train()
    return work_dir / 'iter_4.pth'


@pytest.mark.slow
@pytest.mark.parametrize(
    'edit, message',
    [
        (lambda c: c.update(state_dict={}), 'no state_dict of weights'),
        (lambda c: c.update(state_dict={'encoder.w': torch.ones(1)}), '1 missing keys (w); 1 unexpected keys'),
        (lambda c: c.update(state_dict={'w': torch.ones(3)}), '1 shape mismatches (w: checkpoint (3,), model (1,))'),
        (lambda c: c.update(optimizer={}), 'no optimizer state (param_groups, state)'),
        (lambda c: c.pop('message_hub'), 'no message_hub'),
    ],
)
def test_resume_refuses_what_it_cannot_resume(trained, tmp_path, edit, message):
    from mmbrain.utils import load_checkpoint_safely

    ckpt = load_checkpoint_safely(str(trained))
    edit(ckpt)
    path = tmp_path / 'edited.pth'
    torch.save(ckpt, path)
    runner = _runner(tmp_path / 'work', resume=True, load_from=str(path))
    with pytest.raises(CheckpointError) as err:
        runner.train()
    assert str(err.value).startswith(f'{path}: ') and message in str(err.value)
    assert not (tmp_path / 'work' / 'iter_6.pth').exists()


@pytest.mark.slow
def test_resume_of_its_own_checkpoint(trained, tmp_path):
    runner = _runner(tmp_path / 'work', resume=True, load_from=str(trained))
    runner._train_loop = dict(type='IterBasedTrainLoop', max_iters=6)
    runner.train()
    assert runner.iter == 6


@pytest.mark.slow
def test_training_stops_when_the_pretrained_weights_do_not_fit(tmp_path):
    """The check runs in BrainRunner's weight initialisation, for any model (here a toy one)."""
    from mmengine.model import BaseModel

    path, _ = _pretrained(tmp_path, lambda s: s.update({'backbone.stem.weight': torch.zeros(8, 3, 1, 1)}))

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.net = Net(path)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return dict(loss=self.net.head.weight.sum() * 0 + inputs.sum() * 0)

    runner = _runner(tmp_path / 'work')
    runner.model = Model()
    with pytest.raises(CheckpointError, match='init_cfg of net.backbone'):
        runner.train()


@pytest.mark.slow
def test_a_work_dir_that_mmengine_would_rewrite_is_refused(tmp_path):
    """mmdet's and mmseg's tools take --work-dir as given: BrainRunner refuses what mmengine would read back changed."""
    with pytest.raises(ValueError, match=r'work_dir .*\{\{ fileDirname \}\}.* is replaced by mmengine'):
        _runner(tmp_path / '{{ fileDirname }}')
    assert not (tmp_path / '{{ fileDirname }}').exists()
