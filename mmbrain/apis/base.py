# Copyright (c) mmbrain contributors. All rights reserved.
"""What mmbrain's inferencers share: the model from a config and a checkpoint (:func:`~.model.init_model`), and
any image (a path or an array) prepared by the config's own test pipeline, whose NSD loading step is swapped for
:class:`InferencerLoader` (as mmdet's ``DetInferencer`` swaps ``LoadImageFromFile``)."""

from typing import Callable, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.model import BaseModel
from mmpretrain.apis import BaseInferencer

from mmbrain.datasets.transforms import LoadNSDStimulus
from mmbrain.registry import TRANSFORMS

from .model import CheckpointCheck, init_model, load_config

ModelType = Union[BaseModel, str, Config]
ImageType = Union[str, np.ndarray]


class InferencerLoader(LoadNSDStimulus):
    """:class:`~mmbrain.datasets.transforms.LoadNSDStimulus` for an image from outside NSD: ``results['img']`` is a
    file path or an ``(H, W, 3)`` uint8 array in mmcv's BGR order; resizing and channel order are the stimulus
    step's own (its arguments are the config's)."""

    def read_rgb(self, results: dict) -> np.ndarray:
        import mmcv

        image = results['img']
        if isinstance(image, str):
            img = mmcv.imread(image, flag='color', channel_order='rgb')
            if img is None:
                raise FileNotFoundError(f'{image}: not a readable image')
            return img
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'an image array must be (H, W, 3) uint8 (BGR), got {img.shape} {img.dtype}')
        return np.ascontiguousarray(img[..., ::-1])


def _step_type(step: dict) -> str:
    return str(step.get('type', '')).split('.')[-1]


def inference_pipeline(cfg: Config) -> Callable[[dict], dict]:
    """The config's test pipeline (else val, train) for images: its ``LoadNSDStimulus`` becomes
    :class:`InferencerLoader`, the other ``LoadNSD*`` steps (responses, captions: the dataset's own files) are
    left out, every other step is kept."""
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        steps = list(((cfg.get(key) or {}).get('dataset') or {}).get('pipeline') or [])
        loads = [i for i, step in enumerate(steps) if _step_type(step) == 'LoadNSDStimulus']
        if loads:
            break
    else:
        raise ValueError(
            f'{cfg.filename}: no LoadNSDStimulus step in its test/val/train pipeline: cannot tell how the model '
            'was shown its images'
        )
    transforms = []
    for i, step in enumerate(steps):
        args = {k: v for k, v in step.items() if k != 'type'}
        if i == loads[0]:
            transforms.append(InferencerLoader(**args))
        elif not _step_type(step).startswith('LoadNSD'):
            transforms.append(TRANSFORMS.build(dict(step)))
    return Compose(transforms)


def chunks(items: Iterable, size: int) -> Iterable[list]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    chunk: List = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class BaseBrainInferencer(BaseInferencer):
    """mmpretrain's :class:`~mmpretrain.apis.BaseInferencer` for mmbrain models (``preprocess`` -> ``forward`` ->
    ``visualize`` -> ``postprocess``, keyword arguments dispatched by the ``*_kwargs`` sets).

    Args:
        model: a config file, a :class:`mmengine.Config` or a built model (with its config as ``model._config``).
        pretrained: the checkpoint to load (:func:`~.model.init_model`: safe, of the right kind, exact fit), or None.
        device: e.g. ``'cpu'``, ``'cuda:0'``; None keeps a built model where it is (the CPU for a config).
    """

    def __init__(
        self, model: ModelType, pretrained: Optional[str] = None, device: Union[str, torch.device, None] = None
    ) -> None:
        if not isinstance(model, BaseModel):
            model = init_model(
                load_config(model), pretrained, device or 'cpu', caller=type(self).__name__, check=self.check
            )
        elif pretrained is not None:
            raise ValueError(f'{type(self).__name__}: give a built model with its weights, or a config and pretrained')
        elif device is not None:
            model.to(device)
        model.eval()
        if not hasattr(model, '_config'):
            raise ValueError(
                f'{type(model).__name__}: a built model needs its config as `model._config` (the '
                'inferencer prepares images with its test pipeline)'
            )
        super().__init__(model, pretrained=False)

    #: Extra check of a checkpoint before its weights are loaded (e.g. the subject it was trained for).
    check: Optional[CheckpointCheck] = None

    def _init_pipeline(self, cfg: Config) -> Callable[[dict], dict]:
        return inference_pipeline(cfg)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def image_batches(self, images: Sequence[ImageType], batch_size: int) -> Iterable[torch.Tensor]:
        """Normalised image batches [b, 3, H, W] on the model's device (the model's data preprocessor)."""
        for chunk in chunks(images, batch_size):
            img = torch.stack([self.pipeline(dict(img=image))['inputs']['img'] for image in chunk])
            yield self.model.data_preprocessor(dict(inputs=dict(img=img)), False)['inputs']['img']
