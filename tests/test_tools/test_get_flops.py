# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/analysis_tools/get_flops.py: attention FLOPs counted, Table 4 beside ours, errors and exit codes."""

import json
import sys

import pytest
import torch
import torch.nn.functional as F
from _helpers import PRETRAIN_CONFIGS, REPO, load_tool
from torch.utils.flop_counter import FlopCounterMode

get_flops = load_tool('tools/analysis_tools/get_flops.py')
TINY = f'{REPO}/{PRETRAIN_CONFIGS["convnext"]}'
VOXELS = ['--num-voxels', '90', '60', '60', '40', '50', '120']


def test_cpu_attention_is_counted():
    q, k, v = torch.randn(2, 4, 48, 8), torch.randn(2, 4, 40, 8), torch.randn(2, 4, 40, 8)
    mask = torch.ones(2, 1, 1, 40, dtype=torch.bool)
    expected = 4 * 2 * 4 * 48 * 40 * 8  # Q K^T and A V, a multiply-add = 2 FLOPs
    with torch.no_grad(), FlopCounterMode(display=False) as plain:
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with torch.no_grad(), get_flops.flop_counter() as counter:
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert plain.get_total_flops() in (0, expected)  # torch's counter knows only the GPU kernels
    assert counter.get_total_flops() == expected
    assert get_flops._attention_flops(counter) == expected


def _main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, 'argv', ['get_flops.py', *args])
    code = get_flops.main()
    return code, capsys.readouterr()


def test_table4_rows_on_a_tiny_config(monkeypatch, capsys):
    code, out = _main(monkeypatch, capsys, TINY, *VOXELS, '--img-size', '32', '--batch', '1', '--table4', '--json')
    assert code == 0
    res = json.loads(out.out)
    assert [(r['window'], r['stride']) for r in res['rows']] == sorted(get_flops.PAPER_TABLE4, reverse=True)
    for row in res['rows']:
        assert row['encoder_attention_gflops_per_sample'] > 0
        assert row['encoder_attention_gflops_per_sample'] < row['encoder_gflops_per_sample']
        assert row['gflops_per_sample'] == pytest.approx(
            row['encoder_gflops_per_sample'] + row['backbone_gflops_per_sample'], rel=0.05
        )
        assert row['paper_table4']['params_M'] == 543.47
    assert len({r['params_M'] for r in res['rows']}) == 1  # w and s change no parameter
    assert len(res['notes']) == 2 and 'bytes' in res['notes'][0] and '1/s' in res['notes'][1]
    code, out = _main(monkeypatch, capsys, TINY, *VOXELS, '--img-size', '32', '--batch', '1')
    assert code == 0 and 'attention' in out.out and 'note: params' in out.out


def test_bad_input_exit_codes(monkeypatch, capsys, tmp_path):
    code, out = _main(monkeypatch, capsys, TINY, '--num-voxels', '10', '20')
    assert code == 2 and '6 ROI groups' in out.err
    missing = tmp_path / 'subj01.h5'
    code, out = _main(monkeypatch, capsys, TINY, '--h5', str(missing))
    assert code == 1 and str(missing) in out.err
