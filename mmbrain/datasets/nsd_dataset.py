# Copyright (c) mmbrain contributors. All rights reserved.
"""``NSDDataset``: image / fMRI pairs from converted NSD files (paper Sec. 4.1).

One sample is one row of a subject's converted file (a trial, or an image's averaged repetitions) with the
stimulus it belongs to. The data list holds only indices (subject, row, nsd_id, session, shared1000); betas,
coordinates and images are read by the pipeline (:class:`~mmbrain.datasets.transforms.LoadNSDResponses`,
:class:`~mmbrain.datasets.transforms.LoadNSDStimulus`) in the process that uses them.

``pairing='shuffled'`` is the negative control of the brain signal: every sample keeps its image but reads the
response row of another image of the same subject (:func:`derange_rows`), so both modalities keep exactly their
marginal statistics and only the image-fMRI correspondence is destroyed.
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
PAIRINGS = ('paired', 'shuffled')


def derange_rows(nsd_id: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation ``perm`` of the rows such that ``nsd_id[perm[i]] != nsd_id[i]`` for every row ``i``.

    Row ``i`` then reads the response of row ``perm[i]``: a response to another image, never to its own (a
    repetition of the same image does not count as another image). The images are put in a random order, most
    repeated first, each image's rows together in random order, and every row takes the row ``m`` places further
    round the circle, ``m`` being the largest number of rows of one image. No image spans more than ``m`` places,
    so no row lands on its own image as long as no image holds more than half the rows. When every image has the
    same number of rows (NSD's completed subjects, the synthetic world, averaged files) this is a derangement of the
    images themselves: all repetitions of an image carry the responses to one other image.

    Args:
        nsd_id: (N,) the image of each row.
        rng: the generator that fixes the derangement.

    Returns:
        (N,) int64 permutation of ``range(N)``.

    Raises:
        ValueError: some image holds more than half the rows (no such permutation exists).
    """
    images, inverse, counts = np.unique(nsd_id, return_inverse=True, return_counts=True)
    m = int(counts.max(initial=0))
    if 2 * m > len(nsd_id):
        raise ValueError(
            f'cannot pair {len(nsd_id)} rows with responses to other images: image {int(images[counts.argmax()])} '
            f'holds {m} of them (at most half is possible)'
        )
    # images in random order, most repeated first; rows grouped by image, in random order within it
    image_order = rng.permutation(len(images))
    image_order = image_order[np.argsort(-counts[image_order], kind='stable')]
    rank = np.empty(len(images), np.int64)
    rank[image_order] = np.arange(len(images))
    circle = np.lexsort((rng.random(len(nsd_id)), rank[inverse]))  # circle[p] = the row at place p
    perm = np.empty(len(nsd_id), np.int64)
    perm[circle] = np.roll(circle, -m)
    return perm


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
        pairing: ``paired`` (default): each row's own response; ``shuffled``: the negative control, each row reads
            the response row of another image of the same subject and split (:func:`derange_rows`, fixed by
            ``pairing_seed`` and the subject), so images, responses and their statistics are unchanged and only
            their correspondence is lost. ``row``/``session`` then name the response read, ``fmri_nsd_id`` its
            image, ``nsd_id`` the image shown.
        pairing_seed: seed of the shuffled pairing (set it to the run's seed to draw one derangement per seed).
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
        pairing: str = 'paired',
        pairing_seed: int = 0,
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
        if pairing not in PAIRINGS:
            raise ValueError(f'pairing must be one of {PAIRINGS}, got {pairing!r}')
        if not subjects:
            raise ValueError('subjects must name at least one subject')
        self.subjects = [int(s) for s in subjects]
        self.split = split
        self.split_by = split_by
        self.test_sessions = sorted(int(s) for s in test_sessions) if test_sessions else []
        self.val_fraction, self.val_seed = float(val_fraction), int(val_seed)
        self.pairing, self.pairing_seed = pairing, int(pairing_seed)
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
            rows = np.flatnonzero(keep)
            samples = [
                dict(subject=subject, row=int(r), nsd_id=int(n), session=int(s), shared1000=bool(h))
                for r, n, s, h in zip(rows, nsd_id[rows], session[rows], shared[rows])
            ]
            if self.pairing == 'shuffled':
                try:
                    perm = derange_rows(nsd_id[rows], np.random.default_rng([self.pairing_seed, subject]))
                except ValueError as err:
                    raise ValueError(f'{path} ({self.split} split): {err}') from None
                for sample, r in zip(samples, rows[perm]):
                    sample.update(row=int(r), session=int(session[r]), fmri_nsd_id=int(nsd_id[r]))
            data_list.extend(samples)
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
