# Copyright (c) mmbrain contributors. All rights reserved.
"""The field's standard encoding baseline: voxel-wise ridge regression on frozen backbone features.

Beside the trained voxel readout (paper Sec. 4.5), brain encoding studies (NSD, Algonauts 2023) fit one linear
ridge model per voxel from the features of a frozen vision model, with each voxel's penalty chosen by
cross-validation. Here (:func:`ridge_encoding`):

1. features are extracted once from the encoding config's frozen backbone: its levels pooled and concatenated
   exactly as the readout head sees them (:meth:`VoxelReadoutHead.pool`), so ridge and readout share their input;
2. the training split's responses are averaged per image (as the Algonauts training data are), features are
   z-scored with the training statistics, and himalaya's :class:`~himalaya.ridge.RidgeCV` chooses a penalty per
   voxel by K-fold cross-validation over the training images only (the test split takes no part in it);
3. the test split (shared1000) is predicted once and scored by :class:`BrainEncodingMetric` (repetitions averaged,
   noise ceiling from the repetitions), whose keys are returned with the prefix ``ridge``.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: Default penalties searched, per voxel (features are z-scored, so they scale with the number of features).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-2, 7, 19))


def image_means(values: np.ndarray, image_ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(images, means)``: the distinct image ids (ascending) and the mean of the rows showing each."""
    images, inverse = np.unique(image_ids, return_inverse=True)
    sums = np.zeros((images.size, values.shape[1]))
    np.add.at(sums, inverse, values)
    return images, sums / np.bincount(inverse)[:, None]


def fit_ridge_cv(
    features: np.ndarray,
    responses: np.ndarray,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_folds: int = 5,
    backend: str = 'numpy',
):
    """Voxel-wise ridge with a per-voxel penalty chosen by ``n_folds``-fold cross-validation (himalaya).

    Args:
        features: ``(N, F)`` training features.
        responses: ``(N, V)`` training responses.
        alphas: candidate penalties.
        n_folds: folds of the cross-validation (contiguous, unshuffled: himalaya's default ``KFold``).
        backend: himalaya backend, ``numpy`` or ``torch`` (CPU).

    Returns:
        the fitted :class:`himalaya.ridge.RidgeCV` (``best_alphas_`` per voxel; ``predict``); arrays are the
        backend's, convert with :func:`to_numpy`.
    """
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV

    set_backend(backend, on_error='raise')
    if features.shape[0] != responses.shape[0] or features.shape[0] < 2 * n_folds:
        raise ValueError(
            f'ridge: {features.shape[0]} training rows for {responses.shape[0]} responses and '
            f'{n_folds} folds (need matching rows, at least 2 per fold)'
        )
    model = RidgeCV(
        alphas=np.asarray(alphas, dtype=np.float64),
        cv=n_folds,
        fit_intercept=True,
        solver_params=dict(local_alpha=True, warn=False),
    )
    return model.fit(features.astype(np.float64), responses.astype(np.float64))


def to_numpy(array) -> np.ndarray:
    """A himalaya backend array as numpy."""
    from himalaya.backend import get_backend

    return np.asarray(get_backend().to_numpy(array))


def extract_features(model, dataloader, desc: str = 'features') -> Dict[str, object]:
    """Readout-head input features and measured responses of every row of ``dataloader``.

    Args:
        model: a :class:`~mmbrain.models.algorithms.BrainResponsePredictor` (eval mode, weights loaded).
        dataloader: batches of ``brain_collate`` (one subject).
        desc: label of the progress bar (tqdm, on stderr).

    Returns:
        ``dict(features=(N, F) float32, nsd_id=(N,), row=(N,), responses={group: (N, V_G) float32})``.
    """
    import torch

    from mmbrain.utils.logging import progress_bar

    feats, nsd_ids, rows, responses = [], [], [], {g: [] for g in model.head.groups}
    with torch.no_grad():
        for batch in progress_bar(dataloader, desc=desc, unit='batch', total=len(dataloader)):
            data = model.data_preprocessor(batch, training=False)
            inputs = data['inputs']
            feats.append(model.head.pool(model.extract_feat(inputs['img'])).float().cpu().numpy())
            for group in responses:
                if not bool(inputs['fmri_mask'][group].all()):
                    raise ValueError(f'ridge: padded voxels in ROI group {group!r}; use one subject')
                responses[group].append(inputs['fmri'][group].float().cpu().numpy())
            nsd_ids.extend(int(s.nsd_id) for s in data['data_samples'])
            rows.extend(int(s.row) if 'row' in s else -1 for s in data['data_samples'])
    return dict(
        features=np.concatenate(feats),
        nsd_id=np.array(nsd_ids),
        row=np.array(rows),
        responses={g: np.concatenate(v) for g, v in responses.items()},
    )


def ridge_encoding(
    train: Dict[str, object],
    test: Dict[str, object],
    metric,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_folds: int = 5,
    backend: str = 'numpy',
) -> Dict[str, float]:
    """Fit the voxel-wise ridge on ``train`` and score it once on ``test`` (see the module docstring).

    Args:
        train, test: outputs of :func:`extract_features` for the training and test splits.
        metric: a :class:`~mmbrain.evaluation.metrics.BrainEncodingMetric` (its prefix names the keys).
        alphas, n_folds, backend: see :func:`fit_ridge_cv`.

    Returns:
        the metric's keys plus ``<prefix>/alpha_log10_median`` (median over voxels of the chosen penalty),
        ``<prefix>/n_train_images``, ``<prefix>/n_test_images`` and ``<prefix>/n_features``.
    """
    from mmbrain.utils.logging import progress_bar

    groups = list(train['responses'])
    images, x_train = image_means(train['features'], train['nsd_id'])
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0
    x_train, x_test = (x_train - mean) / std, (test['features'].astype(np.float64) - mean) / std
    pred, best_alphas = {}, []
    # Each voxel's fit and penalty depend on its own responses only, so fitting group by group is the same fit.
    for group in progress_bar(groups, desc='ridge (RidgeCV per ROI group)', unit='group'):
        _, y_train = image_means(train['responses'][group], train['nsd_id'])
        model = fit_ridge_cv(x_train, y_train, alphas, n_folds, backend)
        pred[group] = to_numpy(model.predict(x_test))
        best_alphas.append(to_numpy(model.best_alphas_))
    for i in range(len(test['nsd_id'])):
        metric.results.append(
            dict(
                nsd_id=int(test['nsd_id'][i]),
                row=int(test['row'][i]) if test['row'][i] >= 0 else None,
                pred={g: pred[g][i] for g in groups},
                gt={g: test['responses'][g][i] for g in groups},
            )
        )
    scores = metric.evaluate(len(metric.results))
    prefix = metric.prefix or metric.default_prefix
    scores.update(
        {
            f'{prefix}/alpha_log10_median': float(np.median(np.log10(np.concatenate(best_alphas)))),
            f'{prefix}/n_train_images': int(images.size),
            f'{prefix}/n_test_images': int(np.unique(test['nsd_id']).size),
            f'{prefix}/n_features': int(x_train.shape[1]),
        }
    )
    return scores


def build_ridge_inputs(cfg, checkpoint: Optional[str] = None, seed: Optional[int] = None):
    """The encoding config's model (:func:`mmbrain.apis.init_model`: backbone weights from its ``init_cfg``, or
    from the backbone file ``checkpoint``, or the random initialisation seeded by ``seed``) and its train / test
    dataloaders, for :func:`extract_features`."""
    from mmengine.runner import Runner

    from mmbrain.apis.model import init_model

    options = None
    if checkpoint is not None:
        options = {'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')}
    model = init_model(cfg, None, cfg_options=options, seed=seed)
    loaders = {split: Runner.build_dataloader(model.cfg[f'{split}_dataloader']) for split in ('train', 'test')}
    return model, loaders
