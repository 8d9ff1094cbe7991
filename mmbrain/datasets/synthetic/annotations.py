# Copyright (c) mmbrain contributors. All rights reserved.
"""Write synthetic scenes as the downstream datasets: COCO instances and ADE20K-style semantic maps.

COCO (``coco/``): ``annotations/instances_{train,val}2017.json`` and ``{train,val}2017/<id:012d>.png``; masks are
compressed RLE with ``iscrowd=0`` (exact pixel masks; read by pycocotools and by mmdet's ``LoadAnnotations`` with
its default ``poly2mask=True``). ADE (``ade/``): ``images/{training,validation}/*.png`` and
``annotations/{training,validation}/*.png`` with labels 1..K and 0 = other (use ``reduce_zero_label=True``).
"""

import json
import os
import os.path as osp
from typing import Dict, List, Sequence

import cv2
import numpy as np

from .scenes import CATEGORIES, SEMANTIC_CLASSES, Scene

COCO_SPLITS = ('train2017', 'val2017')
ADE_SPLITS = ('training', 'validation')


def coco_categories() -> List[Dict]:
    return [
        dict(id=i + 1, name=name, supercategory='shape' if name in ('disk', 'square', 'triangle') else name)
        for i, name in enumerate(CATEGORIES)
    ]


def _write_png(path: str, rgb: np.ndarray) -> None:
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f'{path}: could not write image')


class CocoWriter:
    """Accumulate scenes into COCO instance json files, writing each image as it comes.

    Args:
        root: the ``coco`` folder.
    """

    def __init__(self, root: str):
        self.root = root
        self._images = {s: [] for s in COCO_SPLITS}
        self._anns = {s: [] for s in COCO_SPLITS}
        self._next_ann = 1
        for split in COCO_SPLITS:
            os.makedirs(osp.join(root, split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)

    def add(self, scene: Scene, image_id: int, split: str) -> None:
        from pycocotools import mask as mask_utils

        h, w = scene.image.shape[:2]
        file_name = f'{image_id:012d}.png'
        _write_png(osp.join(self.root, split, file_name), scene.image)
        self._images[split].append(dict(id=int(image_id), file_name=file_name, height=h, width=w))
        for cat, mask in scene.instances:
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle['counts'] = rle['counts'].decode('ascii')
            self._anns[split].append(
                dict(
                    id=self._next_ann,
                    image_id=int(image_id),
                    category_id=cat + 1,
                    segmentation=rle,
                    area=float(mask_utils.area(rle)),
                    bbox=[float(v) for v in mask_utils.toBbox(rle)],
                    iscrowd=0,
                )
            )
            self._next_ann += 1

    def close(self) -> None:
        for split in COCO_SPLITS:
            doc = dict(
                info=dict(description='mmbrain synthetic NSD world (COCO-format instances)', version='1.0'),
                licenses=[],
                images=self._images[split],
                annotations=self._anns[split],
                categories=coco_categories(),
            )
            with open(osp.join(self.root, 'annotations', f'instances_{split}.json'), 'w') as f:
                json.dump(doc, f)


def write_ade(root: str, scenes: Sequence[Scene], splits: Sequence[str]) -> None:
    """Write ADE-style images and label maps (``ADE_<split>_<n:08d>.png``)."""
    for split in ADE_SPLITS:
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
    counters = {s: 0 for s in ADE_SPLITS}
    for scene, split in zip(scenes, splits):
        counters[split] += 1
        name = f'ADE_{"train" if split == "training" else "val"}_{counters[split]:08d}.png'
        _write_png(osp.join(root, 'images', split, name), scene.image)
        if not cv2.imwrite(osp.join(root, 'annotations', split, name), scene.semantic):
            raise OSError(f'{osp.join(root, "annotations", split, name)}: could not write label map')
    with open(osp.join(root, 'classes.json'), 'w') as f:
        json.dump(
            dict(classes=list(SEMANTIC_CLASSES), zero_label='other (ignored with reduce_zero_label=True)'), f, indent=1
        )
