# Copyright (c) mmbrain contributors. All rights reserved.
"""Predict a subject's voxel responses to any images with an encoding checkpoint (paper Sec. 4.5)."""

from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config

from mmbrain.datasets.converted_file import ConvertedSubject
from mmbrain.utils.atomic import atomic_write

from .base import BaseBrainInferencer, ImageType, ModelType
from .model import load_config


def _subject_file(cfg: Config) -> Optional[str]:
    """The converted subject file an encoding config was trained for (``model.head.num_voxels`` or the metric's)."""
    num_voxels = cfg.model.get('head', {}).get('num_voxels')
    if isinstance(num_voxels, str):
        return num_voxels
    evaluator = cfg.get('test_evaluator') or cfg.get('val_evaluator') or {}
    return evaluator.get('subject_file') if isinstance(evaluator, dict) else None


class BrainEncodingInferencer(BaseBrainInferencer):
    """Voxel responses of one subject to any images, from a ``BrainResponsePredictor`` checkpoint.

    Each image is prepared as the config's test pipeline prepares NSD stimuli (``LoadNSDStimulus``: size,
    interpolation, channel order), normalised by the model's data preprocessor, and mapped to the response of
    every voxel of every ROI group. Results carry the voxels' coordinates from the subject's converted file, so they
    can be mapped back onto the brain.

    Example::

        >>> from mmbrain.apis import BrainEncodingInferencer
        >>> inferencer = BrainEncodingInferencer('configs/encoding/<config>.py', 'work_dirs/<run>/best.pth')
        >>> result = inferencer(['a.png', 'b.png'], out_file='responses.npz')[0]
        >>> result['floc-faces']['response'].shape, result['floc-faces']['xyz'].shape   # (V,), (V, 3)

    Args:
        model: an encoding config (file or :class:`mmengine.Config`) or a built ``BrainResponsePredictor``.
        pretrained: its checkpoint (e.g. ``work_dirs/<run>/best_*.pth``).
        subject_file: the subject's converted ``subjXX.h5``; default the one the config names
            (``model.head.num_voxels`` or the evaluator's ``subject_file``). Its voxel counts must be the model's.
        device: device to run on.
    """

    postprocess_kwargs = {'out_file'}

    def __init__(
        self,
        model: ModelType,
        pretrained: Optional[str] = None,
        subject_file: Optional[str] = None,
        device: Union[str, torch.device, None] = None,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            cfg = load_config(model)
            subject_file = subject_file or _subject_file(cfg)
            if subject_file is not None and isinstance(cfg.model.get('head', {}).get('num_voxels'), str):
                cfg = load_config(cfg, {'model.head.num_voxels': subject_file})
            model = cfg
        else:
            subject_file = subject_file or _subject_file(model._config)
        if subject_file is None:
            raise ValueError('BrainEncodingInferencer: give subject_file (the config names none)')
        self.subject = ConvertedSubject(subject_file)
        self._last_inputs: list = []
        super().__init__(model, pretrained, device)
        counts = dict(getattr(getattr(self.model, 'head', None), 'num_voxels', None) or {})
        if not counts:
            raise TypeError(f'{type(self.model).__name__}: BrainEncodingInferencer needs a BrainResponsePredictor')
        if counts != {g: self.subject.voxel_counts.get(g) for g in counts}:
            raise ValueError(
                f"{subject_file}: voxel counts {self.subject.voxel_counts} differ from the model's "
                f'{counts} (another subject?)'
            )

    def check(self, ckpt: dict, filename: str) -> None:
        """Refuse a checkpoint trained for another subject than ``subject_file``'s (its ``meta.dataset_meta``)."""
        meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
        dataset_meta = meta.get('dataset_meta') if isinstance(meta.get('dataset_meta'), dict) else {}
        subjects = dataset_meta.get('subjects')
        if subjects and self.subject.subject not in subjects:
            trained = ', '.join(str(int(s)) for s in subjects)
            raise ValueError(
                f'{filename}: trained for subject {trained}, not {self.subject.subject} ({self.subject.path}); give '
                "that subject's converted file as subject_file"
            )

    def __call__(
        self,
        inputs: Union[ImageType, Sequence[ImageType]],
        return_datasamples: bool = False,
        batch_size: int = 8,
        **kwargs,
    ) -> List[Dict[str, Dict[str, np.ndarray]]]:
        """Predict the responses to ``inputs`` (an image path, a folder, an array or a list of them).

        Args:
            inputs: the images.
            return_datasamples: return ``DataSample`` objects with ``pred_fmri`` ``{group: Tensor[V_G]}`` instead.
            batch_size: images per forward pass.
            out_file: also save all predictions (``.npz``, atomically): ``<group>/response`` [N, V_G] float32,
                ``<group>/xyz`` [V_G, 3] mm (when the file has coordinates), ``<group>/ijk`` or
                ``<group>/vertex`` / ``<group>/hemi``, ``<group>/label``, and ``inputs`` (the image names).

        Returns:
            one dict per image: ``{group: dict(response=[V_G] float32, xyz=[V_G, 3] or None, label=[V_G])}``.
        """
        return super().__call__(inputs, return_datasamples, batch_size, **kwargs)

    def preprocess(self, inputs: List[ImageType], batch_size: int = 8):
        yield from self.image_batches(inputs, batch_size)

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> List[Dict[str, np.ndarray]]:
        preds = self.model(dict(img=img), mode='tensor')
        return [{g: p[i].float().cpu().numpy() for g, p in preds.items()} for i in range(img.shape[0])]

    def postprocess(
        self,
        preds: List[Dict[str, np.ndarray]],
        visualization=None,
        return_datasamples: bool = False,
        out_file: Optional[str] = None,
    ) -> list:
        if out_file is not None:
            self._save(preds, out_file)
        if return_datasamples:
            from mmpretrain.structures import DataSample

            return [DataSample().set_field({g: torch.from_numpy(v) for g, v in p.items()}, 'pred_fmri') for p in preds]
        return [
            {g: dict(response=v, xyz=self.subject.xyz(g), label=self.subject.labels(g)) for g, v in p.items()}
            for p in preds
        ]

    def _save(self, preds: List[Dict[str, np.ndarray]], out_file: str) -> None:
        arrays = {
            'inputs': np.array(
                [str(x) if isinstance(x, str) else f'<array {i}>' for i, x in enumerate(self._last_inputs)]
            )
        }
        for g in preds[0]:
            arrays[f'{g}/response'] = np.stack([p[g] for p in preds]).astype(np.float32)
            arrays[f'{g}/label'] = self.subject.labels(g)
            for name in ('xyz', 'ijk', 'vertex', 'hemi'):
                value = getattr(self.subject, name)(g)
                if value is not None:
                    arrays[f'{g}/{name}'] = value
        with atomic_write(out_file, 'wb') as f:
            np.savez(f, **arrays)

    def _inputs_to_list(self, inputs) -> list:
        self._last_inputs = super()._inputs_to_list(inputs)
        return self._last_inputs
