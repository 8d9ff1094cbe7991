# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainformerPretrainer: fMRI-guided pretraining of a vision backbone (Sec. 3, Fig. 2)."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmbrain.registry import MODELS


@MODELS.register_module()
class BrainformerPretrainer(BaseModel):
    """Two towers, a vision backbone and the Brainformer fMRI encoder, trained with
    ``L = λ_con L_con + λ_bfg L_bfg`` (Sec. 3.3), in the style of mmpretrain's ``BaseSelfSupervisor``.

    The backbone is any mmpretrain backbone (``type='mmpretrain.ConvNeXt'``, ``'mmpretrain.SwinTransformer'``);
    its weights live under ``backbone.`` so downstream configs load them with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. Its last output is globally
    average-pooled (a [B, C] output is used as is) and projected:

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

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 fmri_encoder: Union[dict, nn.Module],
                 backbone_out_dims: int = 768,
                 contrastive_loss: dict = dict(type='BrainContrastiveLoss', loss_weight=0.5),  # noqa: B006
                 guidance_loss: Optional[dict] = dict(type='BrainFMRIGuidanceLoss', loss_weight=0.5),  # noqa: B006
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        data_preprocessor = data_preprocessor or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(dict(dict(type='BrainDataPreprocessor'), **data_preprocessor))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = backbone if isinstance(backbone, nn.Module) else MODELS.build(backbone)
        self.fmri_encoder = fmri_encoder if isinstance(fmri_encoder, nn.Module) else MODELS.build(fmri_encoder)
        self.num_rois = len(self.fmri_encoder.roi_names)
        self.embed_dims = embed_dims = self.fmri_encoder.embed_dims
        self.img_proj = nn.Linear(backbone_out_dims, embed_dims)
        self.contrastive_loss = MODELS.build(contrastive_loss)
        self.guidance_loss = None if guidance_loss is None else MODELS.build(guidance_loss)
        self.img_roi_proj = None if guidance_loss is None else nn.Linear(backbone_out_dims, self.num_rois * embed_dims)

    def extract_img_feat(self, img: Tensor) -> Tensor:
        """Pooled features [B, C] of the backbone's last output."""
        feat = self.backbone(img)
        if isinstance(feat, (tuple, list)):
            feat = feat[-1]
        if feat.dim() == 4:
            return feat.mean(dim=(2, 3))
        if feat.dim() == 3:  # [B, tokens, C]
            return feat.mean(dim=1)
        return feat

    def _towers(self, inputs: Dict[str, Tensor], with_rois: bool) -> Dict[str, Tensor]:
        """Run both towers: ``img`` (p), ``brain`` (q), and when ``with_rois`` ``img_roi`` (p̄), ``brain_roi`` (q̄)."""
        pooled = self.extract_img_feat(inputs['img'])
        brain, brain_roi = self.fmri_encoder(inputs['fmri'], inputs['fmri_mask'], inputs.get('xyz'),
                                             inputs.get('subject_index'))
        out = dict(img=self.img_proj(pooled), brain=brain)
        if with_rois and self.img_roi_proj is not None:
            out.update(img_roi=self.img_roi_proj(pooled).view(-1, self.num_rois, self.embed_dims),
                       brain_roi=brain_roi)
        return out

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[DataSample]]:
        """``mode='loss'``: dict of losses; ``'predict'``: data samples with embeddings; ``'tensor'``: dict of
        the raw features ``img`` (p), ``brain`` (q), ``img_roi`` (p̄), ``brain_roi`` (q̄)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._towers(inputs, with_rois=True)
        raise RuntimeError(f'BrainformerPretrainer: invalid mode {mode!r} (loss / predict / tensor)')

    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List[DataSample]] = None) -> Dict[str, Tensor]:
        """``loss_con`` (λ_con L_con), ``loss_bfg`` (λ_bfg L_bfg, unless disabled) and the logged ``temperature``."""
        feats = self._towers(inputs, with_rois=self.guidance_loss is not None)
        losses = dict(loss_con=self.contrastive_loss(feats['img'], feats['brain']))
        if self.guidance_loss is not None:
            losses['loss_bfg'] = self.guidance_loss(feats['img_roi'], feats['brain_roi'])
        losses['temperature'] = self.contrastive_loss.temperature
        return losses

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """L2-normalised ``img_embed`` (p) and ``brain_embed`` (q) set on each data sample (for retrieval)."""
        feats = self._towers(inputs, with_rois=False)
        img, brain = F.normalize(feats['img'].float(), dim=-1), F.normalize(feats['brain'].float(), dim=-1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(img.shape[0])]
        for sample, img_embed, brain_embed in zip(data_samples, img, brain):
            sample.set_field(img_embed, 'img_embed', field_type='data')
            sample.set_field(brain_embed, 'brain_embed', field_type='data')
        return data_samples

    def get_layer_depth(self, param_name: str) -> Tuple[int, int]:
        """Layer-wise depth of a backbone parameter (for layer-decay optimiser constructors)."""
        if hasattr(self.backbone, 'get_layer_depth'):
            return self.backbone.get_layer_depth(param_name, 'backbone.')
        raise NotImplementedError(f'{type(self.backbone).__name__} does not support get_layer_depth')
