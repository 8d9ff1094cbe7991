# Copyright (c) mmbrain contributors. All rights reserved.
"""COCO box / mask AP on a subset of the evaluated images: val2017 without the images NSD showed.

NSD's stimuli include ~10% val2017 images, which Brainformer pretraining has seen. The detection configs therefore
score one inference run twice, with a list of mmdet ``CocoMetric`` evaluators (mmengine's ``Evaluator`` takes a
list): on standard val2017 (prefix ``coco``, the paper's number) and on the val2017 annotation file that
``tools/dataset_converters/coco_exclude_nsd.py --val`` writes without the NSD images (prefix ``coco-wo-nsd``).
pycocotools' ``COCO.loadRes`` refuses results for images absent from the annotation file, so the second metric
keeps only the predictions of the images its file holds; everything else is mmdet's ``CocoMetric`` unchanged.
Import this module through the config's ``custom_imports`` (it needs mmdet).
"""

from typing import Sequence

from mmdet.evaluation import CocoMetric

from mmbrain.registry import METRICS


@METRICS.register_module()
class ImageSubsetCocoMetric(CocoMetric):
    """mmdet's :class:`~mmdet.evaluation.CocoMetric` restricted to the images of its ``ann_file``.

    Args:
        ann_file: COCO annotation file of the subset (required: it defines the subset).
        **kwargs: :class:`~mmdet.evaluation.CocoMetric` arguments (``metric``, ``prefix``, ...).
    """

    def __init__(self, ann_file: str, **kwargs) -> None:
        if not ann_file:
            raise ValueError('ImageSubsetCocoMetric needs the ann_file of the image subset')
        super().__init__(ann_file=ann_file, **kwargs)
        self.subset_img_ids = frozenset(self._coco_api.get_img_ids())

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep the samples whose ``img_id`` is in the subset; pass them to ``CocoMetric.process``."""
        super().process(data_batch, [s for s in data_samples if s['img_id'] in self.subset_img_ids])
