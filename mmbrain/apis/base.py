# Copyright (c) mmbrain contributors. All rights reserved.
"""What mmbrain's inferencers share: the model built in the ``mmbrain`` scope from a config and a checkpoint, and
any image (a path or an array) prepared as the config's test pipeline prepares NSD stimuli."""

import os.path as osp
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.apis import BaseInferencer

from mmbrain.registry import MODELS

ModelType = Union[BaseModel, str, Config]
ImageType = Union[str, np.ndarray]
_INTERPOLATION = ('nearest', 'bilinear', 'bicubic', 'area')


def load_config(model: Union[str, Config]) -> Config:
    """A config object from a config file or a config."""
    if isinstance(model, Config):
        return model
    if not osp.isfile(model):
        raise FileNotFoundError(f'{model}: config file not found')
    return Config.fromfile(model)


def build_model(cfg: Config) -> BaseModel:
    """``cfg.model`` built in the ``mmbrain`` scope, with the config attached (as mmpretrain's ``get_model`` does).

    The backbone's ``init_cfg`` is not applied (``init_weights`` is not called): the weights come from the
    inferencer's checkpoint.
    """
    init_default_scope(cfg.get('default_scope', 'mmbrain'))
    model = MODELS.build(cfg.model)
    model._config = cfg
    return model


def _stimulus_settings(cfg: Config) -> dict:
    """``img_size``, ``interpolation``, ``color_order`` of ``LoadNSDStimulus`` in the config's test pipeline."""
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(key)
        pipeline = (loader or {}).get('dataset', {}).get('pipeline', []) if loader else []
        for step in pipeline:
            if step.get('type') in ('LoadNSDStimulus', 'mmbrain.LoadNSDStimulus'):
                size = step.get('img_size', 224)
                return dict(
                    size=(size, size) if isinstance(size, int) else (tuple(size) if size else None),
                    interpolation=step.get('interpolation', 'bilinear'),
                    color_order=step.get('color_order', 'bgr'),
                )
    raise ValueError(
        'the config has no LoadNSDStimulus step in its test/val/train pipeline: cannot tell the image '
        'size the model was trained with'
    )


class ImageLoader:
    """Read an image (a file path, or an (H, W, 3) uint8 array in mmcv's BGR order) and prepare it as
    :class:`~mmbrain.datasets.transforms.LoadNSDStimulus` + ``PackBrainInputs`` do: resized to the training size,
    in the pipeline's channel order, as a [3, H, W] uint8 tensor.

    Args:
        size: (width, height), or None to keep the image's size.
        interpolation: ``nearest``, ``bilinear``, ``bicubic`` or ``area``.
        color_order: ``bgr`` or ``rgb``, the order the model's data preprocessor expects.
    """

    def __init__(self, size: Optional[Sequence[int]], interpolation: str = 'bilinear', color_order: str = 'bgr'):
        if interpolation not in _INTERPOLATION:
            raise ValueError(f'interpolation must be one of {_INTERPOLATION}, got {interpolation!r}')
        self.size = None if size is None else tuple(size)
        self.interpolation = interpolation
        self.color_order = color_order

    @classmethod
    def from_config(cls, cfg: Config) -> 'ImageLoader':
        return cls(**_stimulus_settings(cfg))

    def __call__(self, image: ImageType) -> torch.Tensor:
        import mmcv

        if isinstance(image, str):
            img = mmcv.imread(image, flag='color')
            if img is None:
                raise FileNotFoundError(f'{image}: not a readable image')
        else:
            img = np.asarray(image)
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f'an image array must be (H, W, 3) uint8 (BGR), got {img.shape} {img.dtype}')
        if self.size is not None and self.size != (img.shape[1], img.shape[0]):
            img = mmcv.imresize(img, self.size, interpolation=self.interpolation)
        if self.color_order == 'rgb':
            img = mmcv.bgr2rgb(img)
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


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
        model: a config file, a :class:`mmengine.Config` or a built model.
        pretrained: the checkpoint to load (mmengine's ``load_checkpoint``, weights only), or None.
        device: e.g. ``'cpu'``, ``'cuda:0'``; None keeps the model where it is (the CPU for a config).
    """

    def __init__(
        self, model: ModelType, pretrained: Optional[str] = None, device: Union[str, torch.device, None] = None
    ) -> None:
        if not isinstance(model, BaseModel):
            model = build_model(load_config(model))
        if isinstance(pretrained, str):
            if not osp.isfile(pretrained):
                raise FileNotFoundError(f'{pretrained}: checkpoint not found')
            load_checkpoint(model, pretrained, map_location='cpu', strict=True)
        if device is not None:
            model.to(device)
        model.eval()
        if not hasattr(model, '_config'):
            raise ValueError(
                f'{type(model).__name__}: a built model needs its config as `model._config` (the '
                'inferencer reads the image size from its test pipeline)'
            )
        super().__init__(model, pretrained=False)

    def _init_pipeline(self, cfg: Config) -> ImageLoader:
        return ImageLoader.from_config(cfg)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def image_batches(self, images: Sequence[ImageType], batch_size: int) -> Iterable[torch.Tensor]:
        """Normalised image batches [b, 3, H, W] on the model's device (the model's data preprocessor)."""
        for chunk in chunks(images, batch_size):
            img = torch.stack([self.pipeline(image) for image in chunk])
            yield self.model.data_preprocessor(dict(inputs=dict(img=img)), False)['inputs']['img']
