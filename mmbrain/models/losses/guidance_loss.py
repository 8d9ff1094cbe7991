# Copyright (c) mmbrain contributors. All rights reserved.
"""Brain fMRI Guidance Loss (Sec. 3.3.2, Eq. 6) and its cross-sample variants."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .contrastive_loss import gather_with_grad

#: The choices of ``BrainFMRIGuidanceLoss(negatives=...)``; ``'rois'`` is Eq. 6 as printed.
GUIDANCE_NEGATIVES = ('rois', 'samples', 'rois+samples')


@MODELS.register_module()
class BrainFMRIGuidanceLoss(nn.Module):
    """``L_bfg``: each image ROI feature ``p̄_i^k`` must match the brain ROI feature ``q̄_i^k`` of the same
    sample ``i`` and ROI ``k`` against a set of negatives chosen by ``negatives``:

    ``L_bfg = -1/N Σ_i Σ_k log( exp(p̄_i^k · q̄_i^k / τ) / Σ_{(j, g) ∈ D(i, k)} exp(p̄_i^k · q̄_j^g / τ) )``

    (summed over the ROIs, averaged over the samples, as Eq. 6 is written), with the denominator ``D(i, k)``:

    - ``'rois'``: Eq. 6 exactly as printed, ``D = {(i, g): g = 1..K}``, the other ROIs of the same sample. This
      loss never compares two stimuli: the per-ROI image projections (their biases) and the per-ROI brain
      encoders can tell the ROIs apart without looking at the image, so it is solved within the first epoch and
      then sends the backbone almost no gradient (docs/guidance_loss.md measures this).
    - ``'samples'``: ``D = {(j, k): j = 1..N}``, the same ROI of every sample of the batch (a per-ROI CLIP loss
      in the direction image -> brain; Fig. 5's "discriminating with features of other objects").
    - ``'rois+samples'``: ``D = {(j, g)}``, every ROI of every sample.

    For the cross-sample settings the batch is that of all processes: ``p̄`` and ``q̄`` are gathered with
    gradients as in Eq. 5 (:func:`~.contrastive_loss.gather_with_grad`) and ``N`` is the global batch size. The
    printed setting is local to each sample and needs no gathering (DistributedDataParallel's averaging of the
    per-process means gives the full-batch gradient).

    Eq. 6 uses raw dot products (``normalize=False, temperature=1``); by default both features are
    L2-normalised and the logits divided by a fixed ``τ = 0.1``, which keeps them bounded (the brain ROI features
    also feed the ROI transformer, so letting their norms grow to sharpen this softmax would disturb ``q``).

    Args:
        loss_weight (float): ``λ_bfg``.
        normalize (bool): L2-normalise ``p̄`` and ``q̄``.
        temperature (float): Fixed ``τ`` dividing the logits.
        negatives (str): ``'rois'`` (Eq. 6 as printed), ``'samples'`` or ``'rois+samples'``.
        gather (bool): Gather the features of all processes for the cross-sample settings.
    """

    def __init__(
        self,
        loss_weight: float = 0.5,
        normalize: bool = True,
        temperature: float = 0.1,
        negatives: str = 'rois',
        gather: bool = True,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'BrainFMRIGuidanceLoss: temperature must be positive, got {temperature}')
        if negatives not in GUIDANCE_NEGATIVES:
            raise ValueError(f'BrainFMRIGuidanceLoss: negatives must be one of {GUIDANCE_NEGATIVES}, got {negatives!r}')
        self.loss_weight = loss_weight
        self.normalize = normalize
        self.temperature = temperature
        self.negatives = negatives
        self.gather = gather

    def extra_repr(self) -> str:
        return f'negatives={self.negatives!r}, normalize={self.normalize}, temperature={self.temperature}'

    def forward(self, img_roi_feats: Tensor, brain_roi_feats: Tensor) -> Tensor:
        """Compute ``λ_bfg L_bfg``.

        Args:
            img_roi_feats (Tensor): ``p̄`` [N, K, d] of this process.
            brain_roi_feats (Tensor): ``q̄`` [N, K, d] of this process.

        Returns:
            Tensor: Scalar loss (over the batch of all processes for the cross-sample settings).
        """
        if img_roi_feats.shape != brain_roi_feats.shape or img_roi_feats.dim() != 3:
            raise ValueError(
                f'BrainFMRIGuidanceLoss: expected two [N, K, d] tensors, got '
                f'{tuple(img_roi_feats.shape)} and {tuple(brain_roi_feats.shape)}'
            )
        dtype = torch.promote_types(img_roi_feats.dtype, torch.float32)  # half-precision features: loss in fp32
        p, q = img_roi_feats.to(dtype), brain_roi_feats.to(dtype)
        if self.normalize:
            p, q = F.normalize(p, dim=-1), F.normalize(q, dim=-1)
        if self.negatives != 'rois' and self.gather:
            p, q = gather_with_grad(p, q)
        num, rois = p.shape[:2]
        sample = torch.arange(num, device=p.device)[:, None]
        roi = torch.arange(rois, device=p.device)[None, :]
        if self.negatives == 'rois':  # logits [i, k, g], target g = k
            logits, targets = torch.einsum('ikd,igd->ikg', p, q), roi.expand(num, rois)
        elif self.negatives == 'samples':  # logits [i, k, j], target j = i
            logits, targets = torch.einsum('ikd,jkd->ikj', p, q), sample.expand(num, rois)
        else:  # logits [i, k, (j, g)], target (j, g) = (i, k)
            logits, targets = torch.einsum('ikd,jgd->ikjg', p, q).flatten(2), sample * rois + roi
        logits = logits / self.temperature
        return self.loss_weight * F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction='sum') / num
