# Copyright (c) mmbrain contributors. All rights reserved.
"""Encoding accuracy of predicted brain responses: voxel-wise Pearson r and the Algonauts score (paper Sec. 4.5)."""

from typing import Dict, List, Optional, Sequence

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


@METRICS.register_module()
class BrainEncodingMetric(BaseMetric):
    """Voxel-wise Pearson r of predicted responses, summarised per ROI group, per sub-ROI and overall, and the
    Algonauts 2023 noise-normalised score.

    Following NSD / Algonauts, the repetitions of an image among the evaluated samples are averaged before
    correlating (the model predicts one response per image), and the noise ceiling of each voxel is estimated from
    those repetitions (ncsnr, :mod:`mmbrain.evaluation.functional.noise_ceiling`) for the number of trials averaged
    per image. Samples that are already averages (converted with ``average_repeats``: no image repeats) take the
    ncsnr the converter estimated (``rois/G/ncsnr``) and each row's ``n_repeats`` from ``subject_file``.

    "Overall" figures pool the voxels of all groups; a voxel lying in several groups (``streams`` overlaps the
    others) counts once per group, with that group's prediction. The Algonauts score is the challenge devkit's
    (:func:`~mmbrain.evaluation.functional.algonauts_score`: every voxel counts, a zero noise ceiling included),
    summarised by its median over voxels as the devkit does (``algonauts_score``) and by its mean
    (``algonauts_score_mean``).

    Reported keys (with the metric's prefix): ``pearson_mean``, ``pearson_median``, ``algonauts_score``,
    ``algonauts_score_mean``, ``noise_ceiling_mean`` (in %); per group ``<G>/pearson_mean``, ``<G>/pearson_median``,
    ``<G>/algonauts_score``, ``<G>/algonauts_score_mean``,
    ``<G>/noise_ceiling_mean``; per sub-ROI ``<G>/<name>/pearson_mean`` (needs ``subject_file``).

    Args:
        subject_file: the evaluated subject's converted ``subjXX.h5``, for sub-ROI labels and, with averaged
            samples, the stored ncsnr and ``n_repeats``. Optional.
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
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
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
        trials = counts if counts.max() > 1 else self._stored_repeats(subject, results)
        metrics, all_r, all_score, all_nc = {}, [], [], []
        voxelwise: Dict[str, Dict[str, np.ndarray]] = {}
        for group in results[0]['pred']:
            gt_trials = np.stack([r['gt'][group] for r in results])
            pred = self._image_means(np.stack([r['pred'][group] for r in results]), inverse, images.size)
            r = pearson_r(pred, self._image_means(gt_trials, inverse, images.size))
            metrics[f'{group}/pearson_mean'] = float(r.mean())
            metrics[f'{group}/pearson_median'] = float(np.median(r))
            for name, mask in labels.get(group, {}).items():
                if mask.shape != r.shape:
                    raise ValueError(
                        f'{self.subject_file}: rois/{group} has {mask.size} voxels, the predictions '
                        f'{r.size} (another subject?)'
                    )
                metrics[f'{group}/{name}/pearson_mean'] = float(r[mask].mean())
            all_r.append(r)
            voxelwise[group] = {'r': r}
            if counts.max() > 1:
                ncsnr = ncsnr_from_repeats(gt_trials, image_ids)
            else:
                ncsnr = subject.ncsnr(group) if subject and group in subject.groups else None
            if ncsnr is None or trials is None:
                continue
            nc = noise_ceiling(ncsnr, trials)
            voxelwise[group]['noise_ceiling'] = nc
            score = algonauts_score(r, nc)
            metrics[f'{group}/algonauts_score'] = float(np.median(score))
            metrics[f'{group}/algonauts_score_mean'] = float(score.mean())
            metrics[f'{group}/noise_ceiling_mean'] = float(nc.mean())
            all_score.append(score)
            all_nc.append(nc)
        all_r = np.concatenate(all_r)
        metrics['pearson_mean'] = float(all_r.mean())
        metrics['pearson_median'] = float(np.median(all_r))
        if all_score:
            metrics['algonauts_score'] = float(np.median(np.concatenate(all_score)))
            metrics['algonauts_score_mean'] = float(np.concatenate(all_score).mean())
            metrics['noise_ceiling_mean'] = float(np.concatenate(all_nc).mean())
        else:
            MMLogger.get_current_instance().warning(
                f'{self.__class__.__name__}: no noise ceiling (no image repeated among the evaluated samples, and '
                'no subject_file with rois/G/ncsnr and known n_repeats): Algonauts score not computed'
            )
        if self.voxelwise_file:
            self._write_voxelwise(voxelwise, subject)
        return metrics

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
