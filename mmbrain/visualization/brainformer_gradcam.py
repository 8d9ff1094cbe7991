# Copyright (c) mmbrain contributors. All rights reserved.
"""Grad-CAM (paper Fig. 6) for :class:`~mmbrain.models.algorithms.BrainformerPretrainer`.

The image embedding is the model's own ``p = img_proj(pool(backbone(img)))`` of the contrastive loss (Eq. 5) and
the brain embedding is the fMRI encoder's ``q`` of the same stimulus, so the map shows where the backbone's
features raise ``cos(p, q)``. The feature map is the output of ``target_layer`` (a module name such as
``'backbone.stages.2'``); by default the backbone's last output when it is a ``[B, C, h, w]`` map (ResNet,
Swin with ``out_type='raw'``), else the output of its last stage (``backbone.stages[-1]``: ConvNeXt, whose
backbone output is pooled by ``gap_before_final_norm``). :func:`plot_brainformer_gradcam` draws Fig. 6 for
several pretrainers (e.g. random init, w/o guidance loss, Eq. 6 as printed, Brainformer) on one batch.

Every row explains the same similarity, ``cos(p, partner)`` of the contrastive embeddings of Eq. 5 (the partner
is ``q`` for a Brainformer, the caption's text embedding for CLIP), whatever the guidance setting. The ROI
features of the guidance loss (``p̄``, ``q̄``, Eq. 6) are never used: a model trained without that loss has no
``p̄``, and explaining a different score in some rows would make the rows incomparable. What the guidance loss
changes is the backbone the maps are computed through.
"""

from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from .figure_io import PathLike
from .gradcam import GradCAMResult, brain_gradcam
from .gradcam_figure import plot_gradcam_grid


class BrainformerImageEmbed:
    """``image_embed`` of :func:`~.gradcam.brain_gradcam` for a ``BrainformerPretrainer``.

    Args:
        model: the pretrainer (anything with ``backbone``, ``extract_img_feat`` and ``img_proj``).
        target_layer: name of the module whose ``[B, C, h, w]`` output is the Grad-CAM feature map (see
            :meth:`torch.nn.Module.get_submodule`); None picks the default of the module docstring.
    """

    def __init__(self, model: nn.Module, target_layer: Optional[str] = None) -> None:
        self.model = model
        self.target_layer = target_layer

    def _candidates(self) -> List[Tuple[str, nn.Module]]:
        if self.target_layer is not None:
            try:
                return [(self.target_layer, self.model.get_submodule(self.target_layer))]
            except AttributeError as err:
                raise ValueError(
                    f'Grad-CAM target_layer {self.target_layer!r} is not a module of {type(self.model).__name__}'
                ) from err
        candidates = [('backbone', self.model.backbone)]
        stages = getattr(self.model.backbone, 'stages', None)
        if isinstance(stages, nn.ModuleList) and len(stages) > 0:
            candidates.append((f'backbone.stages.{len(stages) - 1}', stages[-1]))
        return candidates

    def __call__(self, img: Tensor) -> Tuple[Tensor, Tensor]:
        candidates = self._candidates()
        captured: Dict[str, Tensor] = {}
        handles = []
        for name, module in candidates:

            def store(_module, _inputs, output, name=name):
                captured[name] = output[-1] if isinstance(output, (tuple, list)) else output

            handles.append(module.register_forward_hook(store))
        try:
            embedding = self.model.img_proj(self.model.extract_img_feat(img))
        finally:
            for handle in handles:
                handle.remove()
        for name, _ in candidates:
            feature_map = captured.get(name)
            if isinstance(feature_map, Tensor) and feature_map.dim() == 4:
                return feature_map, embedding
        found = {
            name: tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__ for name, out in captured.items()
        }
        raise ValueError(
            f'Grad-CAM: no [B, C, h, w] feature map among {[n for n, _ in candidates]} (outputs: '
            f'{found}); pass target_layer= the name of a module with a 4-D output'
        )


def brainformer_gradcam(
    model: nn.Module, data: Dict, target_layer: Optional[str] = None
) -> Tuple[GradCAMResult, np.ndarray]:
    """Grad-CAM maps of a ``brain_collate`` batch for a ``BrainformerPretrainer``.

    The model is put in eval mode for the call (and restored after); its data preprocessor normalises the images
    and moves the batch to the model's device.

    Args:
        model: the pretrainer.
        data: a batch ``dict(inputs=dict(img=uint8 [B, 3, H, W] BGR, fmri=..., fmri_mask=..., xyz=...,
            subject_index=...), data_samples=[...])`` (docs/architecture.md).
        target_layer: see :class:`BrainformerImageEmbed`.

    Returns:
        ``(result, images)``: the maps at the input resolution and the input images as ``[B, H, W, 3]`` uint8
        RGB, for :func:`~.gradcam_figure.plot_gradcam_grid`.
    """
    was_training = model.training
    model.eval()
    try:
        batch = model.data_preprocessor(data, training=False)
        inputs = batch['inputs']
        with torch.no_grad():  # q of the fMRI encoder; for a ClipPretrainer, its caption's text features
            brain = model.extract_pair_feat(inputs, batch['data_samples'])
        result = brain_gradcam(BrainformerImageEmbed(model, target_layer), inputs['img'], brain)
    finally:
        model.train(was_training)
    images = data['inputs']['img'].flip(1).permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
    return result, images


def plot_brainformer_gradcam(
    models: Mapping[str, nn.Module],
    data: Dict,
    out_file: Optional[PathLike] = None,
    target_layer: Optional[str] = None,
    **kwargs,
) -> Figure:
    """Paper Fig. 6 for several pretrainers on one batch: the stimuli, then one row of maps per model.

    Args:
        models: ``{label: BrainformerPretrainer}``, rows in dict order (e.g. random init, Brainformer w/o
            guidance loss, Brainformer); a ``ClipPretrainer`` row attends to the samples' captions (``text``,
            :func:`~.clip_gradcam.attach_captions`).
        data: a ``brain_collate`` batch (see :func:`brainformer_gradcam`).
        out_file: if given, the figure is also saved there (atomically).
        target_layer: see :class:`BrainformerImageEmbed` (the same for every model).
        **kwargs: passed to :func:`~.gradcam_figure.plot_gradcam_grid` (``column_titles``, ``title``, ...);
            by default the columns are titled with the samples' ``nsd_id`` when the data samples carry one.

    Returns:
        The figure.
    """
    if not models:
        raise ValueError('plot_brainformer_gradcam: no model given')
    cams, similarity, images = {}, {}, None
    for label, model in models.items():
        result, images = brainformer_gradcam(model, data, target_layer)
        cams[label], similarity[label] = result.cams, result.similarity
    samples = data.get('data_samples') or []
    if 'column_titles' not in kwargs and samples and all('nsd_id' in s for s in samples):
        kwargs['column_titles'] = [f'nsd_id {int(s.nsd_id)}' for s in samples]
    return plot_gradcam_grid(images, cams, out_file, similarity=similarity, **kwargs)
