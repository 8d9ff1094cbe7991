# Copyright (c) mmbrain contributors. All rights reserved.
"""Speed and memory of mmbrain's NSD data path (converter and loader); prints JSON.

    python benchmarks/bench_data.py                # ~5 min on 2 CPU cores; writes ~4 GB of worlds in a temp dir
    python benchmarks/bench_data.py --batches 100 --img-size 224 --batch-size 64

Two kinds of world, 2 subjects each: the synthetic NSD world at its default grid (~700-1700 voxels per group,
64 px stimuli; generated and converted by mmbrain's own converter), and an NSD-sized converted world
(``benchmarks/nsd_scale_world.py``: NSD's voxel counts, ~46k / 42k voxels per sample for subjects 1 / 2 over the
six groups, sessions of 750 trials, 1000 stimuli of 425 px).

* ``loader``: samples/s of ``NSDDataset`` (``LoadNSDStimulus`` -> ``LoadNSDResponses`` -> ``PackBrainInputs``) +
  ``brain_collate``, random order over both subjects (mixed batches), images resized to ``--img-size``:
  ``per_worker_cpu_second`` = samples a DataLoader worker delivers per second of its own CPU time (loading,
  collating into shared memory, sending; the per-worker rate, target >= 2000), ``one_worker_end_to_end`` = samples/s
  the main process receives from one worker on this machine (shared cores), ``in_process`` = the same work in the
  main process without a worker (no shared memory, no pickling). ``workers_per_gpu``: loader workers that feed one
  GPU's full pretraining step at the NSD-sized per-worker rate (GPU rates of ``GPU_RATES``).
* ``memory``: peak resident memory (``VmHWM``, MiB) of a fresh process converting the synthetic world, and of one
  loading ``--batches`` batches in-process (the code a worker runs), for worlds of N and 4N sessions (target: flat);
  ``baseline_mib`` is the resident memory after the imports (torch, mmengine, ...).
"""

import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Samples/s one GPU consumes in the full pretraining step (docs/performance.md): the compiled reference step on an
#: H200, and the target of 1.5x that.
GPU_RATES = dict(reference_full_step=868, target_full_step=1302)


def _loader(data_root, stimuli_file, img_size, batch_size, workers):
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    cfg = dict(
        batch_size=batch_size,
        num_workers=workers,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='mmbrain.brain_collate'),
        dataset=dict(
            type='NSDDataset',
            data_root=data_root,
            stimuli_file=stimuli_file,
            subjects=[1, 2],
            split='all',
            pipeline=[
                dict(type='LoadNSDStimulus', img_size=img_size),
                dict(type='LoadNSDResponses'),
                dict(type='PackBrainInputs'),
            ],
        ),
    )
    with DefaultScope.overwrite_default_scope('mmbrain'):
        return Runner.build_dataloader(cfg, seed=0)


def _cpu_seconds(pid):
    """User + system CPU time of a process (from /proc/<pid>/stat)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _iterate(loader, batches, warmup=3):
    """Samples/s through the loader, and (with one worker) samples per CPU-second of the worker."""
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    workers = [w.pid for w in getattr(it, '_workers', [])]
    cpu0 = sum(_cpu_seconds(p) for p in workers)
    n, start = 0, time.perf_counter()
    for _ in range(batches):
        n += len(next(it)['data_samples'])
    rate = n / (time.perf_counter() - start)
    worker_rate = n / (sum(_cpu_seconds(p) for p in workers) - cpu0) if workers else None
    return rate, worker_rate


def _memory_mib(field):
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process in MiB, from /proc (reset at exec, unlike ru_maxrss)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f'{field} not in /proc/self/status')


def probe(args) -> dict:
    """Run in a fresh process: one conversion, or loading ``--batches`` batches in the process, with its peak memory
    and the resident memory after the imports (the baseline the work adds to)."""
    import torch

    from mmbrain.datasets.converter import convert_nsd

    torch.set_num_threads(1)  # as in a DataLoader worker
    baseline = _memory_mib('VmRSS')
    start = time.perf_counter()
    if args.probe == 'convert':
        convert_nsd(args.world, osp.join(args.world, 'mmbrain'), progress=False)
        return dict(seconds=round(time.perf_counter() - start, 2), baseline_mib=baseline, peak_mib=_memory_mib('VmHWM'))
    loader = _loader(osp.join(args.world, 'mmbrain'), args.stimuli, args.img_size, args.batch_size, 0)
    rate = _iterate(loader, args.batches)[0]
    return dict(
        samples=len(loader.dataset), samples_per_s=round(rate, 1), baseline_mib=baseline, peak_mib=_memory_mib('VmHWM')
    )


def _run_probe(kind, world, args, stimuli=''):
    cmd = [
        sys.executable,
        __file__,
        '--probe',
        kind,
        '--world',
        world,
        '--stimuli',
        stimuli,
        '--batches',
        str(args.batches),
        '--batch-size',
        str(args.batch_size),
        '--img-size',
        str(args.img_size),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def _make_world(path, sessions):
    from mmbrain.datasets.synthetic import make_synthetic_nsd

    make_synthetic_nsd(path, n_subjects=2, n_sessions=sessions, n_coco_extra=0, n_ade=0, progress=False)


def _loader_rates(data_root, stimuli, args) -> dict:
    """Per-worker (CPU-second), one-worker end-to-end and in-process samples/s of one world."""
    import torch

    torch.set_num_threads(1)  # as in a DataLoader worker
    in_process = _iterate(_loader(data_root, stimuli, args.img_size, args.batch_size, 0), args.batches)[0]
    torch.set_num_threads(os.cpu_count())
    end_to_end, per_worker_cpu = _iterate(_loader(data_root, stimuli, args.img_size, args.batch_size, 1), args.batches)
    return dict(
        per_worker_cpu_second=round(per_worker_cpu, 1),
        one_worker_end_to_end=round(end_to_end, 1),
        in_process=round(in_process, 1),
    )


def main(args) -> dict:
    from mmengine.utils.dl_utils import set_multi_processing

    from mmbrain.datasets.nsd_files import stimuli_path

    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from nsd_scale_world import write_nsd_scale_world

    set_multi_processing(opencv_num_threads=0, distributed=False)  # what the Runner does before building loaders
    result = dict(
        img_size=args.img_size,
        batch_size=args.batch_size,
        batches=args.batches,
        cpu_count=os.cpu_count(),
        load_average=[round(x, 1) for x in os.getloadavg()],
        loader={},
        memory={},
    )
    with tempfile.TemporaryDirectory(prefix='bench_data_', dir=args.tmp_dir) as tmp:
        grid, nsd = {}, {}
        for factor in (1, 4):
            grid[factor] = osp.join(tmp, f'grid_x{factor}')
            start = time.perf_counter()
            _make_world(grid[factor], args.sessions * factor)
            result['memory'][f'grid_sessions_x{factor}'] = dict(
                sessions=args.sessions * factor,
                generate_seconds=round(time.perf_counter() - start, 1),
                convert=_run_probe('convert', grid[factor], args),
            )
            start = time.perf_counter()
            nsd[factor] = write_nsd_scale_world(
                osp.join(tmp, f'nsd_x{factor}'),
                subjects=(1, 2),
                sessions=args.nsd_sessions * factor,
                img_px=425,
                n_images=args.images,
            )
            result['memory'][f'nsd_sessions_x{factor}'] = dict(
                sessions=args.nsd_sessions * factor,
                write_seconds=round(time.perf_counter() - start, 1),
                **{k: nsd[factor][k] for k in ('voxels_per_row', 'rows_per_subject', 'converted_mib')},
            )
        result['loader']['grid_64px'] = _loader_rates(osp.join(grid[1], 'mmbrain'), stimuli_path(grid[1]), args)
        result['loader']['nsd_425px'] = _loader_rates(nsd[1]['data_root'], nsd[1]['stimuli_file'], args)
        for factor in (1, 4):
            result['memory'][f'grid_sessions_x{factor}']['load'] = _run_probe(
                'load', grid[factor], args, stimuli_path(grid[factor])
            )
            result['memory'][f'nsd_sessions_x{factor}']['load'] = _run_probe(
                'load', osp.dirname(nsd[factor]['data_root']), args, nsd[factor]['stimuli_file']
            )
    per_worker = result['loader']['nsd_425px']['per_worker_cpu_second']
    result['per_worker_samples_per_s_nsd'] = per_worker
    result['target_per_worker'] = 2000
    result['workers_per_gpu'] = {name: math.ceil(rate / per_worker) for name, rate in GPU_RATES.items()}
    mem = result['memory']

    def growth(world, kind):
        return round(mem[f'{world}_sessions_x4'][kind]['peak_mib'] - mem[f'{world}_sessions_x1'][kind]['peak_mib'], 1)

    result['memory_growth_x4_mib'] = dict(
        grid_convert=growth('grid', 'convert'), grid_load=growth('grid', 'load'), nsd_load=growth('nsd', 'load')
    )
    return result


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--batches', type=int, default=60, help='timed batches per measurement')
    p.add_argument('--sessions', type=int, default=3, help='sessions of the 1x synthetic-grid world (4x: 4 times more)')
    p.add_argument('--nsd-sessions', type=int, default=3, help='sessions (750 trials) of the 1x NSD-sized world')
    p.add_argument('--images', type=int, default=1000, help='425 px stimuli of the NSD-sized worlds')
    p.add_argument('--tmp-dir', help='where the worlds are written (default: the system temporary folder)')
    p.add_argument('--probe', choices=('convert', 'load'), help=argparse.SUPPRESS)
    p.add_argument('--world', help=argparse.SUPPRESS)
    p.add_argument('--stimuli', help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == '__main__':
    args = parse_args()
    print(json.dumps(probe(args) if args.probe else main(args), indent=None if args.probe else 1))
