# Copyright (c) mmbrain contributors. All rights reserved.
"""Eq. 5 and Eq. 6 (and its cross-sample settings) against direct computations, and both losses gathered over two
processes."""

import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from mmbrain.models.losses import BrainContrastiveLoss, BrainFMRIGuidanceLoss


def eq5(p, q, sigma):
    """Eq. 5 written out with explicit sums over i and j."""
    n = len(p)
    total = 0.0
    for i in range(n):
        total -= math.log(math.exp(p[i] @ q[i] / sigma) / sum(math.exp(p[i] @ q[j] / sigma) for j in range(n))) / n
        total -= math.log(math.exp(q[i] @ p[i] / sigma) / sum(math.exp(q[i] @ p[j] / sigma) for j in range(n))) / n
    return total


def eq6(pbar, qbar, tau, negatives='rois'):
    """Eq. 6 written out: -1/N Σ_i Σ_k log(exp(p̄_i^k·q̄_i^k) / Σ_(j,g) exp(p̄_i^k·q̄_j^g)), logits divided by tau,
    the denominator over the same sample's ROIs g (``'rois'``, as printed), the same ROI of every sample j
    (``'samples'``) or every ROI of every sample (``'rois+samples'``)."""
    n, rois = pbar.shape[:2]
    negative_set = dict(
        rois=lambda i, k: [(i, g) for g in range(rois)],
        samples=lambda i, k: [(j, k) for j in range(n)],
        **{'rois+samples': lambda i, k: [(j, g) for j in range(n) for g in range(rois)]},
    )[negatives]
    total = 0.0
    for i in range(n):
        for k in range(rois):
            num = math.exp(pbar[i, k] @ qbar[i, k] / tau)
            den = sum(math.exp(pbar[i, k] @ qbar[j, g] / tau) for j, g in negative_set(i, k))
            total -= math.log(num / den)
    return total / n


def test_contrastive_loss_is_eq5():
    torch.manual_seed(0)
    p, q = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    loss = BrainContrastiveLoss(loss_weight=1.0, init_temperature=0.5, normalize=False)
    assert float(loss(p, q).detach()) == pytest.approx(eq5(p, q, 0.5), rel=1e-5)
    loss = BrainContrastiveLoss(loss_weight=0.5, init_temperature=0.07)
    pn, qn = F.normalize(p, dim=1), F.normalize(q, dim=1)
    assert float(loss(p, q).detach()) == pytest.approx(0.5 * eq5(pn, qn, 0.07), rel=1e-5)


def test_temperature_is_learnable_and_clamped():
    loss = BrainContrastiveLoss(init_temperature=0.07, min_temperature=0.01)
    p, q = torch.randn(4, 3), torch.randn(4, 3)
    loss(p, q).backward()
    assert loss.logit_scale.grad is not None and loss.logit_scale.grad != 0
    with torch.no_grad():
        loss.logit_scale.fill_(20.0)  # sigma = e^-20, far below the clamp
    assert float(loss.temperature) == pytest.approx(0.01)
    pn, qn = F.normalize(p.double(), dim=1), F.normalize(q.double(), dim=1)
    assert float(loss(p, q).detach()) == pytest.approx(0.5 * eq5(pn, qn, 0.01), rel=1e-4)
    fixed = BrainContrastiveLoss(learnable_temperature=False)
    assert not fixed.logit_scale.requires_grad


def test_guidance_loss_is_eq6():
    torch.manual_seed(0)
    pbar, qbar = torch.randn(3, 4, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)
    raw = BrainFMRIGuidanceLoss(loss_weight=1.0, normalize=False, temperature=1.0)  # Eq. 6 as printed
    assert float(raw(pbar, qbar).detach()) == pytest.approx(eq6(pbar, qbar, 1.0), rel=1e-5)
    default = BrainFMRIGuidanceLoss()  # lambda 0.5, cosine / 0.1
    expected = 0.5 * eq6(F.normalize(pbar, dim=-1), F.normalize(qbar, dim=-1), 0.1)
    assert float(default(pbar, qbar).detach()) == pytest.approx(expected, rel=1e-5)
    # matching ROI features give a low loss, swapped ROIs a high one
    feats = F.normalize(torch.eye(4, 8, dtype=torch.float64), dim=-1).expand(2, 4, 8)
    assert float(default(feats, feats)) < 0.01 < float(default(feats, feats.flip(1)))


@pytest.mark.parametrize('negatives', ['rois', 'samples', 'rois+samples'])
@pytest.mark.parametrize('normalize, tau', [(False, 1.0), (True, 0.1)])
def test_guidance_negatives_match_direct_sums(negatives, normalize, tau):
    torch.manual_seed(1)
    pbar, qbar = torch.randn(4, 3, 5, dtype=torch.float64), torch.randn(4, 3, 5, dtype=torch.float64)
    loss = BrainFMRIGuidanceLoss(loss_weight=0.5, normalize=normalize, temperature=tau, negatives=negatives)
    if normalize:
        pbar, qbar = F.normalize(pbar, dim=-1), F.normalize(qbar, dim=-1)
    assert float(loss(pbar, qbar)) == pytest.approx(0.5 * eq6(pbar, qbar, tau, negatives), rel=1e-6)


def test_guidance_negatives_are_different_losses():
    """The three denominators are not the same sum: rois+samples > each of the others, and the defaults are Eq. 6."""
    torch.manual_seed(2)
    pbar, qbar = torch.randn(5, 4, 6), torch.randn(5, 4, 6)
    values = {
        neg: float(BrainFMRIGuidanceLoss(negatives=neg)(pbar, qbar)) for neg in ('rois', 'samples', 'rois+samples')
    }
    assert values['rois+samples'] > max(values['rois'], values['samples'])
    assert values['rois'] != pytest.approx(values['samples'])
    assert BrainFMRIGuidanceLoss().negatives == 'rois'
    with pytest.raises(ValueError, match='negatives must be one of'):
        BrainFMRIGuidanceLoss(negatives='batch')


def test_printed_guidance_is_solved_by_roi_identity_alone():
    """Eq. 6 as printed never compares stimuli: ROI features that carry only the ROI's identity (the same for every
    image) solve it, while the cross-sample settings stay at chance (log N for 'samples')."""
    n, rois = 8, 4
    identity = F.normalize(torch.eye(rois, 8), dim=-1).expand(n, rois, 8)
    assert float(BrainFMRIGuidanceLoss(negatives='rois')(identity, identity)) < 1e-3
    chance = 0.5 * rois * math.log(n)
    assert float(BrainFMRIGuidanceLoss(negatives='samples')(identity, identity)) == pytest.approx(chance, rel=1e-5)


class TwoTowers(nn.Module):
    """Stand-in for the pretrainer: two linear towers and the contrastive loss with its temperature, or (with
    ``negatives``) K = 3 ROI features per sample and the guidance loss."""

    def __init__(self, negatives=None):
        super().__init__()
        torch.manual_seed(0)
        out = 4 if negatives is None else 3 * 4
        self.img = nn.Linear(6, out)
        self.brain = nn.Linear(5, out)
        self.loss = BrainContrastiveLoss() if negatives is None else BrainFMRIGuidanceLoss(negatives=negatives)
        self.shape = (-1,) if negatives is None else (3, 4)

    def forward(self, x, y):
        return self.loss(self.img(x).reshape(len(x), *self.shape), self.brain(y).reshape(len(y), *self.shape))


def _data():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 6, generator=gen), torch.randn(8, 5, generator=gen)


SETTINGS = [None, 'rois', 'samples', 'rois+samples']  # the contrastive loss, then each guidance setting


def _worker(rank, world_size, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world_size)
    try:
        for i, negatives in enumerate(SETTINGS):
            model = nn.parallel.DistributedDataParallel(TwoTowers(negatives))
            x, y = _data()
            rows = slice(rank * 4, rank * 4 + 4)
            loss = model(x[rows], y[rows])
            loss.backward()
            grads = {n: p.grad for n, p in model.module.named_parameters() if p.grad is not None}
            torch.save(dict(loss=loss.detach(), grads=grads), os.path.join(out_dir, f'setting{i}_rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_loss_and_grads_equal_full_batch(tmp_path):
    """Two gloo processes with half a batch each == one process with the whole batch (loss and gradients): the
    contrastive loss and each guidance setting."""
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    for i, negatives in enumerate(SETTINGS):
        model = TwoTowers(negatives)
        loss = model(*_data())
        loss.backward()
        got = [torch.load(tmp_path / f'setting{i}_rank{rank}.pt', weights_only=True) for rank in range(2)]
        if negatives == 'rois':  # local per sample, not gathered: each process holds the mean over its own half
            assert torch.allclose((got[0]['loss'] + got[1]['loss']) / 2, loss.detach(), atol=1e-6)
        else:
            for rank in range(2):
                assert torch.allclose(got[rank]['loss'], loss.detach(), atol=1e-6), negatives
        for rank in range(2):
            for name, param in model.named_parameters():
                if param.grad is not None:
                    assert torch.allclose(got[rank]['grads'][name], param.grad, atol=1e-6), (negatives, name)
        # the local-only loss would differ: gathering matters
        x, y = _data()
        assert not torch.allclose(TwoTowers(negatives)(x[:4], y[:4]), loss)
