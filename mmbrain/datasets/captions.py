# Copyright (c) mmbrain contributors. All rights reserved.
"""COCO captions of the NSD stimuli: the text side of the CLIP baseline (paper Sec. 4, Tables 1-2).

Every NSD stimulus is a COCO image; ``nsd_stim_info_merged.csv`` gives its ``cocoId`` (and ``cocoSplit``), and
COCO's ``annotations/captions_{train,val}2017.json`` (``annotations``: ``image_id``, ``id``, ``caption``) hold about
five captions per image. :func:`read_nsd_captions` joins the two once per process; the synthetic world writes its
own captions in COCO's layout (:mod:`mmbrain.datasets.synthetic.captions`), so the same join serves both.
"""

import json
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

from .nsd_files import NSDFormatError, read_stim_info, require_file

#: COCO's caption files, relative to the COCO root.
COCO_CAPTION_FILES: Tuple[str, ...] = ('annotations/captions_train2017.json', 'annotations/captions_val2017.json')


def _whole_number(value: object) -> Optional[int]:
    """``value`` as an int when it is a JSON whole number (not a bool, a string or a fraction), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def read_coco_captions(path: str) -> Dict[int, List[str]]:
    """``{image_id: [caption, ...]}`` of a COCO captions file, captions in annotation-id order.

    Raises:
        NSDFormatError: the file does not exist, it is not COCO's captions layout, or an annotation has a
            non-integer ``image_id`` / ``id`` or a caption that is not a string (``null``); the message names the
            file and the annotation.
    """
    with open(require_file(path)) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as err:
            raise NSDFormatError(f'{path}: not a JSON file ({err})') from err
    anns = doc.get('annotations') if isinstance(doc, dict) else None
    if not isinstance(anns, list) or any(
        not isinstance(a, dict) or 'image_id' not in a or 'caption' not in a for a in anns
    ):
        raise NSDFormatError(
            f'{path}: not a COCO captions file (expected "annotations": [{{"image_id", "id", '
            '"caption"}, ...]} as in captions_train2017.json)'
        )
    entries = []
    for index, ann in enumerate(anns):
        image_id, ann_id = _whole_number(ann['image_id']), _whole_number(ann.get('id', 0))
        where = f'annotation {index} (id {ann.get("id")!r}, image_id {ann["image_id"]!r})'
        if image_id is None or ann_id is None:
            raise NSDFormatError(f'{path}: {where}: image_id and id must be integers')
        if not isinstance(ann['caption'], str):
            raise NSDFormatError(f'{path}: {where}: the caption is {ann["caption"]!r}, expected a string')
        entries.append((image_id, ann_id, ann['caption'].strip()))
    out: Dict[int, List[str]] = {}
    for image_id, _, caption in sorted(entries, key=lambda e: e[:2]):
        if caption:
            out.setdefault(image_id, []).append(caption)
    return out


@lru_cache(maxsize=4)
def read_nsd_captions(stim_info: str, caption_files: Tuple[str, ...]) -> Dict[int, Tuple[str, ...]]:
    """``{nsd_id: (caption, ...)}`` for every stimulus of ``nsd_stim_info_merged.csv`` (cached per process).

    Args:
        stim_info: NSD's ``nsd_stim_info_merged.csv`` (read by :func:`~mmbrain.datasets.nsd_files.read_stim_info`).
        caption_files: COCO captions files (train2017 and val2017: NSD draws from both).

    Raises:
        NSDFormatError: a file does not exist or has the wrong layout, or some NSD stimulus has no caption in
            ``caption_files`` (the message names the first few, with their ``cocoId`` and ``cocoSplit``).
    """
    if not caption_files:
        raise ValueError('read_nsd_captions: no COCO caption file given')
    info = read_stim_info(stim_info, ('cocoId',))
    by_coco: Dict[int, List[str]] = {}
    for path in caption_files:
        for image_id, captions in read_coco_captions(path).items():
            by_coco.setdefault(image_id, []).extend(captions)
    splits = info.coco_split if info.coco_split is not None else [''] * len(info.nsd_id)
    out, lacking = {}, []
    for nsd_id, coco_id, split in zip(info.nsd_id.tolist(), info.coco_id.tolist(), splits):
        captions = by_coco.get(coco_id)
        if captions:
            out[nsd_id] = tuple(captions)
        else:
            lacking.append(f'nsdId {nsd_id} (cocoId {coco_id}{", " + split if split else ""})')
    if lacking:
        raise NSDFormatError(
            f'{stim_info}: {len(lacking)} of {len(info.nsd_id)} NSD images have no caption in '
            f'{list(caption_files)}: {", ".join(lacking[:5])}{" ..." if len(lacking) > 5 else ""}; '
            'give both captions_train2017.json and captions_val2017.json'
        )
    return out
