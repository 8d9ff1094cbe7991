# Copyright (c) mmbrain contributors. All rights reserved.
"""Extract the image backbone of a Brainformer (or CLIP baseline) checkpoint for downstream tasks (Sec. 4.3-4.5).

    python tools/model_converters/brainformer_to_backbone.py work_dirs/<pretrain>/epoch_100.pth backbone.pth

IN is a checkpoint that mmengine's ``CheckpointHook`` saved while training ``BrainformerPretrainer``
(``state_dict`` with ``backbone.*`` and ``fmri_encoder.*`` keys, plus meta, optimizer and message hub) or
``ClipPretrainer`` (``backbone.*`` and ``text_encoder.*``). It is read
with ``torch.load(weights_only=True)``, only mmengine's own checkpoint types allow-listed (:mod:`mmbrain.utils`).
OUT keeps the image backbone only, as plain tensors under ``backbone.*``: it loads with ``weights_only=True`` and no
allow-list, and mmdet / mmseg / mmpretrain take it exactly like mmpretrain's self-supervised checkpoints::

    backbone=dict(type='mmpretrain.ConvNeXt', ...,
                  init_cfg=dict(type='Pretrained', checkpoint='backbone.pth', prefix='backbone.'))

OUT's ``meta['backbone_cfg']`` records the architecture (the ``model.backbone`` of the config that IN was trained
with, which mmengine saves as text in ``meta['cfg']``), and the extractor prints it: a downstream config must build
exactly that backbone. The text is read as literals only (``dict(...)``, numbers, strings, lists), never executed.
"""

import argparse
import ast
import os.path as osp
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Dict, Optional, Tuple

if TYPE_CHECKING:
    import torch

BACKBONE_PREFIX = 'backbone.'
#: The second tower of each pretrainer: BrainformerPretrainer's fMRI encoder, ClipPretrainer's text encoder.
TOWER_PREFIXES = ('fmri_encoder.', 'text_encoder.')


def extract_backbone(ckpt: dict, filename: str) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, int]]:
    """Split a Brainformer checkpoint into its backbone tensors and a count of what is dropped.

    Args:
        ckpt: the loaded checkpoint (mmengine layout: ``state_dict`` at the top level).
        filename: its path, for error messages.

    Returns:
        ``(backbone_state, dropped)``: the ``backbone.*`` tensors (CPU, contiguous, original keys), and the number
        of dropped tensors per top-level module of the pretrainer (``fmri_encoder``, projections, ...).

    Raises:
        ValueError: the file is not a Brainformer pretraining checkpoint.
    """
    state_dict = ckpt.get('state_dict')
    if not isinstance(state_dict, dict):
        raise ValueError(
            f'{filename}: not a Brainformer checkpoint: no "state_dict" entry '
            f'(top-level keys: {sorted(ckpt)[:10]}); expected a checkpoint saved by mmengine while '
            'training BrainformerPretrainer'
        )
    if not any(k.startswith(TOWER_PREFIXES) for k in state_dict):
        raise ValueError(
            f'{filename}: not a Brainformer checkpoint (nor a CLIP one): its state_dict has no '
            f'{" or ".join(p + "*" for p in TOWER_PREFIXES)} weights '
            f'(found modules {sorted({k.split(".")[0] for k in state_dict})[:10]})'
        )
    import torch

    backbone = OrderedDict()
    dropped: Counter = Counter()
    for key, value in state_dict.items():
        if not key.startswith(BACKBONE_PREFIX):
            dropped[key.split('.')[0]] += 1
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{filename}: backbone entry {key} is a {type(value).__name__}, not a tensor')
        if value.is_floating_point() and not torch.isfinite(value).all():
            n_bad = int((~torch.isfinite(value)).sum())
            raise ValueError(
                f'{filename}: backbone weight {key} has {n_bad} NaN/Inf values (the training diverged); '
                'refusing to convert it'
            )
        backbone[key] = value.detach().cpu().contiguous()
    if not backbone:
        raise ValueError(
            f'{filename}: not a Brainformer checkpoint: its state_dict has no "{BACKBONE_PREFIX}*" '
            'weights (the image backbone)'
        )
    return backbone, dict(dropped)


def _literal(node: ast.AST):
    """The value of a config expression made of literals and ``dict(...)`` calls; ValueError for anything else."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args:
        if any(k.arg is None for k in node.keywords):
            raise ValueError('dict(**...) is not a literal')
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_literal(v) for v in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    return ast.literal_eval(node)


def backbone_config(ckpt: dict) -> Optional[dict]:
    """``model.backbone`` of the config saved in the checkpoint's ``meta['cfg']`` (mmengine's Runner writes the
    config's text there), read without executing it; None when absent or not made of literals."""
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    text = meta.get('cfg')
    if not isinstance(text, str):
        return None
    try:
        for statement in ast.parse(text).body:
            if (
                isinstance(statement, ast.Assign)
                and [getattr(t, 'id', None) for t in statement.targets] == ['model']
                and isinstance(statement.value, ast.Call)
            ):
                backbone = _literal(statement.value).get('backbone')
                return backbone if isinstance(backbone, dict) else None
    except (SyntaxError, ValueError, TypeError):
        return None
    return None


def plain_meta(ckpt: dict, filename: str) -> dict:
    """Provenance for OUT, in types ``weights_only`` loading accepts without any allow-list."""
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    out = {'converted_from': osp.abspath(filename), 'converter': 'mmbrain brainformer_to_backbone'}
    for key in ('epoch', 'iter', 'seed', 'experiment_name', 'mmengine_version', 'time'):
        value = meta.get(key)
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            out[key] = value
    out['backbone_cfg'] = backbone_config(ckpt)
    return out


def convert(src: str, dst: str, overwrite: bool = False) -> dict:
    """Convert ``src`` to a backbone-only checkpoint at ``dst``; returns a summary of what was kept.

    ``dst`` is published atomically; it may not be ``src`` (nor a link to it), and replaces an existing file only
    when ``overwrite``.
    """
    import torch

    from mmbrain.utils import load_checkpoint_safely
    from mmbrain.utils.atomic import atomic_write, check_output

    check_output(dst, overwrite, inputs=[src])
    ckpt = load_checkpoint_safely(src)
    backbone, dropped = extract_backbone(ckpt, src)
    meta = plain_meta(ckpt, src)
    try:
        with atomic_write(dst, 'wb', overwrite=overwrite, inputs=[src]) as f:
            torch.save({'state_dict': backbone, 'meta': meta}, f)
    except RuntimeError as err:  # torch's zip writer reports a failed write (a full disk) without the path
        raise OSError(f'{dst}: could not be written ({err}); is its disk full? Nothing was published') from err
    modules = Counter(k[len(BACKBONE_PREFIX) :].split('.')[0] for k in backbone)
    return dict(
        tensors=len(backbone),
        params=sum(v.numel() for v in backbone.values()),
        modules=dict(modules),
        dropped=dropped,
        backbone_cfg=meta['backbone_cfg'],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Keep the image backbone of a Brainformer checkpoint, as plain '
        'tensors under "backbone.*" for init_cfg=dict(type="Pretrained", '
        'prefix="backbone.") in mmdet / mmseg / mmpretrain.'
    )
    parser.add_argument('src', help='checkpoint saved by mmengine (BrainformerPretrainer or ClipPretrainer)')
    parser.add_argument('dst', help='output backbone checkpoint (.pth)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args()
    from mmbrain.utils.atomic import OutputExistsError, SameFileError

    try:
        summary = convert(args.src, args.dst, overwrite=args.overwrite)
    except (OutputExistsError, SameFileError) as err:
        parser.exit(2, f'error: {err}\n')
    except (OSError, ValueError) as err:
        parser.exit(1, f'error: {err}\n')
    print(
        f'kept {summary["tensors"]} backbone tensors ({summary["params"]:,} values) '
        f'under "{BACKBONE_PREFIX}*" -> {args.dst}'
    )
    print('  backbone modules: ' + ', '.join(f'{m} ({n})' for m, n in summary['modules'].items()))
    print(
        f'  backbone config (meta["backbone_cfg"]): {summary["backbone_cfg"]}'
        if summary['backbone_cfg'] is not None
        else '  backbone config: not recorded in SRC (no mmengine "cfg" in its meta)'
    )
    print(
        '  dropped: '
        + (', '.join(f'{m} ({n} tensors)' for m, n in summary['dropped'].items()) or 'nothing')
        + '; optimizer, schedulers, message hub and meta other than provenance are not carried over'
    )


if __name__ == '__main__':
    main()
