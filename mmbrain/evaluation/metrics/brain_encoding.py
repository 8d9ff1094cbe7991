# Copyright (c) mmbrain contributors. All rights reserved.
"""Encoding accuracy of predicted brain responses: voxel-wise Pearson r and the Algonauts score (paper Sec. 4.5)."""
from typing import Dict, List, Optional, Sequence

import h5py
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmbrain.evaluation.functional import algonauts_score, ncsnr_from_repeats, noise_ceiling, pearson_r
from mmbrain.registry import METRICS
from mmbrain.utils.fileio import atomic_write


def read_roi_labels(subject_file: str) -> Dict[str, Dict[str, np.ndarray]]:
    """Per ROI group, the sub-ROI name of every voxel, from a converted ``subjXX.h5`` (``rois/G/label`` and
    ``rois/G.attrs['label_names']``, where label ``k`` is named ``label_names[k]``; architecture.md schema 1).

    Returns:
        ``{group: {sub_roi_name: bool mask (V_G,)}}`` for every label present in the group.
    """
    out = {}
    with h5py.File(subject_file, 'r') as f:
        if 'rois' not in f:
            raise ValueError(f'{subject_file}: no "rois" group; expected a converted mmbrain NSD file')
        for group, node in f['rois'].items():
            labels = node['label'][()].astype(np.int64)
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in node.attrs['label_names']]
            masks = {}
            for k in np.unique(labels):
                if not 0 <= k < len(names):
                    raise ValueError(f'{subject_file}: rois/{group}/label holds {k}, beyond its '
                                     f'{len(names)} label_names')
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
    others) counts once per group, with that group's prediction. Voxels without explainable variance (noise
    ceiling 0) have no Algonauts score and are left out of its averages.

    Reported keys (with the metric's prefix): ``pearson_mean``, ``pearson_median``, ``algonauts_score``,
    ``noise_ceiling_mean`` (in %); per group ``<G>/pearson_mean``, ``<G>/pearson_median``, ``<G>/algonauts_score``,
    ``<G>/noise_ceiling_mean``; per sub-ROI ``<G>/<name>/pearson_mean`` (needs ``subject_file``).

    Args:
        subject_file: the evaluated subject's converted ``subjXX.h5``, for sub-ROI labels and, with averaged
            samples, the stored ncsnr and ``n_repeats``. Optional.
        voxelwise_file: if given, each evaluation also writes the per-voxel results there (``.npz``, atomically):
            ``<G>/r`` and, where known, ``<G>/noise_ceiling`` (% of explainable variance), plus ``<G>/xyz`` (mm)
            when ``subject_file`` holds coordinates: what per-voxel figures (ROI bars, brain maps) need.
        collect_device: see :class:`mmengine.evaluator.BaseMetric`.
        prefix: metric key prefix.
    """
    default_prefix = 'nsd'

    def __init__(self,
                 subject_file: Optional[str] = None,
                 voxelwise_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.subject_file = subject_file
        self.voxelwise_file = voxelwise_file

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each sample's image id, file row, predicted and measured responses (``pred_fmri``/``gt_fmri``)."""
        for sample in data_samples:
            self.results.append(
                dict(
                    nsd_id=int(sample['nsd_id']),
                    row=int(sample['row']) if 'row' in sample else None,
                    pred={g: v.float().cpu().numpy() for g, v in sample['pred_fmri'].items()},
                    gt={g: v.float().cpu().numpy() for g, v in sample['gt_fmri'].items()}))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Correlate per voxel over images and summarise (see the class docstring)."""
        image_ids = np.array([r['nsd_id'] for r in results])
        images, inverse, counts = np.unique(image_ids, return_inverse=True, return_counts=True)
        if images.size < 2:
            raise ValueError(f'{self.__class__.__name__}: needs at least 2 distinct images, got {images.size}')
        labels = read_roi_labels(self.subject_file) if self.subject_file else {}
        trials = counts if counts.max() > 1 else self._stored_repeats(results)
        metrics, all_r, all_score, all_nc = {}, [], [], []
        voxelwise: Dict[str, np.ndarray] = {}
        for group in results[0]['pred']:
            gt_trials = np.stack([r['gt'][group] for r in results])
            pred = self._image_means(np.stack([r['pred'][group] for r in results]), inverse, images.size)
            r = pearson_r(pred, self._image_means(gt_trials, inverse, images.size))
            metrics[f'{group}/pearson_mean'] = float(r.mean())
            metrics[f'{group}/pearson_median'] = float(np.median(r))
            for name, mask in labels.get(group, {}).items():
                if mask.shape != r.shape:
                    raise ValueError(f'{self.subject_file}: rois/{group} has {mask.size} voxels, the predictions '
                                     f'{r.size} (another subject?)')
                metrics[f'{group}/{name}/pearson_mean'] = float(r[mask].mean())
            all_r.append(r)
            voxelwise[f'{group}/r'] = r
            ncsnr = ncsnr_from_repeats(gt_trials, image_ids) if counts.max() > 1 else self._stored_ncsnr(group)
            if ncsnr is None or trials is None:
                continue
            nc = noise_ceiling(ncsnr, trials)
            voxelwise[f'{group}/noise_ceiling'] = nc
            score, valid = algonauts_score(r, nc)
            metrics[f'{group}/algonauts_score'] = float(score[valid].mean()) if valid.any() else float('nan')
            metrics[f'{group}/noise_ceiling_mean'] = float(nc.mean())
            all_score.append(score)
            all_nc.append(nc)
        all_r = np.concatenate(all_r)
        metrics['pearson_mean'] = float(all_r.mean())
        metrics['pearson_median'] = float(np.median(all_r))
        if all_score:
            metrics['algonauts_score'] = float(np.nanmean(np.concatenate(all_score)))
            metrics['noise_ceiling_mean'] = float(np.concatenate(all_nc).mean())
        else:
            MMLogger.get_current_instance().warning(
                f'{self.__class__.__name__}: no noise ceiling (no image repeated among the evaluated samples, and '
                'no subject_file with rois/G/ncsnr and known n_repeats): Algonauts score not computed')
        if self.voxelwise_file:
            self._write_voxelwise(voxelwise)
        return metrics

    def _write_voxelwise(self, voxelwise: Dict[str, np.ndarray]) -> None:
        """Save per-voxel results (with the subject's coordinates where known) to ``voxelwise_file``."""
        if self.subject_file:
            with h5py.File(self.subject_file, 'r') as f:
                for key in list(voxelwise):
                    group = key.rsplit('/', 1)[0]
                    if key.endswith('/r') and f'rois/{group}/xyz' in f:
                        voxelwise[f'{group}/xyz'] = f[f'rois/{group}/xyz'][()]
        with atomic_write(self.voxelwise_file, 'wb') as f:
            np.savez(f, **voxelwise)

    @staticmethod
    def _image_means(trials: np.ndarray, inverse: np.ndarray, n_images: int) -> np.ndarray:
        """Average the rows of ``trials`` that show the same image."""
        sums = np.zeros((n_images, trials.shape[1]))
        np.add.at(sums, inverse, trials)
        return sums / np.bincount(inverse, minlength=n_images)[:, None]

    def _stored_repeats(self, results: List[dict]) -> Optional[np.ndarray]:
        """Trials averaged into each (already averaged) sample, from ``n_repeats`` of the subject file."""
        rows = [r['row'] for r in results]
        if self.subject_file is None or any(row is None for row in rows):
            return None
        with h5py.File(self.subject_file, 'r') as f:
            if 'n_repeats' not in f:
                return None
            n_repeats = f['n_repeats'][()].astype(np.int64)[rows]
        return None if (n_repeats < 1).any() else n_repeats  # 0 = unknown

    def _stored_ncsnr(self, group: str) -> Optional[np.ndarray]:
        """``rois/<group>/ncsnr`` of the subject file, when present."""
        if self.subject_file is None:
            return None
        with h5py.File(self.subject_file, 'r') as f:
            node = f['rois'][group]
            return node['ncsnr'][()].astype(np.float64) if 'ncsnr' in node else None
