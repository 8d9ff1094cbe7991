# Copyright (c) mmbrain contributors. All rights reserved.
"""The trivial baseline of a semantic segmentation config: predict its training split's most frequent class.

    python tools/analysis_tools/majority_class_baseline.py \\
        configs/seg/upernet_convnext-mini-rand-init_1xb8-2k_synthetic-ade-64x64.py --out majority_class.json

The class is the one with the most labelled pixels in the config's ``train_dataloader`` dataset (ignored pixels
left out, ``reduce_zero_label`` as the dataset sets it); every pixel of every ``val_dataloader`` image is predicted
as that class and scored by the config's own ``val_evaluator`` (mmseg's IoUMetric: mIoU, mAcc, aAcc in %). A model
whose mIoU is not well above this number has learned nothing beyond the class frequencies. Only the label maps are
read. Exit 1: data error; 2: usage error.
"""

import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Score the majority-class prediction (the training split's most frequent class everywhere) "
        "with a segmentation config's own val_evaluator."
    )
    parser.add_argument('config', help='mmseg config (train_dataloader, val_dataloader, val_evaluator)')
    parser.add_argument('--out', required=True, help='result JSON (written atomically)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help="override config settings (mmengine DictAction syntax), e.g. the datasets' data_root",
    )
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'{args.config}: no such config file')
    return args


def _label_maps(dataset_cfg):
    """The dataset of ``dataset_cfg`` reading label maps only (``PackSegInputs`` gives ``gt_sem_seg``)."""
    from mmseg.registry import DATASETS

    dataset_cfg = dict(dataset_cfg, pipeline=[dict(type='LoadAnnotations'), dict(type='PackSegInputs')])
    return DATASETS.build(dataset_cfg)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import METRICS

    from mmbrain.utils import atomic_write
    from mmbrain.utils.cli import parse_cfg_options

    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        train = _label_maps(cfg.train_dataloader.dataset)
        val = _label_maps(cfg.val_dataloader.dataset)
        num_classes = len(train.metainfo['classes'])
        ignore_index = train.ignore_index
        counts = np.zeros(num_classes, dtype=np.int64)
        for index in range(len(train)):
            labels = train[index]['data_samples'].gt_sem_seg.data.flatten()
            labels = labels[labels != ignore_index]
            counts += torch.bincount(labels.long(), minlength=num_classes)[:num_classes].numpy()
        if not counts.any():
            raise ValueError(f'{args.config}: the training split has no labelled pixel')
        majority = int(counts.argmax())
        metric = METRICS.build(cfg.val_evaluator)
        metric.dataset_meta = val.metainfo
        for index in range(len(val)):
            sample = val[index]['data_samples']
            gt = sample.gt_sem_seg.data
            pred = torch.full_like(gt, majority)
            metric.process({}, [dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt))])
        scores = metric.evaluate(len(val))
    except (FileNotFoundError, ValueError, KeyError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    result = dict(
        {key: round(float(value), 4) for key, value in scores.items()},
        majority_class=train.metainfo['classes'][majority],
        majority_class_pixel_fraction=float(counts[majority] / counts.sum()),
        n_train_images=len(train),
        n_val_images=len(val),
    )
    with atomic_write(args.out) as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(
        f'majority class {result["majority_class"]!r} everywhere: mIoU {result["mIoU"]:.2f}, mAcc '
        f'{result["mAcc"]:.2f}, aAcc {result["aAcc"]:.2f} on {len(val)} validation images -> {args.out}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
