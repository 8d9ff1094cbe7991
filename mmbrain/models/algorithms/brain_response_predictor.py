# Copyright (c) mmbrain contributors. All rights reserved.
"""Brain response prediction from a (Brainformer-)pretrained image backbone (paper Sec. 4.5, Table 2 "NSD")."""

from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base_pretrainer import build_component, build_data_preprocessor


def resolve_num_voxels(head: Union[dict, nn.Module]) -> Union[dict, nn.Module]:
    """A head config whose ``num_voxels`` names a converted ``subjXX.h5`` gets that file's voxel counts instead
    (read with :class:`~mmbrain.datasets.converted_file.ConvertedSubject`; heads never open files)."""
    if isinstance(head, nn.Module) or not isinstance(head.get('num_voxels'), str):
        return head
    from mmbrain.datasets.converted_file import ConvertedSubject

    counts = ConvertedSubject(head['num_voxels']).voxel_counts
    if not counts:
        raise ValueError(f'{head["num_voxels"]}: no ROI group under "rois"')
    return dict(head, num_voxels=counts)


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
        backbone (dict | nn.Module): image backbone config.
        head (dict | nn.Module): readout config; its ``num_voxels`` may name the subject's converted file.
        data_preprocessor (dict | nn.Module, optional): merged onto ``BrainDataPreprocessor``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        head: Union[dict, nn.Module],
        data_preprocessor: Optional[Union[dict, nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(data_preprocessor=build_data_preprocessor(data_preprocessor), init_cfg=init_cfg)
        self.backbone = build_component(backbone)
        self.head = build_component(resolve_num_voxels(head))

    def extract_feat(self, img: Tensor) -> Tuple[Tensor, ...]:
        """Backbone levels of a normalised image batch ``(B, 3, H, W)``."""
        return tuple(self.backbone(img))

    def forward(
        self, inputs: dict, data_samples: Optional[List[BaseDataElement]] = None, mode: str = 'tensor'
    ) -> Union[Dict[str, Tensor], List[BaseDataElement]]:
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
