# Copyright (c) mmbrain contributors. All rights reserved.
"""Grad-CAM of the image regions most tied to the fMRI features (paper Sec. 5, Fig. 6; Selvaraju et al., 2017).

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
:mod:`.brainformer_gradcam` adapts :class:`~mmbrain.models.algorithms.BrainformerPretrainer` to this protocol.
"""

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

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
