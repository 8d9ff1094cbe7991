# Copyright (c) mmbrain contributors. All rights reserved.
"""``nsd_stim_info_merged.csv`` has one reader (:func:`read_stim_info`) with one set of checks, used by the captions
join, the Algonauts converter and the COCO exclusion tool: a bad cell is an error naming the file and the row."""

import json
import sys

import numpy as np
import pytest
from _helpers import load_tool

from mmbrain.datasets.captions import read_nsd_captions
from mmbrain.datasets.nsd_files import NSDFormatError, read_stim_info

EXCLUDE_TOOL = 'tools/dataset_converters/coco_exclude_nsd.py'
HEADER = ',cocoId,cocoSplit,loss,nsdId,shared1000\n'


def _csv(tmp_path, rows):
    path = tmp_path / 'nsd_stim_info_merged.csv'
    path.write_text(HEADER + ''.join(f'{i},{row}\n' for i, row in enumerate(rows)))
    return str(path)


def test_the_table_as_nsd_ships_it(tmp_path):
    path = _csv(tmp_path, ['532481,val2017,0,0,True', '245764,train2017,0,1,False', '387,train2017,0,2,True'])
    info = read_stim_info(path, ('cocoId', 'shared1000'))
    np.testing.assert_array_equal(info.nsd_id, [0, 1, 2])
    np.testing.assert_array_equal(info.coco_id, [532481, 245764, 387])
    np.testing.assert_array_equal(info.shared1000, [True, False, True])
    assert info.coco_splits() == {'train2017': 2, 'val2017': 1}


@pytest.mark.parametrize(
    'rows, problem',
    [
        (['5,train2017,0,0,0', ',train2017,0,1,0'], r'cocoId of data row 2 is empty, expected an integer'),
        (['5,train2017,0,0,0', '6.5,train2017,0,1,0'], r'cocoId of data row 2 is 6.5, expected an integer'),
        (['5,train2017,0,0,0', 'abc,train2017,0,1,0'], r"cocoId of data row 2 is 'abc', expected an integer"),
        (['5,train2017,0,0,0', '6,train2017,0,0,0'], r'nsdId 0 appears 2 times'),
        (['5,train2017,0,0,0', '6,train2017,0,1,2'], r'shared1000 of data row 2 is 2, expected 0/1'),
    ],
)
def test_a_bad_cell_names_the_file_and_the_row(tmp_path, rows, problem):
    path = _csv(tmp_path, rows)
    with pytest.raises(NSDFormatError, match=r'nsd_stim_info_merged.csv: ' + problem):
        read_stim_info(path, ('cocoId', 'shared1000'))


def test_every_reader_of_the_file_gives_the_same_error(tmp_path, monkeypatch, capsys):
    """Before, the captions join raised a bare pandas cast error on a NaN cocoId; now all three name the row."""
    stim = _csv(tmp_path, ['5,train2017,0,0,0', ',train2017,0,1,0'])
    captions = tmp_path / 'captions.json'
    captions.write_text(json.dumps(dict(annotations=[dict(id=1, image_id=5, caption='a face')])))
    with pytest.raises(NSDFormatError, match='cocoId of data row 2 is empty'):
        read_nsd_captions(stim, (str(captions),))
    coco = tmp_path / 'instances.json'
    coco.write_text(json.dumps(dict(images=[dict(id=5)], annotations=[], categories=[])))
    monkeypatch.setattr(sys, 'argv', [EXCLUDE_TOOL, str(coco), stim, str(tmp_path / 'out.json')])
    with pytest.raises(SystemExit) as info:
        load_tool(EXCLUDE_TOOL).main()
    assert info.value.code == 1
    assert 'nsd_stim_info_merged.csv: cocoId of data row 2 is empty' in capsys.readouterr().err
    assert not (tmp_path / 'out.json').exists()


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / 'other.csv'
    path.write_text('a,b\n1,2\n')
    with pytest.raises(NSDFormatError, match=r"other.csv: no column\(s\) \['nsdId', 'cocoId'\]"):
        read_stim_info(str(path), ('cocoId',))
