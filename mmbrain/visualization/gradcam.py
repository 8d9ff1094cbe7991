# Copyright (c) mmbrain contributors. All rights reserved.
"""Grad-CAM of the image regions most tied to the fMRI features (paper Sec. 5, Fig. 6; Selvaraju et al., 2017), and
its sanity checks (Adebayo et al., 2018).

Following the paper's three steps: (1) extract the image embedding ``p`` of the vision model and the brain
embedding ``q`` of the same stimulus, (2) compute their cosine similarity ``s = cos(p, q)``, (3) back-propagate
``s`` to a feature map ``A`` of the vision backbone (by default its last stage) and form the Grad-CAM map

    alpha_c = mean_{h,w} ds/dA_{c,h,w},    CAM = ReLU(sum_c alpha_c A_c),

upsampled bilinearly to the image size and, by default, divided by its maximum (so each map lies in [0, 1];
an all-zero map stays zero: nothing in the image raises the similarity).

:func:`brain_gradcam` is written against a small protocol, so it works with any model:

- ``image_embed(img) -> (feature_map [B, C, h, w], embedding [B, d])``, a callable whose embedding is computed
  from (and differentiable with respect to) the feature map;
- the brain embeddings ``[B, d]`` as a tensor (no gradient flows into them).

The samples of a batch must not interact (put the model in eval mode: BatchNorm then uses running statistics),
since the gradient of the summed similarities is used for every sample at once.

For the pretrainers (:class:`BrainformerImageEmbed`, :func:`brainformer_gradcam`) the image embedding is the
model's own ``p = img_proj(pool(backbone(img)))`` of the contrastive loss (Eq. 5) and the partner is the second
tower's embedding of the same stimulus (:meth:`~mmbrain.models.algorithms.BaseContrastivePretrainer.
extract_pair_feat`): the fMRI encoder's ``q`` for a Brainformer, the caption's text embedding for CLIP. Every row
explains that similarity, whatever the guidance setting: the ROI features of the guidance loss (``p̄``, ``q̄``,
Eq. 6) are never used (a model trained without that loss has none); what the guidance loss changes is the
backbone the maps are computed through. The feature map is the output of ``target_layer`` (e.g.
``'backbone.stages.2'``); by default the backbone's last output when it is a ``[B, C, h, w]`` map (ResNet, Swin
with ``out_type='raw'``), else the output of its last stage (ConvNeXt, whose output is pooled).

Sanity checks (:func:`gradcam_sanity`; Adebayo et al., 2018, "Sanity checks for saliency maps"): a map that
explains the model must change when the model's learned weights are destroyed and when the image changes.

- *model-parameter randomisation*: the Spearman rank correlation over pixels between each image's map from the
  trained backbone and from the same backbone with randomised weights (:func:`randomize_backbone`); near 1 means
  the map does not depend on what was learned (e.g. it only shows the architecture's centre bias);
- *input check*: the mean Spearman rank correlation between the maps of different images of the same model; near
  1 means every image gets the same map.
"""

import copy
from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ``image_embed(img) -> (feature_map [B, C, h, w], embedding [B, d])``.
ImageEmbedFn = Callable[[Tensor], Tuple[Tensor, Tensor]]


@dataclass
class GradCAMResult:
    """Grad-CAM maps of a batch.

    Attributes:
        cams: ``[B, H, W]`` float maps at ``output_size`` (the image size by default), in [0, 1] when normalised.
        similarity: ``[B]`` cosine similarity between each image embedding and its brain embedding.
        feature_size: ``(h, w)`` of the feature map the maps were computed on (their true resolution).
    """

    cams: Tensor
    similarity: Tensor
    feature_size: Tuple[int, int]


def brain_gradcam(
    image_embed: ImageEmbedFn,
    images: Tensor,
    brain_embeddings: Tensor,
    output_size: Optional[Tuple[int, int]] = None,
    normalize: bool = True,
) -> GradCAMResult:
    """Grad-CAM of ``cos(image_embed(images), brain_embeddings)`` with respect to the image feature map.

    Args:
        image_embed: the image tower, see the module docstring.
        images: ``[B, 3, H, W]`` float images, as the model expects them (already normalised).
        brain_embeddings: ``[B, d]`` brain embeddings of the same stimuli (detached here).
        output_size: ``(H, W)`` of the returned maps; default: the images' size.
        normalize: divide each map by its maximum (maps that are all zero stay zero).

    Returns:
        :class:`GradCAMResult`.

    Raises:
        ValueError: shapes that do not match, or a feature map that is not ``[B, C, h, w]``.
        RuntimeError: the embedding does not depend on the feature map (no gradient path).
    """
    if images.dim() != 4:
        raise ValueError(f'brain_gradcam: images must be [B, 3, H, W], got {tuple(images.shape)}')
    batch = images.shape[0]
    if brain_embeddings.dim() != 2 or brain_embeddings.shape[0] != batch:
        raise ValueError(f'brain_gradcam: brain_embeddings must be [B={batch}, d], got {tuple(brain_embeddings.shape)}')
    # A leaf that requires grad keeps a gradient path through frozen (requires_grad=False) models.
    images = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        feature_map, embedding = image_embed(images)
        if feature_map.dim() != 4 or feature_map.shape[0] != batch:
            raise ValueError(
                f'brain_gradcam: image_embed must return a feature map [B={batch}, C, h, w], '
                f'got {tuple(feature_map.shape)}'
            )
        if embedding.shape != brain_embeddings.shape:
            raise ValueError(
                f'brain_gradcam: image embedding {tuple(embedding.shape)} and brain embedding '
                f'{tuple(brain_embeddings.shape)} differ in shape'
            )
        similarity = F.cosine_similarity(embedding, brain_embeddings.detach().to(embedding), dim=-1)
        if not feature_map.requires_grad:
            raise RuntimeError(
                'brain_gradcam: the feature map does not require grad; image_embed must compute it '
                'from its input without torch.no_grad()'
            )
        (grads,) = torch.autograd.grad(similarity.sum(), feature_map, allow_unused=True)
    if grads is None:
        raise RuntimeError('brain_gradcam: the embedding does not depend on the feature map returned by image_embed')
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cams = F.relu((weights * feature_map.detach()).sum(dim=1, keepdim=True))
    size = tuple(output_size) if output_size is not None else tuple(images.shape[-2:])
    cams = F.interpolate(cams.float(), size=size, mode='bilinear', align_corners=False)[:, 0]
    if normalize:
        peak = cams.flatten(1).amax(dim=1).clamp_min(torch.finfo(cams.dtype).tiny)
        cams = cams / peak[:, None, None]
    return GradCAMResult(
        cams=cams, similarity=similarity.detach(), feature_size=(feature_map.shape[2], feature_map.shape[3])
    )


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


# ------------------------------------------------------------------------------------------------ sanity checks
def randomize_backbone(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose backbone weights are randomised (Adebayo et al.'s model-parameter randomisation).

    Every backbone module with ``reset_parameters`` (convolutions, linear layers, norms) is re-initialised from
    its own initialisation distribution; the parameters no such module owns (e.g. ConvNeXt's layer scales) are
    shuffled, which keeps their scale but destroys what was learned. Everything outside the backbone (the
    projection, the second tower) is kept, so the map still explains the same similarity.
    """
    model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    rng_state = torch.get_rng_state()
    torch.manual_seed(seed)
    reset = set()
    try:
        for module in model.backbone.modules():
            if hasattr(module, 'reset_parameters') and callable(module.reset_parameters):
                module.reset_parameters()
                reset.update(id(p) for p in module.parameters(recurse=False))
    finally:
        torch.set_rng_state(rng_state)
    with torch.no_grad():
        for param in model.backbone.parameters():
            if id(param) not in reset and param.numel() > 1:
                flat = param.view(-1)
                flat.copy_(flat[torch.randperm(flat.numel(), generator=gen).to(flat.device)])
    return model


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps over pixels; NaN when either map is constant (no ranking)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan')
    return float(spearmanr(a, b).statistic)


def _nanmean(values: Sequence[float]) -> Optional[float]:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _as_numpy(maps) -> np.ndarray:
    return maps.detach().cpu().numpy() if isinstance(maps, Tensor) else np.asarray(maps)


def between_images_similarity(cams) -> Optional[float]:
    """Mean Spearman rank correlation between the maps (``[B, H, W]``) of different images (None if B < 2)."""
    return _nanmean([_spearman(a, b) for a, b in combinations(_as_numpy(cams), 2)])


def gradcam_sanity(
    models: Mapping[str, nn.Module],
    data: Dict,
    target_layer: Optional[str] = None,
    cams: Optional[Mapping[str, Tensor]] = None,
    seed: int = 0,
) -> Dict[str, Dict[str, object]]:
    """The two sanity checks of the module docstring for each model, on one ``brain_collate`` batch.

    Args:
        models: ``{label: pretrainer}`` whose maps are checked (trained models: the randomisation test of a
            randomly initialised model says nothing).
        data: the batch of the figure.
        target_layer: see :class:`BrainformerImageEmbed`.
        cams: ``{label: [B, H, W]}`` maps already computed for ``data`` (else computed here).
        seed: seed of the randomisation.

    Returns:
        ``{label: dict(randomization_spearman=[per image], randomization_spearman_mean, between_images_spearman,
        similarity_randomized=[cos(p, q) per image with the randomised backbone])}``; a correlation with a
        constant map is undefined (None per image) and left out of the means (None when no image has one).
    """
    out: Dict[str, Dict[str, object]] = {}
    for label, model in models.items():
        if cams is not None and label in cams:
            maps = cams[label]
        else:
            maps = brainformer_gradcam(model, data, target_layer)[0].cams
        randomized, _ = brainformer_gradcam(randomize_backbone(model, seed), data, target_layer)
        per_image = [_spearman(a, b) for a, b in zip(_as_numpy(maps), _as_numpy(randomized.cams))]
        out[label] = dict(
            randomization_spearman=[v if np.isfinite(v) else None for v in per_image],
            randomization_spearman_mean=_nanmean(per_image),
            between_images_spearman=between_images_similarity(maps),
            similarity_randomized=[float(s) for s in randomized.similarity],
        )
    return out


def sanity_lines(sanity: Mapping[str, Mapping[str, object]]) -> List[str]:
    """One line per model of :func:`gradcam_sanity`'s results, for a figure's footer or a log."""

    def fmt(value) -> str:
        return 'n/a (constant maps)' if value is None else f'{value:+.2f}'

    return [
        f'{label}: rank corr. with its randomised backbone {fmt(s["randomization_spearman_mean"])} '
        f'(mean of {len(s["randomization_spearman"])} images), between images {fmt(s["between_images_spearman"])}'
        for label, s in sanity.items()
    ]
