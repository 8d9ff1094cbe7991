# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainformerPretrainer: fMRI-guided pretraining of a vision backbone (Sec. 3, Fig. 2)."""

from typing import Dict, List, Optional, Union

from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base_pretrainer import BaseContrastivePretrainer, build_component


@MODELS.register_module()
class BrainformerPretrainer(BaseContrastivePretrainer):
    """Two towers, a vision backbone and the Brainformer fMRI encoder, trained with
    ``L = λ_con L_con + λ_bfg L_bfg`` (Sec. 3.3), in the style of mmpretrain's ``BaseSelfSupervisor``.

    The backbone is any mmpretrain backbone (``type='mmpretrain.ConvNeXt'``, ``'mmpretrain.SwinTransformer'``);
    its weights live under ``backbone.`` so downstream configs load them with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. Its last output is globally
    average-pooled (a [B, C] output is used as is) and projected
    (:class:`~.base_pretrainer.BaseContrastivePretrainer`):

    - ``p = Linear(C, d_r)``: image features of the contrastive loss (Eq. 5, Sec. 3.3.1);
    - ``p̄^k = Linear_k(C, d_r)`` for each of the K ROIs: "pooling features of the vision model passed to the
      linear layer" of the guidance loss (Eq. 6, Sec. 3.3.2), computed as one ``Linear(C, K d_r)``.

    Args:
        backbone (dict | nn.Module): mmpretrain backbone config.
        fmri_encoder (dict | nn.Module): ``BrainformerEncoder`` or ``LinearFMRIEncoder`` config (any module
            with ``roi_names``, ``embed_dims`` and the encoder call of docs/architecture.md).
        backbone_out_dims (int): Channels ``C`` of the backbone's last output (768 for ConvNeXt-S and Swin-S).
        contrastive_loss (dict): ``BrainContrastiveLoss`` config (its ``loss_weight`` is ``λ_con``).
        guidance_loss (dict, optional): ``BrainFMRIGuidanceLoss`` config (``λ_bfg``); None drops the loss and
            the ROI projections (Table 3, "w/o Brain fMRI Guidance Loss").
        data_preprocessor (dict | nn.Module, optional): Defaults to ``BrainDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    pair_key = 'brain'

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        fmri_encoder: Union[dict, nn.Module],
        backbone_out_dims: int = 768,
        contrastive_loss: dict = dict(type='BrainContrastiveLoss', loss_weight=0.5),  # noqa: B006
        guidance_loss: Optional[dict] = dict(type='BrainFMRIGuidanceLoss', loss_weight=0.5),  # noqa: B006
        data_preprocessor: Optional[Union[dict, nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(backbone, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.fmri_encoder = build_component(fmri_encoder)
        self.num_rois = len(self.fmri_encoder.roi_names)
        self.init_image_projection(backbone_out_dims, self.fmri_encoder.embed_dims, contrastive_loss)
        self.guidance_loss = None if guidance_loss is None else MODELS.build(guidance_loss)
        self.img_roi_proj = (
            None if guidance_loss is None else nn.Linear(backbone_out_dims, self.num_rois * self.embed_dims)
        )

    def extract_pair_feat(self, inputs: Dict[str, Tensor], data_samples: Optional[List[DataSample]] = None) -> Tensor:
        """The brain cognitive features ``q`` [B, d] of the fMRI encoder."""
        return self.fmri_encoder(inputs['fmri'], inputs['fmri_mask'], inputs.get('xyz'), inputs.get('subject_index'))[0]

    def towers(
        self, inputs: Dict[str, Tensor], data_samples: Optional[List[DataSample]] = None, full: bool = True
    ) -> Dict[str, Tensor]:
        """Run both towers: ``img`` (p), ``brain`` (q), and when ``full`` (and the guidance loss is on)
        ``img_roi`` (p̄), ``brain_roi`` (q̄)."""
        pooled = self.extract_img_feat(inputs['img'])
        brain, brain_roi = self.fmri_encoder(
            inputs['fmri'], inputs['fmri_mask'], inputs.get('xyz'), inputs.get('subject_index')
        )
        out = dict(img=self.img_proj(pooled), brain=brain)
        if full and self.img_roi_proj is not None:
            out.update(img_roi=self.img_roi_proj(pooled).view(-1, self.num_rois, self.embed_dims), brain_roi=brain_roi)
        return out

    def extra_losses(self, feats: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``loss_bfg`` (λ_bfg L_bfg of Eq. 6), unless the guidance loss is disabled."""
        if self.guidance_loss is None:
            return {}
        return dict(loss_bfg=self.guidance_loss(feats['img_roi'], feats['brain_roi']))
