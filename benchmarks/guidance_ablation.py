# Copyright (c) mmbrain contributors. All rights reserved.
"""Which Brain fMRI Guidance Loss setting to use: pretrain with each on the synthetic NSD world over seeds; prints JSON.

    nice -n 10 python benchmarks/guidance_ablation.py --work-dir work_dirs/guidance_ablation \\
        [--seeds 0 1 2] [--settings none rois samples rois+samples] [--pretrain-iters 600] [--world DIR]

For every seed and setting (``none`` = without the guidance loss, ``rois`` = Eq. 6 as printed, ``samples``,
``rois+samples``; see ``BrainFMRIGuidanceLoss(negatives=...)``) it

1. pretrains ``configs/demo/brainformer_convnext-mini_1xb32-600i_synthetic-demo.py`` (``--pretrain-iters``
   iterations, the demo's schedule shape) with ``tools/train.py``; the config's ``LossGradientNormHook`` logs the
   norm of the gradient that ``loss_bfg`` and ``loss_con`` each send to the backbone (``backbone_grad_bfg``,
   ``backbone_grad_con``);
2. extracts the backbone (``tools/model_converters/brainformer_to_backbone.py``) and trains the demo's voxel
   readout on the held-out subject 8 (``configs/demo/voxel-readout_convnext-mini-brainformer-pre_...-demo.py``),
   frozen backbone, with ``tools/train.py``; its test split is scored once by ``tools/test.py``.

and reports per setting the retrieval of the last pretraining validation, the readout's validation and test
scores, and the gradient norms (first measurement, mean of the last quarter of the run): mean ± sd over seeds
and paired differences (per seed) against ``rois`` and ``none`` with 95% t-intervals. Each step is skipped when
its output exists (rerun to resume; delete a run's folder to redo it). The world (``make_synthetic_nsd.py`` with
its defaults, converted by ``nsd_to_mmbrain.py``) is generated under ``--work-dir`` unless ``--world`` gives one
(a folder holding ``mmbrain/subjXX.h5`` and ``nsddata_stimuli/``). Commands run with the work dir as the current
folder, where ``data/synthetic_nsd`` points at the world, so the configs' relative data paths hold.
"""

import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIG = 'configs/demo/brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
READOUT_CONFIG = 'configs/demo/voxel-readout_convnext-mini-brainformer-pre_1xb32-4e_synthetic-nsd-subj08-demo.py'
#: setting -> the guidance loss of the pretraining config (None: no guidance loss).
SETTINGS = {'none': None, 'rois': 'rois', 'samples': 'samples', 'rois+samples': 'rois+samples'}
RETRIEVAL_KEYS = (
    'retrieval/img2brain_top1',
    'retrieval/img2brain_top5',
    'retrieval/brain2img_top1',
    'retrieval/brain2img_top5',
)
ENCODING_KEYS = ('nsd/pearson_mean', 'nsd/algonauts_score')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', required=True, help='folder of the runs (resumable)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument('--pretrain-iters', type=int, default=600, help='pretraining iterations (demo: 600)')
    parser.add_argument('--grad-interval', type=int, default=10, help='iterations between gradient measurements')
    parser.add_argument('--world', help='an existing synthetic world (default: generate one in the work dir)')
    parser.add_argument('--jobs', type=int, default=1, help='runs at a time (each on one thread)')
    parser.add_argument('--workers', type=int, default=2, help='dataloader workers per run')
    parser.add_argument('--summary-only', action='store_true', help='only summarise the runs that exist')
    args = parser.parse_args()
    if args.pretrain_iters < 40:
        parser.error('--pretrain-iters must be at least 40')
    return args


def run(cmd, cwd, log):
    """Run a command (this interpreter, the repository on its path), its output appended to ``log``."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    with open(log, 'a') as f:
        f.write(f'$ {" ".join(cmd)}\n')
        f.flush()
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f'command failed (exit {done.returncode}, see {log}): {" ".join(cmd)}')


def tool(relpath, *args):
    return [sys.executable, osp.join(REPO, relpath), *args]


def pretrain_config(path, setting, seed, iters, grad_interval, workers):
    """A config file: the demo pretraining with ``setting``, ``seed`` and ``iters`` iterations."""
    warmup = max(5, round(iters / 30))  # the demo's 20 of 600 (mmengine's LinearLR never reaches 1 with end=1)
    loss = 'None' if SETTINGS[setting] is None else f"dict(type='BrainFMRIGuidanceLoss', negatives='{setting}')"
    text = f"""_base_ = '{osp.join(REPO, PRETRAIN_CONFIG)}'
model = dict(guidance_loss={loss})
randomness = dict(seed={seed}, deterministic=False)
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters}, val_interval={iters})
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end={warmup}),
    dict(type='CosineAnnealingLR', T_max={iters - warmup}, eta_min=1e-5, by_epoch=False, begin={warmup},
         end={iters}),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval={iters}, max_keep_ckpts=1))
custom_hooks = [dict(type='LossGradientNormHook', interval={grad_interval})]
train_dataloader = dict(num_workers={workers}, persistent_workers={workers > 0})
val_dataloader = dict(num_workers={workers}, persistent_workers={workers > 0})
test_dataloader = val_dataloader
"""
    with open(path, 'w') as f:
        f.write(text)


def scalars(work_dir):
    """The records of the latest ``vis_data/scalars.json`` of an mmengine work dir."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'{work_dir}: no */vis_data/scalars.json')
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_one(args, world_cwd, setting, seed):
    """Pretrain, extract, read out; returns the run's measurements."""
    root = osp.join(osp.abspath(args.work_dir), f'seed{seed}', setting.replace('+', '-'))
    os.makedirs(root, exist_ok=True)
    log = osp.join(root, 'commands.log')
    pre_dir, ckpt = osp.join(root, 'pretrain'), osp.join(root, 'pretrain', f'iter_{args.pretrain_iters}.pth')
    backbone = osp.join(root, 'backbone.pth')
    read_dir = osp.join(root, 'readout')
    test_json = osp.join(root, 'readout_test.json')
    timing = {}
    if not args.summary_only:
        start = time.time()
        if not osp.isfile(ckpt):
            cfg = osp.join(root, 'pretrain_config.py')
            pretrain_config(cfg, setting, seed, args.pretrain_iters, args.grad_interval, args.workers)
            run(tool('tools/train.py', cfg, '--work-dir', pre_dir), world_cwd, log)
        timing['pretrain_s'] = time.time() - start
        if not osp.isfile(backbone):
            run(tool('tools/model_converters/brainformer_to_backbone.py', ckpt, backbone), world_cwd, log)
        start = time.time()
        options = ['--cfg-options', f'model.backbone.init_cfg.checkpoint={backbone}', f'randomness.seed={seed}'] + [
            f'{loader}_dataloader.{key}={value}'
            for loader in ('train', 'val', 'test')
            for key, value in (('num_workers', args.workers), ('persistent_workers', args.workers > 0))
        ]
        read_ckpts = glob.glob(osp.join(read_dir, 'epoch_*.pth'))
        if not read_ckpts:
            run(
                tool('tools/train.py', osp.join(REPO, READOUT_CONFIG), '--work-dir', read_dir, *options), world_cwd, log
            )
            read_ckpts = glob.glob(osp.join(read_dir, 'epoch_*.pth'))
        if not osp.isfile(test_json):
            last = max(read_ckpts, key=lambda p: int(osp.basename(p)[6:-4]))
            run(
                tool(
                    'tools/test.py',
                    osp.join(REPO, READOUT_CONFIG),
                    last,
                    '--work-dir',
                    osp.join(read_dir, 'test'),
                    '--out',
                    test_json,
                    *options,
                ),
                world_cwd,
                log,
            )
        timing['readout_s'] = time.time() - start
    if not (osp.isfile(ckpt) and osp.isfile(test_json)):
        return None
    records = scalars(pre_dir)
    val = [r for r in records if RETRIEVAL_KEYS[0] in r]
    out = dict(setting=setting, seed=seed, **timing)
    out.update({k: val[-1][k] for k in RETRIEVAL_KEYS})
    out['retrieval_top5_mean'] = (val[-1][RETRIEVAL_KEYS[1]] + val[-1][RETRIEVAL_KEYS[3]]) / 2
    for name in ('backbone_grad_bfg', 'backbone_grad_con', 'loss_bfg', 'loss_con'):
        series = [(r['step'], r[name]) for r in records if name in r]
        if series:
            tail = [v for s, v in series if s > 0.75 * args.pretrain_iters]
            out[f'{name}_first'] = series[0][1]
            out[f'{name}_last_quarter'] = sum(tail) / len(tail)
    if 'backbone_grad_bfg_first' in out:
        out['backbone_grad_bfg_ratio'] = out['backbone_grad_bfg_last_quarter'] / out['backbone_grad_bfg_first']
    read_val = [r for r in scalars(read_dir) if ENCODING_KEYS[0] in r]
    out.update({f'val/{k}': read_val[-1][k] for k in ENCODING_KEYS})
    with open(test_json) as f:
        test = json.load(f)
    out.update({f'test/{k}': test[k] for k in ENCODING_KEYS})
    return out


def summary(runs, settings):
    """Mean ± sd per setting and metric; paired differences against ``rois`` and ``none``."""
    sys.path.insert(0, REPO)
    from mmbrain.pipeline.statistics import paired_difference, summarize

    metrics = sorted({k for r in runs for k, v in r.items() if isinstance(v, float) and not k.endswith('_s')})
    by = {s: {r['seed']: r for r in runs if r['setting'] == s} for s in settings}
    table = {s: {m: vars(summarize([r.get(m) for r in by[s].values()])) for m in metrics} for s in settings}
    diffs = {}
    for base in ('rois', 'none'):
        for s in settings:
            if s == base or base not in by:
                continue
            seeds = sorted(set(by[s]) & set(by[base]))
            diffs[f'{s} - {base}'] = {
                m: vars(paired_difference([by[s][i].get(m) for i in seeds], [by[base][i].get(m) for i in seeds]))
                for m in metrics
            }
    return dict(summary=table, paired_differences=diffs)


def main() -> None:
    args = parse_args()
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    world = osp.abspath(args.world) if args.world else osp.join(work, 'world')
    from mmbrain.datasets.converted_file import subject_file_name  # numpy only: the job runs in subprocesses

    converted = osp.join(world, 'mmbrain', subject_file_name(8))  # the held-out subject, converted last
    if not args.world and not args.summary_only and not osp.isfile(converted):
        log = osp.join(work, 'world.log')
        run(tool('tools/dataset_converters/make_synthetic_nsd.py', '--out', world, '--overwrite', '--quiet'), work, log)
        run(
            tool(
                'tools/dataset_converters/nsd_to_mmbrain.py',
                '--nsd-root',
                world,
                '--out',
                osp.join(world, 'mmbrain'),
                '--overwrite',
                '--quiet',
            ),
            work,
            log,
        )
    link = osp.join(work, 'cwd', 'data', 'synthetic_nsd')
    os.makedirs(osp.dirname(link), exist_ok=True)
    if not osp.islink(link):
        os.symlink(world, link)

    def one(job):
        got = run_one(args, osp.join(work, 'cwd'), *job)
        print(json.dumps(got), file=sys.stderr, flush=True)
        return got

    jobs = [(setting, seed) for seed in args.seeds for setting in args.settings]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = [got for got in pool.map(one, jobs) if got is not None]
    result = dict(
        pretrain_config=PRETRAIN_CONFIG,
        readout_config=READOUT_CONFIG,
        pretrain_iters=args.pretrain_iters,
        seeds=args.seeds,
        settings=args.settings,
        runs=runs,
        **summary(runs, args.settings),
    )
    print(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
