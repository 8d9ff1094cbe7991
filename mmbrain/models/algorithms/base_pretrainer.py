# Copyright (c) mmbrain contributors. All rights reserved.
"""The image tower shared by the contrastive pretrainers (Brainformer, Sec. 3; the CLIP baseline, Sec. 4).

In the style of mmpretrain's ``BaseSelfSupervisor`` (``selfsup/base.py``) and ``BlipRetrieval``
(``multimodal/blip_retrieval.py``): an mmpretrain backbone under ``backbone.``, its pooled last output projected
by ``img_proj`` to the joint space, the symmetric contrastive loss of Eq. 5 (``contrastive_loss``, with its
learnable temperature and cross-process gather) against a second tower, and retrieval ``predict``.
"""

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmbrain.registry import MODELS


def build_component(cfg: Union[dict, nn.Module]) -> nn.Module:
    """A module as given, or built from its config in the mmbrain scope."""
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


def build_data_preprocessor(cfg: Optional[Union[dict, nn.Module]]) -> nn.Module:
    """The data preprocessor: a module as given, else a config merged onto ``BrainDataPreprocessor``."""
    if isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(dict(dict(type='BrainDataPreprocessor'), **(cfg or {})))


def pool_last_level(feat: Union[Tensor, Tuple[Tensor, ...]]) -> Tensor:
    """Global average of a backbone's last output: [B, C, H, W] and [B, tokens, C] to [B, C]; [B, C] as is."""
    if isinstance(feat, (tuple, list)):
        feat = feat[-1]
    if feat.dim() == 4:
        return feat.mean(dim=(2, 3))
    if feat.dim() == 3:
        return feat.mean(dim=1)
    return feat


class BaseContrastivePretrainer(BaseModel):
    """Image tower + contrastive loss against a second tower whose features are named :attr:`pair_key`.

    Subclasses build their second tower in ``__init__`` between ``super().__init__`` (data preprocessor and
    backbone) and :meth:`init_image_projection` (``img_proj`` and the loss, once the joint width is known), and
    implement :meth:`towers` and :meth:`extract_pair_feat`; they may add terms in :meth:`extra_losses`.
    State-dict keys: ``backbone.*``, ``img_proj.*``, ``contrastive_loss.logit_scale`` and the subclass's own.

    Args:
        backbone (dict | nn.Module): mmpretrain backbone config (``type='mmpretrain.ConvNeXt'``, ...).
        data_preprocessor (dict | nn.Module, optional): merged onto ``BrainDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    #: name of the second tower's features in :meth:`towers` and of its embedding ``<pair_key>_embed`` in predict
    pair_key: str = ''

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        data_preprocessor: Optional[Union[dict, nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(data_preprocessor=build_data_preprocessor(data_preprocessor), init_cfg=init_cfg)
        self.backbone = build_component(backbone)

    def init_image_projection(self, backbone_out_dims: int, embed_dims: int, contrastive_loss: dict) -> None:
        """``img_proj = Linear(C, d)`` (``p`` of Eq. 5) and the contrastive loss ``λ_con L_con``."""
        self.embed_dims = embed_dims
        self.img_proj = nn.Linear(backbone_out_dims, embed_dims)
        self.contrastive_loss = MODELS.build(contrastive_loss)

    def extract_img_feat(self, img: Tensor) -> Tensor:
        """Pooled features [B, C] of the backbone's last output (the input of ``img_proj``)."""
        return pool_last_level(self.backbone(img))

    def extract_pair_feat(self, inputs: dict, data_samples: Optional[List[DataSample]] = None) -> Tensor:
        """Features [B, d] of the second tower (:attr:`pair_key`), the partner of ``p`` in Eq. 5."""
        raise NotImplementedError

    def towers(self, inputs: dict, data_samples: Optional[List[DataSample]], full: bool) -> Dict[str, Tensor]:
        """Features of both towers: ``img`` (p) and :attr:`pair_key`; ``full`` adds those only the loss and
        ``mode='tensor'`` use."""
        raise NotImplementedError

    def extra_losses(self, feats: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Loss terms besides ``loss_con`` (none here)."""
        return {}

    def forward(
        self, inputs: dict, data_samples: Optional[List[DataSample]] = None, mode: str = 'tensor'
    ) -> Union[Dict[str, Tensor], List[DataSample]]:
        """``mode='loss'``: dict of losses; ``'predict'``: data samples with embeddings; ``'tensor'``: the dict of
        raw features of :meth:`towers`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.towers(inputs, data_samples, full=True)
        raise RuntimeError(f'{type(self).__name__}: invalid mode {mode!r} (loss / predict / tensor)')

    def loss(self, inputs: dict, data_samples: Optional[List[DataSample]] = None) -> Dict[str, Tensor]:
        """``loss_con`` (λ_con L_con of Eq. 5), the :meth:`extra_losses` and the logged ``temperature``."""
        feats = self.towers(inputs, data_samples, full=True)
        losses = dict(loss_con=self.contrastive_loss(feats['img'], feats[self.pair_key]))
        losses.update(self.extra_losses(feats))
        losses['temperature'] = self.contrastive_loss.temperature
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """L2-normalised ``img_embed`` (p) and ``<pair_key>_embed`` set on each data sample (for retrieval)."""
        feats = self.towers(inputs, data_samples, full=False)
        img, pair = F.normalize(feats['img'].float(), dim=-1), F.normalize(feats[self.pair_key].float(), dim=-1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(img.shape[0])]
        for sample, img_embed, pair_embed in zip(data_samples, img, pair):
            sample.set_field(img_embed, 'img_embed', field_type='data')
            sample.set_field(pair_embed, f'{self.pair_key}_embed', field_type='data')
        return data_samples

    def get_layer_depth(self, param_name: str) -> Tuple[int, int]:
        """Layer-wise depth of a backbone parameter (for layer-decay optimiser constructors)."""
        if hasattr(self.backbone, 'get_layer_depth'):
            return self.backbone.get_layer_depth(param_name, 'backbone.')
        raise NotImplementedError(f'{type(self.backbone).__name__} does not support get_layer_depth')
