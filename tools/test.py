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
    from mmengine.runner import Runner

    import mmbrain  # noqa: F401  (registers mmbrain and allow-lists mmengine checkpoint types for weights_only loads)
    from mmbrain.engine import setup_cpu_distributed
    from mmbrain.utils.checkpoint import check_weights_match, load_checkpoint_safely
    from mmbrain.utils.cli import parse_cfg_options

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or dict(type='TestLoop'), fp16=True)
    if args.cfg_options is not None:
        cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    setup_cpu_distributed(cfg)  # gloo and a CPU model wrapper for a distributed launch without CUDA (else nothing)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    try:  # mmengine only warns about missing / unexpected / misshapen weights, and would score the model anyway
        check_weights_match(runner.model, load_checkpoint_safely(args.checkpoint), args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
    metrics = runner.test()
    if args.out and is_main_process():  # every process has the metrics; one writes them, atomically
        from mmengine.fileio import dump

        from mmbrain.utils.atomic import atomic_write

        data = dump(metrics, file_format=osp.splitext(args.out)[1][1:])  # str (json, yaml) or bytes (pkl)
        with atomic_write(args.out, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)


if __name__ == '__main__':
    main()
