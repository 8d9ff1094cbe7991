# Copyright (c) mmbrain contributors. All rights reserved.
"""Encoding accuracy of predicted brain responses: voxel-wise Pearson r and the Algonauts score (paper Sec. 4.5)."""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmbrain.datasets.converted_file import ConvertedSubject
from mmbrain.evaluation.functional import algonauts_score, ncsnr_from_repeats, noise_ceiling, pearson_r
from mmbrain.evaluation.voxelwise import write_voxelwise
from mmbrain.registry import METRICS


def read_roi_labels(subject: ConvertedSubject) -> Dict[str, Dict[str, np.ndarray]]:
    """Per ROI group, the sub-ROI name of every voxel of a converted subject (``labels`` / ``label_names``).

    Returns:
        ``{group: {sub_roi_name: bool mask (V_G,)}}`` for every label present in the group.
    """
    out = {}
    for group in subject.groups:
        labels, names = subject.labels(group), subject.label_names(group)
        masks = {}
        for k in np.unique(labels):
            if not 0 <= k < len(names):
                raise ValueError(f'{subject.path}: rois/{group}/label holds {k}, beyond its {len(names)} label_names')
            masks[names[k]] = labels == k
        out[group] = masks
    return out


#: Where :class:`BrainEncodingMetric` takes the ncsnr of the noise ceiling from (``noise_ceiling``).
NOISE_CEILINGS = ('file', 'test_split')


@METRICS.register_module()
class BrainEncodingMetric(BaseMetric):
    """Voxel-wise Pearson r of predicted responses, summarised per ROI group, per sub-ROI and overall, and the
    Algonauts 2023 noise-normalised score.

    Following NSD / Algonauts, the repetitions of an image among the evaluated samples are averaged before
    correlating (the model predicts one response per image). The noise ceiling of each voxel
    (:mod:`mmbrain.evaluation.functional.noise_ceiling`) is computed for the number of trials averaged per test image
    from an ncsnr chosen by ``noise_ceiling``: ``'file'`` (default) takes the ncsnr stored in ``subject_file``
    (``rois/G/ncsnr``: NSD's own all-session ``ncsnr`` maps, or the converter's estimate over all converted sessions,
    as the file's ``ncsnr_source`` says) and falls back to an estimate from the test split's own repetitions when
    the file has none; ``'test_split'`` always estimates it from those repetitions. Samples that are already
    averages (no image repeats) take the stored ncsnr and each row's ``n_repeats`` either way.

    "Overall" figures pool the voxels of all groups, each voxel once: a voxel lying in several groups (``streams``
    overlaps the others) is predicted by the mean of its groups' predictions (one response per voxel, as the
    Algonauts challenge scores each vertex once) and counted once; voxels are identified by their ``ijk`` (volume
    spaces) or ``(hemi, vertex)`` (fsaverage) in ``subject_file``. Without ``subject_file`` they cannot be identified
    and each group's voxels are pooled as they are (a warning says so). Per-group figures use each group's own
    prediction. The Algonauts score is the challenge devkit's
    (:func:`~mmbrain.evaluation.functional.algonauts_score`: every voxel counts, a zero noise ceiling included),
    summarised by its median over voxels as the devkit does (``algonauts_score``) and by its mean
    (``algonauts_score_mean``).

    Reported keys (with the metric's prefix): ``pearson_mean``, ``pearson_median``, ``algonauts_score``,
    ``algonauts_score_mean``, ``noise_ceiling_mean`` (in %), ``num_voxels`` (the unique voxels pooled); per group
    ``<G>/pearson_mean``, ``<G>/pearson_median``, ``<G>/algonauts_score``, ``<G>/algonauts_score_mean``,
    ``<G>/noise_ceiling_mean``; per sub-ROI ``<G>/<name>/pearson_mean`` (needs ``subject_file``).

    Args:
        subject_file: the evaluated subject's converted ``subjXX.h5``, for sub-ROI labels, the voxels' identity
            (pooled figures), the stored ncsnr and, with averaged samples, ``n_repeats``. Optional.
        noise_ceiling: where the ncsnr of the noise ceiling comes from, ``'file'`` or ``'test_split'`` (above).
        voxelwise_file: if given, each evaluation also writes the per-voxel results there (``.npz``, atomically):
            ``<G>/r`` and, where known, ``<G>/noise_ceiling`` (% of explainable variance), plus ``<G>/xyz`` (mm)
            when ``subject_file`` holds coordinates: what per-voxel figures (ROI bars, brain maps) need.
        brain_maps_dir: if given (with ``voxelwise_file`` and a schema-2 ``subject_file``), the same results are
            also written there as brain maps: NIfTI volumes in the subject's space or fsaverage overlays
            (:func:`mmbrain.evaluation.brain_maps.write_brain_maps`).
        collect_device: see :class:`mmengine.evaluator.BaseMetric`.
        prefix: metric key prefix.
    """

    default_prefix = 'nsd'

    def __init__(
        self,
        subject_file: Optional[str] = None,
        voxelwise_file: Optional[str] = None,
        brain_maps_dir: Optional[str] = None,
        noise_ceiling: str = 'file',
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if noise_ceiling not in NOISE_CEILINGS:
            raise ValueError(
                f'{self.__class__.__name__}: noise_ceiling must be one of {NOISE_CEILINGS}, got {noise_ceiling!r}'
            )
        self.noise_ceiling = noise_ceiling
        self.subject_file = subject_file
        self.voxelwise_file = voxelwise_file
        self.brain_maps_dir = brain_maps_dir
        if brain_maps_dir and not voxelwise_file:
            raise ValueError(f'{self.__class__.__name__}: brain_maps_dir needs voxelwise_file')

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each sample's image id, file row, predicted and measured responses (``pred_fmri``/``gt_fmri``)."""
        for sample in data_samples:
            self.results.append(
                dict(
                    nsd_id=int(sample['nsd_id']),
                    row=int(sample['row']) if 'row' in sample else None,
                    pred={g: v.float().cpu().numpy() for g, v in sample['pred_fmri'].items()},
                    gt={g: v.float().cpu().numpy() for g, v in sample['gt_fmri'].items()},
                )
            )

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Correlate per voxel over images and summarise (see the class docstring)."""
        image_ids = np.array([r['nsd_id'] for r in results])
        images, inverse, counts = np.unique(image_ids, return_inverse=True, return_counts=True)
        if images.size < 2:
            raise ValueError(f'{self.__class__.__name__}: needs at least 2 distinct images, got {images.size}')
        subject = ConvertedSubject(self.subject_file) if self.subject_file else None
        labels = read_roi_labels(subject) if subject else {}
        repeated = bool(counts.max() > 1)
        trials = counts if repeated else self._stored_repeats(subject, results)
        metrics: Dict[str, float] = {}
        per_group: Dict[str, tuple] = {}  # group -> (predicted, measured image responses, noise ceiling or None)
        sources = set()
        voxelwise: Dict[str, Dict[str, np.ndarray]] = {}
        for group in results[0]['pred']:
            gt_trials = np.stack([r['gt'][group] for r in results])
            pred = self._image_means(np.stack([r['pred'][group] for r in results]), inverse, images.size)
            gt = self._image_means(gt_trials, inverse, images.size)
            r = pearson_r(pred, gt)
            metrics[f'{group}/pearson_mean'] = float(r.mean())
            metrics[f'{group}/pearson_median'] = float(np.median(r))
            for name, mask in labels.get(group, {}).items():
                if mask.shape != r.shape:
                    raise ValueError(
                        f'{self.subject_file}: rois/{group} has {mask.size} voxels, the predictions '
                        f'{r.size} (another subject?)'
                    )
                metrics[f'{group}/{name}/pearson_mean'] = float(r[mask].mean())
            voxelwise[group] = {'r': r}
            ncsnr, source = self._ncsnr(group, gt_trials, image_ids, subject, repeated)
            nc = None if ncsnr is None or trials is None else noise_ceiling(ncsnr, trials)
            per_group[group] = (pred, gt, nc)
            if nc is None:
                continue
            sources.add(source)
            voxelwise[group]['noise_ceiling'] = nc
            score = algonauts_score(r, nc)
            metrics[f'{group}/algonauts_score'] = float(np.median(score))
            metrics[f'{group}/algonauts_score_mean'] = float(score.mean())
            metrics[f'{group}/noise_ceiling_mean'] = float(nc.mean())
        metrics.update(self._pooled(per_group, subject))
        logger = MMLogger.get_current_instance()
        if 'algonauts_score' not in metrics:
            logger.warning(
                f'{self.__class__.__name__}: no noise ceiling (no image repeated among the evaluated samples, and '
                'no subject_file with rois/G/ncsnr and known n_repeats): Algonauts score not computed'
            )
        else:
            logger.info(f'{self.__class__.__name__}: noise ceiling from the ncsnr of {", ".join(sorted(sources))}')
        if self.voxelwise_file:
            self._write_voxelwise(voxelwise, subject)
        return metrics

    def _ncsnr(
        self,
        group: str,
        gt_trials: np.ndarray,
        image_ids: np.ndarray,
        subject: Optional[ConvertedSubject],
        repeated: bool,
    ) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """The group's ncsnr as ``noise_ceiling`` chooses it, and where it came from (for the log)."""
        stored = subject.ncsnr(group) if subject is not None and group in subject.groups else None
        if stored is not None and stored.shape != gt_trials.shape[1:]:
            raise ValueError(
                f'{self.subject_file}: rois/{group}/ncsnr has {stored.size} voxels, the predictions '
                f'{gt_trials.shape[1]} (another subject?)'
            )
        if stored is not None and (self.noise_ceiling == 'file' or not repeated):
            return stored, f'{self.subject_file} ({subject.ncsnr_source or "unknown source"})'
        if repeated:
            return ncsnr_from_repeats(gt_trials, image_ids), "the test split's repetitions"
        return None, None

    def _voxel_index(
        self, subject: Optional[ConvertedSubject], groups: Sequence[str], sizes: Sequence[int]
    ) -> Optional[List[np.ndarray]]:
        """Per group, the index of each of its voxels among the unique voxels of all groups (None: unknown)."""
        if subject is None or any(g not in subject.groups for g in groups):
            return None
        keys = []
        for group, size in zip(groups, sizes):
            ijk = subject.ijk(group)
            if ijk is None:
                hemi, vertex = subject.hemi(group), subject.vertex(group)
                if hemi is None or vertex is None:
                    return None
                ijk = np.stack([hemi, vertex, np.zeros_like(vertex)], axis=1)
            if len(ijk) != size:
                raise ValueError(
                    f'{self.subject_file}: rois/{group} has {len(ijk)} voxels, the predictions {size} '
                    '(another subject?)'
                )
            keys.append(ijk)
        _, inverse = np.unique(np.concatenate(keys), axis=0, return_inverse=True)
        return np.split(inverse.reshape(-1), np.cumsum(sizes)[:-1])

    def _pooled(self, per_group: Dict[str, tuple], subject: Optional[ConvertedSubject]) -> Dict[str, float]:
        """Overall figures over the unique voxels of all groups (see the class docstring)."""
        groups = list(per_group)
        sizes = [per_group[g][0].shape[1] for g in groups]
        index = self._voxel_index(subject, groups, sizes)
        if index is None:
            MMLogger.get_current_instance().warning(
                f'{self.__class__.__name__}: voxels cannot be identified across ROI groups (no subject_file with '
                'ijk or vertex/hemi): a voxel in several groups counts once per group in the overall figures'
            )
            index = np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1])
        n_unique, n_images = int(max(idx.max() for idx in index)) + 1, per_group[groups[0]][0].shape[0]
        pred_sum, gt_sum = np.zeros((n_images, n_unique)), np.zeros((n_images, n_unique))
        groups_of = np.zeros(n_unique)
        nc = np.full(n_unique, np.nan)
        for group, idx in zip(groups, index):  # idx has no repeats within a group
            pred, measured, group_nc = per_group[group]
            pred_sum[:, idx] += pred
            gt_sum[:, idx] += measured  # the same voxel's measurement in each of its groups
            groups_of[idx] += 1
            if group_nc is not None:  # the same in each of the voxel's groups on real data; the first group's
                nc[idx] = np.where(np.isnan(nc[idx]), group_nc, nc[idx])
        r = pearson_r(pred_sum / groups_of, gt_sum / groups_of)
        out = dict(pearson_mean=float(r.mean()), pearson_median=float(np.median(r)), num_voxels=float(n_unique))
        if not np.isnan(nc).all():
            known = ~np.isnan(nc)
            score = algonauts_score(r[known], nc[known])
            out.update(
                algonauts_score=float(np.median(score)),
                algonauts_score_mean=float(score.mean()),
                noise_ceiling_mean=float(nc[known].mean()),
            )
        return out

    def _write_voxelwise(
        self, voxelwise: Dict[str, Dict[str, np.ndarray]], subject: Optional[ConvertedSubject]
    ) -> None:
        """Save per-voxel results (with the subject's coordinates where known) to ``voxelwise_file``."""
        if subject is not None:
            for group, fields in voxelwise.items():
                xyz = subject.xyz(group) if group in subject.groups else None
                if xyz is not None:
                    fields['xyz'] = xyz
        write_voxelwise(self.voxelwise_file, voxelwise)
        if self.brain_maps_dir:  # the same results as NIfTI volumes / fsaverage overlays
            from mmbrain.evaluation.brain_maps import write_brain_maps

            if subject is None:
                raise ValueError(f'{self.__class__.__name__}: brain_maps_dir needs subject_file')
            write_brain_maps(self.voxelwise_file, self.subject_file, self.brain_maps_dir)

    @staticmethod
    def _image_means(trials: np.ndarray, inverse: np.ndarray, n_images: int) -> np.ndarray:
        """Average the rows of ``trials`` that show the same image."""
        sums = np.zeros((n_images, trials.shape[1]))
        np.add.at(sums, inverse, trials)
        return sums / np.bincount(inverse, minlength=n_images)[:, None]

    @staticmethod
    def _stored_repeats(subject: Optional[ConvertedSubject], results: List[dict]) -> Optional[np.ndarray]:
        """Trials averaged into each (already averaged) sample, from ``n_repeats`` of the subject file."""
        rows = [r['row'] for r in results]
        if subject is None or subject.n_repeats is None or any(row is None for row in rows):
            return None
        n_repeats = subject.n_repeats[rows]
        return None if (n_repeats < 1).any() else n_repeats  # 0 = unknown
