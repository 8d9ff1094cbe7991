# Copyright (c) mmbrain contributors. All rights reserved.
"""Parameters and forward FLOPs per sample of a Brainformer pretraining config, beside the paper's Table 4.

    python tools/analysis_tools/get_flops.py configs/pretrain/brainformer_convnext-s.py
        [--num-voxels 7000 4000 4500 3500 4000 20000 | --h5 data/nsd/mmbrain/subj01.h5] [--img-size 224]
        [--table4] [--json]

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass (a multiply-add counts
as 2 FLOPs; fvcore/mmcv-style counters report multiply-adds, i.e. half), attention included: the counter knows
the GPU kernels of ``scaled_dot_product_attention`` but not the CPU one
(``aten._scaled_dot_product_flash_attention_for_cpu``), which is counted here with torch's own formula,
``4 · B · heads · L_q · L_k · d_head`` (``Q K^T`` and ``A V``). They depend on each ROI's voxel count, taken from
``--h5`` (a converted subject file) or ``--num-voxels`` (default: plausible NSD ROI sizes, the same as
``benchmarks/bench_encoder.py``). ``--table4`` counts the three (w, s) rows of Table 4 with the config's model.
Why our numbers and the paper's cannot agree: docs/guidance_loss.md ("Table 4").
"""

import argparse
import copy
import json
import sys
from typing import Dict, List

#: Table 4 of the paper: (w, s) -> (GFLOPs, parameters in millions); 6 ROIs, ConvNeXt-S.
PAPER_TABLE4 = {(128, 64): (51.86, 543.47), (128, 32): (102.92, 543.47), (64, 32): (105.66, 543.47)}
DEFAULT_VOXELS = [7000, 4000, 4500, 3500, 4000, 20000]
BYTES_PER_FLOAT32 = 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pretraining config')
    parser.add_argument('--num-voxels', type=int, nargs='+', help="voxels per ROI group, in the config's order")
    parser.add_argument('--h5', help='converted subject file to read the voxel counts from')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=2, help='samples in the counted forward pass')
    parser.add_argument('--table4', action='store_true', help='count every (w, s) row of Table 4')
    parser.add_argument('--json', action='store_true', help='print JSON only')
    parser.add_argument('--cfg-options', nargs='+', help='override config settings, key=value')
    args = parser.parse_args()
    if args.num_voxels and args.h5:
        parser.error('give --num-voxels or --h5, not both')
    if args.batch < 1 or args.img_size < 1 or any(n < 1 for n in args.num_voxels or []):
        parser.error('--batch, --img-size and --num-voxels must be positive')
    return args


def voxel_counts_from_h5(path: str, roi_names: List[str]) -> List[int]:
    """Voxel count of each ROI group in a converted subject file (docs/architecture.md)."""
    from mmbrain.datasets.converted_file import ConvertedSubject

    counts = ConvertedSubject(path).voxel_counts
    missing = [g for g in roi_names if g not in counts]
    if missing:
        raise KeyError(f'{path}: no rois/<group>/betas for ROI groups {missing}')
    return [counts[g] for g in roi_names]


def synthetic_inputs(roi_names: List[str], voxels: List[int], batch: int, img_size: int) -> Dict:
    """A one-subject batch in the model's input format (after the data preprocessor)."""
    import torch

    return dict(
        img=torch.randn(batch, 3, img_size, img_size),
        fmri={g: torch.randn(batch, n) for g, n in zip(roi_names, voxels)},
        fmri_mask={g: torch.ones(batch, n, dtype=torch.bool) for g, n in zip(roi_names, voxels)},
        xyz={g: torch.rand(1, n, 3) * 100 for g, n in zip(roi_names, voxels)},
        subject_index=torch.zeros(batch, dtype=torch.long),
    )


def flop_counter():
    """``FlopCounterMode`` that also counts the CPU kernel of ``scaled_dot_product_attention``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    mapping = {}
    cpu_sdpa = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)
    if cpu_sdpa is not None:
        mapping[cpu_sdpa] = cpu_sdpa_flops
    return FlopCounterMode(display=False, custom_mapping=mapping)


def _attention_flops(counter) -> int:
    """FLOPs of the scaled-dot-product attention kernels (any device) among a counter's operators."""
    return sum(
        n
        for op, n in counter.get_flop_counts().get('Global', {}).items()
        if 'scaled_dot_product' in str(op) or 'flash_attention' in str(op) or 'efficient_attention' in str(op)
    )


def count(model, inputs: Dict, batch: int) -> Dict[str, float]:
    """Parameters (M) and forward GFLOPs per sample of the whole model and of its two towers."""
    import torch

    with torch.no_grad(), flop_counter() as total:
        model(inputs, mode='tensor')
    with torch.no_grad(), flop_counter() as encoder:
        model.fmri_encoder(inputs['fmri'], inputs['fmri_mask'], inputs['xyz'], inputs['subject_index'])
    with torch.no_grad(), flop_counter() as backbone:
        model.backbone(inputs['img'])

    def params(m):
        return sum(p.numel() for p in m.parameters()) / 1e6

    return dict(
        params_M=params(model),
        encoder_params_M=params(model.fmri_encoder),
        backbone_params_M=params(model.backbone),
        img_proj_params_M=params(model.img_proj),
        gflops_per_sample=total.get_total_flops() / batch / 1e9,
        encoder_gflops_per_sample=encoder.get_total_flops() / batch / 1e9,
        encoder_attention_gflops_per_sample=_attention_flops(encoder) / batch / 1e9,
        backbone_gflops_per_sample=backbone.get_total_flops() / batch / 1e9,
    )


def measure(cfg, voxels: List[int], img_size: int, batch: int) -> Dict:
    """Build the config's model and count it (one forward of ``batch`` synthetic samples)."""
    from mmbrain.apis.model import init_model

    model = init_model(cfg, init_weights=False)  # FLOPs do not depend on the weights
    rois = list(cfg.model.fmri_encoder.roi_names)
    return count(model, synthetic_inputs(rois, voxels, batch, img_size), batch)


def table4_notes(rows: Dict) -> List[str]:
    """Where our counts and Table 4 cannot agree, from the counts themselves."""
    notes = []
    any_row = next(iter(rows.values()))
    bytes_m = BYTES_PER_FLOAT32 * (any_row['encoder_params_M'] + any_row['img_proj_params_M'])
    paper_params = next(iter(PAPER_TABLE4.values()))[1]
    notes.append(
        f'params: ours {any_row["encoder_params_M"]:.1f}M in the fMRI encoder ({any_row["params_M"]:.1f}M with the '
        f"image backbone) against the paper's {paper_params}M, which differs by "
        f'{100 * abs(paper_params - bytes_m) / paper_params:.1f}% from {BYTES_PER_FLOAT32} x '
        f'{any_row["encoder_params_M"] + any_row["img_proj_params_M"]:.1f}M (encoder + image projection counted in '
        'bytes, not parameters).'
    )
    if all(k in rows for k in PAPER_TABLE4):
        ours = {k: rows[k]['gflops_per_sample'] for k in PAPER_TABLE4}
        paper = {k: v[0] for k, v in PAPER_TABLE4.items()}
        notes.append(
            "FLOPs: the paper's fall as 1/s almost independently of w (128/32 : 128/64 = "
            f'{paper[(128, 32)] / paper[(128, 64)]:.2f}, 64/32 : 128/32 = {paper[(64, 32)] / paper[(128, 32)]:.2f}); '
            'Algorithm 1 as printed processes about L*w/s tokens per level, FLOPs ~ w/s; ours: 128/32 : 128/64 = '
            f'{ours[(128, 32)] / ours[(128, 64)]:.2f}, 64/32 : 128/32 = {ours[(64, 32)] / ours[(128, 32)]:.2f}.'
        )
    return notes


def main() -> int:
    args = parse_args()
    from mmengine.config import Config

    from mmbrain.utils.cli import parse_cfg_options

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    enc = cfg.model.get('fmri_encoder')
    if enc is None or 'roi_names' not in enc:
        print(
            f'{args.config}: model.fmri_encoder with roi_names expected (a Brainformer pretraining config)',
            file=sys.stderr,
        )
        return 2
    rois = list(enc.roi_names)
    try:
        if args.h5:
            voxels = voxel_counts_from_h5(args.h5, rois)
        else:
            voxels = args.num_voxels or DEFAULT_VOXELS[: len(rois)] + [DEFAULT_VOXELS[-1]] * max(0, len(rois) - 6)
    except (OSError, KeyError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    if len(voxels) != len(rois):
        print(f'--num-voxels has {len(voxels)} values for {len(rois)} ROI groups {rois}', file=sys.stderr)
        return 2
    w, s = enc.get('window_size'), enc.get('window_stride')
    settings = sorted(PAPER_TABLE4, reverse=True) if args.table4 else [(w, s)]
    rows = {}
    for ws in settings:
        row_cfg = copy.deepcopy(cfg)
        row_cfg.model.fmri_encoder.update(window_size=ws[0], window_stride=ws[1])
        rows[ws] = measure(row_cfg, voxels, args.img_size, args.batch)
    res = dict(
        config=args.config,
        roi_names=rois,
        num_voxels=voxels,
        img_size=args.img_size,
        rows=[
            dict(
                window=ws[0],
                stride=ws[1],
                **row,
                paper_table4=None
                if ws not in PAPER_TABLE4
                else dict(gflops=PAPER_TABLE4[ws][0], params_M=PAPER_TABLE4[ws][1]),
            )
            for ws, row in rows.items()
        ],
        notes=table4_notes(rows),
    )
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f'config: {args.config}')
    print(f'ROI voxels: {dict(zip(rois, voxels))}, image {args.img_size}px')
    print(f'{"":34s}{"params (M)":>12s}{"GFLOPs/sample":>15s}{"attention":>11s}')
    for (rw, rs), row in rows.items():
        print(f'{f"ours w={rw} s={rs}: total":34s}{row["params_M"]:12.2f}{row["gflops_per_sample"]:15.2f}')
        print(
            f'{"  fMRI encoder":34s}{row["encoder_params_M"]:12.2f}{row["encoder_gflops_per_sample"]:15.2f}'
            f'{row["encoder_attention_gflops_per_sample"]:11.2f}'
        )
        print(f'{"  image backbone":34s}{row["backbone_params_M"]:12.2f}{row["backbone_gflops_per_sample"]:15.2f}')
        paper = PAPER_TABLE4.get((rw, rs))
        if paper is None:
            print(f'{"paper Table 4":34s}  no row for w={rw}, s={rs} (rows: {sorted(PAPER_TABLE4)})')
        else:
            print(f'{f"paper Table 4 w={rw} s={rs}":34s}{paper[1]:12.2f}{paper[0]:15.2f}')
    print(
        'FLOPs: torch.utils.flop_counter with attention, a multiply-add = 2 FLOPs (the paper does not say how it '
        'counted).'
    )
    for note in res['notes']:
        print(f'note: {note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
