# Copyright (c) mmbrain contributors. All rights reserved.
"""benchmarks/gpu_check.sh --dry-run: every phase of the GPU check at tiny sizes on the CPU, under the import
guard of a bare GPU machine (no mmcv.ops, mmdet, mmseg), so that the check is ready when a GPU is."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_REFERENCE = """import json, sys
print('a line before the JSON')
print(json.dumps({"argv": sys.argv[1:], "full_compiled_samples_per_s": 2.0, "full_samples_per_s": 1.0}, indent=1))
"""


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path):
    reference = tmp_path / 'reference_bench.py'
    reference.write_text(FAKE_REFERENCE)
    out = tmp_path / 'gpu_check.json'
    env = dict(os.environ, PYTHON=sys.executable, TMPDIR=str(tmp_path))
    proc = subprocess.run(
        ['bash', str(REPO / 'benchmarks/gpu_check.sh'), '--dry-run', '--reference', str(reference), '--out', str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    failed = {k: v for k, v in report['phases'].items() if v['status'] != 'ok'}
    assert not failed, json.dumps(failed, indent=1)[-4000:]
    assert set(report['phases']) == {
        'encoder',
        'full_convnext_compiled',
        'reference',
        'train',
        'full_convnext',
        'encoder_compiled',
        'full_swin',
        'full_swin_compiled',
    }
    assert report['dry_run'] and report['torch'] and set(report['blocked_imports']) >= {'mmcv.ops', 'mmdet', 'mmseg'}

    s = report['summary']
    for key in (
        'encoder_samples_per_s',
        'encoder_loop_samples_per_s',
        'speedup_vs_loop',
        'train_samples_per_s',
        'full_convnext_samples_per_s',
        'full_convnext_compiled_samples_per_s',
        'full_swin_samples_per_s',
    ):
        assert s[key] > 0, key
    assert s['encoder_max_abs_diff_fp32'] <= 1e-5  # the batched encoder computes Algorithm 1's outputs
    assert report['phases']['full_convnext_compiled']['result']['compile'] == 'eager'  # traced by dynamo
    assert report['phases']['reference']['result']['argv'] == ['--device', 'cpu', '--tiny']
    assert s['full_vs_reference'] == pytest.approx(s['full_convnext_compiled_samples_per_s'] / 2.0)
    train = report['phases']['train']['result']
    assert train['iterations'] == 3 and train['loss_last'] < train['loss_first']
    assert all(v is None or isinstance(v, bool) for v in report['targets'].values())


@pytest.mark.slow
def test_gpu_check_refuses_an_empty_wheel_folder(tmp_path):
    proc = subprocess.run(
        ['bash', str(REPO / 'benchmarks/gpu_check.sh'), '--wheels', str(tmp_path), '--dry-run'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and 'no .whl files' in proc.stderr
