# Copyright (c) mmbrain contributors. All rights reserved.
"""Captions of synthetic scenes, from what each contains, in COCO's captions layout (the CLIP baseline's text).

Each scene gets :data:`CAPTIONS_PER_IMAGE` captions (COCO has about five) naming its objects' categories and
counts, each object's rough position (left / right / top / bottom / centre of the image) and the background
(plain texture, a room, outdoors under the sky), worded differently from caption to caption (synonyms, order,
which details are mentioned). Everything a caption says is true of the scene, and nothing else in the world
tells the text tower about the image. Written as ``coco/annotations/captions_{train,val}2017.json`` beside
the instances, so :func:`mmbrain.datasets.captions.read_nsd_captions` joins them to NSD images by ``cocoId``.
"""

import json
import os.path as osp
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .annotations import COCO_SPLITS
from .scenes import BACKGROUNDS, CATEGORIES, Scene

CAPTIONS_PER_IMAGE = 5

#: (singular, plural) wordings of each category.
_NAMES: Dict[str, Sequence[Tuple[str, str]]] = dict(
    face=(('face', 'faces'), ('human face', 'human faces')),
    body=(('person', 'people'), ('human figure', 'human figures'), ('body', 'bodies')),
    word=(('word', 'words'), ('sign with letters', 'signs with letters'), ('printed word', 'printed words')),
    disk=(('disk', 'disks'), ('circle', 'circles')),
    square=(('square', 'squares'), ('rotated square', 'rotated squares')),
    triangle=(('triangle', 'triangles'),),
)
_NUMBERS = ('no', 'a', 'two', 'three', 'four')
_BACKGROUND_PHRASES: Dict[str, Sequence[str]] = dict(
    plain=('on a plain textured background', 'against a plain backdrop', 'on a smooth coloured texture'),
    indoor=('in a room', 'inside a room with walls and a floor', 'indoors'),
    outdoor=('outdoors under the sky', 'in an open landscape with a horizon', 'outside under a blue sky'),
)
_EMPTY: Dict[str, Sequence[str]] = dict(
    plain=('a plain textured background with nothing on it', 'an empty coloured texture'),
    indoor=('an empty room', 'the inside of a room with no one in it'),
    outdoor=('an empty landscape under the sky', 'an open outdoor scene with a horizon'),
)


def _position(mask: np.ndarray) -> str:
    """Rough position of a mask's centroid: ``'on the left'``, ``'in the top right'``, ``'in the centre'``..."""
    ys, xs = np.nonzero(mask)
    x, y = xs.mean() / mask.shape[1], ys.mean() / mask.shape[0]
    horizontal = 'left' if x < 0.4 else 'right' if x > 0.6 else ''
    vertical = 'top' if y < 0.4 else 'bottom' if y > 0.6 else ''
    if horizontal and vertical:
        return f'in the {vertical} {horizontal}'
    if horizontal:
        return f'on the {horizontal}'
    if vertical:
        return f'at the {vertical}'
    return 'in the centre'


def _join(parts: List[str]) -> str:
    return parts[0] if len(parts) == 1 else ', '.join(parts[:-1]) + ' and ' + parts[-1]


def describe_scene(scene: Scene, rng: np.random.Generator, n: int = CAPTIONS_PER_IMAGE) -> List[str]:
    """``n`` distinct-where-possible captions of a scene (categories, counts, positions, background).

    Args:
        scene: a rendered scene (:func:`~.scenes.render_scene`).
        rng: the scene's caption generator (separate from the one that drew the scene).
        n: number of captions.
    """
    background = BACKGROUNDS[scene.background]
    counts = Counter(CATEGORIES[cat] for cat, _ in scene.instances)
    captions: List[str] = []
    for i in range(n):
        if not counts:
            phrases = _EMPTY[background]
            captions.append(phrases[i % len(phrases)].capitalize() + '.')
            continue
        names = {c: _NAMES[c][int(rng.integers(len(_NAMES[c])))] for c in counts}
        with_positions = i % 2 == 1 and len(scene.instances) <= 3
        if with_positions:  # each object with where it is
            order = rng.permutation(len(scene.instances))
            parts = [
                f'{_NUMBERS[1]} {names[CATEGORIES[scene.instances[j][0]]][0]} {_position(scene.instances[j][1])}'
                for j in order
            ]
        else:  # categories with their counts
            cats = [c for c in CATEGORIES if c in counts]
            cats = [cats[j] for j in rng.permutation(len(cats))]
            parts = [
                f'{_NUMBERS[min(counts[c], len(_NUMBERS) - 1)]} {names[c][0 if counts[c] == 1 else 1]}' for c in cats
            ]
        phrases = _BACKGROUND_PHRASES[background]
        text = f'{_join(parts)} {phrases[int(rng.integers(len(phrases)))]}'
        captions.append(text[0].upper() + text[1:] + '.')
    return captions


class CaptionWriter:
    """Accumulate scene captions into ``annotations/captions_{train,val}2017.json`` (COCO's layout).

    Args:
        root: the ``coco`` folder (its ``annotations/`` must exist: :class:`~.annotations.CocoWriter` makes it).
        seed: the world's seed; a scene's captions depend only on it, the scene and its index.
    """

    def __init__(self, root: str, seed: int) -> None:
        self.root = root
        self.seed = seed
        self._images: Dict[str, List[dict]] = {s: [] for s in COCO_SPLITS}
        self._anns: Dict[str, List[dict]] = {s: [] for s in COCO_SPLITS}
        self._next_ann = 1

    def add(self, scene: Scene, index: int, image_id: int, split: str) -> None:
        """Caption scene number ``index`` (its COCO image ``image_id`` of ``split``)."""
        h, w = scene.image.shape[:2]
        self._images[split].append(dict(id=int(image_id), file_name=f'{image_id:012d}.png', height=h, width=w))
        for caption in describe_scene(scene, np.random.default_rng([self.seed, 4, index])):
            self._anns[split].append(dict(id=self._next_ann, image_id=int(image_id), caption=caption))
            self._next_ann += 1

    def close(self) -> None:
        for split in COCO_SPLITS:
            doc = dict(
                info=dict(description='mmbrain synthetic NSD world (COCO-format captions)', version='1.0'),
                licenses=[],
                images=self._images[split],
                annotations=self._anns[split],
            )
            with open(osp.join(self.root, 'annotations', f'captions_{split}.json'), 'w') as f:
                json.dump(doc, f)
