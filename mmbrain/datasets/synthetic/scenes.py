# Copyright (c) mmbrain contributors. All rights reserved.
"""Procedural scenes of the synthetic NSD world: objects of a few categories on place-like backgrounds.

A scene is a small RGB image with exact instance masks (objects never overlap, so every mask is whole) and an
ADE-style semantic label map. The categories mirror the category-selective regions of the ventral stream
(faces, bodies, words, places) plus plain shapes, so that a ground-truth encoding model can tie each
``floc-*`` ROI to what the image contains.
"""

import string
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np

#: Object categories (COCO category id = index + 1).
CATEGORIES: Tuple[str, ...] = ('face', 'body', 'word', 'disk', 'square', 'triangle')
#: Backgrounds: ``plain`` is a texture, ``indoor``/``outdoor`` are place-like layouts.
BACKGROUNDS: Tuple[str, ...] = ('plain', 'indoor', 'outdoor')
#: ADE-style semantic classes (label = index + 1; 0 = other, ignored like ADE20K's 0).
SEMANTIC_CLASSES: Tuple[str, ...] = ('wall', 'floor', 'ceiling', 'window', 'sky', 'ground', 'building') + CATEGORIES

_SEM = {name: i + 1 for i, name in enumerate(SEMANTIC_CLASSES)}
_CATEGORY_P = np.array([0.22, 0.22, 0.20, 0.12, 0.12, 0.12])
_N_OBJECTS_P = np.array([0.1, 0.4, 0.3, 0.2])  # 0..3 objects per scene
_BACKGROUND_P = np.array([0.4, 0.3, 0.3])


@dataclass
class Scene:
    """One rendered scene.

    Attributes:
        image: (P, P, 3) uint8 RGB.
        semantic: (P, P) uint8 ADE-style labels (0 = other).
        background: index into :data:`BACKGROUNDS`.
        instances: list of (category index into :data:`CATEGORIES`, (P, P) bool mask).
        place_fraction: visible fraction of a place-like background (0 for ``plain``).
    """

    image: np.ndarray
    semantic: np.ndarray
    background: int
    instances: List[Tuple[int, np.ndarray]] = field(default_factory=list)
    place_fraction: float = 0.0


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(lo, hi, 3))


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, amplitude: float) -> np.ndarray:
    """Low-frequency texture (size, size) float32 in [-amplitude, amplitude]."""
    grid = rng.uniform(-amplitude, amplitude, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _shade(colour: np.ndarray, factor: float, add: float = 0.0) -> Tuple[float, ...]:
    return tuple((colour * factor + add).clip(0, 255).tolist())


def _fill(image: np.ndarray, semantic: np.ndarray, pts: np.ndarray, color, label: int) -> None:
    pts = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(image, [pts], color)
    cv2.fillPoly(semantic, [pts], label)


def _background(rng: np.random.Generator, size: int, kind: str) -> Tuple[np.ndarray, np.ndarray]:
    p = size
    image = np.empty((p, p, 3), np.uint8)
    semantic = np.zeros((p, p), np.uint8)
    if kind == 'plain':
        base = np.array(_color(rng, 40, 220), np.float32)
        tex = _smooth_noise(rng, p, int(rng.integers(3, 8)), 35.0)
        image[:] = np.clip(base + tex[..., None], 0, 255).astype(np.uint8)
        return image, semantic
    if kind == 'indoor':
        # A room seen from inside: back wall, side walls, ceiling and floor meeting at a vanishing box.
        x0, x1 = sorted(rng.uniform(0.15, 0.85, 2) * p)
        x1 = max(x1, x0 + 0.2 * p)
        y0 = rng.uniform(0.1, 0.35) * p
        y1 = rng.uniform(0.5, 0.75) * p
        wall = np.array(_color(rng, 120, 240), np.float32)
        image[:] = wall.astype(np.uint8)
        semantic[:] = _SEM['wall']
        _fill(image, semantic, np.array([[0, 0], [x0, y0], [x0, y1], [0, p]]), _shade(wall, 0.8), _SEM['wall'])
        _fill(image, semantic, np.array([[p, 0], [x1, y0], [x1, y1], [p, p]]), _shade(wall, 0.7), _SEM['wall'])
        _fill(image, semantic, np.array([[0, 0], [p, 0], [x1, y0], [x0, y0]]), _shade(wall, 0.9, 20), _SEM['ceiling'])
        floor = _color(rng, 50, 160)
        _fill(image, semantic, np.array([[0, p], [x0, y1], [x1, y1], [p, p]]), floor, _SEM['floor'])
        if rng.random() < 0.6:  # a window on the back wall
            wx0 = rng.uniform(x0 + 2, max(x0 + 3, x1 - 0.2 * (x1 - x0)))
            wx1 = wx0 + rng.uniform(0.2, 0.4) * (x1 - x0)
            wy0 = y0 + rng.uniform(0.1, 0.3) * (y1 - y0)
            wy1 = wy0 + rng.uniform(0.25, 0.45) * (y1 - y0)
            _fill(
                image,
                semantic,
                np.array([[wx0, wy0], [wx1, wy0], [wx1, wy1], [wx0, wy1]]),
                _color(rng, 150, 255),
                _SEM['window'],
            )
        edges = np.round([x0, y0, x1, y1]).astype(int)
        for a, b in (
            ((0, 0), (edges[0], edges[1])),
            ((p, 0), (edges[2], edges[1])),
            ((0, p), (edges[0], edges[3])),
            ((p, p), (edges[2], edges[3])),
        ):
            cv2.line(image, a, b, (40, 40, 40), 1)
        tex = _smooth_noise(rng, p, 6, 12.0)
    else:  # outdoor
        horizon = int(rng.uniform(0.35, 0.65) * p)
        top, bottom = np.array(_color(rng, 60, 160), np.float32), np.array(_color(rng, 170, 255), np.float32)
        top[2], bottom[2] = max(top[2], 170), max(bottom[2], 200)  # bluish sky
        ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
        image[:horizon] = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
        semantic[:horizon] = _SEM['sky']
        ground = np.array(_color(rng, 40, 150), np.float32)
        gtex = _smooth_noise(rng, p, 8, 30.0)[horizon:]
        image[horizon:] = np.clip(ground + gtex[..., None], 0, 255).astype(np.uint8)
        semantic[horizon:] = _SEM['ground']
        for _ in range(int(rng.integers(0, 4))):  # buildings standing on the horizon
            bx0 = rng.uniform(-0.1, 0.9) * p
            bw = rng.uniform(0.1, 0.3) * p
            bh = rng.uniform(0.15, 0.45) * p
            shade = int(rng.integers(60, 200))
            _fill(
                image,
                semantic,
                np.array([[bx0, horizon - bh], [bx0 + bw, horizon - bh], [bx0 + bw, horizon], [bx0, horizon]]),
                (shade, shade, shade + int(rng.integers(0, 30))),
                _SEM['building'],
            )
        tex = _smooth_noise(rng, p, 8, 8.0)
    image[:] = np.clip(image.astype(np.float32) + tex[..., None], 0, 255).astype(np.uint8)
    return image, semantic


# Object drawers: each draws one object of width ``w`` centred at (cx, cy) onto ``layer`` (colours) and ``mask``.
def _draw_face(rng, layer, mask, cx, cy, w):
    ax = (max(2, int(0.38 * w)), max(2, int(0.5 * w)))
    skin = _color(rng, 90, 250)
    cv2.ellipse(layer, (cx, cy), ax, 0, 0, 360, skin, -1)
    cv2.ellipse(mask, (cx, cy), ax, 0, 0, 360, 1, -1)
    eye_r = max(1, int(0.07 * w))
    dark = _color(rng, 0, 60)
    for dx in (-0.16, 0.16):
        cv2.circle(layer, (int(cx + dx * w), int(cy - 0.12 * w)), eye_r, dark, -1)
    cv2.line(layer, (cx, int(cy - 0.05 * w)), (cx, int(cy + 0.08 * w)), tuple(int(c * 0.7) for c in skin), 1)
    cv2.ellipse(
        layer,
        (cx, int(cy + 0.2 * w)),
        (max(1, int(0.15 * w)), max(1, int(0.06 * w))),
        0,
        0,
        180,
        dark,
        max(1, int(0.05 * w)),
    )


def _draw_body(rng, layer, mask, cx, cy, w):
    cloth, skin = _color(rng, 0, 255), _color(rng, 90, 250)
    t = max(1, int(0.09 * w))
    top, hip = int(cy - 0.22 * w), int(cy + 0.12 * w)
    half = int(0.14 * w)
    limbs = [
        ((cx - half, top + t), (int(cx - 0.32 * w), int(cy + 0.1 * w))),
        ((cx + half, top + t), (int(cx + 0.32 * w), int(cy + 0.1 * w))),
        ((cx - half // 2, hip), (int(cx - 0.2 * w), int(cy + 0.5 * w))),
        ((cx + half // 2, hip), (int(cx + 0.2 * w), int(cy + 0.5 * w))),
    ]
    for target, colours in ((layer, (skin, cloth)), (mask, (1, 1))):
        for a, b in limbs:
            cv2.line(target, a, b, colours[0], t)
        cv2.rectangle(target, (cx - half, top), (cx + half, hip), colours[1], -1)
        cv2.circle(target, (cx, int(top - 0.1 * w)), max(1, int(0.1 * w)), colours[0], -1)


def _draw_word(rng, layer, mask, cx, cy, w):
    h = max(3, int(0.35 * w))
    x0, y0 = cx - w // 2, cy - h // 2
    cv2.rectangle(layer, (x0, y0), (x0 + w, y0 + h), _color(rng, 190, 256), -1)
    cv2.rectangle(mask, (x0, y0), (x0 + w, y0 + h), 1, -1)
    text = ''.join(rng.choice(list(string.ascii_uppercase), int(rng.integers(3, 7))))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(0.85 * w / tw, 0.7 * h / th)
    (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
    cv2.putText(layer, text, (cx - tw // 2, cy + th // 2), font, scale, _color(rng, 0, 80), 1, cv2.LINE_8)


def _draw_disk(rng, layer, mask, cx, cy, w):
    r = max(1, w // 2)
    cv2.circle(layer, (cx, cy), r, _color(rng), -1)
    cv2.circle(mask, (cx, cy), r, 1, -1)


def _polygon(layer, mask, rng, pts):
    pts = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(layer, [pts], _color(rng))
    cv2.fillPoly(mask, [pts], 1)


def _draw_square(rng, layer, mask, cx, cy, w):
    side = 0.75 * w
    _polygon(layer, mask, rng, cv2.boxPoints(((cx, cy), (side, side), float(rng.uniform(0, 90)))))


def _draw_triangle(rng, layer, mask, cx, cy, w):
    angle = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
    _polygon(layer, mask, rng, np.stack([cx + 0.55 * w * np.cos(angle), cy + 0.55 * w * np.sin(angle)], 1))


_DRAWERS: Dict[str, Callable] = dict(
    face=_draw_face, body=_draw_body, word=_draw_word, disk=_draw_disk, square=_draw_square, triangle=_draw_triangle
)
_MIN_AREA = 6


def render_scene(rng: np.random.Generator, size: int) -> Scene:
    """Draw one scene: a background, then up to three non-overlapping objects.

    Args:
        rng: the scene's own random generator (one per scene keeps worlds deterministic in any order).
        size: image side P in pixels.
    """
    bg = int(rng.choice(len(BACKGROUNDS), p=_BACKGROUND_P))
    image, semantic = _background(rng, size, BACKGROUNDS[bg])
    occupied = np.zeros((size, size), np.uint8)
    instances: List[Tuple[int, np.ndarray]] = []
    for _ in range(int(rng.choice(len(_N_OBJECTS_P), p=_N_OBJECTS_P))):
        cat = int(rng.choice(len(CATEGORIES), p=_CATEGORY_P))
        for _try in range(12):
            w = max(4, int(rng.uniform(0.22, 0.5) * size))
            cx, cy = (int(c) for c in rng.integers(w // 3, size - w // 3, 2))
            mask = np.zeros((size, size), np.uint8)
            layer = np.zeros((size, size, 3), np.uint8)
            _DRAWERS[CATEGORIES[cat]](rng, layer, mask, cx, cy, w)
            # keep a one-pixel gap between objects so every instance mask is whole and touches no other
            if mask.sum() < _MIN_AREA or np.any(cv2.dilate(mask, np.ones((3, 3), np.uint8)) & occupied):
                continue
            on = mask.astype(bool)
            image[on] = layer[on]
            semantic[on] = _SEM[CATEGORIES[cat]]
            occupied |= mask
            instances.append((cat, on))
            break
    place = 0.0 if BACKGROUNDS[bg] == 'plain' else 1.0 - occupied.mean()
    return Scene(image=image, semantic=semantic, background=bg, instances=instances, place_fraction=float(place))
