# Copyright (c) mmbrain contributors. All rights reserved.
"""Eq. 5 and Eq. 6 against direct computations, and the contrastive loss gathered over two processes."""
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
    total = 0.
    for i in range(n):
        total -= math.log(math.exp(p[i] @ q[i] / sigma) / sum(math.exp(p[i] @ q[j] / sigma) for j in range(n))) / n
        total -= math.log(math.exp(q[i] @ p[i] / sigma) / sum(math.exp(q[i] @ p[j] / sigma) for j in range(n))) / n
    return total


def eq6(pbar, qbar, tau):
    """Eq. 6 written out: -1/N Σ_i Σ_k log(exp(p̄_i^k·q̄_i^k) / Σ_g exp(p̄_i^k·q̄_i^g)), logits divided by tau."""
    n, rois = pbar.shape[:2]
    total = 0.
    for i in range(n):
        for k in range(rois):
            num = math.exp(pbar[i, k] @ qbar[i, k] / tau)
            den = sum(math.exp(pbar[i, k] @ qbar[i, g] / tau) for g in range(rois))
            total -= math.log(num / den)
    return total / n


def test_contrastive_loss_is_eq5():
    torch.manual_seed(0)
    p, q = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    loss = BrainContrastiveLoss(loss_weight=1., init_temperature=0.5, normalize=False)
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
        loss.logit_scale.fill_(20.)  # sigma = e^-20, far below the clamp
    assert float(loss.temperature) == pytest.approx(0.01)
    pn, qn = F.normalize(p.double(), dim=1), F.normalize(q.double(), dim=1)
    assert float(loss(p, q).detach()) == pytest.approx(0.5 * eq5(pn, qn, 0.01), rel=1e-4)
    fixed = BrainContrastiveLoss(learnable_temperature=False)
    assert not fixed.logit_scale.requires_grad


def test_guidance_loss_is_eq6():
    torch.manual_seed(0)
    pbar, qbar = torch.randn(3, 4, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)
    raw = BrainFMRIGuidanceLoss(loss_weight=1., normalize=False, temperature=1.)  # Eq. 6 as printed
    assert float(raw(pbar, qbar).detach()) == pytest.approx(eq6(pbar, qbar, 1.), rel=1e-5)
    default = BrainFMRIGuidanceLoss()  # lambda 0.5, cosine / 0.1
    expected = 0.5 * eq6(F.normalize(pbar, dim=-1), F.normalize(qbar, dim=-1), 0.1)
    assert float(default(pbar, qbar).detach()) == pytest.approx(expected, rel=1e-5)
    # matching ROI features give a low loss, swapped ROIs a high one
    feats = F.normalize(torch.eye(4, 8, dtype=torch.float64), dim=-1).expand(2, 4, 8)
    assert float(default(feats, feats)) < 0.01 < float(default(feats, feats.flip(1)))


class TwoTowers(nn.Module):
    """Stand-in for the pretrainer: two linear towers and the contrastive loss with its temperature."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.img = nn.Linear(6, 4)
        self.brain = nn.Linear(5, 4)
        self.loss = BrainContrastiveLoss()

    def forward(self, x, y):
        return self.loss(self.img(x), self.brain(y))


def _data():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 6, generator=gen), torch.randn(8, 5, generator=gen)


def _worker(rank, world_size, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world_size)
    try:
        model = nn.parallel.DistributedDataParallel(TwoTowers())
        x, y = _data()
        rows = slice(rank * 4, rank * 4 + 4)
        loss = model(x[rows], y[rows])
        loss.backward()
        grads = {n: p.grad for n, p in model.module.named_parameters()}
        torch.save(dict(loss=loss.detach(), grads=grads), os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_gathered_loss_and_grads_equal_full_batch(tmp_path):
    """Two gloo processes with half a batch each == one process with the whole batch (loss and gradients)."""
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    model = TwoTowers()
    loss = model(*_data())
    loss.backward()
    for rank in range(2):
        got = torch.load(tmp_path / f'rank{rank}.pt', weights_only=True)
        assert torch.allclose(got['loss'], loss.detach(), atol=1e-6)
        for name, param in model.named_parameters():
            assert torch.allclose(got['grads'][name], param.grad, atol=1e-6), name
    # the local-only loss would differ: gathering matters
    x, y = _data()
    assert not torch.allclose(TwoTowers()(x[:4], y[:4]), loss)
