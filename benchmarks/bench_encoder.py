# Copyright (c) mmbrain contributors. All rights reserved.
"""Speed of the Brainformer fMRI encoder and of the full pretraining step; prints JSON.

    python benchmarks/bench_encoder.py                 # CPU: small dims (d=64, 6 ROIs x 3000 voxels, batch 4)
    python benchmarks/bench_encoder.py --device cuda   # GPU: paper config (d=768, w=64, s=32, h=2), batch 64,
                                                       # bf16 autocast, plus the full pretraining step
    python benchmarks/bench_encoder.py --device cuda --compile --backbone swin   # torch.compile, Swin-S tower

Options: --batch N, --subjects N (ragged batch of N subjects), --iters N, --warmup N, --voxels N, --compile
[--compile-backend B], --backbone convnext|swin, --no-encoder / --no-full / --full, --tiny, --peak-tflops T.

Keys: ``speedup_vs_loop`` = time of a forward+backward+AdamW step of the literal Algorithm 1 loop
(``BrainformerEncoder.forward_unbatched``) / that of the batched encoder, same weights; ``max_abs_diff_fp32`` between
their outputs. With ``--compile`` also ``compiled_samples_per_s`` and ``compiled_speedup_vs_loop`` (the batched
encoder under ``torch.compile``). With the full step (default on cuda): ``full_samples_per_s``,
``full_peak_mem_GB`` and ``full_mfu``. Every MFU = 3 x forward FLOPs per sample x samples/s / the dense bf16
peak (989 TFLOP/s for H100/H200 unless --peak-tflops says otherwise; forward x 3 because FlopCounterMode
overcounts the backward of depthwise convolutions).
"""

import argparse
import json
import os.path as osp
import time
from typing import Callable, Dict, List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROIS = ['prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams']
PAPER_VOXELS = [7000, 4000, 4500, 3500, 4000, 20000]  # 43k voxels: NSD-sized groups (docs/performance.md)
MODEL_CONFIGS = dict(
    convnext='configs/pretrain/brainformer_convnext-s_8xb64-coslr-100e_nsd.py',
    swin='configs/pretrain/brainformer_swin-s_8xb64-coslr-100e_nsd.py',
)


def make_batch(voxels: List[int], batch: int, subjects: int, img_size: int, device: str, seed: int = 0) -> Dict:
    """A collated batch (uint8 images) of ``subjects`` subjects whose ROI sizes vary by up to -20%."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    counts = [[int(n * (1 - 0.2 * s / max(subjects - 1, 1))) for n in voxels] for s in range(subjects)]
    subject_index = torch.arange(batch) % subjects
    fmri, mask, xyz = {}, {}, {}
    for k, roi in enumerate(ROIS[: len(voxels)]):
        width = max(c[k] for c in counts)
        lengths = torch.tensor([counts[s][k] for s in subject_index.tolist()])
        mask[roi] = torch.arange(width)[None] < lengths[:, None]
        fmri[roi] = torch.randn(batch, width, generator=gen) * mask[roi]
        xyz[roi] = torch.rand(subjects, width, 3, generator=gen) * 150 - 75
    img = torch.randint(0, 256, (batch, 3, img_size, img_size), dtype=torch.uint8, generator=gen)
    to = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
    return dict(
        img=img.to(device), fmri=to(fmri), fmri_mask=to(mask), xyz=to(xyz), subject_index=subject_index.to(device)
    )


def timeit(fn: Callable, device: str, iters: int, warmup: int) -> float:
    """Mean seconds per call after ``warmup`` calls."""
    import torch

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


def forward_gflop(fn: Callable, batch: int) -> float:
    """Forward GFLOPs per sample of ``fn()`` (torch.utils.flop_counter, no grad)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return counter.get_total_flops() / batch / 1e9


def model_cfg(args) -> 'mmengine.Config':  # noqa: F821
    """The paper config's model (configs/pretrain/brainformer_{convnext,swin}-s_8xb64-coslr-100e_nsd.py, channels-last
    images included), shrunk with --tiny."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(REPO, MODEL_CONFIGS[args.backbone]))
    if args.tiny:
        if args.backbone == 'convnext':
            cfg.model.backbone.arch = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])
            cfg.model.backbone_out_dims = 128
        else:
            cfg.model.backbone.update(
                arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]),
                img_size=args.img_size,
                window_size=2,
            )
            cfg.model.backbone_out_dims = 256
        cfg.model.fmri_encoder.update(embed_dims=64, num_heads=4)
    return cfg


def _peak(args, res: Dict, prefix: str) -> None:
    import torch

    if args.device == 'cuda':
        res[f'{prefix}_peak_mem_GB'] = torch.cuda.max_memory_allocated() / 1e9
        torch.cuda.reset_peak_memory_stats()


def _compile(module, args):
    import torch

    return torch.compile(module, backend=args.compile_backend)


def bench_encoder(args, cfg, res: Dict) -> None:
    """Batched encoder vs the literal loop: outputs in fp32, then forward+backward+AdamW step timings."""
    import torch

    from mmbrain.registry import MODELS

    torch.manual_seed(1)
    enc = MODELS.build(dict(cfg.model.fmri_encoder, roi_names=ROIS[: len(args.voxels)])).to(args.device)
    batch = make_batch(args.voxels, args.batch, args.subjects, 32, args.device)
    brain = {k: batch[k] for k in ('fmri', 'fmri_mask', 'xyz', 'subject_index')}
    with torch.no_grad():
        diff = (enc(**brain)[0] - enc.forward_unbatched(**brain)[0]).abs().max()
    res['max_abs_diff_fp32'] = float(diff)
    res['encoder_params_M'] = sum(p.numel() for p in enc.parameters()) / 1e6
    res['encoder_fwd_gflop_per_sample'] = forward_gflop(lambda: enc(**brain), args.batch)
    opt = torch.optim.AdamW(enc.parameters(), 1e-4, fused=args.device == 'cuda')
    amp = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == 'cuda')
    runs = [('vectorized', enc.forward), ('loop', enc.forward_unbatched)]
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    if args.compile:
        runs.append(('compiled', _compile(enc, args)))
    for name, fn in runs:

        def step(fn=fn):
            with amp:
                q, roi = fn(**brain)
                loss = q.float().square().mean() + roi.float().square().mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        if name == 'compiled':
            start = time.perf_counter()
            step()
            res['compile_first_step_s'] = time.perf_counter() - start
        seconds = timeit(step, args.device, args.iters, args.warmup)
        res[f'{name}_step_s'] = seconds
        res[f'{name}_samples_per_s'] = args.batch / seconds
        res[f'{name}_achieved_TFLOPs'] = 3 * res['encoder_fwd_gflop_per_sample'] * res[f'{name}_samples_per_s'] / 1e3
        if args.device == 'cuda':
            res[f'{name}_mfu'] = res[f'{name}_achieved_TFLOPs'] / args.peak_tflops
        _peak(args, res, name)
    res['speedup_vs_loop'] = res['loop_step_s'] / res['vectorized_step_s']
    if args.compile:
        res['compiled_speedup_vs_loop'] = res['loop_step_s'] / res['compiled_step_s']


def bench_full_step(args, cfg, res: Dict) -> None:
    """The whole pretraining step: data preprocessor, both towers, both losses, backward, AdamW (as the Runner's
    ``train_step`` of the paper config with its GPU switches on: bf16 autocast and fused AdamW on cuda, channels-last
    images from the config, both towers compiled with --compile)."""
    import torch

    from mmbrain.registry import MODELS

    torch.manual_seed(2)
    model = MODELS.build(cfg.model).to(args.device)
    data = dict(
        inputs=make_batch(args.voxels, args.batch, args.subjects, args.img_size, args.device), data_samples=None
    )
    res['full_params_M'] = sum(p.numel() for p in model.parameters()) / 1e6
    res['full_fwd_gflop_per_sample'] = forward_gflop(
        lambda: model(**model.data_preprocessor(data, True), mode='loss'), args.batch
    )
    opt = torch.optim.AdamW(model.parameters(), 1e-4, fused=args.device == 'cuda')
    amp = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == 'cuda')
    if args.compile:
        model.backbone = _compile(model.backbone, args)
        model.fmri_encoder = _compile(model.fmri_encoder, args)

    def step():
        with amp:
            losses = model(**model.data_preprocessor(data, True), mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    if args.compile:
        start = time.perf_counter()
        step()
        res['full_compile_first_step_s'] = time.perf_counter() - start
    seconds = timeit(step, args.device, args.iters, args.warmup)
    res['full_samples_per_s'] = args.batch / seconds
    res['full_achieved_TFLOPs'] = 3 * res['full_fwd_gflop_per_sample'] * res['full_samples_per_s'] / 1e3
    if args.device == 'cuda':
        res['full_mfu'] = res['full_achieved_TFLOPs'] / args.peak_tflops
    _peak(args, res, 'full')


def versions() -> Dict:
    """PyTorch / CUDA / cuDNN / OpenMMLab versions and the device."""
    import torch

    out = dict(
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        device=torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu',
    )
    for name in ('mmengine', 'mmcv', 'mmpretrain', 'timm'):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', help='cuda when available, else cpu')
    parser.add_argument('--tiny', action='store_true', help='small dims (the default on CPU)')
    parser.add_argument(
        '--backbone',
        choices=sorted(MODEL_CONFIGS),
        default='convnext',
        help='image tower of the full step (ConvNeXt-S or Swin-S)',
    )
    parser.add_argument('--batch', type=int, help='default 64 on cuda, 4 on CPU')
    parser.add_argument('--subjects', type=int, default=1, help='distinct subjects (ragged ROI sizes) in a batch')
    parser.add_argument('--iters', type=int, help='timed iterations (default 5 on cuda, 3 on CPU)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations before them')
    parser.add_argument('--voxels', type=int, help='voxels of every ROI group (default: NSD sizes, 3000 with --tiny)')
    parser.add_argument('--img-size', type=int, help='default 224 (64 with --tiny)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time the encoder under torch.compile, and compile both towers in the full step',
    )
    parser.add_argument(
        '--compile-backend',
        default='inductor',
        help="torch.compile backend ('eager' only traces: a quick check that the model compiles)",
    )
    parser.add_argument('--no-encoder', action='store_true', help='skip the encoder-vs-loop comparison')
    parser.add_argument('--no-full', action='store_true', help='skip the full pretraining step (default on CPU)')
    parser.add_argument('--full', action='store_true', help='time the full step on CPU too')
    parser.add_argument('--peak-tflops', type=float, default=989.0, help='dense bf16 peak for the MFU')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    import torch
    from mmengine.registry import init_default_scope

    import mmbrain  # noqa: F401

    args.device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    cpu = args.device == 'cpu'
    args.tiny = args.tiny or cpu
    args.batch = args.batch or (4 if cpu else 64)
    args.iters = args.iters or (3 if cpu else 5)
    args.img_size = args.img_size or (64 if args.tiny else 224)
    args.voxels = [args.voxels] * 6 if args.voxels else [3000] * 6 if args.tiny else PAPER_VOXELS
    init_default_scope('mmbrain')
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    cfg = model_cfg(args)
    res = dict(
        versions(),
        backbone=args.backbone,
        batch=args.batch,
        subjects=args.subjects,
        voxels=args.voxels,
        img_size=args.img_size,
        embed_dims=cfg.model.fmri_encoder.embed_dims,
        window=cfg.model.fmri_encoder.window_size,
        stride=cfg.model.fmri_encoder.window_stride,
        dtype='fp32' if cpu else 'bf16 autocast',
        compile=args.compile_backend if args.compile else False,
        channels_last=cfg.model.data_preprocessor.get('channels_last', False),
        fused_adamw=not cpu,
        threads=torch.get_num_threads(),
    )
    if not args.no_encoder:
        bench_encoder(args, cfg, res)
    if (not cpu and not args.no_full) or args.full:
        bench_full_step(args, cfg, res)
    return res


if __name__ == '__main__':
    print(json.dumps(main(), indent=1))
