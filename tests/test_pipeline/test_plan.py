# Copyright (c) mmbrain contributors. All rights reserved.
"""The plan of the end-to-end job, checked without running its stages."""

import os.path as osp
from typing import Dict, List, Set

import pytest

from mmbrain.pipeline import build_stages, nsd_plan, synthetic_plan
from mmbrain.pipeline.plan import BACKBONE_FILE, RIDGE_FILE, TEST_METRICS_FILE
from mmbrain.pipeline.stages import Checkpoint, GeneratedConfig, Out, Stage

INITS = ['brainformer', 'clip', 'wo-bfg', 'bfg-printed']


def _by_name(stages: List[Stage]) -> Dict[str, Stage]:
    return {stage.name: stage for stage in stages}


def _dependants(stages: List[Stage], name: str) -> Set[str]:
    """Every stage that reads ``name``, directly or not."""
    out = {name}
    for stage in stages:
        if out & set(stage.inputs):
            out.add(stage.name)
    return out - {name}


@pytest.fixture
def demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan()
    return plan, build_stages(plan)


def test_demo_runs_every_initialisation_on_every_task(demo):
    _, stages = demo
    names = [stage.name for stage in stages]
    expected = ['world', 'convert', 'seg_majority-class']
    expected += [f'seed0/{kind}_{init}' for init in INITS for kind in ('pretrain', 'backbone')]
    expected += [f'seed0/{task}_{init}' for task in ('det', 'seg') for init in ('random-init', 'clip', 'brainformer')]
    for init in ['random-init'] + INITS:
        expected += [f'seed0/encoding_{init}', f'seed0/ridge_{init}']
    expected.append('seed0/gradcam')
    assert sorted(names) == sorted(expected)
    assert len(names) == len(set(names))


def test_each_stage_reads_only_its_own_inputs(demo):
    _, stages = demo
    by_name = _by_name(stages)
    assert by_name['convert'].inputs == ['world']
    assert by_name['seed0/pretrain_clip'].inputs == ['world', 'convert']
    assert by_name['seed0/det_clip'].inputs == ['world', 'convert', 'seed0/backbone_clip']
    assert by_name['seed0/det_random-init'].inputs == ['world', 'convert']
    # a change to the CLIP pretraining reruns the CLIP rows and the Grad-CAM figure, nothing else
    assert _dependants(stages, 'seed0/pretrain_clip') == {
        'seed0/backbone_clip',
        'seed0/det_clip',
        'seed0/seg_clip',
        'seed0/encoding_clip',
        'seed0/ridge_clip',
        'seed0/gradcam',
    }
    assert _dependants(stages, 'seed0/backbone_wo-bfg') == {'seed0/encoding_wo-bfg', 'seed0/ridge_wo-bfg'}
    assert len(_dependants(stages, 'world')) == len(stages) - 1


def test_training_stages_generate_their_config(demo):
    plan, stages = demo
    by_name = _by_name(stages)
    det = by_name['seed0/det_brainformer']
    assert det.seed == 0 and det.config.overrides == {
        'randomness.seed': 0,
        'model.backbone.init_cfg.checkpoint': osp.join(plan.work_dir, 'seed0', 'backbone_brainformer', BACKBONE_FILE),
    }
    assert osp.basename(det.config.file).startswith('mask-rcnn_convnext-mini-brainformer-pre_fpn_')
    assert osp.basename(by_name['seed0/det_clip'].config.file).startswith('mask-rcnn_convnext-mini-clip-pre_')
    assert osp.basename(by_name['seed0/encoding_wo-bfg'].config.file).startswith(
        'voxel-readout_convnext-mini-brainformer-pre_'
    )
    assert 'model.backbone.init_cfg.checkpoint' not in by_name['seed0/seg_random-init'].config.overrides
    assert det.commands[0][0:2][1].endswith(osp.join('mmdet', '.mim', 'tools', 'train.py'))
    assert det.commands[0][2:] == [GeneratedConfig(), '--work-dir', Out()]
    assert by_name['seed0/seg_clip'].commands[0][1].endswith(osp.join('mmseg', '.mim', 'tools', 'train.py'))
    assert by_name['seed0/pretrain_brainformer'].commands[0][1].endswith(osp.join('tools', 'train.py'))


def test_encoding_is_scored_once_on_the_test_split_and_beside_ridge(demo):
    _, stages = demo
    by_name = _by_name(stages)
    encoding = by_name['seed0/encoding_clip']
    train, test = encoding.commands
    assert test[1].endswith(osp.join('tools', 'test.py'))
    assert test[2:] == [GeneratedConfig(), Checkpoint(), '--work-dir', Out('test'), '--out', Out(TEST_METRICS_FILE)]
    assert encoding.config.overrides['test_evaluator.voxelwise_file'] == Out('voxelwise.npz')
    ridge = by_name['seed0/ridge_clip']
    assert ridge.commands[0][1].endswith(osp.join('tools', 'analysis_tools', 'fit_ridge_encoding.py'))
    assert ridge.commands[0][-2:] == ['--out', Out(RIDGE_FILE)]
    assert '--checkpoint' in ridge.commands[0] and '--checkpoint' not in by_name['seed0/ridge_random-init'].commands[0]
    assert ridge.inputs == encoding.inputs  # the ridge fit reads the backbone, not the trained readout


def test_gradcam_rows_follow_fig6(demo):
    _, stages = demo
    gradcam = _by_name(stages)['seed0/gradcam']
    cmd = gradcam.commands[0]
    labels = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == '--model']
    assert labels == ['random init', 'CLIP', 'w/o guidance loss', 'printed Eq. 6', 'Brainformer']
    assert Checkpoint('seed0/pretrain_clip') in cmd and set(gradcam.inputs) >= {f'seed0/pretrain_{i}' for i in INITS}


def test_seeds_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan(seeds=[0, 1, 2], table3=True)
    stages = build_stages(plan)
    names = [stage.name for stage in stages]
    assert names.count('world') == 1 and names.count('convert') == 1
    for seed in (0, 1, 2):
        pretrain = _by_name(stages)[f'seed{seed}/pretrain_brainformer']
        assert pretrain.seed == seed and pretrain.config.overrides == {'randomness.seed': seed}
        assert pretrain.root == str(tmp_path / 'work_dirs' / 'demo' / f'seed{seed}')
        assert f'seed{seed}/encoding_learned-pos-embed' in names and f'seed{seed}/ridge_learned-pos-embed' in names
    assert [n for n in names if n.endswith('gradcam')] == ['seed0/gradcam']
    per_seed = sum(name.startswith('seed1/') for name in names)
    assert len(names) == 3 + 3 * per_seed + 1  # world, convert, seg_majority-class; the seeds; Grad-CAM


def test_guidance_ablations_can_make_room(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stages = _by_name(build_stages(synthetic_plan(guidance_ablations=False)))
    assert not [name for name in stages if 'bfg' in name]
    cmd = stages['seed0/gradcam'].commands[0]
    assert [cmd[i + 1] for i, arg in enumerate(cmd) if arg == '--model'] == ['random init', 'CLIP', 'Brainformer']


def test_nsd_plan_launchers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stages = _by_name(build_stages(nsd_plan('data/nsd', gpus=8)))
    assert 'world' not in stages and stages['convert'].inputs == []
    assert stages['convert'].output_dir == str(tmp_path / 'data' / 'nsd' / 'mmbrain')
    pretrain = stages['seed0/pretrain_brainformer'].commands[0]
    assert pretrain[0] == 'bash' and pretrain[1].endswith(osp.join('tools', 'dist_train.sh')) and pretrain[3] == '8'
    det = stages['seed0/det_clip'].commands[0]
    assert det[1:4] == ['-m', 'torch.distributed.run', '--nproc_per_node=8'] and '--launcher' in det
    assert osp.basename(stages['seed0/det_clip'].config.file) == 'mask-rcnn_convnext-s-clip-pre_fpn_8xb2-1x_coco.py'
    swin = _by_name(build_stages(nsd_plan('data/nsd', gpus=1, backbone='swin-s')))
    assert osp.basename(swin['seed0/pretrain_clip'].config.file) == 'clip_swin-s_8xb64-coslr-100e_nsd.py'
    assert swin['seed0/det_brainformer'].commands[0][1].endswith(osp.join('mmdet', '.mim', 'tools', 'train.py'))
    with pytest.raises(ValueError, match='convnext-s or swin-s'):
        nsd_plan('data/nsd', backbone='resnet')


def test_every_file_the_plans_run_exists(demo, tmp_path):
    """Configs and tools of every plan are in the repository (the runner refuses to start otherwise)."""
    missing = set()
    for plan in (
        demo[0],
        synthetic_plan(seeds=[0, 1], table3=True),
        nsd_plan('data/nsd'),
        nsd_plan('data/nsd', backbone='swin-s'),
    ):
        for stage in build_stages(plan):
            missing |= set(stage.missing_files())
    assert not missing, sorted(missing)


@pytest.mark.parametrize(
    'name',
    [
        'seed0/pretrain_clip',
        'seed0/det_brainformer',
        'seed0/seg_clip',
        'seed0/encoding_brainformer',
        'seed0/ridge_random-init',
    ],
)
def test_generated_configs_load_and_carry_the_overrides(demo, tmp_path, name):
    """A generated config (``_base_`` + literals) loads with mmengine, its overrides merged into the config: a
    Pretrained init_cfg keeps its type and prefix, the test evaluator keeps its metric."""
    from mmengine.config import Config

    from mmbrain.pipeline.stages import RunContext

    stage = _by_name(demo[1])[name]
    generated = tmp_path / osp.basename(stage.config.file)
    generated.write_text(stage.config.render(stage.name, RunContext(str(tmp_path), {})))
    cfg = Config.fromfile(str(generated), import_custom_modules=False)
    assert cfg.randomness.seed == 0
    checkpoint = stage.config.overrides.get('model.backbone.init_cfg.checkpoint')
    if checkpoint is not None:
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
    if 'test_evaluator.voxelwise_file' in stage.config.overrides:
        assert cfg.test_evaluator.voxelwise_file == str(tmp_path / 'voxelwise.npz')
        assert cfg.test_evaluator.type == 'BrainEncodingMetric'
