# Copyright (c) mmbrain contributors. All rights reserved.
"""COCO captions of the NSD stimuli: the text side of the CLIP baseline (paper Sec. 4, Tables 1-2).

Every NSD stimulus is a COCO image; ``nsd_stim_info_merged.csv`` gives its ``cocoId`` (and ``cocoSplit``), and
COCO's ``annotations/captions_{train,val}2017.json`` (``annotations``: ``image_id``, ``id``, ``caption``) hold about
five captions per image. :func:`read_nsd_captions` joins the two once per process; the synthetic world writes its
own captions in COCO's layout (:mod:`mmbrain.datasets.synthetic.captions`), so the same join serves both.
"""

import json
from functools import lru_cache
from typing import Dict, List, Tuple

from .nsd_files import NSDFormatError, require_file

#: COCO's caption files, relative to the COCO root.
COCO_CAPTION_FILES: Tuple[str, ...] = ('annotations/captions_train2017.json', 'annotations/captions_val2017.json')


def read_coco_captions(path: str) -> Dict[int, List[str]]:
    """``{image_id: [caption, ...]}`` of a COCO captions file, captions in annotation-id order.

    Raises:
        NSDFormatError: the file does not exist, or it is not COCO's captions layout.
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
    out: Dict[int, List[str]] = {}
    for ann in sorted(anns, key=lambda a: (int(a['image_id']), int(a.get('id', 0)))):
        caption = str(ann['caption']).strip()
        if caption:
            out.setdefault(int(ann['image_id']), []).append(caption)
    return out


@lru_cache(maxsize=4)
def read_nsd_captions(stim_info: str, caption_files: Tuple[str, ...]) -> Dict[int, Tuple[str, ...]]:
    """``{nsd_id: (caption, ...)}`` for every stimulus of ``nsd_stim_info_merged.csv`` (cached per process).

    Args:
        stim_info: NSD's ``nsd_stim_info_merged.csv`` (columns ``nsdId``, 0-based, and ``cocoId``).
        caption_files: COCO captions files (train2017 and val2017: NSD draws from both).

    Raises:
        NSDFormatError: a file does not exist or has the wrong layout, or some NSD stimulus has no caption in
            ``caption_files`` (the message names the first few, with their ``cocoId`` and ``cocoSplit``).
    """
    import pandas as pd

    if not caption_files:
        raise ValueError('read_nsd_captions: no COCO caption file given')
    table = pd.read_csv(require_file(stim_info))
    missing_columns = [c for c in ('nsdId', 'cocoId') if c not in table.columns]
    if missing_columns:
        raise NSDFormatError(
            f'{stim_info}: no column(s) {missing_columns} (columns: {list(table.columns)[:12]}); '
            "expected NSD's nsd_stim_info_merged.csv"
        )
    by_coco: Dict[int, List[str]] = {}
    for path in caption_files:
        for image_id, captions in read_coco_captions(path).items():
            by_coco.setdefault(image_id, []).extend(captions)
    splits = table['cocoSplit'] if 'cocoSplit' in table.columns else [''] * len(table)
    out, lacking = {}, []
    for nsd_id, coco_id, split in zip(table['nsdId'].astype(int), table['cocoId'].astype(int), splits):
        captions = by_coco.get(int(coco_id))
        if captions:
            out[int(nsd_id)] = tuple(captions)
        else:
            lacking.append(f'nsdId {nsd_id} (cocoId {coco_id}{", " + split if split else ""})')
    if lacking:
        raise NSDFormatError(
            f'{stim_info}: {len(lacking)} of {len(table)} NSD images have no caption in '
            f'{list(caption_files)}: {", ".join(lacking[:5])}{" ..." if len(lacking) > 5 else ""}; '
            'give both captions_train2017.json and captions_val2017.json'
        )
    return out
