# Copyright (c) mmbrain contributors. All rights reserved.
"""The synthetic world's knobs (docs/synthetic_world.md): the null world, nuisance signals, ceilings, captions."""

import json
import os.path as osp
import subprocess
import sys

import h5py
import numpy as np
import pytest
from _helpers import REPO, world_args
from scipy.io import loadmat

from mmbrain.datasets.nsd_files import betas_path, expdesign_path
from mmbrain.datasets.synthetic import make_synthetic_nsd
from mmbrain.datasets.synthetic.captions import _BACKGROUND_PHRASES, DEFAULT_DETAILS, describe_scene
from mmbrain.datasets.synthetic.scenes import render_scene

#: one subject, 3 sessions of 80 trials (80 images, 3 repetitions), 16 px, a coarse grid: a second or two each
SMALL = world_args(n_sessions=3, trials_per_session=80, seed=3)


def _world(tmp_path, name, **knobs):
    root = str(tmp_path / name)
    make_synthetic_nsd(root, **dict(SMALL, **knobs))
    return root


def _trials(root, group='prf-visualrois'):
    """Per-session demeaned betas (trials, V) of ``group``'s voxels, the trials' nsd_ids and sessions."""
    truth = np.load(osp.join(root, 'ground_truth', 'subj01.npz'))
    i, j, k = truth[f'{group}/ijk'].T.astype(int)
    mat = loadmat(expdesign_path(root))
    order, subjectim = mat['masterordering'][0].astype(int) - 1, mat['subjectim'].astype(int) - 1
    nsd_ids = subjectim[0, order]
    betas, sessions = [], []
    for session in range(1, SMALL['n_sessions'] + 1):
        with h5py.File(betas_path(root, 1, session), 'r') as f:
            b = f['betas'][:][:, k, j, i].astype(np.float64)
        betas.append(b - b.mean(0))
        sessions.append(np.full(len(b), session))
    return np.concatenate(betas), nsd_ids[: SMALL['n_sessions'] * SMALL['trials_per_session']], np.concatenate(sessions)


def _feature_z(root):
    """``r * sqrt(n)`` of every (voxel, image feature) pair over all trials: standard normal when independent."""
    betas, nsd_ids, _ = _trials(root)
    stim = np.load(osp.join(root, 'ground_truth', 'stimuli.npz'))
    features = np.concatenate(
        [stim['category'], stim['luminance'].reshape(len(stim['category']), -1).mean(1, keepdims=True)], 1
    )[nsd_ids]
    features = features[:, features.std(0) > 0]
    zb = (betas - betas.mean(0)) / betas.std(0)
    zf = (features - features.mean(0)) / features.std(0)
    r = zb.T @ zf / len(zb)
    return r * np.sqrt(len(zb))


def test_null_world_responses_are_independent_of_the_image(tmp_path):
    null, signal = _world(tmp_path, 'null', snr=0.0), _world(tmp_path, 'signal')
    z_null, z_signal = _feature_z(null), _feature_z(signal)
    # hundreds of voxel-feature pairs: at chance in the null world (5% beyond 1.96), far from it with a signal
    assert z_null.size > 200
    assert np.mean(np.abs(z_null) > 1.96) < 0.1 and 0.7 < np.mean(z_null**2) < 1.4
    assert np.mean(np.abs(z_signal) > 1.96) > 0.4 and np.mean(z_signal**2) > 5
    truth = np.load(osp.join(null, 'ground_truth', 'subj01.npz'))
    assert not truth['prf-visualrois/ncsnr'].any() and not truth['prf-visualrois/noise_ceiling'].any()
    assert json.load(open(osp.join(null, 'world.json')))['snr'] == 0.0
    with pytest.raises(ValueError, match='snr must be >= 0'):
        _world(tmp_path, 'bad', snr=-1.0)


def _drift_r2(root):
    """Mean share of each voxel's within-session variance explained by slow cosines of the trial index."""
    betas, _, sessions = _trials(root)
    r2 = []
    for s in np.unique(sessions):
        b = betas[sessions == s]
        t = (np.arange(len(b)) + 0.5) / len(b)
        basis = np.cos(np.pi * np.arange(1, 4)[None, :] * t[:, None])
        fit = basis @ np.linalg.lstsq(basis, b, rcond=None)[0]
        r2.append(1 - ((b - fit) ** 2).sum(0) / (b**2).sum(0))
    return float(np.mean(r2))


def _global_share(root):
    """Variance of the trial-wise mean over voxels, relative to the mean voxel variance (shared fluctuations)."""
    betas, _, _ = _trials(root, 'streams')
    return float(betas.mean(1).var() / betas.var(0).mean())


def test_nuisance_knobs_add_what_they_say(tmp_path):
    plain = _world(tmp_path, 'plain', snr=0.0)
    drift = _world(tmp_path, 'drift', snr=0.0, drift=2.0)
    arousal = _world(tmp_path, 'arousal', snr=0.0, arousal=2.0)
    assert _drift_r2(plain) < 0.05 < 0.5 < _drift_r2(drift)
    assert _global_share(plain) < 0.05 < 0.5 < _global_share(arousal)
    # the drift is a function of the trial index, not of the image: the null world stays at chance (the arousal term,
    # one series shared by every voxel, makes the voxels' tests dependent, so it is not tested this way)
    assert np.mean(np.abs(_feature_z(drift)) > 1.96) < 0.1
    world = json.load(open(osp.join(drift, 'world.json')))
    assert (world['drift'], world['arousal'], world['colour']) == (2.0, 0.0, 0.0)


def test_colour_share_drives_voxels_by_the_global_colour(tmp_path):
    def colour_r(root):
        betas, nsd_ids, _ = _trials(root)
        colour = np.load(osp.join(root, 'ground_truth', 'stimuli.npz'))['colour'][nsd_ids]
        r2 = []
        for v in range(betas.shape[1]):  # R^2 of each voxel on the three colour channels
            x = np.c_[colour, np.ones(len(colour))]
            fit = x @ np.linalg.lstsq(x, betas[:, v], rcond=None)[0]
            r2.append(1 - ((betas[:, v] - fit) ** 2).sum() / ((betas[:, v] - betas[:, v].mean()) ** 2).sum())
        return float(np.mean(r2))

    assert colour_r(_world(tmp_path, 'colour', colour=0.8)) > 2 * colour_r(_world(tmp_path, 'no-colour'))
    with pytest.raises(ValueError, match='colour in'):
        _world(tmp_path, 'bad', colour=1.0)


def test_nsd_like_ceilings_are_lower(tmp_path):
    def mean_ceiling(root, group):
        return float(np.load(osp.join(root, 'ground_truth', 'subj01.npz'))[f'{group}/noise_ceiling'].mean())

    synthetic, nsd = _world(tmp_path, 'synthetic'), _world(tmp_path, 'nsd', ceilings='nsd')
    for group in ('prf-visualrois', 'streams'):
        assert mean_ceiling(nsd, group) < 0.65 * mean_ceiling(synthetic, group)
    assert mean_ceiling(synthetic, 'prf-visualrois') > 60 > 50 > mean_ceiling(nsd, 'prf-visualrois')


def test_caption_details_change_what_captions_say(tmp_path):
    scenes = [render_scene(np.random.default_rng([0, 1, i]), 32) for i in range(40)]
    scenes = [s for s in scenes if 1 <= len(s.instances) <= 3]

    def captions(details):
        return [c for s in scenes for c in describe_scene(s, np.random.default_rng(0), details=details)]

    default = captions(('objects', 'positions', 'background'))
    assert captions(DEFAULT_DETAILS) != default and 'colours' in DEFAULT_DETAILS
    assert any(' on the left' in c or ' on the right' in c or 'centre' in c for c in default)
    no_positions = captions(('objects', 'background'))
    assert not any(' on the left' in c or ' on the right' in c or 'centre' in c for c in no_positions)
    bright = captions(('objects', 'brightness'))
    assert all('contrast' in c for c in bright) and {'dark', 'bright'} <= set(' '.join(bright).split())
    colours = captions(('objects', 'colours'))
    assert all(' is ' in c.split(', ')[-1] for c in colours)
    phrases = [p for kind in _BACKGROUND_PHRASES.values() for p in kind]
    assert not any(p in c for p in phrases for c in colours)  # the background's kind is not described
    assert any(p in c for p in phrases for c in default)
    only_background = captions(('background',))
    assert all(c.startswith('A picture ') for c in only_background)
    for bad in ((), ('positions',), ('objects', 'smell')):
        with pytest.raises(ValueError, match='caption detail'):
            describe_scene(scenes[0], np.random.default_rng(0), details=bad)
    # the world writes them and records the choice
    root = _world(tmp_path, 'captions', captions=('objects', 'brightness'))
    with open(osp.join(root, 'coco', 'annotations', 'captions_train2017.json')) as f:
        written = [a['caption'] for a in json.load(f)['annotations']]
    assert written and all('contrast' in c for c in written)
    assert json.load(open(osp.join(root, 'world.json')))['captions'] == ['objects', 'brightness']


@pytest.mark.slow
def test_cli_documents_and_checks_the_knobs(tmp_path):
    tool = osp.join(REPO, 'tools', 'dataset_converters', 'make_synthetic_nsd.py')
    run = lambda *args: subprocess.run([sys.executable, tool, *args], capture_output=True, text=True)  # noqa: E731
    help_text = run('--help').stdout
    for flag in ('--snr', '--ceilings', '--colour', '--drift', '--arousal', '--captions', 'null world'):
        assert flag in help_text, flag
    bad = run('--out', str(tmp_path / 'w'), '--captions', 'objects,smell')
    assert bad.returncode == 2 and 'caption details' in bad.stderr and not osp.exists(tmp_path / 'w')
