# Copyright (c) mmbrain contributors. All rights reserved.
"""Grad-CAM sanity checks (Adebayo et al., 2018) on a tiny pretrainer: a map must depend on the learned weights
(model-parameter randomisation) and on the image (input check), and the checks must say when it does not."""

import pytest
import torch
from _helpers import tiny_brain_batch, tiny_pretrainer

from mmbrain.visualization import brainformer_gradcam, gradcam_sanity, randomize_backbone, sanity_lines
from mmbrain.visualization.gradcam import between_images_similarity


def test_randomize_backbone_changes_every_backbone_weight_and_nothing_else():
    model = tiny_pretrainer()
    randomized = randomize_backbone(model, seed=1)
    original = dict(model.named_parameters())
    for name, param in randomized.named_parameters():
        same = torch.equal(param, original[name])
        if name.startswith('backbone.') and param.numel() > 1 and param.std() > 0:
            assert not same, f'{name} was not randomised'
        elif not name.startswith('backbone.'):
            assert same, f'{name} is outside the backbone and must be kept'
    again = randomize_backbone(model, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), randomized.parameters())), 'seeded'
    assert all(torch.equal(p, original[n]) for n, p in model.named_parameters()), 'the model itself is untouched'


def test_the_randomisation_test_tells_a_weight_dependent_map_from_a_weight_blind_one(monkeypatch):
    model, data = tiny_pretrainer(), tiny_brain_batch(4)
    sanity = gradcam_sanity({'Brainformer': model}, data, seed=1)['Brainformer']
    assert len(sanity['randomization_spearman']) == 4
    assert sanity['randomization_spearman_mean'] < 0.9  # these maps depend on the backbone's weights
    # A "randomisation" that keeps the weights (a map blind to them) gives rank correlation 1: the check fails it.
    monkeypatch.setattr('mmbrain.visualization.gradcam.randomize_backbone', lambda m, seed=0: m)
    blind = gradcam_sanity({'Brainformer': model}, data)['Brainformer']
    assert blind['randomization_spearman_mean'] == pytest.approx(1.0)


def test_the_input_check_tells_image_dependent_maps_from_one_map_for_every_image():
    model = tiny_pretrainer()
    distinct = tiny_brain_batch(4)
    maps = brainformer_gradcam(model, distinct)[0].cams
    assert between_images_similarity(maps) < 0.9
    same = tiny_brain_batch(4)
    same['inputs']['img'][:] = same['inputs']['img'][:1]  # one image four times (and its fMRI four times)
    for key in ('fmri', 'xyz'):
        for value in same['inputs'][key].values():
            value[:] = value[:1]
    repeated = gradcam_sanity({'m': model}, same)['m']['between_images_spearman']
    assert repeated == pytest.approx(1.0)


def test_constant_maps_are_reported_as_undefined_not_as_numbers():
    assert between_images_similarity(torch.zeros(3, 8, 8)) is None
    sanity = {
        'm': dict(randomization_spearman=[None, None], randomization_spearman_mean=None, between_images_spearman=0.25)
    }
    (line,) = sanity_lines(sanity)
    assert 'n/a (constant maps)' in line and '+0.25' in line and '2 images' in line
