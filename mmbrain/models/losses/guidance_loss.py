# Copyright (c) mmbrain contributors. All rights reserved.
"""Brain fMRI Guidance Loss (Sec. 3.3.2, Eq. 6)."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS


@MODELS.register_module()
class BrainFMRIGuidanceLoss(nn.Module):
    """``L_bfg`` of Eq. 6: each image ROI feature ``p̄_i^k`` must match the brain ROI feature ``q̄_i^k`` of the
    same sample and ROI against the sample's other ROI features ``q̄_i^g``, ``g != k``:

    ``L_bfg = -1/N Σ_i Σ_k log softmax_g(p̄_i^k · q̄_i^g / τ)[k]``

    (summed over the ROIs, averaged over the samples, as written). Eq. 6 uses raw dot products (``τ = 1``,
    ``normalize=False``); by default we L2-normalise both features and divide by a fixed ``τ = 0.1``, which
    keeps the logits bounded (the ROI features also feed the ROI transformer, so letting their norms grow to
    sharpen this softmax would disturb ``q``) while leaving them sharp enough to train. The loss is local to
    each sample, so it needs no gathering across processes.

    Args:
        loss_weight (float): ``λ_bfg``.
        normalize (bool): L2-normalise ``p̄`` and ``q̄``.
        temperature (float): Fixed ``τ`` dividing the logits.
    """

    def __init__(self, loss_weight: float = 0.5, normalize: bool = True, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'BrainFMRIGuidanceLoss: temperature must be positive, got {temperature}')
        self.loss_weight = loss_weight
        self.normalize = normalize
        self.temperature = temperature

    def forward(self, img_roi_feats: Tensor, brain_roi_feats: Tensor) -> Tensor:
        """Compute ``λ_bfg L_bfg``.

        Args:
            img_roi_feats (Tensor): ``p̄`` [N, K, d].
            brain_roi_feats (Tensor): ``q̄`` [N, K, d].

        Returns:
            Tensor: Scalar loss.
        """
        if img_roi_feats.shape != brain_roi_feats.shape or img_roi_feats.dim() != 3:
            raise ValueError(f'BrainFMRIGuidanceLoss: expected two [N, K, d] tensors, got '
                             f'{tuple(img_roi_feats.shape)} and {tuple(brain_roi_feats.shape)}')
        dtype = torch.promote_types(img_roi_feats.dtype, torch.float32)  # half-precision features: loss in fp32
        p, q = img_roi_feats.to(dtype), brain_roi_feats.to(dtype)
        if self.normalize:
            p, q = F.normalize(p, dim=-1), F.normalize(q, dim=-1)
        num, rois = p.shape[:2]
        logits = torch.einsum('nkd,ngd->nkg', p, q) / self.temperature
        targets = torch.arange(rois, device=logits.device).repeat(num)
        return self.loss_weight * F.cross_entropy(logits.flatten(0, 1), targets, reduction='sum') / num
