# Copyright (c) mmbrain contributors. All rights reserved.
"""Evaluate a checkpoint with an mmbrain config's test loop (as mmpretrain's tools/test.py).

python tools/test.py configs/pretrain/brainformer_convnext-s.py work_dirs/.../epoch_100.pth [--out results.pkl]
"""

import argparse
import os
import os.path as osp
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation logs')
    parser.add_argument('--out', help='dump the metrics to this file (.pkl/.json/.yaml)')
    parser.add_argument('--amp', action='store_true', help='run the test in mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override config settings, key=value (e.g. test_dataloader.batch_size=8)',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    from mmengine.config import Config
    from mmengine.dist import is_main_process
    from mmengine.registry import RUNNERS

    from mmbrain.utils.checkpoint import (
        CheckpointError,
        check_weights_match,
        enable_safe_checkpoint_loading,
        load_checkpoint_safely,
    )
    from mmbrain.utils.cli import check_path_option, merge_cfg_options, usage_error
    from mmbrain.utils.setup_env import register_config_package

    enable_safe_checkpoint_loading()  # weights_only=True for every checkpoint, whatever its URL scheme
    register_config_package()  # _base_ = 'mmbrain::...' in a config anywhere
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or dict(type='TestLoop'), fp16=True)
    merge_cfg_options(cfg, args.cfg_options)
    if cfg.load_from != args.checkpoint:  # the checked file must be the scored one
        usage_error(
            f'--cfg-options load_from={cfg.load_from} conflicts with the checkpoint argument {args.checkpoint}: '
            'give the checkpoint to test once, as the argument'
        )
    check_path_option('--work-dir', cfg.work_dir)
    cfg.setdefault('runner_type', 'mmbrain.BrainRunner')  # safe checkpoints and CPU multi-process (module docs)
    runner = RUNNERS.build(cfg)
    try:  # mmengine only warns about missing / unexpected / misshapen weights, and would score the model anyway
        check_weights_match(runner.model, load_checkpoint_safely(cfg.load_from), cfg.load_from)
        metrics = runner.test()
    except (CheckpointError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    if args.out and is_main_process():  # every process has the metrics; one writes them, atomically
        from mmengine.fileio import dump

        from mmbrain.utils.atomic import atomic_write

        data = dump(metrics, file_format=osp.splitext(args.out)[1][1:])  # str (json, yaml) or bytes (pkl)
        with atomic_write(args.out, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)


if __name__ == '__main__':
    main()
