# Copyright (c) mmbrain contributors. All rights reserved.
"""Symmetric image-brain contrastive loss (Sec. 3.3.1, Eq. 5), gathered across processes."""

import math
from typing import Tuple

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS


def gather_with_grad(*features: Tensor) -> Tuple[Tensor, ...]:
    """Concatenate each tensor over all processes (rank order), keeping the autograd graph.

    Like open_clip's ``gather_features(local_loss=False, gather_with_grad=True)``: the backward of
    ``torch.distributed.nn.all_gather`` sums, into each rank's local features, the gradients that every rank's
    loss sends them. Every rank computes the same full-batch loss, so a local feature receives ``world_size``
    times the full-batch gradient, and DistributedDataParallel's averaging over ranks brings the parameter
    gradients back to exactly those of the loss over the concatenated batch. Each rank must hold the same
    number of samples (mmengine's ``DefaultSampler`` pads the dataset so that they do).
    Without an initialised process group (or with one process) the tensors are returned unchanged.

    The gradients reaching the gather are made contiguous first: on gloo the backward of ``all_gather`` sums them
    with ``all_to_all``, which reads a non-contiguous gradient (e.g. from an ``einsum``) as if it were
    contiguous and returns wrong gradients without an error.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    return tuple(
        torch.cat([_ContiguousGrad.apply(t) for t in dist_fn.all_gather(f.contiguous())], dim=0) for f in features
    )


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward hands on a contiguous gradient (see :func:`gather_with_grad`)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


@MODELS.register_module()
class BrainContrastiveLoss(nn.Module):
    """``L_con`` of Eq. 5 with a learnable temperature ``σ``.

    ``L_con = CE(p q^T / σ, I) + CE(q p^T / σ, I)`` over the whole (all-process) batch, i.e. the two terms of
    Eq. 5 summed as written (with ``loss_weight=0.5`` this is the usual CLIP average). ``p`` and ``q`` are
    L2-normalised first when ``normalize`` (as in CLIP [92]; the dot product of Eq. 5 is then a cosine).
    ``σ`` is parameterised as ``log(1/σ)`` and clamped to ``[min_temperature, max_temperature]``.

    Args:
        loss_weight (float): ``λ_con``.
        init_temperature (float): Initial ``σ``.
        min_temperature (float): Lower clamp of ``σ`` (CLIP's 0.01).
        max_temperature (float): Upper clamp of ``σ``.
        learnable_temperature (bool): Learn ``σ`` (True in the paper) or keep it fixed.
        normalize (bool): L2-normalise the features.
        gather (bool): Gather features across processes with gradients (see :func:`gather_with_grad`).
    """

    def __init__(
        self,
        loss_weight: float = 0.5,
        init_temperature: float = 0.07,
        min_temperature: float = 0.01,
        max_temperature: float = 1.0,
        learnable_temperature: bool = True,
        normalize: bool = True,
        gather: bool = True,
    ) -> None:
        super().__init__()
        if not 0 < min_temperature <= init_temperature <= max_temperature:
            raise ValueError('BrainContrastiveLoss: need 0 < min_temperature <= init_temperature <= max_temperature')
        self.loss_weight = loss_weight
        self.normalize = normalize
        self.gather = gather
        self.scale_range = (-math.log(max_temperature), -math.log(min_temperature))
        self.logit_scale = nn.Parameter(torch.tensor(-math.log(init_temperature)), requires_grad=learnable_temperature)

    @property
    def temperature(self) -> Tensor:
        """The current (clamped) ``σ``, detached."""
        return torch.exp(-self.logit_scale.detach().clamp(*self.scale_range))

    def forward(self, img_feats: Tensor, brain_feats: Tensor) -> Tensor:
        """Compute ``λ_con L_con``.

        Args:
            img_feats (Tensor): Image features ``p`` [N, d] of this process.
            brain_feats (Tensor): Brain cognitive features ``q`` [N, d] of this process.

        Returns:
            Tensor: Scalar loss over the batch of all processes.
        """
        if img_feats.shape != brain_feats.shape:
            raise ValueError(
                f'BrainContrastiveLoss: image features {tuple(img_feats.shape)} and brain features '
                f'{tuple(brain_feats.shape)} differ in shape'
            )
        dtype = torch.promote_types(img_feats.dtype, torch.float32)  # half-precision features: loss in fp32
        img_feats, brain_feats = img_feats.to(dtype), brain_feats.to(dtype)
        if self.normalize:
            img_feats, brain_feats = F.normalize(img_feats, dim=-1), F.normalize(brain_feats, dim=-1)
        if self.gather:
            img_feats, brain_feats = gather_with_grad(img_feats, brain_feats)
        logits = self.logit_scale.clamp(*self.scale_range).exp() * img_feats @ brain_feats.t()
        labels = torch.arange(logits.shape[0], device=logits.device)
        return self.loss_weight * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
