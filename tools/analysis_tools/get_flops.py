# Copyright (c) mmbrain contributors. All rights reserved.
"""Parameters and forward FLOPs per sample of a Brainformer pretraining config, beside the paper's Table 4.

    python tools/analysis_tools/get_flops.py configs/pretrain/brainformer_convnext-s.py
        [--num-voxels 7000 4000 4500 3500 4000 20000 | --h5 data/nsd/mmbrain/subj01.h5] [--img-size 224]

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass (a multiply-add counts
as 2 FLOPs; fvcore/mmcv-style counters report multiply-adds, i.e. half). They depend on each ROI's voxel
count, taken from ``--h5`` (a converted subject file) or ``--num-voxels`` (default: the plausible NSD ROI sizes
of shared/bench/reference_encoder_bench.py).
"""
import argparse
import json
from typing import Dict, List

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

import mmbrain  # noqa: F401
from mmbrain.registry import MODELS

#: Table 4 of the paper: (w, s) -> (GFLOPs, parameters in millions); 6 ROIs, ConvNeXt-S.
PAPER_TABLE4 = {(128, 64): (51.86, 543.47), (128, 32): (102.92, 543.47), (64, 32): (105.66, 543.47)}
DEFAULT_VOXELS = [7000, 4000, 4500, 3500, 4000, 20000]


def voxel_counts_from_h5(path: str, roi_names: List[str]) -> List[int]:
    """Voxel count of each ROI group in a converted subject file (docs/architecture.md)."""
    import h5py
    with h5py.File(path, 'r') as f:
        missing = [g for g in roi_names if f'rois/{g}/betas' not in f]
        if missing:
            raise KeyError(f'{path}: no rois/<group>/betas for ROI groups {missing}')
        return [int(f[f'rois/{g}/betas'].shape[1]) for g in roi_names]


def synthetic_inputs(roi_names: List[str], voxels: List[int], batch: int, img_size: int) -> Dict:
    """A one-subject batch in the model's input format (after the data preprocessor)."""
    return dict(
        img=torch.randn(batch, 3, img_size, img_size),
        fmri={g: torch.randn(batch, n) for g, n in zip(roi_names, voxels)},
        fmri_mask={g: torch.ones(batch, n, dtype=torch.bool) for g, n in zip(roi_names, voxels)},
        xyz={g: torch.rand(1, n, 3) * 100 for g, n in zip(roi_names, voxels)},
        subject_index=torch.zeros(batch, dtype=torch.long))


def count(model: torch.nn.Module, inputs: Dict, batch: int) -> Dict[str, float]:
    """Parameters (M) and forward GFLOPs per sample of the whole model and of its two towers."""
    with torch.no_grad(), FlopCounterMode(display=False) as total:
        model(inputs, mode='tensor')
    with torch.no_grad(), FlopCounterMode(display=False) as encoder:
        model.fmri_encoder(inputs['fmri'], inputs['fmri_mask'], inputs['xyz'], inputs['subject_index'])
    with torch.no_grad(), FlopCounterMode(display=False) as backbone:
        model.backbone(inputs['img'])

    def params(m):
        return sum(p.numel() for p in m.parameters()) / 1e6

    return dict(
        params_M=params(model), encoder_params_M=params(model.fmri_encoder), backbone_params_M=params(model.backbone),
        gflops_per_sample=total.get_total_flops() / batch / 1e9,
        encoder_gflops_per_sample=encoder.get_total_flops() / batch / 1e9,
        backbone_gflops_per_sample=backbone.get_total_flops() / batch / 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pretraining config')
    parser.add_argument('--num-voxels', type=int, nargs='+', help='voxels per ROI group, in the config\'s order')
    parser.add_argument('--h5', help='converted subject file to read the voxel counts from')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=2, help='samples in the counted forward pass')
    parser.add_argument('--json', action='store_true', help='print JSON only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmbrain'))
    model = MODELS.build(cfg.model).eval()
    enc = cfg.model.fmri_encoder
    rois = list(enc.roi_names)
    if args.h5:
        voxels = voxel_counts_from_h5(args.h5, rois)
    else:
        voxels = args.num_voxels or DEFAULT_VOXELS[:len(rois)] + [DEFAULT_VOXELS[-1]] * max(0, len(rois) - 6)
    if len(voxels) != len(rois):
        parser.error(f'--num-voxels has {len(voxels)} values for {len(rois)} ROI groups {rois}')
    res = dict(config=args.config, roi_names=rois, num_voxels=voxels, img_size=args.img_size,
               **count(model, synthetic_inputs(rois, voxels, args.batch, args.img_size), args.batch))
    w, s = enc.get('window_size'), enc.get('window_stride')
    res['window'], res['stride'] = w, s
    paper = PAPER_TABLE4.get((w, s))
    res['paper_table4'] = None if paper is None else dict(gflops=paper[0], params_M=paper[1])
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f'config: {args.config}')
    print(f'ROI voxels: {dict(zip(rois, voxels))}, image {args.img_size}px')
    print(f'{"":30s}{"params (M)":>12s}{"GFLOPs/sample":>16s}')
    print(f'{"ours: total":30s}{res["params_M"]:12.2f}{res["gflops_per_sample"]:16.2f}')
    print(f'{"  fMRI encoder":30s}{res["encoder_params_M"]:12.2f}{res["encoder_gflops_per_sample"]:16.2f}')
    print(f'{"  image backbone":30s}{res["backbone_params_M"]:12.2f}{res["backbone_gflops_per_sample"]:16.2f}')
    if paper is None:
        print(f'paper Table 4: no row for w={w}, s={s} (rows: {sorted(PAPER_TABLE4)})')
    else:
        print(f'{f"paper Table 4 (w={w}, s={s})":30s}{paper[1]:12.2f}{paper[0]:16.2f}')
    print('FLOPs: torch.utils.flop_counter, a multiply-add = 2 FLOPs (the paper does not say how it counted).')


if __name__ == '__main__':
    main()
