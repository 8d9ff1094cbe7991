# Copyright (c) mmbrain contributors. All rights reserved.
"""Build a model from a config and a checkpoint, as mmpretrain's ``apis/model.py`` does (one way for every caller:
the inferencers, ``visualize_gradcam.py``, ``get_flops.py`` and the ridge baseline).

A checkpoint is read with :func:`~mmbrain.utils.load_checkpoint_safely` (``weights_only=True``, only mmengine's
checkpoint types allowed) and must fit the config's model exactly. Before the weights are compared, the kind of
checkpoint is told from its weights (:func:`checkpoint_kind`), so a pretraining checkpoint handed to an encoding
config says so instead of listing size mismatches.
"""

import copy
import os
import os.path as osp
from typing import Callable, Optional, Union

from mmengine.config import Config
from mmengine.model import BaseModel

ConfigType = Union[str, os.PathLike, Config]
#: ``check(ckpt, filename)``: raises a clear error before the weights are loaded (e.g. the wrong subject).
CheckpointCheck = Callable[[dict, str], None]

#: Kinds of mmbrain checkpoint, told by the top-level module names of their weights.
KIND_MODULES = (
    ('pretraining', ('fmri_encoder', 'text_encoder')),  # BrainformerPretrainer, ClipPretrainer
    ('encoding', ('head',)),  # BrainResponsePredictor's voxel readout
)
#: A file of ``backbone.*`` tensors only (``tools/model_converters/brainformer_to_backbone.py``).
BACKBONE_ONLY = 'backbone-only'


def load_config(config: ConfigType, cfg_options: Optional[dict] = None) -> Config:
    """A config object from a config file or a config, with ``cfg_options`` merged (a copy when given a Config)."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config) if cfg_options else config
    else:
        if not osp.isfile(config):
            raise FileNotFoundError(f'{config}: config file not found')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def checkpoint_kind(state_dict: dict) -> str:
    """``'pretraining'``, ``'encoding'``, ``'backbone-only'`` or ``'other'``, from a state dict's module names."""
    modules = {key.split('.')[0] for key in state_dict if key.split('.')[0] != 'module'}
    modules |= {key.split('.')[1] for key in state_dict if key.startswith('module.') and key.count('.') > 1}
    for kind, names in KIND_MODULES:
        if modules & set(names):
            return kind
    return BACKBONE_ONLY if modules == {'backbone'} else 'other'


def _article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def check_checkpoint_kind(model: BaseModel, ckpt: dict, filename: str, caller: Optional[str] = None) -> None:
    """Refuse a checkpoint of another kind than the model (a pretraining checkpoint for an encoding model ...).

    Raises:
        ValueError: ``'<file>: this is a pretraining checkpoint; BrainEncodingInferencer needs an encoding one'``.
    """
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise ValueError(f'{filename}: no state_dict of weights')
    have, want = checkpoint_kind(state), checkpoint_kind(model.state_dict())
    if have == want or 'other' in (have, want):
        return
    hint = (
        ' (only the image backbone, from brainformer_to_backbone.py: give it as the init_cfg of a downstream '
        "config's backbone instead)"
        if have == BACKBONE_ONLY
        else ''
    )
    raise ValueError(
        f'{filename}: this is {_article(have)} {have} checkpoint{hint}; {caller or type(model).__name__} needs '
        f'{_article(want)} {want} one'
    )


def init_model(
    config: ConfigType,
    checkpoint: Optional[str] = None,
    device: str = 'cpu',
    *,
    cfg_options: Optional[dict] = None,
    seed: Optional[int] = None,
    caller: Optional[str] = None,
    check: Optional[CheckpointCheck] = None,
    init_weights: bool = True,
) -> BaseModel:
    """The config's model, built in its default scope, initialised or loaded, on ``device`` in eval mode.

    Without ``checkpoint`` the model is initialised as mmengine's Runner initialises it (``init_weights``: its
    ``init_cfg``, e.g. a ``Pretrained`` backbone file, or the random initialisation seeded by ``seed``). With one,
    every weight comes from it (``init_cfg`` is not applied): it is read safely, its kind must be the model's
    (:func:`check_checkpoint_kind`), ``check`` may refuse it, and its weights must fit the model exactly.
    ``meta.dataset_meta`` of the checkpoint, when present, becomes ``model.dataset_meta`` (as in mmpretrain).
    The config is kept as ``model._config`` (what mmpretrain's inferencers read) and ``model.cfg``.

    Args:
        config: a config file or a :class:`mmengine.Config`.
        checkpoint: a checkpoint file, or None.
        device: torch device.
        cfg_options: settings merged into the config first.
        seed: seed of the random initialisation (``mmengine.runner.set_random_seed``); None leaves the RNG as is.
        caller: the name used in errors, e.g. ``'BrainEncodingInferencer'`` (default: the model's class).
        check: extra check of the loaded checkpoint, before its weights are compared with the model's.
        init_weights: without a checkpoint, apply the initialisation (False: the weights as built, e.g. to count
            FLOPs, where a ``Pretrained`` init_cfg would only cost a download).

    Raises:
        FileNotFoundError: no such config or checkpoint.
        ValueError: an unsafe, corrupt, foreign or ill-fitting checkpoint (the message names the file).
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner.utils import set_random_seed

    from mmbrain.registry import MODELS
    from mmbrain.utils.checkpoint import check_weights_match, load_checkpoint_safely

    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmbrain'))
    if seed is not None:
        set_random_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        if init_weights:
            model.init_weights()
    else:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'{checkpoint}: checkpoint not found')
        ckpt = load_checkpoint_safely(checkpoint)
        check_checkpoint_kind(model, ckpt, checkpoint, caller)
        if check is not None:
            check(ckpt, checkpoint)
        check_weights_match(model, ckpt, checkpoint)
        state = ckpt.get('state_dict', ckpt)
        model.load_state_dict({k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()})
        meta = ckpt.get('meta')
        if isinstance(meta, dict) and isinstance(meta.get('dataset_meta'), dict):
            model.dataset_meta = meta['dataset_meta']
    model._config = model.cfg = cfg
    return model.to(device).eval()
