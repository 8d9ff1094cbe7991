# Copyright (c) mmbrain contributors. All rights reserved.
"""ClipPretrainer: the image-text baseline of the paper's comparisons (Tables 1-2, Fig. 6), trained from scratch."""

from typing import Dict, List, Optional, Sequence, Union

from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base_pretrainer import BaseContrastivePretrainer


@MODELS.register_module()
class ClipPretrainer(BaseContrastivePretrainer):
    """CLIP [92] on the images Brainformer sees, with each image's COCO caption in place of the fMRI response.

    The image tower is Brainformer's (:class:`~.base_pretrainer.BaseContrastivePretrainer`: the mmpretrain
    backbone under ``backbone.``, its pooled last output and ``p = img_proj(.)``), so the extracted backbone is
    interchangeable with a Brainformer one downstream. The text tower is open_clip's ``TextTransformer`` (causal
    transformer, the end-of-text token's features projected to ``embed_dims``), trained from scratch, with
    open_clip's own byte-pair tokenizer (its vocabulary ships inside the package: nothing is downloaded). The
    loss is the symmetric InfoNCE with learnable temperature of Eq. 5 (``BrainContrastiveLoss``, gathered over
    processes) between ``p`` and the caption features.

    Captions are strings on the data samples (``text``, as in mmpretrain's retrieval datasets: see
    :class:`~mmbrain.datasets.transforms.LoadNSDCaption`); they are tokenized here, on the model's device.

    Args:
        backbone (dict | nn.Module): mmpretrain backbone config.
        backbone_out_dims (int): Channels ``C`` of the backbone's last output.
        embed_dims (int): Width ``d`` of the joint image-text space.
        text_encoder (dict): Arguments of ``open_clip.transformer.TextTransformer`` (``context_length``, ``width``,
            ``heads``, ``layers``, ...); ``output_dim`` is ``embed_dims`` and ``vocab_size`` the tokenizer's.
        contrastive_loss (dict): ``BrainContrastiveLoss`` config (its ``loss_weight`` is ``λ_con``).
        data_preprocessor (dict | nn.Module, optional): Defaults to ``BrainDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    pair_key = 'text'

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        backbone_out_dims: int = 768,
        embed_dims: int = 768,
        text_encoder: dict = dict(context_length=77, width=512, heads=8, layers=12),  # noqa: B006
        contrastive_loss: dict = dict(type='BrainContrastiveLoss', loss_weight=0.5),  # noqa: B006
        data_preprocessor: Optional[Union[dict, nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        from open_clip.tokenizer import SimpleTokenizer
        from open_clip.transformer import TextTransformer

        super().__init__(backbone, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        text_cfg = dict(text_encoder)
        if 'output_dim' in text_cfg:
            raise ValueError('ClipPretrainer: text_encoder takes no output_dim (it is embed_dims)')
        self.tokenizer = SimpleTokenizer(context_length=text_cfg.setdefault('context_length', 77))
        text_cfg.setdefault('vocab_size', self.tokenizer.vocab_size)
        self.text_encoder = TextTransformer(output_dim=embed_dims, **text_cfg)
        self.init_image_projection(backbone_out_dims, embed_dims, contrastive_loss)

    def tokenize(self, texts: Sequence[str]) -> Tensor:
        """Token ids [N, context_length] of captions, on the model's device (truncated to the context)."""
        return self.tokenizer(list(texts)).to(self.img_proj.weight.device)

    def extract_text_feat(self, texts: Sequence[str]) -> Tensor:
        """Caption features [N, embed_dims] of the text tower (before L2 normalisation)."""
        return self.text_encoder(self.tokenize(texts))

    @staticmethod
    def captions(data_samples: Optional[List[DataSample]]) -> List[str]:
        """The ``text`` of every data sample; an error naming the sample when one has none."""
        if not data_samples:
            raise ValueError(
                'ClipPretrainer needs data samples carrying captions (field "text"; add '
                "dict(type='LoadNSDCaption', ...) to the pipeline and 'text' to PackBrainInputs' "
                'meta_keys)'
            )
        texts = []
        for sample in data_samples:
            text = sample.get('text')
            if not isinstance(text, str):
                raise ValueError(
                    f'ClipPretrainer: data sample {sample.metainfo.get("sample_idx", "?")} '
                    f'(nsd_id {sample.metainfo.get("nsd_id", "?")}) has no caption string "text"'
                )
            texts.append(text)
        return texts

    def extract_pair_feat(self, inputs: Dict[str, Tensor], data_samples: Optional[List[DataSample]] = None) -> Tensor:
        """The caption features [B, d] of the samples' ``text``."""
        return self.extract_text_feat(self.captions(data_samples))

    def towers(
        self, inputs: Dict[str, Tensor], data_samples: Optional[List[DataSample]] = None, full: bool = True
    ) -> Dict[str, Tensor]:
        """``img`` (p, the projected pooled image features) and ``text`` (the caption features)."""
        return dict(
            img=self.img_proj(self.extract_img_feat(inputs['img'])), text=self.extract_pair_feat(inputs, data_samples)
        )
