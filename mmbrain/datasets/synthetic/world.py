# Copyright (c) mmbrain contributors. All rights reserved.
"""Generate a synthetic NSD world in NSD's exact native layout (``docs/architecture.md``).

The same world also exists as COCO instances and ADE-style semantic maps (downstream tasks), and its ground truth
is written to ``ground_truth/`` so that models trained on it can be checked against what is knowable:

* ``stimuli.npz``: per nsd_id, the encoding model's features (``category`` drives in the order of ``drives``,
  ``contrast`` and ``luminance`` grids, the global ``colour``) and the ``background`` index into ``backgrounds``;
* ``subjXX.npz``: ``nsd_id`` (the subject's images, ``subjectim`` order) and per ROI group ``G``, in the converted
  files' voxel order: ``G/ijk``, ``G/ncsnr``, ``G/noise_ceiling`` (percent, average of 3 trials), ``G/rf``
  (x, y, sigma), ``G/weights`` (over ``components``), ``G/colour_weights`` (red, green, blue), ``G/signal``
  (images, voxels) noiseless unit-variance image-driven responses.

NSD's design is reproduced at small scale: each subject sees ``n_images`` images, the first ``n_shared`` of which
(``subjectim`` columns 1..n_shared, the ``sharedix`` images) are shown to every subject; the common
``masterordering`` shows each image 3 times in random order over ``n_sessions`` sessions of
``trials_per_session`` trials. Betas are ``gain * (baseline + amplitude * signal + nuisance) + offset + noise`` in
percent signal change, with per-session gain and offset drifts (which per-session z-scoring removes) and Gaussian
noise; ``amplitude = ncsnr * noise_sd`` (``snr=0``: no image information at all) and ``nuisance`` the optional
within-session drift and arousal terms (:mod:`.nuisance`). They are stored like NSD's: int16, x300, h5py shape
(trials, Z, Y, X), non-brain voxels exactly 0. ``docs/synthetic_world.md`` states the whole generative model.
"""

import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ...evaluation.functional.noise_ceiling import noise_ceiling
from ...utils.atomic import AtomicFolder
from ...utils.logging import progress_bar
from ..converted_file import subject_tag
from ..nsd_files import (
    BETA_SCALE,
    ROI_GROUPS,
    ROI_LABEL_NAMES,
    betas_path,
    ctab_path,
    expdesign_path,
    roi_path,
    stim_info_path,
    stimuli_path,
)
from .anatomy import make_anatomy
from .annotations import ADE_SPLITS, CocoWriter, coco_categories, write_ade
from .captions import DEFAULT_DETAILS, CaptionWriter, check_details
from .encoding import CEILINGS, COMPONENTS, DRIVES, StimulusFeatures, make_encoding_model
from .extras import SubjectExtras, SyntheticFsaverage
from .native import write_betas, write_ctab, write_expdesign, write_roi_nifti, write_stim_info, write_stimuli
from .nuisance import NO_NUISANCE, Nuisance
from .scenes import BACKGROUNDS, CATEGORIES, SEMANTIC_CLASSES, render_scene

WORLD_VERSION = 1
#: Noise standard deviation (percent signal change) of a typical voxel; voxels vary log-normally around it.
NOISE_SD = 2.0
_VAL_FRACTION = 0.1  # of the COCO images in val2017
_ADE_VAL_FRACTION = 0.2


def make_synthetic_nsd(
    out_dir: str,
    n_subjects: int = 8,
    n_sessions: int = 3,
    n_images: Optional[int] = None,
    image_size: int = 64,
    seed: int = 0,
    *,
    trials_per_session: int = 750,
    n_shared: Optional[int] = None,
    volume_scale: float = 0.25,
    snr: float = 1.0,
    n_coco_extra: int = 1000,
    n_ade: int = 1000,
    overwrite: bool = False,
    progress: bool = True,
    nsd_extras: bool = False,
    ceilings: str = 'synthetic',
    colour: float = 0.0,
    drift: float = 0.0,
    arousal: float = 0.0,
    captions: Sequence[str] = DEFAULT_DETAILS,
) -> Dict:
    """Write a synthetic NSD world to ``out_dir`` (atomically: built in a temporary folder, then renamed).

    Args:
        out_dir: the world's root (NSD's ``nsddata/``, ``nsddata_betas/``, ... go inside).
        n_subjects: subjects (subject k uses NSD subject k's grid proportions, cycling after 8).
        n_sessions: sessions per subject.
        n_images: images per subject; default ``n_sessions * trials_per_session // 3`` (3 repetitions each).
            At least that many are needed to fill the sessions with at most 3 repetitions.
        image_size: side of the square stimuli in pixels.
        seed: everything is a deterministic function of the arguments.
        trials_per_session: NSD has 750; small test worlds use fewer.
        n_shared: images shown to every subject (NSD's shared1000); default ``n_images // 5``.
        volume_scale: grid scale relative to NSD's func1pt8mm grids (0.25: ~20 x 26 x 21 voxels of 7.2 mm).
        snr: multiplies every voxel's noise-ceiling SNR, i.e. the strength of everything the image drives (1: median
            1.0 in V1-V3, 0.8 in category ROIs with ``ceilings='synthetic'``; 0: responses independent of the image).
        n_coco_extra: COCO images that are not NSD stimuli (training data left after excluding NSD images).
        n_ade: ADE-style images (80% training, 20% validation).
        overwrite: replace an existing ``out_dir``.
        progress: show progress bars.
        nsd_extras: also write the rest of NSD's release (:mod:`.extras`): the b1/b2 betas, ``ncsnr.nii.gz``,
            ``meanbeta.nii.gz``, the T1 and the fsaverage surface betas and labels (about 4x the betas' time).
        ceilings: the voxels' SNR before ``snr``: ``synthetic`` (ceilings well above NSD's) or ``nsd`` (NSD-like,
            :data:`~.encoding.CEILINGS`).
        colour: share in [0, 1) of every voxel's image-driven variance given to the image's global colour, a
            nuisance no downstream task asks about.
        drift: within-session slow drift, in noise standard deviations (image-independent nuisance).
        arousal: trial-wise arousal term shared by all brain voxels, in noise standard deviations (idem).
        captions: what the COCO captions describe (:data:`~.captions.DETAILS`).

    Returns:
        The world description also written to ``world.json``.
    """
    n_trials = n_sessions * trials_per_session
    n_images = n_images if n_images is not None else -(-n_trials // 3)
    n_shared = n_shared if n_shared is not None else max(1, n_images // 5)
    if min(n_subjects, n_sessions, trials_per_session, image_size) < 1:
        raise ValueError('n_subjects, n_sessions, trials_per_session and image_size must be positive')
    if 3 * n_images < n_trials:
        raise ValueError(
            f'{n_images} images cannot fill {n_sessions} sessions of {trials_per_session} trials with '
            f'at most 3 repetitions (need at least {-(-n_trials // 3)})'
        )
    if not 1 <= n_shared <= n_images:
        raise ValueError(f'n_shared must lie in 1..n_images={n_images}, got {n_shared}')
    if snr < 0 or ceilings not in CEILINGS or not 0 <= colour < 1:
        raise ValueError(
            f'snr must be >= 0, ceilings one of {sorted(CEILINGS)} and colour in [0, 1); got snr={snr!r}, '
            f'ceilings={ceilings!r}, colour={colour!r}'
        )
    nuisance = Nuisance(drift=drift, arousal=arousal)
    check_details(captions)
    with AtomicFolder(out_dir, overwrite, flag='overwrite=True / --overwrite') as tmp:
        world = _generate(
            tmp,
            n_subjects,
            n_sessions,
            n_images,
            image_size,
            seed,
            trials_per_session,
            n_shared,
            volume_scale,
            snr,
            n_coco_extra,
            n_ade,
            progress,
            nsd_extras,
            ceilings=ceilings,
            colour=colour,
            nuisance=nuisance,
            captions=tuple(captions),
        )
    return world


def _generate(
    root: str,
    n_subjects: int,
    n_sessions: int,
    n_images: int,
    image_size: int,
    seed: int,
    trials_per_session: int,
    n_shared: int,
    volume_scale: float,
    snr: float,
    n_coco_extra: int,
    n_ade: int,
    progress: bool,
    nsd_extras: bool = False,
    *,
    ceilings: str = 'synthetic',
    colour: float = 0.0,
    nuisance: Nuisance = NO_NUISANCE,
    captions: Tuple[str, ...] = DEFAULT_DETAILS,
) -> Dict:
    n_trials = n_sessions * trials_per_session
    n_unique = n_images - n_shared
    n_stim = n_shared + n_subjects * n_unique

    # Design: nsd_ids are a random permutation, so shared and subject-specific images interleave in imgBrick.
    rng = np.random.default_rng([seed, 0])
    perm = rng.permutation(n_stim)
    shared = np.sort(perm[:n_shared])
    subjectim0 = np.empty((n_subjects, n_images), np.int64)
    subjectim0[:, :n_shared] = shared
    for s in range(n_subjects):
        subjectim0[s, n_shared:] = perm[n_shared + s * n_unique : n_shared + (s + 1) * n_unique]
    image_order0 = rng.permutation(np.repeat(np.arange(n_images), 3))[:n_trials]
    coco_ids = rng.choice(np.arange(1, 10 * (n_stim + n_coco_extra) + 1000), n_stim + n_coco_extra, replace=False)
    coco_val = rng.random(n_stim + n_coco_extra) < _VAL_FRACTION
    coco_splits = np.where(coco_val, 'val2017', 'train2017')
    write_expdesign(expdesign_path(root), image_order0 + 1, subjectim0 + 1, shared + 1)
    write_stim_info(stim_info_path(root), coco_ids[:n_stim], coco_splits[:n_stim], subjectim0, shared, image_order0)

    # Stimuli: rendered one by one into imgBrick, their features, and COCO (plus images that are not stimuli).
    brick = np.empty((n_stim, image_size, image_size, 3), np.uint8)
    background = np.empty(n_stim, np.int8)
    features = StimulusFeatures.empty(n_stim)
    coco = CocoWriter(osp.join(root, 'coco'))
    caption_writer = CaptionWriter(osp.join(root, 'coco'), seed, captions)
    for idx in progress_bar(range(n_stim + n_coco_extra), progress, desc='stimuli + COCO', leave=False):
        scene = render_scene(np.random.default_rng([seed, 1, idx]), image_size)
        if idx < n_stim:
            brick[idx] = scene.image
            background[idx] = scene.background
            features.set_scene(idx, scene)
        coco.add(scene, int(coco_ids[idx]), str(coco_splits[idx]))
        caption_writer.add(scene, idx, int(coco_ids[idx]), str(coco_splits[idx]))
    coco.close()
    caption_writer.close()
    write_stimuli(stimuli_path(root), brick)
    del brick
    os.makedirs(osp.join(root, 'ground_truth'))
    np.savez(
        osp.join(root, 'ground_truth', 'stimuli.npz'),
        category=features.category,
        drives=np.array(DRIVES),
        contrast=features.contrast.astype(np.float16),
        luminance=features.luminance.astype(np.float16),
        colour=features.colour,
        background=background,
        backgrounds=np.array(BACKGROUNDS),
    )
    n_ade_val = int(round(_ADE_VAL_FRACTION * n_ade))
    ade_splits = [ADE_SPLITS[0]] * (n_ade - n_ade_val) + [ADE_SPLITS[1]] * n_ade_val
    scenes = (
        render_scene(np.random.default_rng([seed, 3, i]), image_size)
        for i in progress_bar(range(n_ade), progress, desc='ADE', leave=False)
    )
    write_ade(osp.join(root, 'ade'), scenes, ade_splits)

    subjects_info = []
    surface = None
    if nsd_extras:
        surface = SyntheticFsaverage(root, make_anatomy(1, np.random.default_rng([seed, 10, 1]), volume_scale))
    for subject in progress_bar(range(1, n_subjects + 1), progress, desc='subjects', leave=False):
        images = subjectim0[subject - 1]
        subjects_info.append(
            _write_subject(
                root,
                subject,
                seed,
                volume_scale,
                snr,
                features.take(images),
                images,
                image_order0,
                n_sessions,
                trials_per_session,
                surface,
                ceilings=ceilings,
                colour=colour,
                nuisance=nuisance,
            )
        )

    world = dict(
        generator='mmbrain.datasets.synthetic',
        version=WORLD_VERSION,
        seed=seed,
        n_subjects=n_subjects,
        n_sessions=n_sessions,
        trials_per_session=trials_per_session,
        n_images=n_images,
        n_shared=n_shared,
        n_stimuli=n_stim,
        image_size=image_size,
        volume_scale=volume_scale,
        voxel_mm=1.8 / volume_scale,
        snr=snr,
        ceilings=ceilings,
        colour=colour,
        drift=nuisance.drift,
        arousal=nuisance.arousal,
        captions=list(captions),
        nsd_extras=nsd_extras,
        noise_sd=NOISE_SD,
        roi_groups=list(ROI_GROUPS),
        categories=list(CATEGORIES),
        backgrounds=list(BACKGROUNDS),
        components=list(COMPONENTS),
        drives=list(DRIVES),
        coco=dict(
            categories=coco_categories(),
            n_train=int((~coco_val).sum()),
            n_val=int(coco_val.sum()),
            n_not_nsd=n_coco_extra,
        ),
        ade=dict(classes=list(SEMANTIC_CLASSES), n_training=n_ade - n_ade_val, n_validation=n_ade_val),
        subjects=subjects_info,
    )
    with open(osp.join(root, 'world.json'), 'w') as f:
        json.dump(world, f, indent=1)
    return world


def _write_subject(
    root: str,
    subject: int,
    seed: int,
    volume_scale: float,
    snr: float,
    features: StimulusFeatures,
    nsd_ids: np.ndarray,
    image_order0: np.ndarray,
    n_sessions: int,
    trials_per_session: int,
    surface: Optional[SyntheticFsaverage] = None,
    *,
    ceilings: str = 'synthetic',
    colour: float = 0.0,
    nuisance: Nuisance = NO_NUISANCE,
) -> Dict:
    """ROI files, label tables, betas and ground truth of one subject (and, given the synthetic fsaverage
    ``surface``, NSD's other files, :mod:`.extras`); returns its summary."""
    anatomy = make_anatomy(subject, np.random.default_rng([seed, 10, subject]), volume_scale)
    for name, labels in anatomy.rois.items():
        write_roi_nifti(roi_path(root, subject, name), labels, anatomy.affine)
        for hemi, side in (('lh', anatomy.left), ('rh', ~anatomy.left)):
            write_roi_nifti(roi_path(root, subject, name, hemi=hemi), np.where(side, labels, -1), anatomy.affine)
        write_ctab(ctab_path(root, subject, name), ROI_LABEL_NAMES[name])

    model = make_encoding_model(anatomy, np.random.default_rng([seed, 11, subject]), snr, ceilings, colour)
    signal = model.signal(features)  # (images, V_signal), unit variance
    x, y, z = anatomy.shape
    brain = np.flatnonzero(anatomy.brain.reshape(-1))  # C order over (X, Y, Z)
    i, j, k = np.unravel_index(brain, (x, y, z))
    h5_columns = (k * y + j) * x + i  # the same voxels in h5py's (Z, Y, X) order: h5[t, k, j, i] == nii[i, j, k, t]
    rng = np.random.default_rng([seed, 12, subject])
    noise_sd = (NOISE_SD * rng.lognormal(0, 0.2, len(brain))).astype(np.float32)
    baseline = rng.normal(0.5, 1.0, len(brain)).astype(np.float32)
    signal_cols = np.searchsorted(brain, model.voxels)
    amplitude = model.ncsnr * noise_sd[signal_cols]
    extras = None
    if surface is not None:
        true_ncsnr = np.zeros(x * y * z, np.float32)
        true_ncsnr[model.voxels] = model.ncsnr
        extras = SubjectExtras(
            root,
            subject,
            anatomy,
            brain,
            true_ncsnr.reshape(x, y, z),
            noise_sd,
            surface,
            np.random.default_rng([seed, 14, subject]),
        )
    for session in range(1, n_sessions + 1):
        srng = np.random.default_rng([seed, 13, subject, session])
        trials = image_order0[(session - 1) * trials_per_session : session * trials_per_session]
        gain = 1 + srng.normal(0, 0.05, len(brain)).astype(np.float32)
        offset = srng.normal(0, 0.5, len(brain)).astype(np.float32)
        beta = np.broadcast_to(baseline, (len(trials), len(brain))).copy()
        beta[:, signal_cols] += amplitude * signal[trials]
        if nuisance:
            beta += nuisance.session(len(trials), noise_sd, np.random.default_rng([seed, 15, subject, session]))
        beta = gain * beta + offset + noise_sd * srng.standard_normal((len(trials), len(brain)), dtype=np.float32)
        volume = np.zeros((len(trials), z * y * x), np.int16)
        volume[:, h5_columns] = np.clip(np.round(beta * BETA_SCALE), -32768, 32767)
        write_betas(betas_path(root, subject, session), volume.reshape(len(trials), z, y, x))
        if extras is not None:
            extras.add_session(session, beta)
    if extras is not None:
        extras.close()

    # Ground truth, per ROI group in the converted files' voxel order (ascending (i, j, k)).
    truth = dict(nsd_id=nsd_ids.astype(np.int32), components=np.array(COMPONENTS), drives=np.array(DRIVES))
    info = dict(subject=subject, grid=[x, y, z], brain_voxels=int(len(brain)), voxels={}, mean_noise_ceiling={})
    for group in ROI_GROUPS:
        flat = np.flatnonzero(anatomy.rois[group].reshape(-1) > 0)
        cols = np.searchsorted(model.voxels, flat)
        nc = noise_ceiling(model.ncsnr[cols], n_repeats=3).astype(np.float32)  # NSD's 3 trials per image
        truth.update(
            {
                f'{group}/ijk': np.stack(np.unravel_index(flat, (x, y, z)), 1).astype(np.int16),
                f'{group}/ncsnr': model.ncsnr[cols],
                f'{group}/noise_ceiling': nc,
                f'{group}/rf': model.rf[cols],
                f'{group}/weights': model.weights[cols],
                f'{group}/colour_weights': model.colour_weights[cols],
                f'{group}/signal': signal[:, cols].astype(np.float16),
            }
        )
        info['voxels'][group] = int(len(flat))
        info['mean_noise_ceiling'][group] = round(float(nc.mean()), 2)
    np.savez(osp.join(root, 'ground_truth', f'{subject_tag(subject)}.npz'), **truth)
    return info
