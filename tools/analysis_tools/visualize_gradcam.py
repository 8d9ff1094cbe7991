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
the first model's config). Maps: :func:`mmbrain.visualization.plot_brainformer_gradcam`.
"""

import argparse
import sys
from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:  # torch and OpenMMLab are imported after the arguments are parsed (a fast --help)
    import torch
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


def load_config(path: str, options) -> 'Config':
    from mmengine.config import Config

    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def build_model(cfg: 'Config', checkpoint: str, device: str, seed: int) -> 'torch.nn.Module':
    """The config's model, initialised as the Runner would, then loaded from ``checkpoint`` if given."""
    from mmengine.registry import init_default_scope
    from mmengine.runner.utils import set_random_seed

    from mmbrain.registry import MODELS
    from mmbrain.utils import load_checkpoint_safely

    init_default_scope(cfg.get('default_scope', 'mmbrain'))
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint:
        ckpt = load_checkpoint_safely(checkpoint)
        state = ckpt.get('state_dict', ckpt)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f'{checkpoint}: does not match the model of its config: {err}') from err
    return model.to(device).eval()


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


def main() -> int:
    args = parse_args()
    try:
        draw(args)
    except (ValueError, OSError) as err:  # bad configs, checkpoints or data: one line, exit 1
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'Grad-CAM of {len(args.model)} model(s) on {args.num_images} stimuli written to {args.out}')
    return 0


def draw(args: argparse.Namespace) -> None:
    """The figure of the parsed command line."""
    from mmengine.registry import init_default_scope

    from mmbrain.utils.cli import parse_cfg_options
    from mmbrain.visualization import plot_brainformer_gradcam
    from mmbrain.visualization.clip_gradcam import attach_captions

    options = parse_cfg_options(args.cfg_options)
    configs: List[Config] = [load_config(spec[1], options) for spec in args.model]
    data_cfg = load_config(args.data_config, options) if args.data_config else configs[0]
    init_default_scope(data_cfg.get('default_scope', 'mmbrain'))
    data = first_samples(data_cfg, args.split, args.num_images)
    models = {
        spec[0]: build_model(cfg, spec[2] if len(spec) == 3 else None, args.device, args.seed)
        for spec, cfg in zip(args.model, configs)
    }
    for spec, cfg in zip(args.model, configs):
        if models[spec[0]].pair_key == 'text':  # a CLIP row: the stimuli's own captions, from its config
            attach_captions(data['data_samples'], cfg, args.split)
    plot_brainformer_gradcam(models, data, args.out, target_layer=args.target_layer)


if __name__ == '__main__':
    sys.exit(main())
