# Copyright (c) mmbrain contributors. All rights reserved.
"""Every checkpoint mmbrain or mmengine loads goes through one safe ``torch.load(weights_only=True)``.

Two holes are closed by one explicit call, :func:`enable_safe_checkpoint_loading` (made by
:func:`mmbrain.utils.register_all_modules`, ``tools/train.py``, ``tools/test.py`` and :class:`mmbrain.engine.Runner`,
the runner of every mmbrain config, mmdet's and mmseg's own tools included; importing mmbrain does nothing):

* **Checkpoints from elsewhere.** mmengine 0.10.7's ``CheckpointLoader`` downloads ``http://`` / ``https://``
  checkpoints (and ``torchvision://``, ``open-mmlab://``, ``mmcls://`` names, which resolve to URLs) with torch's
  hub, which unpickles them with ``weights_only=False``: a checkpoint URL could run any code. The call registers,
  for every scheme mmengine knows (local paths, http(s), ``torchvision://`` / ``modelzoo://``, ``open-mmlab://`` /
  ``openmmlab://``, ``mmcls://``, ``pavi://``, ``s3://`` / ``petrel://`` through mmengine's file backends), a loader
  that fetches the bytes as mmengine does and ends in :func:`load_checkpoint_safely`. ``load_from``,
  ``resume``, ``init_cfg=dict(type='Pretrained')`` and :func:`mmengine.runner.load_checkpoint` all use them.
* **mmengine's own checkpoints.** Since torch 2.6, ``torch.load`` only unpickles tensors, containers and primitive
  types, and the checkpoints mmengine's ``CheckpointHook`` writes carry a few more types:
  ``mmengine.logging.HistoryBuffer`` in the message hub, numpy arrays, scalars and dtypes inside it, and the
  buffer's statistics methods (``HistoryBuffer.min`` ...), which pickle protocol 2 writes as
  ``getattr(HistoryBuffer, 'min')``. Rather than turning the safety off, :func:`allow_mmengine_checkpoint_types`
  adds exactly those types to torch's allow-list, and, in place of ``builtins.getattr``, a getattr that only
  resolves those statistics methods; anything else (an arbitrary pickled class, ``os.system``, any other attribute
  lookup) is still refused.

Backbone checkpoints written by ``tools/model_converters/brainformer_to_backbone.py`` are plain tensors and need no
allow-list at all.
"""

import copy
import io
import logging
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import IO, Any, Dict, List, Mapping, Optional, Union
from urllib.parse import urlparse

import numpy as np
import torch

__all__ = [
    'CheckpointError',
    'enable_safe_checkpoint_loading',
    'mmengine_checkpoint_types',
    'allow_mmengine_checkpoint_types',
    'load_checkpoint_safely',
    'check_resumable',
    'check_weights_match',
    'check_pretrained_init',
    'state_dict_mismatch',
]


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely, or whose weights do not fit; the message names the file."""


# dtypes that mmengine's logged scalars and HistoryBuffer arrays are stored with.
_NUMPY_DTYPES = (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_)


# HistoryBuffer's built-in statistics. ``HistoryBuffer._statistics_methods`` lists them only once a buffer has been
# created in this process (and any registered with ``HistoryBuffer.register_statistics``).
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """The only ``getattr`` a checkpoint may perform: fetching a HistoryBuffer statistics method."""
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and (name in _HISTORY_BUFFER_STATISTICS or name in HistoryBuffer._statistics_methods):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def mmengine_checkpoint_types() -> List[Any]:
    """The globals, beyond torch's defaults, that a checkpoint saved by mmengine's Runner references.

    Entries are objects or ``(object, 'module.name')`` pairs, the forms ``torch.serialization.add_safe_globals``
    takes.

    The numpy entries are looked up through numpy's own pickling (``__reduce__``), so they name the same
    functions that numpy 1.x (``numpy.core``) or 2.x (``numpy._core``) writes into a pickle.
    """
    from mmengine.logging import HistoryBuffer

    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    dtype_classes = [type(np.dtype(t)) for t in _NUMPY_DTYPES]
    return [
        HistoryBuffer,
        reconstruct,
        scalar,
        np.ndarray,
        np.dtype,
        *dtype_classes,
        (_history_buffer_getattr, 'builtins.getattr'),
    ]


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list :func:`mmengine_checkpoint_types` for ``torch.load(weights_only=True)``; idempotent."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no allow-list and does not default to weights_only
        return
    add_safe_globals(mmengine_checkpoint_types())


def load_checkpoint_safely(
    filename: Union[str, IO[bytes]], map_location: Optional[str] = 'cpu', name: Optional[str] = None
) -> dict:
    """Load a checkpoint with ``weights_only=True`` and mmengine's types allowed: the one ``torch.load`` of every
    checkpoint (the scheme loaders of :func:`enable_safe_checkpoint_loading` end here).

    Args:
        filename: A local path, an open binary file, or any name mmengine's ``CheckpointLoader`` takes (a URL,
            ``torchvision://...``, ``open-mmlab://...``, ``s3://...``), fetched by mmbrain's safe loader of that scheme.
        map_location: Passed to :func:`torch.load`.
        name: What error messages call a file object (default: its ``name``).

    Returns:
        The loaded object (a dict for any checkpoint mmengine or mmbrain writes).

    Raises:
        FileNotFoundError: A local file does not exist.
        CheckpointError: The file is not a loadable checkpoint, references a type outside the allow-list, or cannot
            be fetched; the message names the file (and the offending global).
    """
    if isinstance(filename, str) and _scheme_loader(filename) is not _load_local:
        return _scheme_loader(filename)(filename, map_location)
    allow_mmengine_checkpoint_types()
    name = name or getattr(filename, 'name', None) or str(filename)
    try:
        ckpt = torch.load(filename, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises UnpicklingError/RuntimeError for unsafe or corrupt files
        raise CheckpointError(
            f'{name}: cannot be loaded as a checkpoint with weights_only=True: {_unpickler_reason(err)}'
        ) from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{name}: expected a dict checkpoint, found {type(ckpt).__name__}')
    return ckpt


#: Paragraphs of torch's weights_only error that are not about the file (one suggests ``weights_only=False``).
_TORCH_BOILERPLATE = (
    'Weights only load failed',
    'Check the documentation of torch.load',
    'Please file an issue',
    '(1) In PyTorch',
    '(2) Alternatively',
)


def _unpickler_reason(err: Exception) -> str:
    """What torch's error says about the file (e.g. the refused global), in one line."""
    lines = [line.strip() for line in str(err).splitlines()]
    lines = [
        re.sub(r'^WeightsUnpickler error:\s*', '', line) for line in lines if not line.startswith(_TORCH_BOILERPLATE)
    ]
    lines = [re.sub(r' was not an allowed global by default\..*', '', line) for line in lines]
    reason = '; '.join(line for line in lines if line) or type(err).__name__
    if 'GLOBAL' in reason:
        reason += " (only tensors and mmengine's own checkpoint types are loaded)"
    return reason


# ----------------------------------------------------------------------------------------------------------------
# One safe loader per scheme of mmengine's CheckpointLoader (mmengine/runner/checkpoint.py, 0.10.7): each resolves
# the name and fetches the bytes as mmengine's loader does, and loads them with load_checkpoint_safely.


def _load_local(filename: str, map_location: Optional[str] = None) -> dict:
    """``CheckpointLoader`` scheme ``''``: a local path (``~`` expanded)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_safely(filename, map_location)


def _download(url: str) -> str:
    """``url`` in torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``, as mmengine's and torch's
    ``load_url``), downloaded first when missing; torch's download writes a temporary file and renames it."""
    from torch.hub import download_url_to_file, get_dir

    cached = osp.join(get_dir(), 'checkpoints', osp.basename(urlparse(url).path))
    if not osp.isfile(cached):
        os.makedirs(osp.dirname(cached), exist_ok=True)
        try:
            download_url_to_file(url, cached, progress=os.isatty(2))
        except Exception as err:  # urllib's URLError / HTTPError, OSError, ...
            raise CheckpointError(f'{url}: cannot download the checkpoint: {err}') from err
    return cached


def _load_http(url: str, map_location: Optional[str] = None) -> dict:
    """Schemes ``http://`` / ``https://``: downloaded by rank 0 first (the others then find it in the cache), then
    loaded safely, as mmengine's ``load_from_http`` but never with ``weights_only=False``."""
    from mmengine.dist import barrier, get_dist_info

    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download(url)
    if world_size > 1:
        barrier()
        if rank > 0:
            cached = _download(url)
    with open(cached, 'rb') as f:
        return load_checkpoint_safely(f, map_location, name=f'{url} (downloaded to {cached})')


def _model_url(names: Mapping[str, str], scheme: str, model: str) -> str:
    if model not in names:
        raise CheckpointError(f'{scheme}{model}: no model of that name is known to mmengine')
    return names[model]


def _load_torchvision(filename: str, map_location: Optional[str] = None) -> dict:
    """Schemes ``torchvision://`` / ``modelzoo://`` (deprecated): torchvision's weights by model name."""
    from mmengine.runner.checkpoint import get_torchvision_models

    scheme, model = filename.split('://', 1)
    return _load_http(_model_url(get_torchvision_models(), f'{scheme}://', model), map_location)


def _load_openmmlab(filename: str, map_location: Optional[str] = None) -> dict:
    """Schemes ``open-mmlab://`` / ``openmmlab://``: a URL, or a file under ``$MMENGINE_HOME``, by model name
    (deprecated names mapped to their successors, as mmengine does)."""
    from mmengine.runner.checkpoint import _get_mmengine_home, get_deprecated_model_names, get_external_models

    scheme, model = filename.split('://', 1)
    model = get_deprecated_model_names().get(model, model)
    url = _model_url(get_external_models(), f'{scheme}://', model)
    if url.startswith(('http://', 'https://')):
        return _load_http(url, map_location)
    return _load_local(osp.join(_get_mmengine_home(), url), map_location)


def _load_mmcls(filename: str, map_location: Optional[str] = None) -> dict:
    """Scheme ``mmcls://``: an mmclassification (now mmpretrain) checkpoint by model name, its keys renamed as
    mmengine's loader renames them."""
    from mmengine.runner.checkpoint import _process_mmcls_checkpoint, get_mmcls_models

    url = _model_url(get_mmcls_models(), 'mmcls://', filename[len('mmcls://') :])
    return _process_mmcls_checkpoint(_load_http(url, map_location))


def _load_pavi(filename: str, map_location: Optional[str] = None) -> dict:
    """Scheme ``pavi://``: OpenMMLab's model cloud (needs the ``pavi`` package), downloaded, then loaded safely."""
    import tempfile

    try:
        from pavi import modelcloud
    except ImportError as err:
        raise CheckpointError(f'{filename}: loading from pavi needs the pavi package') from err
    model = modelcloud.get(filename[len('pavi://') :])
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return load_checkpoint_safely(downloaded, map_location, name=filename)


def _load_ceph(filename: str, map_location: Optional[str] = None, backend: str = 'petrel') -> dict:
    """Schemes ``s3://`` / ``petrel://`` (optionally ``name:s3://``): the bytes from mmengine's file backend."""
    from mmengine.fileio import get_file_backend

    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    with io.BytesIO(data) as buffer:
        return load_checkpoint_safely(buffer, map_location, name=filename)


#: mmengine's CheckpointLoader prefixes (regular expressions, as it matches them) and mmbrain's loader for each.
SAFE_SCHEMES = {
    '': _load_local,
    'http://': _load_http,
    'https://': _load_http,
    'modelzoo://': _load_torchvision,
    'torchvision://': _load_torchvision,
    'open-mmlab://': _load_openmmlab,
    'openmmlab://': _load_openmmlab,
    'mmcls://': _load_mmcls,
    'pavi://': _load_pavi,
    r'(\S+\:)?s3://': _load_ceph,
    r'(\S+\:)?petrel://': _load_ceph,
}


def _scheme_loader(filename: str):
    """The loader of ``SAFE_SCHEMES`` that mmengine's CheckpointLoader would pick for ``filename`` (longest
    prefix first)."""
    for prefix in sorted(SAFE_SCHEMES, reverse=True):
        if re.match(prefix, filename) is not None:
            return SAFE_SCHEMES[prefix]
    return _load_local


def enable_safe_checkpoint_loading() -> None:
    """Make every checkpoint that mmengine loads go through :func:`load_checkpoint_safely`; idempotent.

    Allow-lists mmengine's own checkpoint types (:func:`allow_mmengine_checkpoint_types`) and registers, in place of
    each of mmengine's ``CheckpointLoader`` schemes, mmbrain's loader of that scheme (``SAFE_SCHEMES``). Nothing is
    left that unpickles with ``weights_only=False``: a scheme mmengine knows but mmbrain does not (registered by
    another library) is refused with :class:`CheckpointError`.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    allow_mmengine_checkpoint_types()
    for prefix, loader in SAFE_SCHEMES.items():
        CheckpointLoader.register_scheme(prefix, loader, force=True)
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if loader not in SAFE_SCHEMES.values():
            CheckpointLoader.register_scheme(prefix, _refuse_unknown_scheme, force=True)


def _refuse_unknown_scheme(filename: str, map_location: Optional[str] = None) -> dict:
    raise CheckpointError(f'{filename}: no safe (weights_only) loader for this scheme; download the file and load it')


#: What ``Runner.resume`` reads from a checkpoint (mmengine 0.10): ``meta.epoch`` / ``meta.iter`` and these entries.
RESUME_KEYS = ('meta', 'state_dict', 'optimizer', 'message_hub')


def check_resumable(ckpt: Mapping, filename: str) -> None:
    """Raise a clear error unless ``ckpt`` holds what ``Runner.resume`` needs (else it fails with a bare KeyError).

    Raises:
        CheckpointError: names the file and what it lacks; a backbone-only file (brainformer_to_backbone.py) or
            plain weights cannot be resumed, only loaded as initial weights.
    """
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    meta = ckpt.get('meta')
    missing += [f'meta.{k}' for k in ('epoch', 'iter') if isinstance(meta, Mapping) and k not in meta]
    optimizer = ckpt.get('optimizer')
    if 'optimizer' in ckpt and not (isinstance(optimizer, Mapping) and {'param_groups', 'state'} <= set(optimizer)):
        missing.append('optimizer state (param_groups, state)')
    if missing:
        raise CheckpointError(
            f'{filename}: not a resumable training checkpoint (no {", ".join(missing)}): --resume needs '
            'a checkpoint that CheckpointHook saved during training; to start a new run from these '
            f'weights use --cfg-options load_from={filename}'
        )


def _strip_module(state: Mapping[str, Any]) -> Dict[str, Any]:
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def state_dict_mismatch(model_state: Mapping[str, Any], ckpt_state: Mapping[str, Any]) -> Dict[str, List[str]]:
    """The keys of a checkpoint's state dict that do not fit a model's: missing, unexpected, of another shape.

    A leading ``module.`` (a checkpoint of a wrapped model, or a wrapped model) is ignored, as mmengine's loader does.
    """
    model_state, ckpt_state = _strip_module(model_state), _strip_module(ckpt_state)
    shapes = [
        f'{k}: checkpoint {tuple(v.shape)}, model {tuple(model_state[k].shape)}'
        for k, v in ckpt_state.items()
        if k in model_state and hasattr(v, 'shape') and tuple(v.shape) != tuple(model_state[k].shape)
    ]
    return dict(
        missing=sorted(set(model_state) - set(ckpt_state)),
        unexpected=sorted(set(ckpt_state) - set(model_state)),
        shape=shapes,
    )


def _describe(mismatch: Mapping[str, List[str]]) -> str:
    return '; '.join(
        f'{len(keys)} {kind} ({", ".join(keys[:3])}{", ..." if len(keys) > 3 else ""})'
        for kind, keys in (
            ('missing keys', mismatch.get('missing', [])),
            ('unexpected keys', mismatch.get('unexpected', [])),
            ('shape mismatches', mismatch.get('shape', [])),
            ('weights not received', mismatch.get('not_received', [])),
        )
        if keys
    )


def check_weights_match(model: torch.nn.Module, ckpt: Mapping, filename: str) -> None:
    """Raise unless ``ckpt``'s weights fit ``model`` exactly (mmengine would only warn, and score random weights).

    Raises:
        CheckpointError: names the file and the first mismatched keys of each kind.
    """
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f'{filename}: no state_dict of weights')
    mismatch = state_dict_mismatch(model.state_dict(), state)
    if any(mismatch.values()):
        raise CheckpointError(f'{filename}: its weights do not match the model of the config: ' + _describe(mismatch))


def _pretrained_cfgs(module: torch.nn.Module) -> List[dict]:
    init_cfg = getattr(module, 'init_cfg', None)
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [dict(c) for c in cfgs if isinstance(c, Mapping) and c.get('type') in ('Pretrained', 'PretrainedInit')]


def _pretrained_state(cfg: Mapping) -> Mapping[str, Any]:
    """The state dict ``PretrainedInit`` loads for ``cfg``, taken as mmengine takes it: the keys under ``prefix``
    without it, or the whole ``state_dict`` without a leading ``module.`` (its ``_metadata`` kept, which loading
    hooks read, e.g. mmpretrain's Swin renames the keys of old checkpoints by it)."""
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix

    map_location = cfg.get('map_location') or 'cpu'
    if cfg.get('prefix'):
        return _load_checkpoint_with_prefix(cfg['prefix'], cfg['checkpoint'], map_location=map_location)
    ckpt = _load_checkpoint(cfg['checkpoint'], map_location=map_location)
    state = ckpt.get('state_dict', ckpt)
    revised = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())
    revised._metadata = getattr(state, '_metadata', OrderedDict())
    return revised


def _load_report(module: torch.nn.Module, state: Mapping[str, Any]) -> Dict[str, List[str]]:
    """Load ``state`` into a copy of ``module`` as ``PretrainedInit`` does (``strict=False``, the module's own
    loading hooks applied) and report what did not fit; the copy holds what the module should have received."""
    probe = copy.deepcopy(module)
    state = OrderedDict(state)
    state._metadata = getattr(state, '_metadata', OrderedDict())
    shapes: List[str] = []
    try:
        result = probe.load_state_dict(state, strict=False)
    except RuntimeError as err:  # torch raises for shape mismatches even with strict=False, after loading the rest
        found = re.findall(
            r'size mismatch for ([^:]+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) from checkpoint, '
            r'the shape in current model is torch\.Size\(\[([^\]]*)\]\)',
            str(err),
        )
        if not found:
            raise
        shapes = [f'{key}: checkpoint ({ckpt}), model ({model})' for key, ckpt, model in found]
        for key, _, _ in found:
            state.pop(key, None)
        result = probe.load_state_dict(state, strict=False)
    mismatched = {key for key, *_ in found} if shapes else set()
    return dict(
        probe=probe,
        missing=sorted(set(result.missing_keys) - mismatched),
        unexpected=sorted(result.unexpected_keys),
        shape=shapes,
    )


def check_pretrained_init(model: torch.nn.Module) -> List[str]:
    """After ``model.init_weights()``: check that every submodule with ``init_cfg=dict(type='Pretrained')`` holds
    its checkpoint's weights (mmengine's ``PretrainedInit`` loads with ``strict=False`` and only warns, so a
    backbone that does not fit would train or be scored from random weights).

    The checkpoint is read again (safely) and taken as ``PretrainedInit`` takes it (its ``state_dict``, the keys
    under ``prefix`` with the prefix removed), then loaded into a copy of the module the way ``PretrainedInit`` loads
    it (the module's own loading hooks, e.g. renamed or resized position tables, included). Every one of its weights
    must have been taken (no unexpected key, no shape mismatch), and the module must hold what the copy holds. Parts
    of the module the checkpoint has nothing of at all (a top-level child such as the extra ``norm0``-``norm2``
    output norms a detector's multi-scale ConvNeXt adds), and buffers the model computes (e.g. position indices a
    loading hook rebuilt), keep their own initialisation and are logged; a part the checkpoint has must otherwise be
    complete.

    Args:
        model: The initialised model (or a model wrapper).

    Returns:
        The checkpoints checked (for a log line).

    Raises:
        CheckpointError: names the checkpoint, the module and the first mismatched keys of each kind.
    """
    from mmengine.logging import print_log

    enable_safe_checkpoint_loading()
    model = getattr(model, 'module', model)
    checked = []
    for name, module in model.named_modules():
        for cfg in _pretrained_cfgs(module):
            prefix = cfg.get('prefix')
            where = f'{cfg["checkpoint"]} (init_cfg of {name or "the model"}, {type(module).__name__}' + (
                f", prefix '{prefix}')" if prefix else ')'
            )
            try:
                state = _pretrained_state(cfg)
            except AssertionError as err:  # mmengine: "<prefix> is not in the pretrained model"
                raise CheckpointError(f'{where}: no weights under the prefix ({err})') from err
            report = _load_report(module, state)
            probe, received = report.pop('probe').state_dict(), module.state_dict()
            loaded = [k for k in probe if k not in report['missing']]
            # (BatchNorm fills in a num_batches_tracked the checkpoint lacks: that alone does not make a part covered)
            covered = {k.split('.', 1)[0] for k in loaded if not k.endswith('num_batches_tracked')}
            buffers = {k for k, _ in module.named_buffers()}  # computed ones (e.g. position indices) are rebuilt
            new_parts = [k for k in report['missing'] if k.split('.', 1)[0] not in covered or k in buffers]
            report['missing'] = [k for k in report['missing'] if k not in new_parts]
            report['not_received'] = [k for k in loaded if not torch.equal(probe[k], received[k])]
            if any(report.values()):
                raise CheckpointError(
                    f'{where}: the checkpoint does not fit the module it initialises: {_describe(report)}'
                )
            if new_parts:
                print_log(
                    f'{where}: {len(new_parts)} weights and buffers the checkpoint does not have keep their own '
                    f'initialisation ({", ".join(new_parts[:4])}{", ..." if len(new_parts) > 4 else ""})',
                    logger='current',
                    level=logging.WARNING,
                )
            checked.append(cfg['checkpoint'])
    return checked
