# Copyright (c) mmbrain contributors. All rights reserved.
"""Datasets, NSD file readers and writers, transforms and the batch collate function.

Imported on first use (:mod:`mmbrain.utils.lazy`): the converters and readers need only numpy, h5py and nibabel;
the dataset, transforms and collate function import torch and mmcv when first asked for.
"""

from ..utils.lazy import lazy_exports

__all__ = [
    'NSDDataset',
    'brain_collate',
    'convert_nsd',
    'make_synthetic_nsd',
    'ROI_GROUPS',
    'ROI_LABEL_NAMES',
    'NSDFormatError',
    'LoadNSDStimulus',
    'LoadNSDResponses',
    'LoadNSDCaption',
    'PackBrainInputs',
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        'NSDDataset': '.nsd_dataset',
        'brain_collate': '.collate',
        'convert_nsd': '.converter',
        'make_synthetic_nsd': '.synthetic',
        'ROI_GROUPS': '.nsd_files',
        'ROI_LABEL_NAMES': '.nsd_files',
        'NSDFormatError': '.nsd_files',
        'LoadNSDStimulus': '.transforms',
        'LoadNSDResponses': '.transforms',
        'LoadNSDCaption': '.transforms',
        'PackBrainInputs': '.transforms',
    },
)
