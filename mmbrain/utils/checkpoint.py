# Copyright (c) mmbrain contributors. All rights reserved.
"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` only unpickles tensors, containers and primitive types unless told otherwise.
mmengine 0.10.7 calls ``torch.load(filename, map_location=...)`` for ``Runner.resume``, ``load_from`` and
``init_cfg=dict(type='Pretrained')``, and the checkpoints its ``CheckpointHook`` writes carry a few more types:
``mmengine.logging.HistoryBuffer`` in the message hub, numpy arrays, scalars and dtypes inside it, and the buffer's
statistics methods (``HistoryBuffer.min`` ...), which pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``.
Rather than turning the safety off (``weights_only=False``), :func:`allow_mmengine_checkpoint_types` adds exactly
those types to torch's allow-list, and, in place of ``builtins.getattr``, a getattr that only resolves those
statistics methods; anything else (an arbitrary pickled class, ``os.system``, any other attribute lookup) is still
refused.
Backbone checkpoints written by ``tools/model_converters/brainformer_to_backbone.py`` are plain tensors and need no
allow-list at all.
"""

import pickle
import re
from typing import Any, Dict, List, Mapping

import numpy as np
import torch

__all__ = [
    'mmengine_checkpoint_types',
    'allow_mmengine_checkpoint_types',
    'load_checkpoint_safely',
    'check_resumable',
    'check_weights_match',
    'state_dict_mismatch',
]

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


allow_mmengine_checkpoint_types()  # importing this module (mmbrain's models and engine do) is enough


def load_checkpoint_safely(filename: str, map_location: str = 'cpu') -> dict:
    """Load a checkpoint with ``weights_only=True`` and mmengine's types allowed.

    Args:
        filename: Path of the checkpoint.
        map_location: Passed to :func:`torch.load`.

    Returns:
        The loaded object (a dict for any checkpoint mmengine or mmbrain writes).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a loadable checkpoint or references a type outside the allow-list; the message
            names the file and the offending global.
    """
    allow_mmengine_checkpoint_types()
    try:
        ckpt = torch.load(filename, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises UnpicklingError/RuntimeError for unsafe or corrupt files
        raise ValueError(f'{filename}: cannot be loaded as a checkpoint with weights_only=True: {err}') from err
    if not isinstance(ckpt, dict):
        raise ValueError(f'{filename}: expected a dict checkpoint, found {type(ckpt).__name__}')
    return ckpt


#: What ``Runner.resume`` reads from a checkpoint (mmengine 0.10): ``meta.epoch`` / ``meta.iter`` and these entries.
RESUME_KEYS = ('meta', 'state_dict', 'optimizer', 'message_hub')


def check_resumable(ckpt: Mapping, filename: str) -> None:
    """Raise a clear error unless ``ckpt`` holds what ``Runner.resume`` needs (else it fails with a bare KeyError).

    Raises:
        ValueError: names the file and what it lacks; a backbone-only file (brainformer_to_backbone.py) or plain
            weights cannot be resumed, only loaded as initial weights.
    """
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    meta = ckpt.get('meta')
    missing += [f'meta.{k}' for k in ('epoch', 'iter') if isinstance(meta, Mapping) and k not in meta]
    if missing:
        raise ValueError(
            f'{filename}: not a resumable training checkpoint (no {", ".join(missing)}): --resume needs '
            'a checkpoint that CheckpointHook saved during training; to start a new run from these '
            f'weights use --cfg-options load_from={filename}'
        )


def state_dict_mismatch(model_state: Mapping[str, Any], ckpt_state: Mapping[str, Any]) -> Dict[str, List[str]]:
    """The keys of a checkpoint's state dict that do not fit a model's: missing, unexpected, of another shape.

    A leading ``module.`` (a checkpoint of a wrapped model, or a wrapped model) is ignored, as mmengine's loader does.
    """
    model_state = {re.sub(r'^module\.', '', k): v for k, v in model_state.items()}
    ckpt_state = {re.sub(r'^module\.', '', k): v for k, v in ckpt_state.items()}
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


def check_weights_match(model: torch.nn.Module, ckpt: Mapping, filename: str) -> None:
    """Raise unless ``ckpt``'s weights fit ``model`` exactly (mmengine would only warn, and score random weights).

    Raises:
        ValueError: names the file and the first mismatched keys of each kind.
    """
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, Mapping):
        raise ValueError(f'{filename}: no state_dict of weights')
    mismatch = state_dict_mismatch(model.state_dict(), state)
    parts = [
        f'{len(keys)} {kind} ({", ".join(keys[:3])}{", ..." if len(keys) > 3 else ""})'
        for kind, keys in (
            ('missing keys', mismatch['missing']),
            ('unexpected keys', mismatch['unexpected']),
            ('shape mismatches', mismatch['shape']),
        )
        if keys
    ]
    if parts:
        raise ValueError(f'{filename}: its weights do not match the model of the config: ' + '; '.join(parts))
