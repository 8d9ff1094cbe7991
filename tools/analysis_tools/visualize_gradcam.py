# Copyright (c) mmbrain contributors. All rights reserved.
"""Grad-CAM of the image regions most tied to the fMRI features (paper Sec. 5, Fig. 6), for several pretrainers.

    python tools/analysis_tools/visualize_gradcam.py \\
        --model 'random init' configs/pretrain/CONFIG.py \\
        --model 'w/o guidance loss' configs/pretrain/ablations/CONFIG.py work_dirs/nobfg/iter_1000.pth \\
        --model 'printed Eq. 6' configs/pretrain/ablations/CONFIG.py work_dirs/bfg-printed/iter_1000.pth \\
        --model 'Brainformer' configs/pretrain/CONFIG.py work_dirs/brainformer/iter_1000.pth \\
        --num-images 4 --out work_dirs/gradcam.png

Each ``--model LABEL CONFIG [CHECKPOINT]`` is one row (without a checkpoint: the config's initialisation, seeded
by ``--seed``). Every row explains the same score, the cosine similarity of the contrastive embeddings (image
``p`` and brain ``q``, or CLIP's text embedding), whatever the row's guidance loss (docs/guidance_loss.md).
The stimuli are the first ``--num-images`` samples of the ``--split`` dataloader of ``--data-config`` (default:
the first model's config); a CLIP row gets each stimulus's first caption from the ``LoadNSDCaption`` step of its
own config. Maps: :func:`mmbrain.visualization.plot_brainformer_gradcam`.

Under the figure, and in ``--sanity-out`` (JSON, default ``<out without suffix>_sanity.json``), the sanity checks
of Adebayo et al. (2018) for every row with a checkpoint (:func:`mmbrain.visualization.gradcam_sanity`): the rank
correlation of its maps with those of the same backbone with randomised weights, and between its maps of
different images (near 1: the map does not depend on the weights, or on the image).
"""

import argparse
import json
import os.path as osp
import sys
from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:  # torch and OpenMMLab are imported after the arguments are parsed (a fast --help)
    from mmengine.config import Config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Grad-CAM of cos(image embedding, brain embedding) (paper Fig. 6)')
    parser.add_argument(
        '--model',
        nargs='+',
        action='append',
        required=True,
        metavar='LABEL CONFIG [CHECKPOINT]',
        help='one row of the figure: a label, a BrainformerPretrainer (or ClipPretrainer) config, '
        'and a checkpoint '
        '(omit it for random init); repeat for several models',
    )
    parser.add_argument('--data-config', help="config whose dataloader gives the stimuli (default: first model's)")
    parser.add_argument('--split', choices=['val', 'test', 'train'], default='val', help='dataloader to read')
    parser.add_argument('--num-images', type=int, default=4, help='number of stimuli (columns)')
    parser.add_argument(
        '--target-layer',
        help='module whose output is the Grad-CAM feature map, e.g. '
        "backbone.stages.2 (default: the backbone's last stage)",
    )
    parser.add_argument('--out', required=True, help='output image (.png, .pdf, .svg)')
    parser.add_argument('--sanity-out', help='sanity checks JSON (default: <out without suffix>_sanity.json)')
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument('--seed', type=int, default=0, help='seed of the randomly initialised models')
    parser.add_argument(
        '--cfg-options', nargs='+', metavar='KEY=VALUE', help='override settings of every config, key=value'
    )
    args = parser.parse_args()
    for spec in args.model:
        if len(spec) not in (2, 3):
            parser.error(f'--model takes LABEL CONFIG [CHECKPOINT], got {spec}')
    if args.num_images < 1:
        parser.error('--num-images must be at least 1')
    return args


def first_samples(cfg: 'Config', split: str, n: int) -> Dict:
    """The first ``n`` samples of a config's dataloader, collated by its ``collate_fn`` into one batch."""
    from mmengine.runner import Runner

    loader_cfg = cfg.get(f'{split}_dataloader')
    if not loader_cfg:
        raise ValueError(f'{cfg.filename}: no {split}_dataloader')
    loader_cfg = dict(loader_cfg, batch_size=n, num_workers=0, persistent_workers=False)
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
    data = next(iter(Runner.build_dataloader(loader_cfg)))
    got = len(data['inputs']['img'])
    if got < n:
        raise ValueError(f'{cfg.filename}: the {split} set has only {got} samples, fewer than --num-images {n}')
    return data


def attach_captions(data_samples, cfg: 'Config', split: str) -> None:
    """Set ``text`` on each data sample (by its ``nsd_id``) to the first caption of its image, read by the
    ``LoadNSDCaption`` step of a CLIP config's own ``<split>`` pipeline (the figure's batch has fMRI, no caption)."""
    from mmbrain.registry import TRANSFORMS

    steps = [
        dict(t)
        for t in cfg[f'{split}_dataloader']['dataset']['pipeline']
        if str(t.get('type', '')).split('.')[-1] == 'LoadNSDCaption'
    ]
    if not steps:
        raise ValueError(
            f'{cfg.filename}: the {split} pipeline has no LoadNSDCaption step, so its model has no captions to '
            'attend to'
        )
    load = TRANSFORMS.build(dict(steps[0], draw='first'))
    for sample in data_samples:
        sample.set_metainfo(dict(text=load(dict(nsd_id=int(sample.nsd_id)))['text']))


def sanity_path(args: argparse.Namespace) -> str:
    return args.sanity_out or osp.splitext(args.out)[0] + '_sanity.json'


def main() -> int:
    args = parse_args()
    try:
        draw(args)
    except (ValueError, OSError) as err:  # bad configs, checkpoints or data: one line, exit 1
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'Grad-CAM of {len(args.model)} model(s) on {args.num_images} stimuli written to {args.out}')
    print(f'sanity checks (Adebayo et al., 2018) written to {sanity_path(args)}')
    return 0


def draw(args: argparse.Namespace) -> None:
    """The figure and the sanity checks of the parsed command line."""
    from mmengine.registry import init_default_scope
    from mmengine.utils import ProgressBar

    from mmbrain.apis.model import init_model, load_config
    from mmbrain.utils.atomic import atomic_write
    from mmbrain.utils.cli import parse_cfg_options
    from mmbrain.visualization import gradcam_sanity, plot_brainformer_gradcam, sanity_lines

    options = parse_cfg_options(args.cfg_options)
    configs: List[Config] = [load_config(spec[1], options) for spec in args.model]
    data_cfg = load_config(args.data_config, options) if args.data_config else configs[0]
    init_default_scope(data_cfg.get('default_scope', 'mmbrain'))
    data = first_samples(data_cfg, args.split, args.num_images)
    trained = [spec[0] for spec in args.model if len(spec) == 3]
    print(f'{len(args.model)} model(s) to build, {len(trained)} sanity check(s), one figure')
    progress = ProgressBar(len(args.model) + len(trained) + 1)
    models = {}
    for spec, cfg in zip(args.model, configs):
        models[spec[0]] = init_model(cfg, spec[2] if len(spec) == 3 else None, args.device, seed=args.seed)
        if models[spec[0]].pair_key == 'text':  # a CLIP row: the stimuli's own captions, from its config
            attach_captions(data['data_samples'], cfg, args.split)
        progress.update()
    sanity = {}
    for label in trained:
        sanity.update(gradcam_sanity({label: models[label]}, data, args.target_layer, seed=args.seed))
        progress.update()
    footer = ['Sanity checks (Adebayo et al., 2018; Spearman rank correlation over pixels, near 1 = not explained):']
    footer += sanity_lines(sanity) if sanity else ['no row has a checkpoint (nothing trained to check)']
    plot_brainformer_gradcam(models, data, args.out, target_layer=args.target_layer, footer=footer)
    progress.update()
    print()
    for line in footer:
        print(line)
    with atomic_write(sanity_path(args)) as f:
        json.dump(dict(target_layer=args.target_layer, num_images=args.num_images, rows=sanity), f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
