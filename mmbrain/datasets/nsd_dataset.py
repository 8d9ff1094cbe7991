# Copyright (c) mmbrain contributors. All rights reserved.
"""``NSDDataset``: image / fMRI pairs from converted NSD files (paper Sec. 4.1).

One sample is one row of a subject's converted file (a trial, or an image's averaged repetitions) with the
stimulus it belongs to. The data list holds only indices (subject, row, nsd_id, session, shared1000); betas,
coordinates and images are read by the pipeline (:class:`~mmbrain.datasets.transforms.LoadNSDResponses`,
:class:`~mmbrain.datasets.transforms.LoadNSDStimulus`) in the process that uses them.
"""

import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from ..registry import DATASETS, TRANSFORMS
from .converted_file import ConvertedSubject, converted_path
from .nsd_files import ROI_GROUPS, stimuli_path

SPLITS = ('train', 'val', 'test', 'all')
SPLIT_BY = ('shared1000', 'session')


@DATASETS.register_module()
class NSDDataset(BaseDataset):
    """Converted NSD (or synthetic NSD) subjects as an mmengine dataset.

    Args:
        data_root: folder of the converted ``subjXX.h5`` files.
        subjects: 1-based subjects to include (the paper trains on 7 and holds one out).
        split: ``train``, ``val``, ``test`` or ``all``.
        split_by: ``shared1000`` (test = the images every subject saw, NSD's usual test set) or ``session``
            (test = the rows of ``test_sessions``; single-trial files only).
        test_sessions: 1-based sessions forming the test split when ``split_by='session'``.
        val_fraction: share of each subject's non-test images (never an image of the test split) that forms the
            ``val`` split, for checkpoint choice and early stopping; ``train`` then leaves them out. 0 (default):
            no validation split, ``train`` is every non-test row. Set the same value in the train and val loaders.
        val_seed: seed of the (deterministic) choice of the validation images.
        stimuli_file: ``nsd_stimuli.hdf5``; default ``<data_root>/../nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5``
            (the layout of ``data/nsd`` and of the synthetic world).
        groups: ROI groups to load, in order.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``pipeline``, ``indices``, ``test_mode``, ...).
    """

    METAINFO = dict(groups=ROI_GROUPS)

    def __init__(
        self,
        data_root: str,
        subjects: Sequence[int] = (1,),
        split: str = 'train',
        split_by: str = 'shared1000',
        test_sessions: Optional[Sequence[int]] = None,
        val_fraction: float = 0.0,
        val_seed: int = 0,
        stimuli_file: Optional[str] = None,
        groups: Sequence[str] = ROI_GROUPS,
        metainfo: Optional[dict] = None,
        **kwargs,
    ):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        if split_by not in SPLIT_BY:
            raise ValueError(f'split_by must be one of {SPLIT_BY}, got {split_by!r}')
        if split_by == 'session' and split != 'all' and not test_sessions:
            raise ValueError('split_by="session" needs test_sessions (1-based session numbers)')
        if not 0 <= val_fraction < 1 or (split == 'val' and not val_fraction):
            raise ValueError(f'val_fraction must be in [0, 1) and > 0 for split="val", got {val_fraction!r}')
        if not subjects:
            raise ValueError('subjects must name at least one subject')
        self.subjects = [int(s) for s in subjects]
        self.split = split
        self.split_by = split_by
        self.test_sessions = sorted(int(s) for s in test_sessions) if test_sessions else []
        self.val_fraction, self.val_seed = float(val_fraction), int(val_seed)
        self.groups = tuple(groups)
        self.stimuli_file = stimuli_file or stimuli_path(osp.dirname(osp.abspath(data_root)))
        self.subject_files: Dict[int, str] = {s: converted_path(data_root, s) for s in self.subjects}
        metainfo = dict(metainfo or {}, groups=self.groups, subjects=self.subjects)
        # Built in the mmbrain scope (as mmpretrain's datasets do), so no default scope is needed.
        kwargs['pipeline'] = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in kwargs.get('pipeline', [])]
        super().__init__(ann_file='', data_root=data_root, data_prefix={}, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.stimuli_file):
            raise FileNotFoundError(f'{self.stimuli_file}: stimulus file not found (set stimuli_file=...)')
        data_list = []
        for subject, path in self.subject_files.items():
            converted = ConvertedSubject(path)
            missing = [g for g in self.groups if g not in converted.groups]
            if missing:
                raise ValueError(f'{path}: no ROI groups {missing} (has {converted.groups})')
            nsd_id, session, shared = converted.nsd_id, converted.session, converted.shared1000
            if self.split == 'all':
                keep = np.ones(len(nsd_id), bool)
            elif self.split_by == 'shared1000':
                keep = self._select(nsd_id, shared, path)
            else:
                if converted.averaged:
                    raise ValueError(
                        f'{path}: rows are averaged over sessions; split_by="session" needs a single-trial conversion'
                    )
                keep = self._select(nsd_id, np.isin(session, self.test_sessions), path)
            data_list.extend(
                dict(subject=subject, row=int(r), nsd_id=int(n), session=int(s), shared1000=bool(h))
                for r, n, s, h in zip(np.flatnonzero(keep), nsd_id[keep], session[keep], shared[keep])
            )
        return data_list

    def _select(self, nsd_id: np.ndarray, in_test: np.ndarray, path: str) -> np.ndarray:
        """Rows of this split given the test rows: ``val`` images are drawn from the images no test row shows."""
        if self.split == 'test':
            return in_test
        if not self.val_fraction:
            return ~in_test
        candidates = np.setdiff1d(nsd_id[~in_test], nsd_id[in_test])
        if candidates.size < 2:
            raise ValueError(f'{path}: {candidates.size} non-test images, too few for a validation split')
        n_val = min(max(int(round(self.val_fraction * candidates.size)), 1), candidates.size - 1)
        in_val = np.isin(nsd_id, np.random.default_rng(self.val_seed).permutation(candidates)[:n_val])
        return in_val if self.split == 'val' else ~in_test & ~in_val

    def get_data_info(self, idx: int) -> dict:
        """The sample's indices plus the files the loading transforms read."""
        info = super().get_data_info(idx)
        info['brain_file'] = self.subject_files[info['subject']]
        info['stimuli_file'] = self.stimuli_file
        info['groups'] = self.groups
        return info

    def sample_subjects(self) -> np.ndarray:
        """The subject of every sample, in order (e.g. for batches of one subject)."""
        return np.array([self.get_data_info(i)['subject'] for i in range(len(self))], np.int64)
