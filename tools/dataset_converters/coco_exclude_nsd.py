# Copyright (c) mmbrain contributors. All rights reserved.
"""Write COCO annotations without the images NSD showed, to keep them out of downstream training (paper Sec. 4.3).

    python tools/dataset_converters/coco_exclude_nsd.py \\
        data/coco/annotations/instances_train2017.json \\
        data/nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv \\
        data/coco/annotations/instances_train2017_nsd-excluded.json \\
        --val data/coco/annotations/instances_val2017.json data/coco/annotations/instances_val2017_nsd-excluded.json

NSD's 73k stimuli are COCO images; ``nsd_stim_info_merged.csv`` maps each to its ``cocoId`` (and ``cocoSplit``).
Every image whose id is one of them is removed from the annotation file, with all its annotations; categories,
info and licenses are kept. The output is written to a temporary file and renamed into place.

Leakage both ways (docs/evaluation.md): the training file without NSD images keeps downstream training off the
images pretraining saw; ``--val`` also writes val2017 without NSD images (NSD draws ~10% of its stimuli from
val2017), the second evaluation set of the detection configs (``coco-wo-nsd/`` keys) beside standard val2017.
"""

import argparse
import json
from typing import Dict, Set, Tuple


def read_nsd_coco_ids(stim_info: str) -> Tuple[Set[int], Dict[str, int]]:
    """The ``cocoId`` of every NSD stimulus, and how many come from each COCO split.

    Raises:
        NSDFormatError (a ValueError): the CSV is not NSD's (see :func:`mmbrain.datasets.nsd_files.read_stim_info`).
    """
    from mmbrain.datasets.nsd_files import read_stim_info

    info = read_stim_info(stim_info, ('cocoId',))
    return set(info.coco_id.tolist()), info.coco_splits()


def exclude_images(coco: dict, excluded_ids: Set[int], ann_file: str) -> Tuple[dict, dict]:
    """A copy of the COCO dict without the images in ``excluded_ids`` and their annotations.

    Returns:
        ``(filtered, report)``, report holding the image and annotation counts before and after.

    Raises:
        ValueError: ``coco`` is not a COCO instances dict.
    """
    if (
        not isinstance(coco, dict)
        or not isinstance(coco.get('images'), list)
        or not isinstance(coco.get('annotations'), list)
    ):
        raise ValueError(f'{ann_file}: not a COCO annotation file (needs "images" and "annotations" lists)')
    images = [img for img in coco['images'] if img['id'] not in excluded_ids]
    kept_ids = {img['id'] for img in images}
    annotations = [ann for ann in coco['annotations'] if ann['image_id'] in kept_ids]
    filtered = {**coco, 'images': images, 'annotations': annotations}
    report = dict(
        images_before=len(coco['images']),
        images_removed=len(coco['images']) - len(images),
        annotations_before=len(coco['annotations']),
        annotations_removed=len(coco['annotations']) - len(annotations),
    )
    return filtered, report


def _read_json(path: str) -> dict:
    """A JSON file's contents; a parse error names the file."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not valid JSON: {err}') from err


def main() -> None:
    parser = argparse.ArgumentParser(description='Remove the images NSD showed (by cocoId) from COCO annotations.')
    parser.add_argument('ann_file', help='COCO instances json, e.g. instances_train2017.json')
    parser.add_argument('stim_info', help="NSD's nsd_stim_info_merged.csv")
    parser.add_argument('out', help='output json (written atomically)')
    parser.add_argument(
        '--val',
        nargs=2,
        metavar=('VAL_ANN_FILE', 'VAL_OUT'),
        help='also write VAL_ANN_FILE (instances_val2017.json) without the NSD images to VAL_OUT',
    )
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    args = parser.parse_args()
    from mmbrain.utils.atomic import OutputExistsError, SameFileError, atomic_write, check_output, same_file

    jobs = [(args.ann_file, args.out)] + ([tuple(args.val)] if args.val else [])
    if args.val and same_file(args.out, args.val[1]):
        parser.exit(2, f'error: OUT and VAL_OUT are the same file ({args.out}); give the val2017 output its own name\n')
    inputs = [args.stim_info] + [ann_file for ann_file, _ in jobs]
    try:  # no output may be an input, even through a symlinked folder or a hard link
        for _, out in jobs:
            check_output(out, args.overwrite, inputs)
    except (OutputExistsError, SameFileError) as err:
        parser.exit(2, f'error: {err}\n')
    try:
        nsd_ids, splits = read_nsd_coco_ids(args.stim_info)
        results = [(ann_file, out) + exclude_images(_read_json(ann_file), nsd_ids, ann_file) for ann_file, out in jobs]
    except (FileNotFoundError, ValueError) as err:
        parser.exit(1, f'error: {err}\n')
    split_text = ', '.join(f'{n} from {s}' for s, n in sorted(splits.items()))
    print(f'NSD stimuli: {len(nsd_ids)} COCO ids' + (f' ({split_text})' if split_text else ''))
    for ann_file, out, filtered, report in results:
        try:
            with atomic_write(out, overwrite=args.overwrite, inputs=inputs) as f:
                json.dump(filtered, f)
        except OSError as err:  # a full or read-only folder, or another run wrote the output meanwhile
            parser.exit(1, f'error: {err}\n')
        print(
            f'removed {report["images_removed"]} of {report["images_before"]} images and '
            f'{report["annotations_removed"]} of {report["annotations_before"]} annotations from {ann_file}'
        )
        print(
            f'kept {report["images_before"] - report["images_removed"]} images, '
            f'{report["annotations_before"] - report["annotations_removed"]} annotations -> {out}'
        )


if __name__ == '__main__':
    main()
