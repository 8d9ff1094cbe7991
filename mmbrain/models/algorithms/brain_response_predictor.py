# Copyright (c) mmbrain contributors. All rights reserved.
"""Brain response prediction from a (Brainformer-)pretrained image backbone (paper Sec. 4.5, Table 2 "NSD")."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmbrain.registry import MODELS


@MODELS.register_module()
class BrainResponsePredictor(BaseModel):
    """Image backbone + voxel readout predicting a subject's fMRI response to an image.

    The backbone is any mmpretrain backbone returning several levels (e.g. ``mmpretrain.ConvNeXt`` with
    ``out_indices=(0, 1, 2, 3)``), initialised from a converted Brainformer checkpoint through its ``init_cfg``;
    the head (e.g. :class:`VoxelReadoutHead`) maps the pooled levels to every voxel of every ROI group. Freeze the
    backbone with its own ``frozen_stages`` for a linear-probe protocol.

    Inputs follow docs/architecture.md: ``inputs`` holds ``img`` (normalised by ``BrainDataPreprocessor``),
    ``fmri`` and ``fmri_mask`` per ROI group.

    Args:
        backbone: image backbone config.
        head: readout config.
        data_preprocessor: defaults to ``BrainDataPreprocessor``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='BrainDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)

    def extract_feat(self, img: Tensor) -> Tuple[Tensor, ...]:
        """Backbone levels of a normalised image batch ``(B, 3, H, W)``."""
        return tuple(self.backbone(img))

    def forward(self,
                inputs: dict,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[BaseDataElement]]:
        """``tensor``: predicted responses ``{group: (B, V_G)}``; ``loss``: the readout's losses; ``predict``:
        the data samples with ``pred_fmri`` and ``gt_fmri`` (``{group: (V_G,)}``, real voxels only) set."""
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs['img']))
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}": BrainResponsePredictor supports tensor, loss and predict')

    def loss(self, inputs: dict, data_samples: Optional[Sequence[BaseDataElement]] = None) -> Dict[str, Tensor]:
        """Readout losses of the batch."""
        return self.head.loss(self.extract_feat(inputs['img']), inputs['fmri'], inputs['fmri_mask'])

    def predict(self, inputs: dict, data_samples: Sequence[BaseDataElement]) -> List[BaseDataElement]:
        """Attach predicted and measured responses of the real voxels to each data sample."""
        preds = self.head(self.extract_feat(inputs['img']))
        for i, sample in enumerate(data_samples):
            pred_fmri, gt_fmri = {}, {}
            for group, pred in preds.items():
                mask = inputs['fmri_mask'][group][i]
                pred_fmri[group] = pred[i][mask].detach()
                gt_fmri[group] = inputs['fmri'][group][i][mask]
            sample.set_field(pred_fmri, 'pred_fmri')
            sample.set_field(gt_fmri, 'gt_fmri')
        return list(data_samples)
