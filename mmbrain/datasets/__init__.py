# Copyright (c) mmbrain contributors. All rights reserved.
from .collate import brain_collate
from .converter import convert_nsd
from .nsd_dataset import NSDDataset
from .nsd_files import ROI_GROUPS, ROI_LABEL_NAMES, NSDFormatError
from .samplers import SubjectBatchSampler
from .synthetic import make_synthetic_nsd
from .transforms import *  # noqa: F401,F403

__all__ = ['NSDDataset', 'brain_collate', 'SubjectBatchSampler', 'convert_nsd', 'make_synthetic_nsd', 'ROI_GROUPS',
           'ROI_LABEL_NAMES', 'NSDFormatError']
