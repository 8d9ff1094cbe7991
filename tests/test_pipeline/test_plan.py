# Copyright (c) mmbrain contributors. All rights reserved.
"""The plan of the end-to-end job, checked without running its stages."""

import os.path as osp
from typing import Dict, List, Set

import pytest

from mmbrain.pipeline import build_stages, nsd_plan, synthetic_plan
from mmbrain.pipeline.plan import BACKBONE_FILE, RIDGE_FILE, TEST_METRICS_FILE
from mmbrain.pipeline.stages import Checkpoint, GeneratedConfig, Out, Stage

INITS = ['brainformer', 'wo-bfg', 'bfg-printed', 'wo-bfg-lcon1.0', 'shuffled', 'clip']
#: Initialisations that run every downstream task (the ablations run the encoding tasks only).
CONTROLS = ['random-init', 'shuffled', 'clip', 'brainformer']
ENCODING = ['encoding', 'encoding-spatial']


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
    expected += [f'seed0/{task}_{init}' for task in ['det', 'seg'] + ENCODING for init in CONTROLS]
    expected += [f'seed0/{task}_{init}' for task in ENCODING for init in INITS if init not in CONTROLS]
    expected += [f'seed0/ridge_{init}' for init in ['random-init'] + INITS]
    expected.append('seed0/gradcam')
    assert sorted(names) == sorted(expected)
    assert len(names) == len(set(names))


def test_stages_have_handles_by_seed_kind_and_initialisation(demo):
    plan, stages = demo
    assert stages.get(0, 'det', 'shuffled').name == 'seed0/det_shuffled'
    assert stages.get(None, 'convert').output_dir == plan.converted_dir
    assert stages.get(None, 'seg_majority-class').output_dir == osp.join(plan.work_dir, 'seg_majority-class')
    assert stages.get(0, 'encoding', 'clip').output_dir == osp.join(plan.seed_dir(0), 'encoding_clip')
    assert stages.get(0, 'det', 'wo-bfg') is None  # the ablations run the encoding tasks only
    assert list(stages) == list(stages.handles.values())


def test_the_shuffled_control_is_brainformer_with_the_pairing_destroyed(demo):
    plan, stages = demo
    shuffled, main = stages.get(0, 'pretrain', 'shuffled'), stages.get(0, 'pretrain', 'brainformer')
    assert (
        osp.basename(shuffled.config.file) == 'brainformer_convnext-mini_shuffled-pairing_1xb32-600i_synthetic-demo.py'
    )
    # each training seed draws its own derangement, as the config asks
    assert shuffled.config.overrides == {'randomness.seed': 0, 'train_dataloader.dataset.pairing_seed': 0}
    assert main.config.overrides == {'randomness.seed': 0}
    assert osp.basename(stages.get(0, 'det', 'shuffled').config.file).startswith(
        'mask-rcnn_convnext-mini-brainformer-pre_'
    )
    init = plan.initialisation('shuffled')
    assert init.label == 'shuffled pairing' and set(init.tasks) >= {'det', 'seg', 'encoding'}
    assert ('brainformer', 'shuffled') in {(c.a, c.b) for c in plan.comparisons()}


def test_each_stage_reads_only_its_own_inputs(demo):
    _, stages = demo
    by_name = _by_name(stages)
    assert by_name['convert'].inputs == ['world']
    assert by_name['seed0/pretrain_clip'].inputs == ['world', 'convert']
    # Mask R-CNN and UperNet read COCO / ADE, never the converted NSD data: a reconversion does not rerun them
    assert by_name['seed0/det_clip'].inputs == ['world', 'seed0/backbone_clip']
    assert by_name['seed0/det_random-init'].inputs == ['world']
    assert by_name['seg_majority-class'].inputs == ['world']
    assert by_name['seed0/encoding_clip'].inputs == ['world', 'convert', 'seed0/backbone_clip']
    # a change to the CLIP pretraining reruns the CLIP rows and the Grad-CAM figure, nothing else
    assert _dependants(stages, 'seed0/pretrain_clip') == {
        'seed0/backbone_clip',
        'seed0/det_clip',
        'seed0/seg_clip',
        'seed0/encoding_clip',
        'seed0/encoding-spatial_clip',
        'seed0/ridge_clip',
        'seed0/gradcam',
    }
    assert _dependants(stages, 'seed0/backbone_wo-bfg') == {
        'seed0/encoding_wo-bfg',
        'seed0/encoding-spatial_wo-bfg',
        'seed0/ridge_wo-bfg',
    }
    assert {'seed0/det_random-init', 'seed0/seg_random-init', 'seg_majority-class'}.isdisjoint(
        _dependants(stages, 'convert')
    )
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
    assert {stage.gpus for stage in stages} == {0}  # the synthetic world runs on CPU cores
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
    assert labels == ['random init', 'w/o guidance loss', 'printed Eq. 6', 'shuffled pairing', 'CLIP', 'Brainformer']
    assert cmd[-4:] == ['--out', Out('gradcam.png'), '--sanity-out', Out('gradcam_sanity.json')]
    assert Checkpoint('seed0/pretrain_clip') in cmd and set(gradcam.inputs) >= {
        f'seed0/pretrain_{i}' for i in INITS if i != 'wo-bfg-lcon1.0'
    }


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
        assert _by_name(stages)[f'seed{seed}/pretrain_shuffled'].config.overrides == {
            'randomness.seed': seed,
            'train_dataloader.dataset.pairing_seed': seed,
        }
        # Table 3 and both readings of "w/o guidance loss" (λ_con 0.5 and 1.0), on both encoding readouts
        for init in ('learned-pos-embed', 'printed-windows', 'wo-bfg', 'wo-bfg-lcon1.0', 'bfg-printed'):
            for kind in ('encoding', 'encoding-spatial', 'ridge'):
                assert f'seed{seed}/{kind}_{init}' in names, (kind, init)
    assert [n for n in names if n.endswith('gradcam')] == ['seed0/gradcam']
    per_seed = sum(name.startswith('seed1/') for name in names)
    assert len(names) == 3 + 3 * per_seed + 1  # world, convert, seg_majority-class; the seeds; Grad-CAM


def test_guidance_ablations_can_make_room(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stages = _by_name(build_stages(synthetic_plan(guidance_ablations=False)))
    assert not [name for name in stages if 'bfg' in name]
    cmd = stages['seed0/gradcam'].commands[0]
    labels = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == '--model']
    assert labels == ['random init', 'shuffled pairing', 'CLIP', 'Brainformer']


def test_ablations_chosen_one_by_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan(seeds=[0, 1], ablations=['printed-windows', 'wo-bfg-lcon1.0'])
    assert [init.key for init in plan.pretrain] == [
        'brainformer',
        'wo-bfg-lcon1.0',
        'printed-windows',
        'shuffled',
        'clip',
    ]
    names = _by_name(build_stages(plan))
    assert 'seed1/encoding_printed-windows' in names and not [n for n in names if n.endswith('_wo-bfg')]
    assert [i.key for i in nsd_plan('data/nsd', ablations=['wo-bfg']).pretrain] == [
        'brainformer',
        'wo-bfg',
        'shuffled',
        'clip',
    ]
    with pytest.raises(ValueError, match='no ablation nonsense; the ablations are wo-bfg, '):
        synthetic_plan(ablations=['nonsense'])


def test_tasks_chosen_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan(seeds=[0, 1], task_names=['encoding', 'det'])
    assert [task.name for task in plan.tasks] == ['det', 'encoding']
    names = _by_name(build_stages(plan))
    assert 'seed1/det_shuffled' in names and 'seed1/ridge_clip' in names
    assert not [n for n in names if n.startswith(('seed0/seg', 'seed0/encoding-spatial', 'seg_majority'))]
    with pytest.raises(ValueError, match='no task encoding-spatial; the tasks are det, seg, encoding'):
        nsd_plan('data/nsd', task_names=['encoding-spatial'])


def test_nsd_plan_launchers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = nsd_plan('data/nsd', gpus=8)
    stages = _by_name(build_stages(plan))
    assert 'world' not in stages and stages['convert'].inputs == []
    # converted outside the NSD folder (a read-only NSD copy works), with the converter's warnings and progress
    assert stages['convert'].output_dir == str(tmp_path / 'work_dirs' / 'nsd' / 'converted')
    assert '--quiet' not in stages['convert'].commands[0]
    pretrain = stages['seed0/pretrain_brainformer']
    assert pretrain.commands[0][0] == 'bash' and pretrain.commands[0][1].endswith(osp.join('tools', 'dist_train.sh'))
    assert pretrain.commands[0][3] == '8'
    assert pretrain.config.overrides['train_dataloader.dataset.data_root'] == plan.converted_dir
    assert 'train_dataloader.dataset.stimuli_file' not in pretrain.config.overrides  # data/nsd: where configs read
    det = stages['seed0/det_clip']
    assert (
        det.commands[0][1:4] == ['-m', 'torch.distributed.run', '--nproc_per_node=8']
        and '--launcher' in det.commands[0]
    )
    assert osp.basename(det.config.file) == 'mask-rcnn_convnext-s-clip-pre_fpn_8xb2-1x_coco.py'
    assert det.inputs == ['seed0/backbone_clip'] and 'train_dataloader.dataset.data_root' not in det.config.overrides
    # the 1xb64 readout runs on one GPU, as its config is tuned (no learning-rate scaling needed)
    assert (pretrain.gpus, det.gpus, stages['seed0/encoding_brainformer'].gpus, stages['convert'].gpus) == (8, 8, 1, 0)
    gradcam = stages['seed0/gradcam']  # its stimuli from where the plan keeps the converted data
    assert gradcam.commands[0][-2:] == ['--data-config', GeneratedConfig()]
    assert gradcam.config.overrides['val_dataloader.dataset.data_root'] == plan.converted_dir
    assert stages['seed0/encoding_brainformer'].commands[0][1].endswith(osp.join('tools', 'train.py'))
    assert stages['seed0/encoding_brainformer'].inputs == ['convert', 'seed0/backbone_brainformer']
    assert osp.basename(stages['seed0/pretrain_shuffled'].config.file) == (
        'brainformer_convnext-s_shuffled-pairing_8xb64-coslr-100e_nsd.py'
    )
    swin = _by_name(build_stages(nsd_plan('data/nsd', gpus=1, backbone='swin-s')))
    assert osp.basename(swin['seed0/pretrain_clip'].config.file) == 'clip_swin-s_8xb64-coslr-100e_nsd.py'
    assert swin['seed0/det_brainformer'].commands[0][1].endswith(osp.join('mmdet', '.mim', 'tools', 'train.py'))
    with pytest.raises(ValueError, match='convnext-s or swin-s'):
        nsd_plan('data/nsd', backbone='resnet')


def test_nsd_plan_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = nsd_plan('/data/nsd-ro', table3=True, guidance_ablations=True, convert_args=['--betas-version', 'b2'])
    stages = _by_name(build_stages(plan))
    assert stages['convert'].commands[0][-2:] == ['--betas-version', 'b2']
    # what no stage writes enters the identities: the NSD files the converter and the trainings read
    assert stages['convert'].reads == ['/data/nsd-ro/nsddata', '/data/nsd-ro/nsddata_betas']
    stimuli = '/data/nsd-ro/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5'
    assert stages['seed0/pretrain_clip'].reads == [stimuli] and stages['seed0/encoding_clip'].reads == [stimuli]
    assert stages['seed0/det_clip'].reads == [] and stages['seed0/backbone_clip'].reads == []
    for key in ('wo-bfg', 'bfg-printed', 'wo-bfg-lcon1.0', 'learned-pos-embed', 'printed-windows'):
        config = stages[f'seed0/pretrain_{key}'].config.file
        assert config.endswith(f'configs/pretrain/ablations/brainformer_convnext-s_{key}_8xb64-coslr-100e_nsd.py')
        assert f'seed0/encoding_{key}' in stages
    assert stages['seed0/pretrain_brainformer'].config.overrides['val_dataloader.dataset.stimuli_file'] == (
        '/data/nsd-ro/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5'
    )
    with pytest.raises(ValueError, match='no swin-s config for the ablations'):
        nsd_plan('data/nsd', backbone='swin-s', table3=True)
    # a conversion made beforehand: no convert stage, its folder read as is
    handmade = _by_name(build_stages(nsd_plan('data/nsd', converted='conv')))
    assert 'convert' not in handmade and handmade['seed0/encoding_clip'].inputs == ['seed0/backbone_clip']
    assert handmade['seed0/ridge_clip'].reads[-1] == str(tmp_path / 'conv')  # its files' sizes and times
    assert handmade['seed0/pretrain_clip'].config.overrides['train_dataloader.dataset.data_root'] == str(
        tmp_path / 'conv'
    )
    with pytest.raises(ValueError, match='not both'):
        nsd_plan('data/nsd', converted='a', converted_root='b')


def test_world_arguments_are_part_of_the_world_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world = _by_name(build_stages(synthetic_plan(world_args=['--snr', '0'])))['world']
    generate = world.commands[0]
    assert generate[1].endswith('make_synthetic_nsd.py') and generate[-2:] == ['--snr', '0']
    assert world.declaration(None) != _by_name(build_stages(synthetic_plan()))['world'].declaration(None)


def test_every_file_the_plans_run_exists(demo, tmp_path):
    """Configs and tools of every plan are in the repository (the runner refuses to start otherwise)."""
    missing = set()
    for plan in (
        demo[0],
        synthetic_plan(seeds=[0, 1], table3=True),
        nsd_plan('data/nsd', table3=True, guidance_ablations=True),
        nsd_plan('data/nsd', backbone='swin-s'),
    ):
        for stage in build_stages(plan):  # the native data (NSD) is the user's, not the repository's
            missing |= {path for path in stage.missing_files() if not path.startswith(plan.data_root + osp.sep)}
    assert not missing, sorted(missing)


@pytest.mark.parametrize(
    'name',
    [
        'seed0/pretrain_clip',
        'seed0/det_brainformer',
        'seed0/seg_clip',
        'seed0/encoding_brainformer',
        'seed0/ridge_random-init',
        'seed0/pretrain_shuffled',
        'seed0/encoding-spatial_clip',
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
    for key, value in stage.config.overrides.items():  # every plain override (the shuffled pairing's seed, ...)
        if isinstance(value, (int, str)):
            node = cfg
            for part in key.split('.'):
                node = node[part]
            assert node == value, key
    checkpoint = stage.config.overrides.get('model.backbone.init_cfg.checkpoint')
    if checkpoint is not None:
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
    if 'test_evaluator.voxelwise_file' in stage.config.overrides:
        assert cfg.test_evaluator.voxelwise_file == str(tmp_path / 'voxelwise.npz')
        assert cfg.test_evaluator.type == 'BrainEncodingMetric'


def test_what_the_world_decides_by_construction_is_declared_per_comparison(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    comparisons = {(c.a, c.b): c for c in synthetic_plan(table3=True).comparisons()}
    assert comparisons[('brainformer', 'shuffled')].by_construction['encoding'].startswith('decided by construction')
    assert comparisons[('brainformer', 'shuffled')].by_construction['det'].startswith('not decided')
    # an ablation against the control is decided like Brainformer against it
    assert (
        comparisons[('printed-windows', 'shuffled')].by_construction
        == comparisons[('brainformer', 'shuffled')].by_construction
    )
    assert comparisons[('brainformer', 'wo-bfg')].by_construction['retrieval'].startswith('not decided')
    # another world (the null world) makes no claim of the default one
    null = {(c.a, c.b): c for c in synthetic_plan(world_args=['--snr', '0']).comparisons()}
    assert (
        null[('brainformer', 'shuffled')]
        .by_construction['encoding']
        .startswith('made with the world options `--snr 0`')
    )
    assert all(not c.by_construction for c in nsd_plan('data/nsd').comparisons())  # real data: nothing built in
