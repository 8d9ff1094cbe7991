# Copyright (c) mmbrain contributors. All rights reserved.
"""Captions of synthetic scenes, from what each contains, in COCO's captions layout (the CLIP baseline's text).

Each scene gets :data:`CAPTIONS_PER_IMAGE` captions (COCO has about five), worded differently from caption to
caption (synonyms, order, which details are mentioned). What they describe is chosen from :data:`DETAILS`:

* ``objects``: the objects' categories and counts;
* ``positions``: every other caption names each object with its rough position (left / right / top / bottom /
  centre of the image) instead of the counts (scenes of up to three objects);
* ``background``: the background (plain texture, a room, outdoors under the sky);
* ``colours``: the colour name of each object and of the largest background region (wall, sky, ground, ...; from
  the pixels' mean colour);
* ``brightness``: how bright and how contrasted the whole picture is (thirds of the world's range).

Everything a caption says is true of the scene, and nothing else in the world tells the text tower about the
image. Written as ``coco/annotations/captions_{train,val}2017.json`` beside
the instances, so :func:`mmbrain.datasets.captions.read_nsd_captions` joins them to NSD images by ``cocoId``.
"""

import json
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .annotations import COCO_SPLITS
from .scenes import BACKGROUNDS, CATEGORIES, SEMANTIC_CLASSES, Scene

CAPTIONS_PER_IMAGE = 5
#: What captions can describe, and what they describe by default.
DETAILS = ('objects', 'positions', 'background', 'colours', 'brightness')
DEFAULT_DETAILS = ('objects', 'positions', 'background', 'colours')

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
    outdoor=('outdoors under the sky', 'in an open landscape with a horizon', 'outside under an open sky'),
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


def colour_name(rgb: np.ndarray) -> str:
    """The basic colour word of a mean RGB colour (0-255): black, grey, white, red, orange, ..., purple, pink."""
    hsv = cv2.cvtColor(np.asarray(rgb, np.float32).reshape(1, 1, 3) / 255.0, cv2.COLOR_RGB2HSV)[0, 0]
    hue, saturation, value = float(hsv[0]), float(hsv[1]), float(hsv[2])
    if value < 0.2:
        return 'black'
    if saturation < 0.2:
        return 'white' if value > 0.8 else 'grey'
    for name, upper in _HUES:
        if hue < upper:
            return 'brown' if name in ('orange', 'yellow') and value < 0.55 else name
    return 'red'


#: Hue (degrees) below which each colour word applies.
_HUES = (
    ('red', 15),
    ('orange', 40),
    ('yellow', 70),
    ('green', 160),
    ('cyan', 200),
    ('blue', 260),
    ('purple', 290),
    ('pink', 345),
)
#: Thirds of the synthetic world's range of mean luminance and of luminance standard deviation (0-1 grey levels).
_BRIGHTNESS = ((0.50, 'dark'), (0.55, 'medium-bright'), (2.0, 'bright'))
_CONTRAST = ((0.107, 'low'), (0.149, 'medium'), (2.0, 'high'))


def _brightness_clause(image: np.ndarray) -> str:
    gray = image.astype(np.float32).mean(-1) / 255.0
    brightness = next(word for upper, word in _BRIGHTNESS if gray.mean() < upper)
    contrast = next(word for upper, word in _CONTRAST if gray.std() < upper)
    return f'a {brightness} picture with {contrast} contrast'


def describe_scene(
    scene: Scene,
    rng: np.random.Generator,
    n: int = CAPTIONS_PER_IMAGE,
    details: Sequence[str] = DEFAULT_DETAILS,
) -> List[str]:
    """``n`` distinct-where-possible captions of a scene, describing ``details`` (a subset of :data:`DETAILS`).

    Args:
        scene: a rendered scene (:func:`~.scenes.render_scene`).
        rng: the scene's caption generator (separate from the one that drew the scene).
        n: number of captions.
        details: what the captions describe (module docstring).
    """
    check_details(details)
    background = BACKGROUNDS[scene.background]
    counts = Counter(CATEGORIES[cat] for cat, _ in scene.instances) if 'objects' in details else Counter()
    colours = 'colours' in details
    tint = {j: colour_name(scene.image[mask].mean(0)) for j, (_, mask) in enumerate(scene.instances)} if colours else {}
    captions: List[str] = []
    for i in range(n):
        if not counts:  # no objects, or not described
            if 'objects' in details:
                text = (
                    _EMPTY[background][i % len(_EMPTY[background])] if 'background' in details else 'an empty picture'
                )
            elif 'background' in details:
                text = 'a picture ' + _BACKGROUND_PHRASES[background][i % len(_BACKGROUND_PHRASES[background])]
            else:
                text = ''
        else:
            names = {c: _NAMES[c][int(rng.integers(len(_NAMES[c])))] for c in counts}
            with_positions = 'positions' in details and i % 2 == 1 and len(scene.instances) <= 3
            if with_positions:  # each object with where it is
                order = rng.permutation(len(scene.instances))
                parts = [
                    f'{_NUMBERS[1]} {_tinted(tint.get(j), names[CATEGORIES[scene.instances[j][0]]][0])} '
                    f'{_position(scene.instances[j][1])}'
                    for j in order
                ]
            else:  # categories with their counts
                cats = [c for c in CATEGORIES if c in counts]
                cats = [cats[j] for j in rng.permutation(len(cats))]
                parts = [_counted(c, counts[c], names[c], scene, tint) for c in cats]
            text = _join(parts)
            if 'background' in details:
                phrases = _BACKGROUND_PHRASES[background]
                text = f'{text} {phrases[int(rng.integers(len(phrases)))]}'
        clauses = [text] if text else []
        if colours:
            clauses.append(_background_colour(scene))
        if 'brightness' in details:
            clauses.append(_brightness_clause(scene.image))
        text = ', '.join(clauses)
        captions.append(text[0].upper() + text[1:] + '.')
    return captions


def check_details(details: Sequence[str]) -> None:
    """Refuse details that are not in :data:`DETAILS`, an empty choice, and ``positions`` without ``objects``."""
    unknown = [d for d in details if d not in DETAILS]
    if unknown or not details:
        raise ValueError(f'caption details must be a non-empty subset of {DETAILS}, got {list(details)}')
    if 'positions' in details and 'objects' not in details:
        raise ValueError('caption detail "positions" needs "objects" (it places the objects)')


def _background_colour(scene: Scene) -> str:
    """The colour of the largest background region: ``'the sky is blue'``, ``'the background is grey'``."""
    free = np.ones(scene.image.shape[:2], bool)
    for _, mask in scene.instances:
        free &= ~mask
    labels, counts = np.unique(scene.semantic[free], return_counts=True)
    if not len(labels):
        return 'the objects fill the picture'
    label = labels[counts.argmax()]
    region = free & (scene.semantic == label)
    name = SEMANTIC_CLASSES[label - 1] if label else 'background'
    return f'the {name} is {colour_name(scene.image[region].mean(0))}'


def _tinted(colour: Optional[str], name: str) -> str:
    return f'{colour} {name}' if colour else name


def _counted(category: str, count: int, name: Tuple[str, str], scene: Scene, tint: Dict[int, str]) -> str:
    """``'a red disk'``, ``'two disks'``, ``'two disks in red and blue'`` (colours when ``tint`` has them)."""
    number = _NUMBERS[min(count, len(_NUMBERS) - 1)]
    if count == 1:
        j = next(j for j, (cat, _) in enumerate(scene.instances) if CATEGORIES[cat] == category)
        return f'{number} {_tinted(tint.get(j), name[0])}'
    shades = sorted(
        {tint[j] for j, (cat, _) in enumerate(scene.instances) if CATEGORIES[cat] == category and j in tint}
    )
    if len(shades) == 1:
        return f'{number} {shades[0]} {name[1]}'
    return f'{number} {name[1]}' + (f' in {_join(shades)}' if shades else '')


class CaptionWriter:
    """Accumulate scene captions into ``annotations/captions_{train,val}2017.json`` (COCO's layout).

    Args:
        root: the ``coco`` folder (its ``annotations/`` must exist: :class:`~.annotations.CocoWriter` makes it).
        seed: the world's seed; a scene's captions depend only on it, the scene and its index.
        details: what the captions describe (:data:`DETAILS`).
    """

    def __init__(self, root: str, seed: int, details: Sequence[str] = DEFAULT_DETAILS) -> None:
        check_details(details)
        self.root = root
        self.seed = seed
        self.details = tuple(details)
        self._images: Dict[str, List[dict]] = {s: [] for s in COCO_SPLITS}
        self._anns: Dict[str, List[dict]] = {s: [] for s in COCO_SPLITS}
        self._next_ann = 1

    def add(self, scene: Scene, index: int, image_id: int, split: str) -> None:
        """Caption scene number ``index`` (its COCO image ``image_id`` of ``split``)."""
        h, w = scene.image.shape[:2]
        self._images[split].append(dict(id=int(image_id), file_name=f'{image_id:012d}.png', height=h, width=w))
        for caption in describe_scene(scene, np.random.default_rng([self.seed, 4, index]), details=self.details):
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
