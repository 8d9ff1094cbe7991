# Copyright (c) mmbrain contributors. All rights reserved.
"""Speed of the Brainformer fMRI encoder and of the full pretraining step; prints JSON.

    python benchmarks/bench_encoder.py                 # CPU: small dims (d=64, 6 ROIs x 3000 voxels, batch 4)
    python benchmarks/bench_encoder.py --device cuda   # GPU: paper config (d=768, w=64, s=32, h=2), batch 64,
                                                       # bf16 autocast, plus the full pretraining step
Options: --batch N, --subjects N (ragged batch of N subjects), --iters N, --compile, --no-full, --tiny.

Keys: ``speedup_vs_loop`` = time of a forward+backward (+ AdamW step) of the literal Algorithm 1 loop
(``BrainformerEncoder.forward_loop``) / that of the batched encoder, same weights; ``max_abs_diff_fp32`` between
their outputs. With the full step (default on cuda): ``full_samples_per_s``, ``full_peak_mem_GB`` and
``full_mfu`` = 3 x forward FLOPs per sample x samples/s / peak bf16 FLOP/s (989 TFLOP/s for H100/H200 unless
--peak-tflops says otherwise; FlopCounterMode overcounts depthwise-conv backward, hence forward x 3).
"""
import argparse
import json
import os.path as osp
import time
from typing import Callable, Dict, List

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROIS = ['prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams']
PAPER_VOXELS = [7000, 4000, 4500, 3500, 4000, 20000]  # as shared/bench/reference_encoder_bench.py


def make_batch(voxels: List[int], batch: int, subjects: int, img_size: int, device: str, seed: int = 0) -> Dict:
    """A collated batch (uint8 images) of ``subjects`` subjects whose ROI sizes vary by up to -20%."""
    gen = torch.Generator().manual_seed(seed)
    counts = [[int(n * (1 - 0.2 * s / max(subjects - 1, 1))) for n in voxels] for s in range(subjects)]
    subject_index = torch.arange(batch) % subjects
    fmri, mask, xyz = {}, {}, {}
    for k, roi in enumerate(ROIS[:len(voxels)]):
        width = max(c[k] for c in counts)
        lengths = torch.tensor([counts[s][k] for s in subject_index.tolist()])
        mask[roi] = torch.arange(width)[None] < lengths[:, None]
        fmri[roi] = torch.randn(batch, width, generator=gen) * mask[roi]
        xyz[roi] = torch.rand(subjects, width, 3, generator=gen) * 150 - 75
    img = torch.randint(0, 256, (batch, 3, img_size, img_size), dtype=torch.uint8, generator=gen)
    to = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
    return dict(img=img.to(device), fmri=to(fmri), fmri_mask=to(mask), xyz=to(xyz),
                subject_index=subject_index.to(device))


def timeit(fn: Callable, device: str, iters: int, warmup: int = 2) -> float:
    """Mean seconds per call after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def model_cfg(args) -> 'mmengine.Config':  # noqa: F821
    """The paper's model config (configs/_base_/models/brainformer_convnext-s.py), shrunk with --tiny."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/brainformer_convnext-s.py'))
    if args.tiny:
        cfg.model.backbone.arch = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])
        cfg.model.backbone_out_dims = 128
        cfg.model.fmri_encoder.update(embed_dims=64, num_heads=4)
    return cfg


def bench_encoder(args, cfg, res: Dict) -> None:
    """Batched encoder vs the literal loop: outputs in fp32, then forward+backward+AdamW step timings."""
    from mmbrain.registry import MODELS
    torch.manual_seed(1)
    enc = MODELS.build(dict(cfg.model.fmri_encoder, roi_names=ROIS[:len(args.voxels)])).to(args.device)
    batch = make_batch(args.voxels, args.batch, args.subjects, 32, args.device)
    brain = {k: batch[k] for k in ('fmri', 'fmri_mask', 'xyz', 'subject_index')}
    with torch.no_grad():
        diff = (enc(**brain)[0] - enc.forward_loop(**brain)[0]).abs().max()
    res['max_abs_diff_fp32'] = float(diff)
    res['encoder_params_M'] = sum(p.numel() for p in enc.parameters()) / 1e6
    opt = torch.optim.AdamW(enc.parameters(), 1e-4, fused=args.device == 'cuda')
    amp = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == 'cuda')
    for name, fn in (('vectorized', enc.forward), ('loop', enc.forward_loop)):
        def step(fn=fn):
            with amp:
                q, roi = fn(**brain)
                loss = q.float().square().mean() + roi.float().square().mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        if args.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        seconds = timeit(step, args.device, args.iters)
        res[f'{name}_step_s'] = seconds
        res[f'{name}_samples_per_s'] = args.batch / seconds
        if args.device == 'cuda':
            res[f'{name}_peak_mem_GB'] = torch.cuda.max_memory_allocated() / 1e9
    res['speedup_vs_loop'] = res['loop_step_s'] / res['vectorized_step_s']


def bench_full_step(args, cfg, res: Dict) -> None:
    """The whole pretraining step: data preprocessor, both towers, both losses, backward, AdamW."""
    from mmbrain.registry import MODELS
    torch.manual_seed(2)
    model = MODELS.build(cfg.model).to(args.device)
    model.data_preprocessor.channels_last = args.device == 'cuda'
    if args.device == 'cuda':
        model.backbone.to(memory_format=torch.channels_last)
    data = dict(inputs=make_batch(args.voxels, args.batch, args.subjects, args.img_size, args.device),
                data_samples=None)
    fwd = FlopCounterMode(display=False)
    with fwd, torch.no_grad():
        model(**model.data_preprocessor(data, True), mode='loss')
    res['full_fwd_gflop_per_sample'] = fwd.get_total_flops() / args.batch / 1e9
    opt = torch.optim.AdamW(model.parameters(), 1e-4, fused=args.device == 'cuda')
    amp = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == 'cuda')
    if args.compile:
        model.backbone = torch.compile(model.backbone)
        model.fmri_encoder = torch.compile(model.fmri_encoder)

    def step():
        with amp:
            losses = model(**model.data_preprocessor(data, True), mode='loss')
            loss = losses['loss_con'] + losses['loss_bfg']
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    seconds = timeit(step, args.device, args.iters, warmup=3 if args.compile else 2)
    res['full_samples_per_s'] = args.batch / seconds
    res['full_achieved_TFLOPs'] = 3 * res['full_fwd_gflop_per_sample'] * res['full_samples_per_s'] / 1e3
    if args.device == 'cuda':
        res['full_peak_mem_GB'] = torch.cuda.max_memory_allocated() / 1e9
        res['full_mfu'] = res['full_achieved_TFLOPs'] / args.peak_tflops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--tiny', action='store_true', help='small dims (the default on CPU)')
    parser.add_argument('--batch', type=int, help='default 64 on cuda, 4 on CPU')
    parser.add_argument('--subjects', type=int, default=1, help='distinct subjects (ragged ROI sizes) in a batch')
    parser.add_argument('--iters', type=int, help='timed iterations (default 5 on cuda, 3 on CPU)')
    parser.add_argument('--img-size', type=int, help='default 224 (64 with --tiny)')
    parser.add_argument('--compile', action='store_true', help='torch.compile both towers in the full step')
    parser.add_argument('--no-full', action='store_true', help='skip the full pretraining step (default on CPU)')
    parser.add_argument('--full', action='store_true', help='time the full step on CPU too')
    parser.add_argument('--peak-tflops', type=float, default=989., help='dense bf16 peak for the MFU')
    args = parser.parse_args()
    cpu = args.device == 'cpu'
    args.tiny = args.tiny or cpu
    args.batch = args.batch or (4 if cpu else 64)
    args.iters = args.iters or (3 if cpu else 5)
    args.img_size = args.img_size or (64 if args.tiny else 224)
    args.voxels = [3000] * 6 if args.tiny else PAPER_VOXELS

    from mmengine.registry import init_default_scope

    import mmbrain  # noqa: F401
    init_default_scope('mmbrain')
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    cfg = model_cfg(args)
    res = dict(device=torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu',
               torch=torch.__version__, batch=args.batch, subjects=args.subjects, voxels=args.voxels,
               embed_dims=cfg.model.fmri_encoder.embed_dims, window=cfg.model.fmri_encoder.window_size,
               stride=cfg.model.fmri_encoder.window_stride, dtype='fp32' if cpu else 'bf16 autocast',
               threads=torch.get_num_threads())
    bench_encoder(args, cfg, res)
    if (not cpu and not args.no_full) or args.full:
        bench_full_step(args, cfg, res)
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    main()
