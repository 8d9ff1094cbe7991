# Copyright (c) mmbrain contributors. All rights reserved.
"""COCO captions joined to NSD images by cocoId, the synthetic world's captions, and LoadNSDCaption."""

import json
import os.path as osp

import numpy as np
import pandas as pd
import pytest

from mmbrain.datasets import NSDDataset, NSDFormatError
from mmbrain.datasets.captions import read_coco_captions, read_nsd_captions
from mmbrain.datasets.synthetic.captions import CAPTIONS_PER_IMAGE
from mmbrain.datasets.transforms import LoadNSDCaption

#: words by which a caption can name each category
MENTIONS = dict(
    face=('face',),
    body=('person', 'people', 'figure', 'bod'),
    word=('word', 'letters'),
    disk=('disk', 'circle'),
    square=('square',),
    triangle=('triangle',),
)


def _stim_info(world):
    return osp.join(world.root, 'nsddata', 'experiments', 'nsd', 'nsd_stim_info_merged.csv')


def _caption_files(world):
    return [osp.join(world.coco_dir, 'annotations', f'captions_{s}2017.json') for s in ('train', 'val')]


@pytest.mark.parametrize('split', ['train2017', 'val2017'])
def test_world_captions_describe_each_coco_image(nsd_world, split):
    with open(osp.join(nsd_world.coco_dir, 'annotations', f'captions_{split}.json')) as f:
        captions = json.load(f)
    with open(osp.join(nsd_world.coco_dir, 'annotations', f'instances_{split}.json')) as f:
        instances = json.load(f)
    assert [i['id'] for i in captions['images']] == [i['id'] for i in instances['images']]
    names = {c['id']: c['name'] for c in instances['categories']}
    shown = {i['id']: set() for i in instances['images']}
    for ann in instances['annotations']:
        shown[ann['image_id']].add(names[ann['category_id']])
    texts = {i: [] for i in shown}
    for ann in captions['annotations']:
        texts[ann['image_id']].append(ann['caption'].lower())
    assert len({a['id'] for a in captions['annotations']}) == len(captions['annotations'])
    for image_id, cats in shown.items():
        assert len(texts[image_id]) == CAPTIONS_PER_IMAGE
        said = ' '.join(texts[image_id])
        for cat, words in MENTIONS.items():  # every category shown is named, no other one is
            assert any(w in said for w in words) == (cat in cats), (image_id, cat, texts[image_id])


def test_planted_caption_lands_on_its_nsd_image(nsd_world, tmp_path):
    """A caption given to one COCO image reaches exactly the NSD rows of that image, through cocoId."""
    table = pd.read_csv(_stim_info(nsd_world))
    dataset_kwargs = dict(data_root=nsd_world.converted_dir, stimuli_file=nsd_world.stimuli_file, subjects=[1, 2])
    rows = NSDDataset(**dataset_kwargs)
    shown = {rows.get_data_info(i)['nsd_id'] for i in range(len(rows))}
    target = table[table['nsdId'].isin(shown)].iloc[3]
    planted = 'A planted caption about a zebra.'
    files = []
    for path in _caption_files(nsd_world):
        with open(path) as f:
            doc = json.load(f)
        for ann in doc['annotations']:
            if ann['image_id'] == int(target['cocoId']):
                ann['caption'] = planted
        files.append(str(tmp_path / osp.basename(path)))
        with open(files[-1], 'w') as f:
            json.dump(doc, f)
    pipeline = [
        dict(type='LoadNSDCaption', stim_info=_stim_info(nsd_world), caption_files=files, draw='first'),
        dict(type='PackBrainInputs', meta_keys=('nsd_id', 'text')),
    ]
    dataset = NSDDataset(pipeline=pipeline, **dataset_kwargs)
    hits = 0
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        assert (sample.text == planted) == (sample.nsd_id == int(target['nsdId']))
        hits += sample.text == planted
    assert hits >= 2  # the image was shown (3 repetitions, possibly to both subjects)


def test_random_draw_is_one_of_the_captions_and_seeded(nsd_world):
    transform = LoadNSDCaption(_stim_info(nsd_world), _caption_files(nsd_world))
    captions = read_nsd_captions(_stim_info(nsd_world), tuple(_caption_files(nsd_world)))[0]
    np.random.seed(3)
    draws = [transform(dict(nsd_id=0))['text'] for _ in range(40)]
    np.random.seed(3)
    assert draws == [transform(dict(nsd_id=0))['text'] for _ in range(40)]
    assert set(draws) <= set(captions) and len(set(draws)) > 1
    first = LoadNSDCaption(_stim_info(nsd_world), _caption_files(nsd_world), draw='first')
    assert first(dict(nsd_id=0))['text'] == captions[0]


def test_errors_name_the_file_and_the_image(nsd_world, tmp_path):
    stim_info = _stim_info(nsd_world)
    train, val = _caption_files(nsd_world)
    missing = str(tmp_path / 'captions_val2017.json')
    with pytest.raises(NSDFormatError, match='captions_val2017.json: file not found'):
        read_nsd_captions(stim_info, (train, missing))
    # NSD draws from both COCO splits: with the train captions only, the val images have none
    with pytest.raises(NSDFormatError, match=r'NSD images have no caption.*nsdId \d+ \(cocoId \d+, val2017\)'):
        read_nsd_captions(stim_info, (train,))
    not_captions = tmp_path / 'instances.json'
    not_captions.write_text(json.dumps(dict(annotations=[dict(image_id=1, bbox=[0, 0, 1, 1])])))
    with pytest.raises(NSDFormatError, match='instances.json: not a COCO captions file'):
        read_nsd_captions(stim_info, (str(not_captions),))
    with pytest.raises(KeyError, match='no NSD image nsd_id 99999'):
        LoadNSDCaption(stim_info, [train, val])(dict(nsd_id=99999))
    with pytest.raises(ValueError, match='draw must be one of'):
        LoadNSDCaption(stim_info, [train, val], draw='all')


@pytest.mark.parametrize(
    'annotation, problem',
    [
        (dict(id=3, image_id=5, caption=None), r'annotation 1 \(id 3, image_id 5\): the caption is None'),
        (dict(id=3, image_id='five', caption='a face'), r"annotation 1 \(id 3, image_id 'five'\): image_id and id"),
        (dict(id=3, image_id=5.5, caption='a face'), r'annotation 1 \(id 3, image_id 5.5\): image_id and id'),
        (dict(id=None, image_id=5, caption='a face'), r'annotation 1 \(id None, image_id 5\): image_id and id'),
    ],
)
def test_a_null_caption_or_a_non_integer_id_names_the_file(tmp_path, annotation, problem):
    """Before: a null caption became the caption "None" and trained; a non-integer image_id was a bare ValueError."""
    path = tmp_path / 'captions_train2017.json'
    path.write_text(json.dumps(dict(annotations=[dict(id=1, image_id=5, caption='a body'), annotation])))
    with pytest.raises(NSDFormatError, match=rf'captions_train2017.json: {problem}'):
        read_coco_captions(str(path))
