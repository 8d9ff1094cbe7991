# Copyright (c) mmbrain contributors. All rights reserved.
"""coco/ and coco-wo-nsd/ from one set of predictions: mmdet's CocoMetric on val2017 and ImageSubsetCocoMetric on
val2017 without the NSD images, as the detection configs evaluate (a list of evaluators)."""

import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from _helpers import REPO
from mmengine.evaluator import Evaluator
from pycocotools import mask as mask_utils

EXCLUDE_TOOL = osp.join(REPO, 'tools/dataset_converters/coco_exclude_nsd.py')


@pytest.fixture(scope='module')
def val_files(nsd_world, tmp_path_factory):
    folder = tmp_path_factory.mktemp('coco_val')
    ann = osp.join(nsd_world.coco_dir, 'annotations', 'instances_train2017.json')
    val = osp.join(nsd_world.coco_dir, 'annotations', 'instances_val2017.json')
    val_out = str(folder / 'instances_val2017_nsd-excluded.json')
    stim_info = osp.join(nsd_world.root, 'nsddata', 'experiments', 'nsd', 'nsd_stim_info_merged.csv')
    result = subprocess.run(
        [sys.executable, EXCLUDE_TOOL, ann, stim_info, str(folder / 'train.json'), '--val', val, val_out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return val, val_out


def _samples(coco, wrong_images=()):
    """Data samples as mmdet's Mask R-CNN returns them: every ground-truth object found exactly, except in
    ``wrong_images`` (boxes shifted off their objects)."""
    samples = []
    for img in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        boxes = np.array(
            [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]] for a in anns],
            np.float32,
        ).reshape(-1, 4)
        masks = (
            np.stack([mask_utils.decode(a['segmentation']).astype(bool) for a in anns])
            if anns
            else np.zeros((0, img['height'], img['width']), bool)
        )
        if img['id'] in wrong_images:
            boxes = boxes + img['width'] / 2
            masks = np.roll(masks, img['width'] // 2, axis=2)
        samples.append(
            dict(
                img_id=img['id'],
                ori_shape=(img['height'], img['width']),
                pred_instances=dict(
                    bboxes=torch.from_numpy(boxes),
                    scores=torch.ones(len(anns)),
                    labels=torch.tensor([a['category_id'] - 1 for a in anns], dtype=torch.long),
                    masks=torch.from_numpy(masks),
                ),
            )
        )
    return samples


def _evaluate(val, val_out, samples, classes):
    from mmengine.registry import DefaultScope

    import mmbrain.evaluation.metrics.coco_subset  # noqa: F401  (registers ImageSubsetCocoMetric)

    with DefaultScope.overwrite_default_scope('mmdet'):  # as in mmdet's tools: CocoMetric is mmdet's
        evaluator = Evaluator(
            [
                dict(type='CocoMetric', ann_file=val, metric=['bbox', 'segm'], prefix='coco'),
                dict(
                    type='mmbrain.ImageSubsetCocoMetric',
                    ann_file=val_out,
                    metric=['bbox', 'segm'],
                    prefix='coco-wo-nsd',
                ),
            ]
        )
    evaluator.dataset_meta = dict(classes=classes)
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


@pytest.mark.slow
def test_two_evaluators_score_val2017_and_its_nsd_free_subset(val_files):
    val, val_out = val_files
    with open(val) as f:
        coco = json.load(f)
    with open(val_out) as f:
        subset = {img['id'] for img in json.load(f)['images']}
    classes = tuple(c['name'] for c in coco['categories'])
    assert 0 < len(subset) < len(coco['images'])

    perfect = _evaluate(val, val_out, _samples(coco), classes)
    for prefix in ('coco', 'coco-wo-nsd'):
        for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'segm_mAP', 'segm_mAP_50', 'segm_mAP_75'):
            assert perfect[f'{prefix}/{key}'] == pytest.approx(1.0, abs=0.011), (prefix, key)

    # wrong on the NSD images only: val2017 drops, val2017 without NSD images is untouched
    nsd_images = {img['id'] for img in coco['images']} - subset
    mixed = _evaluate(val, val_out, _samples(coco, wrong_images=nsd_images), classes)
    assert mixed['coco-wo-nsd/bbox_mAP'] == pytest.approx(1.0, abs=0.011)
    assert mixed['coco/bbox_mAP'] < 0.9 and mixed['coco/segm_mAP'] < 0.9


def test_subset_metric_needs_its_annotation_file():
    from mmbrain.evaluation.metrics.coco_subset import ImageSubsetCocoMetric

    with pytest.raises(ValueError, match='ann_file'):
        ImageSubsetCocoMetric(ann_file=None)
