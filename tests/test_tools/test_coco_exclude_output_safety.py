# Copyright (c) mmbrain contributors. All rights reserved.
"""coco_exclude_nsd.py never replaces its input (not even through a symlinked folder) and never clobbers unasked."""

import json
import sys

import pytest
from _helpers import load_tool

TOOL = 'tools/dataset_converters/coco_exclude_nsd.py'


@pytest.fixture
def coco(tmp_path):
    data = tmp_path / 'coco'
    data.mkdir()
    train = data / 'instances_train2017.json'
    train.write_text(
        json.dumps(dict(images=[dict(id=1), dict(id=2)], annotations=[dict(id=7, image_id=2)], categories=[]))
    )
    stim = tmp_path / 'nsd_stim_info_merged.csv'
    stim.write_text(',cocoId,cocoSplit,nsdId\n0,2,train2017,0\n')
    (tmp_path / 'alias').symlink_to(data, target_is_directory=True)
    return train, stim


def _main(monkeypatch, *args):
    monkeypatch.setattr(sys, 'argv', [TOOL, *map(str, args)])
    with pytest.raises(SystemExit) as info:
        load_tool(TOOL).main()
        raise SystemExit(0)
    return info.value.code


@pytest.mark.parametrize('extra', [(), ('--overwrite',)])
def test_the_input_is_refused_through_a_symlinked_folder(coco, tmp_path, monkeypatch, capsys, extra):
    train, stim = coco
    before = train.read_text()
    assert _main(monkeypatch, train, stim, tmp_path / 'alias' / 'instances_train2017.json', *extra) == 2
    assert f'is the input {train}; refusing to replace an input' in capsys.readouterr().err
    assert _main(monkeypatch, train, stim, tmp_path / 'out.json', '--val', train, train, *extra) == 2
    assert train.read_text() == before and not (tmp_path / 'out.json').exists()


def test_an_existing_output_is_replaced_only_with_overwrite(coco, tmp_path, monkeypatch, capsys):
    train, stim = coco
    out = tmp_path / 'out.json'
    out.write_text('an earlier result')
    assert _main(monkeypatch, train, stim, out) == 2
    assert 'already exists (pass --overwrite to replace it)' in capsys.readouterr().err
    assert out.read_text() == 'an earlier result'
    assert _main(monkeypatch, train, stim, out, '--overwrite') == 0
    assert [img['id'] for img in json.loads(out.read_text())['images']] == [1]


def test_the_val_output_may_not_be_the_train_output(coco, tmp_path, monkeypatch, capsys):
    """Before: with --overwrite the train output was silently replaced by the val output."""
    train, stim = coco
    val = tmp_path / 'coco' / 'instances_val2017.json'
    val.write_text(json.dumps(dict(images=[dict(id=3)], annotations=[], categories=[])))
    out = tmp_path / 'out.json'
    for alias in (out, tmp_path / 'alias' / '..' / 'out.json'):
        assert _main(monkeypatch, train, stim, out, '--val', val, alias, '--overwrite') == 2
        assert 'OUT and VAL_OUT are the same file' in capsys.readouterr().err
    assert not out.exists()
