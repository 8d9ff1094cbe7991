# Copyright (c) mmbrain contributors. All rights reserved.
"""The model-index metafiles name configs that exist, once each, and list every paper-scale config."""

import glob
import os.path as osp

import yaml
from _helpers import REPO


def _models():
    index = yaml.safe_load(open(osp.join(REPO, 'model-index.yml')))
    for metafile in index['Import']:
        meta = yaml.safe_load(open(osp.join(REPO, metafile)))
        collections = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            yield metafile, collections, model


def test_every_listed_config_exists_under_its_name():
    names = []
    for metafile, collections, model in _models():
        config = model['Config']
        assert osp.isfile(osp.join(REPO, config)), (metafile, config)
        assert osp.basename(config) == model['Name'] + '.py', (metafile, model['Name'])
        assert model['In Collection'] in collections, (metafile, model['Name'])
        names.append(model['Name'])
    assert len(names) == len(set(names))


def test_every_paper_scale_config_is_listed():
    listed = {model['Config'] for _, _, model in _models()}
    paper_scale = {
        osp.relpath(p, REPO)
        for d in ('det', 'seg', 'encoding')
        for p in glob.glob(osp.join(REPO, 'configs', d, '*.py'))
        if 'synthetic' not in p
    }
    pretrain = glob.glob(osp.join(REPO, 'configs/pretrain/*_8xb64-coslr-100e_nsd.py'))
    paper_scale |= {osp.relpath(p, REPO) for p in pretrain}
    assert not sorted(paper_scale - listed), sorted(paper_scale - listed)
