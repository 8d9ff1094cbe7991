# Copyright (c) mmbrain contributors. All rights reserved.
"""Encoding accuracy of predicted brain responses: voxel-wise Pearson r and the Algonauts score (paper Sec. 4.5)."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import h5py
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmbrain.evaluation.functional import algonauts_score, ncsnr_from_repeats, noise_ceiling, pearson_r
from mmbrain.registry import METRICS


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
    those repetitions (ncsnr, :mod:`mmbrain.evaluation.functional.noise_ceiling`) for the actual number of trials
    averaged per image. When the evaluated data hold no repetition (responses averaged beforehand), the noise
    ceiling needs ``ncsnr`` from the subject file (``rois/G/ncsnr``) and ``trials_per_response``.

    "Overall" figures pool the voxels of all groups; a voxel lying in several groups (``streams`` overlaps the
    others) counts once per group, with that group's prediction.

    Reported keys (with the metric's prefix): ``pearson_mean``, ``pearson_median``, ``algonauts_score``,
    ``noise_ceiling_mean``; per group ``<G>/pearson_mean``, ``<G>/pearson_median``, ``<G>/algonauts_score``; per
    sub-ROI ``<G>/<name>/pearson_mean`` (needs ``subject_file``).

    Args:
        subject_file: the evaluated subject's converted ``subjXX.h5``, for sub-ROI labels and, with averaged
            responses, the stored ncsnr. Optional.
        trials_per_response: trials averaged into each evaluated response when the data hold no repetition.
        collect_device: see :class:`mmengine.evaluator.BaseMetric`.
        prefix: metric key prefix.
    """
    default_prefix = 'nsd'

    def __init__(self,
                 subject_file: Optional[str] = None,
                 trials_per_response: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.subject_file = subject_file
        self.trials_per_response = trials_per_response

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each sample's image id, predicted and measured responses (``pred_fmri``/``gt_fmri``)."""
        for sample in data_samples:
            self.results.append(
                dict(
                    nsd_id=int(sample['nsd_id']),
                    pred={g: v.float().cpu().numpy() for g, v in sample['pred_fmri'].items()},
                    gt={g: v.float().cpu().numpy() for g, v in sample['gt_fmri'].items()}))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Correlate per voxel over images and summarise (see the class docstring)."""
        image_ids = np.array([r['nsd_id'] for r in results])
        images, inverse, n_repeats = np.unique(image_ids, return_inverse=True, return_counts=True)
        if images.size < 2:
            raise ValueError(f'{self.__class__.__name__}: needs at least 2 distinct images, got {images.size}')
        labels = read_roi_labels(self.subject_file) if self.subject_file else {}
        metrics, all_r, all_score, all_nc = {}, [], [], []
        for group in results[0]['pred']:
            pred_trials = np.stack([r['pred'][group] for r in results])
            gt_trials = np.stack([r['gt'][group] for r in results])
            pred = self._image_means(pred_trials, inverse, images.size)
            gt = self._image_means(gt_trials, inverse, images.size)
            r = pearson_r(pred, gt)
            metrics[f'{group}/pearson_mean'] = float(r.mean())
            metrics[f'{group}/pearson_median'] = float(np.median(r))
            for name, mask in labels.get(group, {}).items():
                if mask.shape != r.shape:
                    raise ValueError(f'{self.subject_file}: rois/{group} has {mask.size} voxels, the predictions '
                                     f'{r.size} (another subject?)')
                metrics[f'{group}/{name}/pearson_mean'] = float(r[mask].mean())
            ncsnr = self._ncsnr(group, gt_trials, image_ids, n_repeats)
            if ncsnr is not None:
                trials = n_repeats if n_repeats.max() > 1 else np.full(images.size, self.trials_per_response)
                nc = noise_ceiling(ncsnr, trials)
                score, valid = algonauts_score(r, nc)
                metrics[f'{group}/algonauts_score'] = float(score[valid].mean()) if valid.any() else float('nan')
                all_score.append(score)
                all_nc.append(nc)
            all_r.append(r)
        all_r = np.concatenate(all_r)
        metrics['pearson_mean'] = float(all_r.mean())
        metrics['pearson_median'] = float(np.median(all_r))
        if all_score:
            score = np.concatenate(all_score)
            metrics['algonauts_score'] = float(np.nanmean(score))
            metrics['noise_ceiling_mean'] = float(np.concatenate(all_nc).mean())
        else:
            MMLogger.get_current_instance().warning(
                f'{self.__class__.__name__}: no noise ceiling (no repeated image among the evaluated samples and no '
                'subject_file ncsnr with trials_per_response): Algonauts score not computed')
        return metrics

    @staticmethod
    def _image_means(trials: np.ndarray, inverse: np.ndarray, n_images: int) -> np.ndarray:
        """Average the rows of ``trials`` that show the same image."""
        sums = np.zeros((n_images, trials.shape[1]))
        np.add.at(sums, inverse, trials)
        return sums / np.bincount(inverse, minlength=n_images)[:, None]

    def _ncsnr(self, group: str, gt_trials: np.ndarray, image_ids: np.ndarray,
               n_repeats: np.ndarray) -> Optional[np.ndarray]:
        """ncsnr from the repetitions among the samples, else from the subject file, else None."""
        if n_repeats.max() > 1:
            return ncsnr_from_repeats(gt_trials, image_ids)
        if self.subject_file is None or self.trials_per_response is None:
            return None
        with h5py.File(self.subject_file, 'r') as f:
            node = f['rois'][group]
            if 'ncsnr' not in node:
                return None
            return node['ncsnr'][()].astype(np.float64)
