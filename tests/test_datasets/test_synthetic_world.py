# Copyright (c) mmbrain contributors. All rights reserved.
"""The synthetic NSD world: NSD's native layout and conventions, downstream datasets, and learnable structure."""

import json
import os.path as osp

import cv2
import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from _helpers import world_args
from pycocotools.coco import COCO
from scipy.io import loadmat

from mmbrain.datasets.nsd_files import (
    ROI_GROUPS,
    ROI_LABEL_NAMES,
    betas_path,
    ctab_path,
    expdesign_path,
    read_ctab,
    roi_path,
    stim_info_path,
)
from mmbrain.datasets.synthetic import make_synthetic_nsd
from mmbrain.datasets.synthetic.anatomy import make_anatomy
from mmbrain.datasets.synthetic.scenes import SEMANTIC_CLASSES


def test_native_layout_and_conventions(nsd_world):
    w, root = nsd_world.world, nsd_world.root
    mat = loadmat(expdesign_path(root))
    order, subjectim, sharedix = (mat[k].astype(int) for k in ('masterordering', 'subjectim', 'sharedix'))
    n_trials = w['n_sessions'] * w['trials_per_session']
    assert order.shape == (1, n_trials) and subjectim.shape == (w['n_subjects'], w['n_images'])
    assert sharedix.shape == (1, w['n_shared'])
    assert order.min() == 1 and order.max() == w['n_images']  # 1-based
    assert subjectim.min() >= 1 and subjectim.max() == w['n_stimuli']
    assert np.all(subjectim[:, : w['n_shared']] == sharedix)  # k = 1..n_shared: the shared images, for everyone
    assert np.all(np.bincount(order[0])[1:] == 3)  # 3 repetitions of every image
    with h5py.File(nsd_world.stimuli_file, 'r') as f:
        assert f['imgBrick'].shape == (w['n_stimuli'], 32, 32, 3) and f['imgBrick'].dtype == np.uint8
    grids = set()
    for s in nsd_world.subjects:
        brain_any = None
        for name, labels in ROI_LABEL_NAMES.items():
            img = nib.load(roi_path(root, s, name))
            vol = np.asarray(img.dataobj)
            assert set(np.unique(vol)) <= set(range(-1, len(labels)))
            assert set(np.unique(vol[vol > 0])) == set(range(1, len(labels))) or name == 'streams'
            lh, rh = (np.asarray(nib.load(roi_path(root, s, name, hemi=h)).dataobj) for h in ('lh', 'rh'))
            assert np.all(np.where(lh >= 0, lh, rh) == vol) and not np.any((lh >= 0) & (rh >= 0))
            assert read_ctab(ctab_path(root, s, name)) == dict(enumerate(labels))
            brain_any = img.affine if brain_any is None else brain_any
            np.testing.assert_allclose(img.affine, brain_any)
        grids.add(vol.shape)
        x, y, z = vol.shape
        for session in range(1, w['n_sessions'] + 1):
            with h5py.File(betas_path(root, s, session), 'r') as f:
                betas = f['betas']
                assert betas.dtype == np.int16 and betas.shape == (w['trials_per_session'], z, y, x)
                data = betas[:]
            cortex = np.asarray(nib.load(roi_path(root, s, 'streams')).dataobj).transpose(2, 1, 0) >= 0
            assert np.all(data[:, 0, 0, 0] == 0)  # a corner is outside the brain: exactly 0, like NSD
            assert np.count_nonzero(data[:, cortex]) > 0.95 * data[:, cortex].size  # cortex has responses
    assert len(grids) > 1  # subjects have different grids


def test_stimulus_table_matches_design_and_coco(nsd_world):
    root, w = nsd_world.root, nsd_world.world
    mat = loadmat(expdesign_path(root))
    order, subjectim = mat['masterordering'][0].astype(int) - 1, mat['subjectim'].astype(int) - 1
    table = pd.read_csv(stim_info_path(root), index_col=0)
    assert list(table.columns[:8]) == [
        'cocoId',
        'cocoSplit',
        'cropBox',
        'loss',
        'nsdId',
        'flagged',
        'BOLD5000',
        'shared1000',
    ]
    assert np.array_equal(table['nsdId'], np.arange(w['n_stimuli']))
    assert set(table.index[table['shared1000']]) == set(mat['sharedix'][0] - 1)
    for s in nsd_world.subjects:
        for nsd_id in subjectim[s - 1, :5]:
            trials = 1 + np.flatnonzero(subjectim[s - 1, order] == nsd_id)  # 1-based trial numbers
            assert [table.loc[nsd_id, f'subject{s}_rep{r}'] for r in range(3)] == list(trials)
            assert table.loc[nsd_id, f'subject{s}'] == 1
    # cocoId points into the COCO annotations of the split it names (what a COCO-exclusion tool relies on).
    ids = {}
    for split in ('train2017', 'val2017'):
        coco = COCO(osp.join(nsd_world.coco_dir, 'annotations', f'instances_{split}.json'))
        ids[split] = set(coco.getImgIds())
    for coco_id, split in zip(table['cocoId'], table['cocoSplit']):
        assert coco_id in ids[split]
    n_coco = len(ids['train2017']) + len(ids['val2017'])
    assert n_coco == w['n_stimuli'] + w['coco']['n_not_nsd']


def test_coco_instances_are_valid(nsd_world):
    coco = COCO(osp.join(nsd_world.coco_dir, 'annotations', 'instances_train2017.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == nsd_world.world['categories']
    n_checked = 0
    for img_id in coco.getImgIds()[:40]:
        info = coco.loadImgs(img_id)[0]
        img = cv2.imread(osp.join(nsd_world.coco_dir, 'train2017', info['file_name']))
        assert img.shape == (info['height'], info['width'], 3)
        occupied = np.zeros(img.shape[:2], int)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
            mask = coco.annToMask(ann)
            assert mask.sum() == ann['area'] > 0 and ann['iscrowd'] == 0
            x, y, bw, bh = ann['bbox']
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + bw, y + bh)
            occupied += mask
            n_checked += 1
        assert occupied.max() <= 1  # instances never overlap
    assert n_checked > 10


def test_ade_label_maps(nsd_world):
    classes = json.load(open(osp.join(nsd_world.ade_dir, 'classes.json')))['classes']
    assert classes == list(SEMANTIC_CLASSES)
    n = 0
    for split, count in (
        ('training', nsd_world.world['ade']['n_training']),
        ('validation', nsd_world.world['ade']['n_validation']),
    ):
        for i in range(1, count + 1):
            name = f'ADE_{"train" if split == "training" else "val"}_{i:08d}.png'
            img = cv2.imread(osp.join(nsd_world.ade_dir, 'images', split, name))
            label = cv2.imread(osp.join(nsd_world.ade_dir, 'annotations', split, name), cv2.IMREAD_UNCHANGED)
            assert label.dtype == np.uint8 and label.shape == img.shape[:2] and label.max() <= len(classes)
            n += 1
    assert n == 24


def test_category_rois_follow_their_category(nsd_world):
    """End to end (generator -> converter): each floc group's mean response tracks its own category best."""
    stim = np.load(osp.join(nsd_world.ground_truth_dir, 'stimuli.npz'))
    drives = list(stim['drives'])
    wanted = {'floc-faces': 'face', 'floc-bodies': 'body', 'floc-words': 'word', 'floc-places': 'place'}
    for group, drive in wanted.items():
        responses, features = [], []
        for s in nsd_world.subjects:
            with h5py.File(nsd_world.converted_file(s, averaged=True), 'r') as f:
                responses.append(f[f'rois/{group}/betas'][:].mean(1))
                features.append(stim['category'][f['nsd_id'][:]])
        r = [np.corrcoef(np.concatenate(responses), np.concatenate(features)[:, d])[0, 1] for d in range(len(drives))]
        assert r[drives.index(drive)] > 0.6 and np.argmax(r) == drives.index(drive), (group, dict(zip(drives, r)))


def test_ground_truth_retinotopy_and_noise_ceiling(nsd_world):
    for s in nsd_world.subjects:
        truth = np.load(nsd_world.ground_truth(s))
        grid_x = nib.load(roi_path(nsd_world.root, s, 'prf-visualrois')).shape[0]
        ijk, rf = truth['prf-visualrois/ijk'], truth['prf-visualrois/rf']
        left = ijk[:, 0] < (grid_x - 1) / 2
        assert np.all(rf[left, 0] > 0.5) and np.all(rf[~left, 0] < 0.5)  # contralateral visual field
        for g in ROI_GROUPS:
            ncsnr = truth[f'{g}/ncsnr']
            np.testing.assert_allclose(truth[f'{g}/noise_ceiling'], 100 * ncsnr**2 / (ncsnr**2 + 1 / 3), rtol=1e-5)
            assert truth[f'{g}/signal'].shape == (
                nsd_world.world['n_images'],
                len(ijk) if g == 'prf-visualrois' else len(truth[f'{g}/ijk']),
            )


def test_default_size_roi_counts():
    """At the default scale every group has roughly 150-1500 voxels, streams the most, and subjects differ."""
    counts = []
    for s in range(1, 9):
        anatomy = make_anatomy(s, np.random.default_rng([0, 10, s]), 0.25)
        c = {g: int((anatomy.rois[g] > 0).sum()) for g in ROI_GROUPS}
        assert all(150 <= v <= 1800 for v in c.values()), c
        assert max(c, key=c.get) == 'streams'
        assert np.all(anatomy.brain[anatomy.cortex])
        counts.append(tuple(c.values()))
    assert len(set(counts)) == 8


def test_deterministic_for_a_seed(tmp_path):
    args = world_args(n_coco_extra=2, n_ade=2)
    paths = {k: str(tmp_path / k) for k in ('a', 'b', 'c')}
    make_synthetic_nsd(paths['a'], seed=5, **args)
    make_synthetic_nsd(paths['b'], seed=5, **args)
    make_synthetic_nsd(paths['c'], seed=6, **args)

    def content(root):
        with h5py.File(betas_path(root, 1, 1), 'r') as f:
            betas = f['betas'][:]
        roi = np.asarray(nib.load(roi_path(root, 1, 'floc-faces')).dataobj)
        return betas, roi, loadmat(expdesign_path(root))['masterordering']

    for x, y in zip(content(paths['a']), content(paths['b'])):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(content(paths['a'])[0], content(paths['c'])[0])
    with pytest.raises(FileExistsError):
        make_synthetic_nsd(paths['a'], seed=5, **args)
    with pytest.raises(ValueError, match='cannot fill'):
        make_synthetic_nsd(str(tmp_path / 'd'), n_images=5, **args)
