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
    from mmbrain.utils.cli import check_path_option, merge_cfg_options

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
    merge_cfg_options(cfg, args.cfg_options)
    check_path_option('--work-dir', cfg.work_dir)
    # mmbrain's runner (safe checkpoints, checked pretrained weights and resumption, CPU multi-process) unless the
    # config names another
    cfg.setdefault('runner_type', 'mmbrain.BrainRunner')
    return cfg


def main() -> None:
    from mmbrain.pipeline.processes import die_with_torchrun_agent

    die_with_torchrun_agent()  # under torchrun: end with the agent (it starts each worker in a session of its own)
    args = parse_args()
    from mmengine.config import Config
    from mmengine.registry import RUNNERS

    from mmbrain.utils.checkpoint import CheckpointError, enable_safe_checkpoint_loading
    from mmbrain.utils.setup_env import register_config_package

    enable_safe_checkpoint_loading()  # weights_only=True for every checkpoint, whatever its URL scheme
    register_config_package()  # _base_ = 'mmbrain::...' in a config anywhere
    cfg = merge_args(Config.fromfile(args.config), args)
    try:
        runner = RUNNERS.build(cfg)
        runner.train()
    except (CheckpointError, FileNotFoundError) as err:  # a checkpoint that is unsafe, missing or does not fit
        sys.exit(f'error: {err}')
    except FloatingPointError as err:  # FiniteLossHook: the training diverged (the message names the iteration)
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
