# Copyright (c) mmbrain contributors. All rights reserved.
"""Train a model from an mmbrain config with mmengine's Runner (as mmpretrain's tools/train.py).

python tools/train.py configs/pretrain/brainformer_convnext-s.py [--work-dir DIR] [--resume [CKPT]] [--amp]
    [--cfg-options key=value ...] [--launcher pytorch]
"""

import argparse
import os
import os.path as osp
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints (default: work_dirs/CONFIG_NAME)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or, without a path, from the latest checkpoint of the work dir',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (AmpOptimWrapper, bfloat16 unless the config sets a dtype)',
    )
    parser.add_argument('--no-validate', action='store_true', help='do not validate during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size / auto_scale_lr.base_batch_size',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override config settings, key=value (e.g. train_dataloader.batch_size=8)',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: 'Config', args: argparse.Namespace) -> 'Config':  # noqa: F821
    """Apply the command-line options to the config."""
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('dtype', 'bfloat16')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        from mmbrain.utils.cli import parse_cfg_options

        cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    return cfg


def main() -> None:
    args = parse_args()
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner, find_latest_checkpoint

    import mmbrain  # noqa: F401  (registers mmbrain and allow-lists mmengine checkpoint types for weights_only loads)
    from mmbrain.engine import setup_cpu_distributed
    from mmbrain.utils.checkpoint import check_resumable, load_checkpoint_safely

    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)  # gloo and a CPU model wrapper for a distributed launch without CUDA (else nothing)
    resume_from = (cfg.load_from or find_latest_checkpoint(cfg.work_dir)) if cfg.get('resume') else None
    if resume_from:  # Runner.resume would fail with a bare KeyError on, e.g., a backbone-only file
        try:
            check_resumable(load_checkpoint_safely(resume_from), resume_from)
        except (FileNotFoundError, ValueError) as err:
            sys.exit(f'error: {err}')
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    try:
        runner.train()
    except FloatingPointError as err:  # FiniteLossHook: the training diverged (the message names the iteration)
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
