# Copyright (c) mmbrain contributors. All rights reserved.
"""Voxel-wise ridge regression on frozen backbone features: the standard encoding baseline beside the readout.

    python tools/analysis_tools/fit_ridge_encoding.py \\
        configs/encoding/voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py \\
        [--checkpoint work_dirs/.../backbone.pth] --out work_dirs/ridge/brainformer.json

Features are extracted once from the encoding config's backbone (its ``init_cfg``: a converted backbone file, or
the random initialisation seeded by ``--seed``; ``--checkpoint`` replaces the file) through the readout head's
pooling; himalaya's RidgeCV chooses each voxel's penalty by ``--folds``-fold cross-validation on the training split
(the held-out subject's own images, validation images excluded), and the test split (shared1000) is scored once by
the config's ``test_evaluator`` (BrainEncodingMetric), its keys prefixed ``ridge/`` (e.g. ``ridge/pearson_mean``,
``ridge/algonauts_score``). See docs/evaluation.md. Exit 1: data or runtime error; 2: usage error.
"""

import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Voxel-wise ridge (himalaya RidgeCV, per-voxel penalty by CV on the training split) on frozen '
        'backbone features of an encoding config, scored once on its test split.'
    )
    parser.add_argument('config', help='encoding config (BrainResponsePredictor)')
    parser.add_argument(
        '--checkpoint',
        help='backbone file (tools/model_converters/brainformer_to_backbone.py); '
        "default: the config's model.backbone.init_cfg",
    )
    parser.add_argument('--out', required=True, help='result JSON (flat metric keys, written atomically)')
    parser.add_argument(
        '--alphas', type=float, nargs='+', help='penalties searched (default: 1e-2 .. 1e7, 19 log-spaced values)'
    )
    parser.add_argument('--folds', type=int, default=5, help='cross-validation folds over the training images')
    parser.add_argument('--backend', choices=['numpy', 'torch'], default='numpy', help='himalaya backend (CPU)')
    parser.add_argument('--seed', type=int, default=0, help='seed of a randomly initialised backbone')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='override config settings (mmengine DictAction syntax)',
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error('--folds must be at least 2')
    if args.alphas is not None and min(args.alphas) <= 0:
        parser.error('--alphas must be positive')
    if not osp.isfile(args.config):
        parser.error(f'{args.config}: no such config file')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'{args.checkpoint}: no such checkpoint file')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.config import Config

    import mmbrain  # noqa: F401  (registers mmbrain's modules)
    from mmbrain.evaluation.ridge import DEFAULT_ALPHAS, build_ridge_inputs, extract_features, ridge_encoding
    from mmbrain.registry import METRICS
    from mmbrain.utils import atomic_write
    from mmbrain.utils.cli import parse_cfg_options

    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
        if cfg.model.get('type') != 'BrainResponsePredictor' or 'test_evaluator' not in cfg:
            raise ValueError(
                f'{args.config}: not an encoding config (needs a BrainResponsePredictor model and a test_evaluator)'
            )
        model, loaders = build_ridge_inputs(cfg, args.checkpoint, seed=args.seed)
        train = extract_features(model, loaders['train'], 'features (train split)')
        test = extract_features(model, loaders['test'], 'features (test split)')
        metric = METRICS.build(dict(cfg.test_evaluator, prefix='ridge'))
        scores = ridge_encoding(train, test, metric, args.alphas or DEFAULT_ALPHAS, args.folds, args.backend)
    except (FileNotFoundError, ValueError, KeyError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    with atomic_write(args.out) as f:
        json.dump(scores, f, indent=1, sort_keys=True)
    print(
        f'ridge/pearson_mean {scores["ridge/pearson_mean"]:.4f}, ridge/algonauts_score '
        f'{scores.get("ridge/algonauts_score", float("nan")):.2f} ({scores["ridge/n_train_images"]} training, '
        f'{scores["ridge/n_test_images"]} test images, {scores["ridge/n_features"]} features) -> {args.out}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
