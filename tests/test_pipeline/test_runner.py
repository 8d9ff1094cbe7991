# Copyright (c) mmbrain contributors. All rights reserved.
"""The runner: identities that ignore where things live, final paths in published folders, fingerprints of read
files, GPUs shared by running stages, progress, the lock's hint."""

import json
import os
import os.path as osp
import shutil
import sys

import pytest

from mmbrain.pipeline.errors import PipelineError, PipelineUsageError, WorkDirLocked
from mmbrain.pipeline.executor import LocalExecutor
from mmbrain.pipeline.progress import Progress
from mmbrain.pipeline.runner import StageRunner
from mmbrain.pipeline.stages import Checkpoint, GeneratedConfig, Out, Places, Stage, StageConfig, read_record
from mmbrain.pipeline.workdir import work_dir_lock

from ._fake_pipeline import calls_of

#: A tool of the fake checkout: appends the stage folder's name to $CALLS and writes a checkpoint there.
TOOL = """import os, sys
out = sys.argv[1]
open(os.environ["CALLS"], "a").write(os.path.basename(out) + "\\n")
open(os.path.join(out, "iter_1.pth"), "w").write("w")
"""
CONFIG = "data_root = ''\nmodel = dict(init='')\nhere = '{{ fileDirname }}'\n"


def _quiet(_):
    pass


def _checkout(top):
    """A fake checkout under ``top``: one tool and one config."""
    os.makedirs(top / 'checkout' / 'tools')
    os.makedirs(top / 'checkout' / 'configs')
    (top / 'checkout' / 'tools' / 'tool.py').write_text(TOOL)
    (top / 'checkout' / 'configs' / 'c.py').write_text(CONFIG)


def _stages(top, python):
    """world (in a data folder beside the work dir) -> train (a config naming paths of both) -> use."""
    tool, work, world = str(top / 'checkout' / 'tools' / 'tool.py'), str(top / 'work'), str(top / 'data' / 'world')
    overrides = {'data_root': world, 'model.init': osp.join(work, 'world_copy', 'x.pth')}
    return [
        Stage('world', 'data', [[python, tool, Out()]], root=str(top / 'data')),
        Stage(
            'train',
            'train',
            [[python, tool, Out(), '--config', GeneratedConfig(), f'--data={world}']],
            root=work,
            inputs=['world'],
            config=StageConfig(str(top / 'checkout' / 'configs' / 'c.py'), overrides),
        ),
        Stage('use', 'use', [[python, tool, Out(), Checkpoint('train')]], root=work, inputs=['train']),
    ]


@pytest.mark.slow
def test_moved_checkout_and_work_dir_and_another_interpreter_path_reuse_every_stage(tmp_path, monkeypatch):
    calls = str(tmp_path / 'calls.txt')
    monkeypatch.setenv('CALLS', calls)
    first, second = tmp_path / 'first', tmp_path / 'elsewhere' / 'second'
    _checkout(first)
    StageRunner(_stages(first, sys.executable), str(first / 'work'), log=_quiet, repo=str(first / 'checkout')).run()
    assert calls_of(calls) == ['world.partial', 'train.partial', 'use.partial']
    os.remove(calls)

    os.makedirs(second.parent)
    shutil.move(str(first), str(second))  # checkout, work dir and data folder, elsewhere
    # The same interpreter by another path (a venv's python3 beside its python, or a link to it).
    other = osp.join(osp.dirname(sys.executable), 'python3' if osp.basename(sys.executable) != 'python3' else 'python')
    if not osp.exists(other):
        other = str(tmp_path / 'python')
        os.symlink(sys.executable, other)
    monkeypatch.setattr(sys, 'executable', other)
    runner = StageRunner(_stages(second, other), str(second / 'work'), log=_quiet, repo=str(second / 'checkout'))
    assert [(d.run, d.reason) for d in runner.decide()] == [(False, 'unchanged')] * 3
    runner.run()
    assert calls_of(calls) == []


@pytest.mark.slow
def test_identity_holds_the_library_versions(tmp_path, monkeypatch):
    monkeypatch.setenv('CALLS', str(tmp_path / 'calls.txt'))
    _checkout(tmp_path)
    stages = _stages(tmp_path, sys.executable)
    StageRunner(stages, str(tmp_path / 'work'), log=_quiet, repo=str(tmp_path / 'checkout')).run()
    record = read_record(str(tmp_path / 'work' / 'train'))
    assert set(record['versions']) == {'torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain', 'mmbrain'}
    assert record['commands'][0][:2] == ['{python}', '{repo}/tools/tool.py']
    assert record['commands'][0][-1] == '--data={folder of world}'
    from mmbrain.pipeline import runner as runner_module

    versions = dict(record['versions'], torch='0.0.1')
    monkeypatch.setattr(runner_module, 'library_versions', lambda: versions)
    decisions = StageRunner(stages, str(tmp_path / 'work'), log=_quiet, repo=str(tmp_path / 'checkout')).decide()
    assert [d.run for d in decisions] == [True, True, True]
    assert f'torch {record["versions"]["torch"]} -> 0.0.1' in decisions[0].reason


def test_places_replace_whole_paths_only():
    places = Places({'/w/demo': '{work_dir}', '/w/demo/seed0/a': '{folder of a}', '/usr/bin/python3': '{python}'})
    assert places.portable(['/w/demo/seed0/a/x.pth', '/w/demo2/x', '--out=/w/demo', '/usr/bin/python3']) == [
        '{folder of a}/x.pth',
        '/w/demo2/x',
        '--out={work_dir}',
        '{python}',
    ]
    assert places.portable({'k': ('/w/demo/b', 3)}) == {'k': ['{work_dir}/b', 3]}


@pytest.mark.slow
def test_published_folders_hold_their_final_paths(tmp_path):
    """The dumped config and the results' JSON name the published folder, never NAME.partial (last_checkpoint:
    test_stages.py)."""
    work = str(tmp_path / 'work dir')
    write = (
        'import json, os, sys; from mmengine.config import Config; out = sys.argv[1]; '
        'Config(dict(work_dir=out, test_evaluator=dict(voxelwise_file=os.path.join(out, "v.npz")))).dump('
        'os.path.join(out, "enc.py")); os.makedirs(os.path.join(out, "brain_maps")); '
        'json.dump(dict(voxelwise_file=os.path.join(out, "v.npz")), open(os.path.join(out, "brain_maps", "maps.json"), '
        '"w"))'
    )
    StageRunner([Stage('enc', 'x', [[sys.executable, '-c', write, Out()]], root=work)], work, log=_quiet).run()
    final = osp.join(work, 'enc')
    from mmengine.config import Config

    dumped = Config.fromfile(osp.join(final, 'enc.py'))
    assert dumped.work_dir == final and dumped.test_evaluator.voxelwise_file == osp.join(final, 'v.npz')
    with open(osp.join(final, 'brain_maps', 'maps.json')) as f:
        assert json.load(f)['voxelwise_file'] == osp.join(final, 'v.npz')
    with open(osp.join(final, 'stage.log')) as f:  # the log keeps the path the command really had
        assert final + '.partial' in f.read()


@pytest.mark.slow
def test_a_changed_or_deleted_read_file_reruns_the_stage(tmp_path):
    work, native = str(tmp_path / 'work'), tmp_path / 'nsd'
    (native / 'betas').mkdir(parents=True)
    for name in ('session01.nii.gz', 'session02.nii.gz'):
        (native / 'betas' / name).write_bytes(b'12345')
    calls = str(tmp_path / 'calls.txt')
    code = f'open({calls!r}, "a").write("convert\\n")'
    stages = [Stage('convert', 'c', [[sys.executable, '-c', code]], root=work, reads=[str(native)])]

    def run():
        StageRunner(stages, work, log=_quiet).run()
        done = calls_of(calls)
        os.remove(calls) if done else None
        return done

    assert run() == ['convert']
    assert run() == []
    (native / 'betas' / 'session02.nii.gz').write_bytes(b'123456')  # changed
    reason = StageRunner(stages, work, log=_quiet).decide()[0].reason
    assert reason.startswith('changed: read {read nsd} changed')
    assert run() == ['convert']
    os.remove(native / 'betas' / 'session01.nii.gz')  # deleted
    assert run() == ['convert']
    assert run() == []
    shutil.rmtree(native)
    with pytest.raises(PipelineError, match='files are missing:\n  convert: missing: .*nsd'):
        run()


# ----------------------------------------------------------------------------------------------------------- GPUs
#: Writes the CUDA_VISIBLE_DEVICES it got, leaves a marker and waits for the markers of ``meet`` (or exits 5).
GPU_STAGE = (
    'import os, sys, time; out, markers = sys.argv[1], sys.argv[2]; meet = sys.argv[3:]; '
    'open(os.path.join(out, "gpus.txt"), "w").write(os.environ.get("CUDA_VISIBLE_DEVICES", "unset")); '
    'open(os.path.join(markers, os.path.basename(out)), "w").close(); deadline = time.time() + 30\n'
    'while not all(os.path.exists(os.path.join(markers, m + ".partial")) for m in meet):\n'
    '    time.sleep(0.02)\n'
    '    if time.time() > deadline: raise SystemExit(5)\n'
)


def _gpu_stage(name, root, markers, gpus, meet=()):
    return Stage(name, name, [[sys.executable, '-c', GPU_STAGE, Out(), str(markers), *meet]], root=root, gpus=gpus)


@pytest.mark.slow
def test_running_stages_get_disjoint_gpus_and_wait_for_free_ones(tmp_path, monkeypatch):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    work, markers = str(tmp_path / 'work'), tmp_path / 'markers'
    markers.mkdir()
    stages = [
        _gpu_stage('a', work, markers, 2, meet=['b']),  # a and b run at once (each waits for the other)
        _gpu_stage('b', work, markers, 1, meet=['a']),
        _gpu_stage('c', work, markers, 3),  # needs all three: starts only after a and b ended
        _gpu_stage('cpu', work, markers, 0),
    ]
    StageRunner(stages, work, log=_quiet, jobs=3, gpus=3).run()
    got = {s.name: open(osp.join(work, s.name, 'gpus.txt')).read() for s in stages}
    a, b = set(got['a'].split(',')), set(got['b'].split(','))
    assert len(a) == 2 and len(b) == 1 and not a & b and a | b <= {'0', '1', '2'}
    assert sorted(got['c'].split(',')) == ['0', '1', '2'] and got['cpu'] == ''
    # Without --gpus the GPUs are not managed: children see what the pipeline sees.
    StageRunner([_gpu_stage('free', work, markers, 2)], work, log=_quiet, jobs=2).run()
    assert open(osp.join(work, 'free', 'gpus.txt')).read() == 'unset'


@pytest.mark.slow
def test_gpus_come_from_the_visible_devices_and_a_stage_needing_more_never_starts(tmp_path, monkeypatch):
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '4,6')
    work, markers = str(tmp_path / 'work'), tmp_path / 'markers'
    markers.mkdir()
    StageRunner([_gpu_stage('a', work, markers, 2)], work, log=_quiet, gpus=2).run()
    assert open(osp.join(work, 'a', 'gpus.txt')).read() == '4,6'
    with pytest.raises(PipelineError, match='--gpus 2, but CUDA_VISIBLE_DEVICES=.4,6. names 2|too few'):
        StageRunner([_gpu_stage('b', work, markers, 3)], work, log=_quiet, gpus=2).run()
    assert not osp.exists(osp.join(work, 'b.partial'))
    with pytest.raises(PipelineUsageError, match="CUDA_VISIBLE_DEVICES='4,6' names 2"):
        LocalExecutor(gpus=3)


@pytest.mark.slow
def test_children_get_the_pipeline_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv('PYTHON', 'python')
    work = str(tmp_path / 'work')
    code = 'import os, sys; open(os.path.join(sys.argv[1], "python.txt"), "w").write(os.environ["PYTHON"])'
    StageRunner([Stage('s', 's', [[sys.executable, '-c', code, Out()]], root=work)], work, log=_quiet).run()
    assert open(osp.join(work, 's', 'python.txt')).read() == sys.executable


# ------------------------------------------------------------------------------------------------ progress, lock
def test_progress_counts_and_estimates_from_earlier_runs(tmp_path):
    root = str(tmp_path)
    stages = [Stage(f'seed{s}/{k}', k, [], root=osp.join(root, f'seed{s}'), inputs=[]) for s in (0, 1) for k in 'xy']
    stages[1].inputs = ['seed0/x']
    for stage, seconds in ((stages[0], 60.0), (stages[1], 120.0)):  # seed 0 ran before; seed 1 never did
        os.makedirs(stage.output_dir)
        with open(osp.join(stage.output_dir, '.stage.json.invalidated'), 'w') as f:
            json.dump(dict(seconds=seconds), f)
    progress = Progress(stages, slots=2)
    assert progress.estimate == {'seed0/x': 60.0, 'seed0/y': 120.0, 'seed1/x': 60.0, 'seed1/y': 120.0}
    # two slots: seed0/x and seed1/x, then seed0/y (after seed0/x) and seed1/y -> 60 + 120 s
    assert progress.seconds_left(0.0) == 180.0
    progress.started('seed0/x')
    progress.running['seed0/x'] = 0.0
    # seed0/x has 30 s left; seed1/x takes the other slot; seed0/y follows seed0/x, seed1/y follows seed1/x
    assert progress.seconds_left(now=30.0) == 180.0
    progress.slots = None  # no limit: seed0/y from 30 s to 150 s, the others sooner
    assert progress.seconds_left(now=30.0) == 150.0
    progress.finished('seed0/x', 30.0)
    assert progress.summary(now=30.0).startswith('1/4 done, 0 running, 3 left; about')


def test_progress_without_any_earlier_time_gives_no_estimate(tmp_path):
    stages = [Stage(k, k, [], root=str(tmp_path)) for k in 'xy']
    progress = Progress(stages, slots=2)
    progress.started('x')
    assert (
        progress.summary(now=0.0)
        == '0/2 done, 1 running, 1 left; no estimate of the time left yet (2 stages never run before)'
    )


@pytest.mark.slow
def test_the_lock_hint_names_the_folder_held(tmp_path):
    work, data = str(tmp_path / 'work'), str(tmp_path / 'data')
    stages = [
        Stage('world', 'w', [[sys.executable, '-c', 'pass']], root=data),
        Stage('x', 'x', [[sys.executable, '-c', 'pass']], root=work, inputs=['world']),
    ]
    with work_dir_lock(data, 'held by a test'):
        with pytest.raises(WorkDirLocked) as err:
            StageRunner(stages, work, log=_quiet).run()
    assert f'{data} is in use' in str(err.value) and '--work-dir' not in str(err.value)
    assert 'its stages world write here' in str(err.value)
    with work_dir_lock(work):
        with pytest.raises(WorkDirLocked, match=f'{work} is in use.*choose another --work-dir'):
            StageRunner(stages, work, log=_quiet).run()
