# Copyright (c) mmbrain contributors. All rights reserved.
"""Reading mmengine's scalars.json: a log written by a real Runner, epoch-based logs, resumed runs, bad input."""

import json

import numpy as np
import pytest

from mmbrain.evaluation.scalar_logs import RETRIEVAL_PATTERN, load_scalar_log


@pytest.mark.slow
def test_runner_log_is_parsed(runner_run):
    log = load_scalar_log(runner_run.work_dir)
    assert len(log.sources) == 1 and log.sources[0].name == 'scalars.json'
    for key in ('loss', 'loss_con', 'loss_bfg', 'temperature', 'lr'):
        assert key in log.train, key
    xs, loss = log.train['loss']
    np.testing.assert_array_equal(xs, [2, 4, 6])
    np.testing.assert_allclose(log.train['temperature'][1], 0.07, rtol=1e-6)
    # mmengine sums every key containing "loss": the total is the sum of the two logged parts.
    np.testing.assert_allclose(loss, log.train['loss_con'][1] + log.train['loss_bfg'][1], rtol=1e-5)
    assert log.retrieval_keys() == ['retrieval/b2i_top1', 'retrieval/i2b_top1', 'retrieval/i2b_top5']
    iters, top1 = log.val['retrieval/i2b_top1']
    np.testing.assert_array_equal(iters, [3, 6])
    np.testing.assert_array_equal(top1, [12.5, 12.5])
    # A <timestamp> folder and the file itself are accepted too.
    assert load_scalar_log(log.sources[0]).train.keys() == log.train.keys()
    assert load_scalar_log(log.sources[0].parent.parent).val.keys() == log.val.keys()


def _write(path, records, tail=''):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)


def test_epoch_based_validation_steps_map_to_iterations(tmp_path):
    # Epoch-based loop, 5 iterations per epoch, validation logged by epoch (mmengine's default).
    records = []
    for it in range(1, 16):
        records.append(dict(lr=0.1, loss=1.0 / it, epoch=(it - 1) // 5 + 1, iter=it, step=it))
        if it % 5 == 0:
            records.append({'retrieval/brain-to-image_top-5': it * 2.0, 'time': 0.1, 'step': it // 5})
    _write(tmp_path / '20240101_000000' / 'vis_data' / 'scalars.json', records)
    log = load_scalar_log(tmp_path)
    xs, ys = log.val['retrieval/brain-to-image_top-5']
    np.testing.assert_array_equal(xs, [5, 10, 15])
    np.testing.assert_array_equal(ys, [10, 20, 30])
    assert log.retrieval_keys() == ['retrieval/brain-to-image_top-5']
    assert 'time' in log.val and 'epoch' not in log.train
    # Told that the steps are iterations, it leaves them alone.
    np.testing.assert_array_equal(load_scalar_log(tmp_path, val_step='iter').val['time'][0], [1, 2, 3])


def test_resumed_run_merges_timestamps_later_wins(tmp_path):
    _write(
        tmp_path / '20240101_000000' / 'vis_data' / 'scalars.json',
        [dict(loss=3.0, iter=10, step=10), dict(loss=2.0, iter=20, step=20)],
    )
    _write(
        tmp_path / '20240102_000000' / 'vis_data' / 'scalars.json',
        [dict(loss=1.9, iter=20, step=20), dict(loss=1.0, iter=30, step=30)],
    )
    xs, ys = load_scalar_log(tmp_path).train['loss']
    np.testing.assert_array_equal(xs, [10, 20, 30])
    np.testing.assert_array_equal(ys, [3.0, 1.9, 1.0])


def test_truncated_last_line_is_skipped_but_corruption_is_an_error(tmp_path):
    file = tmp_path / 'scalars.json'
    _write(file, [dict(loss=1.0, iter=1, step=1)], tail='{"loss": 0.5, "it')
    with pytest.warns(UserWarning, match='truncated last line'):
        assert load_scalar_log(file).train['loss'][1].tolist() == [1.0]
    _write(file, [dict(loss=1.0, iter=1, step=1)], tail='not json\n{"loss": 2, "iter": 2, "step": 2}\n')
    with pytest.raises(ValueError, match=r'scalars.json:2: not a JSON line'):
        load_scalar_log(file)
    _write(file, [dict(loss=1.0, iter=1)])
    with pytest.raises(ValueError, match='no "step" key'):
        load_scalar_log(file)
    with pytest.raises(FileNotFoundError, match='no mmengine scalar log'):
        load_scalar_log(tmp_path / 'empty')


@pytest.mark.parametrize(
    'key, is_retrieval',
    [
        ('retrieval/i2b_top1', True),
        ('retrieval/b2i-top5', True),
        ('val/recall@10', True),
        ('r@5', True),
        ('loss_con', False),
        ('accuracy/top', False),
        ('stop_iter', False),
    ],
)
def test_retrieval_pattern(key, is_retrieval):
    assert bool(RETRIEVAL_PATTERN.search(key)) is is_retrieval


@pytest.mark.slow  # a fresh interpreter
def test_reading_a_log_imports_neither_torch_nor_matplotlib(runner_run):
    import subprocess
    import sys

    code = (
        'import sys; from mmbrain.evaluation.scalar_logs import load_scalar_log; '
        f'log = load_scalar_log({str(runner_run.work_dir)!r}); '
        "assert log.train, 'no series'; print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'
