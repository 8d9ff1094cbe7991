# Copyright (c) mmbrain contributors. All rights reserved.
"""The GPU check: every speed figure of docs/performance.md in one run, written to one JSON file.

    bash benchmarks/gpu_check.sh [--wheels DIR] [--reference PATH] [--out FILE] [--budget SECONDS]
    bash benchmarks/gpu_check.sh --dry-run         # the same phases at tiny sizes on the CPU (a test runs it)

``gpu_check.sh`` installs the wheels it is handed and runs this script, which runs each phase in its own
process under an import guard (``mmcv.ops``, mmcv's compiled ``_ext``, mmdet and mmseg cannot be imported: a
bare GPU machine has mmcv-lite and neither of the others, and the pretraining path must not need them):

===================== ========================================================================================
encoder               ``bench_encoder.py`` batch 64, bf16: batched encoder vs the literal Algorithm 1 loop
full_convnext_compiled the full pretraining step (ConvNeXt-S + encoder + both losses + AdamW), both towers compiled
reference             the reference benchmark given with ``--reference`` (``--full --compile``)
train                 20 iterations of ``tools/train.py`` on the paper config, ``--amp``, fused AdamW, channels-last,
                      8 loader workers reading an NSD-sized converted world (``nsd_scale_world.py``)
full_convnext         the full step, eager
encoder_compiled      the encoder under ``torch.compile`` (and eager again, same process)
full_swin             the full step with Swin-S, eager
full_swin_compiled    the same, compiled
===================== ========================================================================================

Phases run in that order (most important first) within ``--budget`` seconds (default 450, so the whole check
with the install stays under 8 minutes); a phase that would not fit is recorded as skipped, one that fails keeps
its error and the others still run. The JSON holds the versions, every phase's own JSON, a ``summary`` of the
headline figures (samples/s, peak memory, MFU, ``speedup_vs_loop``, the train run's samples/s) and ``targets``
(True / False, None where a figure is missing).
"""

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import os.path as osp
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(REPO, 'benchmarks', 'bench_encoder.py')
#: Modules a bare GPU machine lacks (mmcv-lite has no compiled ops); the pretraining path must not import them.
BLOCKED = ('mmcv.ops', 'mmcv._ext', 'mmdet', 'mmseg')
PAPER_CONFIG = 'configs/pretrain/brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
TINY_CONFIG = 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'
TRAIN_ITERS = 20
TARGETS = dict(speedup_vs_loop=2.0, full_mfu=0.40, full_vs_reference=1.5)


class _ImportGuard(importlib.abc.MetaPathFinder):
    """Hide the modules of :data:`BLOCKED` as if they were not installed: a spec without a loader, so that
    ``pkgutil.find_loader`` finds nothing (as mmengine's ``mmcv_full_available`` asks) and ``import`` raises
    ``ImportError: missing loader`` naming the module."""

    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + '.') for b in BLOCKED):
            return importlib.machinery.ModuleSpec(name, None)
        return None


def run_guarded(script: str, argv: List[str]) -> None:
    """Run ``script`` as ``__main__`` with ``argv`` under the import guard (DataLoader workers fork with it)."""
    sys.meta_path.insert(0, _ImportGuard())
    sys.argv = [script, *argv]
    sys.path.insert(0, osp.dirname(osp.abspath(script)))
    runpy.run_path(script, run_name='__main__')


def _last_json(text: str) -> Optional[Dict]:
    """The JSON object a benchmark printed last (pretty-printed or on one line)."""
    start = text.rfind('\n{')
    start = 0 if start < 0 and text.startswith('{') else start
    try:
        return json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        return None


class Check:
    """Phases run one after another within a time budget; results gathered for the JSON."""

    def __init__(self, budget: float, dry_run: bool, only: Optional[List[str]] = None):
        self.deadline = time.monotonic() + budget
        self.dry_run = dry_run
        self.only = only
        self.phases: Dict[str, Dict] = {}

    def wanted(self, name: str) -> bool:
        return not self.only or name in self.only

    def run(self, name: str, cmd: List[str], cap: float, parse=_last_json) -> Optional[Dict]:
        if not self.wanted(name):
            return None
        left = self.deadline - time.monotonic()
        if not self.dry_run and left < min(cap, 60):
            self.phases[name] = dict(status='skipped', reason=f'budget: {left:.0f} s left')
            return None
        timeout = cap if self.dry_run else min(cap, left)
        guarded = [sys.executable, osp.abspath(__file__), '--run-guarded', *cmd]
        start = time.monotonic()
        print(f'[gpu_check] {name}: {" ".join(cmd)} (timeout {timeout:.0f} s)', file=sys.stderr, flush=True)
        try:
            proc = subprocess.run(guarded, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stderr or b'')[-3000:]
            self.phases[name] = dict(
                status='timeout',
                seconds=round(time.monotonic() - start, 1),
                error=out.decode(errors='replace') if isinstance(out, bytes) else out,
            )
            return None
        entry = dict(seconds=round(time.monotonic() - start, 1))
        result = parse(proc.stdout) if proc.returncode == 0 else None
        if result is None:
            entry.update(status='failed', returncode=proc.returncode, error=(proc.stderr or proc.stdout)[-3000:])
        else:
            entry.update(status='ok', result=result)
        self.phases[name] = entry
        return result


def _train_figures(work_dir: str, batch: int) -> Optional[Dict]:
    """Samples/s, data time and peak memory of a tools/train.py run from mmengine's ``scalars.json``."""
    logs = [osp.join(root, f) for root, _, files in os.walk(work_dir) for f in files if f == 'scalars.json']
    if not logs:
        return None
    with open(logs[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if 'time' in r]
    steady = rows[len(rows) // 4 :] or rows  # the first iterations warm up the loader and cuDNN
    seconds = statistics.median(r['time'] for r in steady)
    out = dict(
        iterations=len(rows),
        batch=batch,
        step_s=seconds,
        samples_per_s=batch / seconds,
        data_time_s=statistics.median(r.get('data_time', 0.0) for r in steady),
        loss_first=rows[0].get('loss'),
        loss_last=rows[-1].get('loss'),
    )
    if any('memory' in r for r in rows):
        out['peak_mem_GB'] = max(r.get('memory', 0) for r in rows) / 1024  # mmengine logs MiB
    return out


def train_phase(check: Check, tmp: str) -> None:
    """An NSD-sized converted world (tiny for the dry run), then tools/train.py of the paper config."""
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from nsd_scale_world import write_nsd_scale_world

    if not check.wanted('train'):
        return
    start = time.monotonic()
    if check.dry_run:
        world = write_nsd_scale_world(
            osp.join(tmp, 'world'), subjects=(1, 2), img_px=32, n_images=40, voxel_scale=0.02, trials=40
        )
        config, batch, workers, iters = TINY_CONFIG, 4, 0, 3
    else:
        world = write_nsd_scale_world(
            osp.join(tmp, 'world'), subjects=range(1, 8), img_px=425, n_images=500, trials=250
        )
        config, batch, workers, iters = PAPER_CONFIG, 64, 8, TRAIN_ITERS
    world['write_s'] = round(time.monotonic() - start, 1)
    work_dir = osp.join(tmp, 'train')
    data = 'train_dataloader.dataset'
    options = [
        f'{data}.data_root={world["data_root"]}',
        f'{data}.stimuli_file={world["stimuli_file"]}',
        f'{data}.subjects={list(world["subjects"])}'.replace(' ', ''),
        f'{data}.indices={batch * iters}',
        f'train_dataloader.batch_size={batch}',
        f'train_dataloader.num_workers={workers}',
        f'train_dataloader.persistent_workers={workers > 0}',
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'log_processor.window_size=1',
        'default_hooks.checkpoint=None',
        'model.data_preprocessor.channels_last=True',
        'optim_wrapper.optimizer.fused=True',
    ]  # the GPU switches
    # AmpOptimWrapper needs a GPU in mmengine 0.10.7: the dry run trains in fp32
    cmd = [
        osp.join(REPO, 'tools/train.py'),
        config,
        '--work-dir',
        work_dir,
        '--no-validate',
        *([] if check.dry_run else ['--amp']),
        '--cfg-options',
        *options,
    ]
    result = check.run('train', cmd, cap=240, parse=lambda _: _train_figures(work_dir, batch))
    if result is not None:
        result.update(world=world, config=config, amp=not check.dry_run, workers=workers)


def summary(phases: Dict[str, Dict]) -> Dict:
    """The headline figures, flat, from the phases that ran."""

    def get(phase, key):
        return phases.get(phase, {}).get('result', {}).get(key)

    out = dict(
        encoder_samples_per_s=get('encoder', 'vectorized_samples_per_s'),
        encoder_loop_samples_per_s=get('encoder', 'loop_samples_per_s'),
        speedup_vs_loop=get('encoder', 'speedup_vs_loop'),
        encoder_mfu=get('encoder', 'vectorized_mfu'),
        encoder_peak_mem_GB=get('encoder', 'vectorized_peak_mem_GB'),
        encoder_max_abs_diff_fp32=get('encoder', 'max_abs_diff_fp32'),
        encoder_compiled_samples_per_s=get('encoder_compiled', 'compiled_samples_per_s'),
        compiled_speedup_vs_loop=get('encoder_compiled', 'compiled_speedup_vs_loop'),
        train_samples_per_s=get('train', 'samples_per_s'),
        train_data_time_s=get('train', 'data_time_s'),
        train_peak_mem_GB=get('train', 'peak_mem_GB'),
    )
    for backbone in ('convnext', 'swin'):
        for suffix in ('', '_compiled'):
            phase = f'full_{backbone}{suffix}'
            for key in ('samples_per_s', 'mfu', 'peak_mem_GB'):
                out[f'{phase}_{key}'] = get(phase, f'full_{key}')
    ref = phases.get('reference', {}).get('result', {})
    out['reference_full_compiled_samples_per_s'] = ref.get('full_compiled_samples_per_s')
    out['reference_full_samples_per_s'] = ref.get('full_samples_per_s')
    out['reference_loop_over_unfold'] = ref.get('loop_over_unfold')
    ours, theirs = out['full_convnext_compiled_samples_per_s'], out['reference_full_compiled_samples_per_s']
    out['full_vs_reference'] = ours / theirs if ours and theirs else None
    return out


def targets(s: Dict) -> Dict:
    """Each target of docs/performance.md: met (True), missed (False) or not measured (None)."""

    def at_least(value, bound):
        return None if value is None else bool(value >= bound)

    return {
        'encoder speedup_vs_loop >= 2 (batch 64)': at_least(s['speedup_vs_loop'], TARGETS['speedup_vs_loop']),
        'full step MFU >= 40% (ConvNeXt-S, compiled)': at_least(s['full_convnext_compiled_mfu'], TARGETS['full_mfu']),
        'full step >= 1.5x the reference full step (both compiled)': at_least(
            s['full_vs_reference'], TARGETS['full_vs_reference']
        ),
    }


def main(args) -> Dict:
    sys.meta_path.insert(0, _ImportGuard())
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from bench_encoder import versions

    check = Check(args.budget, args.dry_run, args.only)
    if args.dry_run:
        size = ['--device', 'cpu', '--tiny', '--batch', '2', '--iters', '1', '--warmup', '0', '--voxels', '200']
        compile_backend = 'eager'
    else:
        size, compile_backend = ['--device', 'cuda', '--batch', '64'], 'inductor'
    compiled = ['--compile', '--compile-backend', compile_backend]
    # the dry run traces with dynamo once (both towers, full step) and keeps the other compiled phases eager
    also_compiled = [] if args.dry_run else compiled
    full = ['--no-encoder', '--full']
    with tempfile.TemporaryDirectory(prefix='gpu_check_') as tmp:
        check.run('encoder', [BENCH, *size, '--no-full'], cap=120)
        check.run('full_convnext_compiled', [BENCH, *size, *full, *compiled], cap=200)
        if args.reference:
            ref_args = ['--device', 'cpu', '--tiny'] if args.dry_run else ['--device', 'cuda', '--full', '--compile']
            check.run('reference', [osp.abspath(args.reference), *ref_args], cap=240)
        train_phase(check, tmp)
        check.run('full_convnext', [BENCH, *size, *full], cap=90)
        check.run('encoder_compiled', [BENCH, *size, '--no-full', *also_compiled], cap=150)
        check.run('full_swin', [BENCH, *size, *full, '--backbone', 'swin'], cap=90)
        check.run('full_swin_compiled', [BENCH, *size, *full, *also_compiled, '--backbone', 'swin'], cap=200)
    s = summary(check.phases)
    return dict(
        versions(),
        dry_run=args.dry_run,
        blocked_imports=list(BLOCKED),
        summary=s,
        targets=targets(s),
        phases=check.phases,
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dry-run', action='store_true', help='tiny sizes on the CPU: checks that every phase runs')
    p.add_argument('--reference', help='reference benchmark script to run in the same check (JSON on stdout)')
    p.add_argument('--out', default='gpu_check.json', help='the JSON written (default ./gpu_check.json)')
    p.add_argument('--budget', type=float, default=450.0, help='seconds for all phases (default 450)')
    p.add_argument('--only', nargs='+', metavar='PHASE', help='run these phases only (names as in the table)')
    return p.parse_args()


if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--run-guarded':
        run_guarded(sys.argv[2], sys.argv[3:])
    else:
        cli = parse_args()
        report = main(cli)
        with open(cli.out + '.partial', 'w') as f:
            json.dump(report, f, indent=1)
        os.replace(cli.out + '.partial', cli.out)
        print(
            json.dumps(
                dict(
                    out=cli.out,
                    summary=report['summary'],
                    targets=report['targets'],
                    phases={k: v['status'] for k, v in report['phases'].items()},
                ),
                indent=1,
            )
        )
