# Copyright (c) mmbrain contributors. All rights reserved.
"""Grad-CAM of cos(image embedding, brain embedding): toy towers whose answer is known, and the
BrainformerPretrainer adapter."""

from typing import Optional, Tuple

import pytest
import torch
import torch.nn.functional as F
from _helpers import TINY_VOXELS, tiny_brain_batch, tiny_pretrainer, tiny_pretrainer_cfg
from torch import Tensor, nn

from mmbrain.visualization import BrainformerImageEmbed, brain_gradcam, brainformer_gradcam, plot_brainformer_gradcam

SIZE = 32
HALF = SIZE // 2
QUADRANTS = {'top-left': (0, 0), 'top-right': (0, 1), 'bottom-left': (1, 0), 'bottom-right': (1, 1)}


class TextureTower(nn.Module):
    """Toy image tower: feature map = texture energy |Laplacian| of each colour channel pooled 4x4 (zero on flat
    areas), embedding = ``Linear(mean of the feature map over region)``; region None = the whole image."""

    def __init__(self, weight: Tensor, bias: Tensor, region: Optional[Tuple[int, int]] = None) -> None:
        super().__init__()
        self.proj = nn.Linear(3, weight.shape[0])
        with torch.no_grad():
            self.proj.weight.copy_(weight)
            self.proj.bias.copy_(bias)
        laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.register_buffer('kernel', laplacian.expand(3, 1, 3, 3).clone())
        self.region = region

    def forward(self, img: Tensor) -> Tuple[Tensor, Tensor]:
        fmap = F.avg_pool2d(F.conv2d(F.pad(img, (1, 1, 1, 1), mode='replicate'), self.kernel, groups=3).abs(), 4)
        if self.region is not None:
            h, w = fmap.shape[-2] // 2, fmap.shape[-1] // 2
            r, c = self.region
            pooled = fmap[:, :, r * h : (r + 1) * h, c * w : (c + 1) * w].mean(dim=(2, 3))
        else:
            pooled = fmap.mean(dim=(2, 3))
        return fmap, self.proj(pooled)


def _textured(img: Tensor, quadrant: Tuple[int, int], channel: int, seed: int) -> None:
    r, c = quadrant
    gen = torch.Generator().manual_seed(seed)
    # Keep away from the quadrant's border so the 3x3 filter sees no edge with the neighbours.
    img[:, channel, r * HALF + 2 : (r + 1) * HALF - 2, c * HALF + 2 : (c + 1) * HALF - 2] = torch.rand(
        img.shape[0], HALF - 4, HALF - 4, generator=gen
    )


def _mass_in(cam: Tensor, quadrant: Tuple[int, int]) -> float:
    r, c = quadrant
    return float(cam[r * HALF : (r + 1) * HALF, c * HALF : (c + 1) * HALF].sum() / cam.sum())


def _peak_quadrant(cam: Tensor) -> Tuple[int, int]:
    idx = int(cam.argmax())
    return (idx // SIZE) // HALF, (idx % SIZE) // HALF


@pytest.mark.parametrize('quadrant', list(QUADRANTS.values()), ids=list(QUADRANTS))
def test_map_peaks_in_the_quadrant_the_embedding_reads(quadrant):
    """The embedding depends only on one quadrant, the only textured one; the whole image is a brightness ramp
    (bright content the tower's texture features ignore: a linear ramp has no Laplacian). Grad-CAM weighs
    channels, not positions, so the toy's features must fire where the embedding looks for the map to localise.
    The brain embedding is the direction the quadrant's texture moves the image embedding towards, so the
    similarity rises with that texture and the map must sit on that quadrant."""
    torch.manual_seed(0)
    weight, bias = torch.randn(8, 3), torch.randn(8)
    ramp = torch.arange(SIZE, dtype=torch.float32) / SIZE
    img = (0.2 + 0.3 * ramp[None, :] + 0.3 * ramp[:, None]).expand(2, 3, SIZE, SIZE).clone()
    _textured(img, quadrant, channel=0, seed=1)
    tower = TextureTower(weight, bias, region=quadrant)
    brain = weight[:, 0].expand(2, -1)
    result = brain_gradcam(tower, img, brain)
    assert result.cams.shape == (2, SIZE, SIZE) and result.feature_size == (8, 8)
    _, embedding = tower(img)
    torch.testing.assert_close(result.similarity, F.cosine_similarity(embedding, brain, dim=-1))
    for cam in result.cams:
        assert float(cam.max()) == pytest.approx(1.0)
        assert _peak_quadrant(cam) == quadrant
        assert _mass_in(cam, quadrant) > 0.9


def test_map_follows_the_brain_embedding():
    """Red texture top-left, green texture bottom-right, an embedding of the whole image: the map lands on the
    red object for a brain embedding that matches red, on the green one for one that matches green. This is what
    the channel weights (spatially averaged gradients) decide; a map that ignored them could not move."""
    img = torch.zeros(1, 3, SIZE, SIZE)
    _textured(img, QUADRANTS['top-left'], channel=0, seed=2)
    _textured(img, QUADRANTS['bottom-right'], channel=1, seed=3)
    tower = TextureTower(torch.eye(3), torch.zeros(3))
    red = brain_gradcam(tower, img, torch.tensor([[1.0, 0.0, 0.0]])).cams[0]
    green = brain_gradcam(tower, img, torch.tensor([[0.0, 1.0, 0.0]])).cams[0]
    assert _peak_quadrant(red) == QUADRANTS['top-left'] and _mass_in(red, QUADRANTS['top-left']) > 0.9
    assert _peak_quadrant(green) == QUADRANTS['bottom-right'] and _mass_in(green, QUADRANTS['bottom-right']) > 0.9
    # A brain embedding opposite to the image's: no region raises the similarity... except by reducing the
    # texture it opposes; the ReLU keeps only positive evidence, so the map stays within [0, 1].
    anti = brain_gradcam(tower, img, torch.tensor([[-1.0, -1.0, 0.0]]), normalize=False).cams[0]
    assert float(anti.min()) >= 0.0


def test_errors_are_clear():
    tower = TextureTower(torch.eye(3), torch.zeros(3))
    img = torch.rand(2, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match='brain_embeddings must be'):
        brain_gradcam(tower, img, torch.rand(3, 3))
    with pytest.raises(ValueError, match='differ in shape'):
        brain_gradcam(tower, img, torch.rand(2, 5))
    with pytest.raises(ValueError, match='feature map'):
        brain_gradcam(lambda x: (x.mean(1), tower(x)[1]), img, torch.rand(2, 3))
    with pytest.raises(RuntimeError, match='does not depend on the feature map'):
        brain_gradcam(lambda x: (tower(x)[0], tower.proj(x.mean(dim=(2, 3)))), img, torch.rand(2, 3))


# ----------------------------------------------------------------- BrainformerPretrainer adapter
def test_brainformer_adapter():
    model = tiny_pretrainer().train()
    data = tiny_brain_batch()
    result, images = brainformer_gradcam(model, data)
    assert model.training, 'the adapter must restore the training mode'
    assert images.shape == (3, 64, 64, 3) and images.dtype.name == 'uint8'
    # RGB for display, from the BGR batch.
    assert (images[0, :, :, 0] == data['inputs']['img'][0, 2].numpy()).all()
    assert result.cams.shape == (3, 64, 64) and result.feature_size == (2, 2)  # ConvNeXt's last stage, stride 32
    assert float(result.cams.min()) >= 0.0 and float(result.cams.max()) <= 1.0 + 1e-6
    # The explained similarity is the model's own cos(p, q) (tensor mode, eval).
    model.eval()
    feats = model(**model.data_preprocessor(data, False), mode='tensor')
    torch.testing.assert_close(result.similarity, F.cosine_similarity(feats['img'], feats['brain'], dim=-1))
    # An earlier stage gives a finer map.
    finer, _ = brainformer_gradcam(model, data, target_layer='backbone.stages.1')
    assert finer.feature_size == (8, 8)
    with pytest.raises(ValueError, match='not a module'):
        brainformer_gradcam(model, data, target_layer='backbone.nope')
    with pytest.raises(ValueError, match='no \\[B, C, h, w\\] feature map'):
        BrainformerImageEmbed(model, target_layer='img_proj')(torch.rand(1, 3, 64, 64))


def test_plot_brainformer_gradcam_rows_and_titles(tmp_path):
    from mmpretrain.structures import DataSample

    data = tiny_brain_batch(2)
    data['data_samples'] = [DataSample(metainfo=dict(nsd_id=i + 7)) for i in range(2)]
    random_init = tiny_pretrainer()
    trained = tiny_pretrainer()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    fig = plot_brainformer_gradcam({'random init': random_init, 'Brainformer': trained}, data, tmp_path / 'g.png')
    assert (tmp_path / 'g.png').stat().st_size > 1000
    assert [ax.get_ylabel() for ax in fig.axes[:6:2]] == [
        'input',
        'random init\nvs brain embedding',
        'Brainformer\nvs brain embedding',
    ]
    assert [ax.get_title() for ax in fig.axes[:2]] == ['nsd_id 7', 'nsd_id 8']
    sims = [ax.texts[0].get_text() for ax in fig.axes[2:6]]
    assert sims[:2] != sims[2:], 'two different models explain different similarities'


class _ToyBrainDataset(torch.utils.data.Dataset):
    """Samples in the packed format (docs/architecture.md) without data samples, for default_collate."""

    def __init__(self, n=5):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        gen = torch.Generator().manual_seed(idx)
        return dict(
            inputs=dict(
                img=torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=gen),
                fmri={r: torch.randn(n, generator=gen) for r, n in TINY_VOXELS.items()},
                fmri_mask={r: torch.ones(n, dtype=torch.bool) for r, n in TINY_VOXELS.items()},
                xyz={r: torch.randn(n, 3, generator=gen) for r, n in TINY_VOXELS.items()},
                subject_index=torch.tensor(idx),
            )
        )


def test_visualize_gradcam_cli(tmp_path, monkeypatch, capsys):
    import importlib.util
    import json
    from pathlib import Path

    from mmbrain.registry import DATASETS

    DATASETS.register_module(name='_GradCAMToyDataset', module=_ToyBrainDataset, force=True)
    model = tiny_pretrainer()
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(meta=dict(iter=1), state_dict=model.state_dict()), ckpt)
    cfg = tmp_path / 'pretrain.py'
    model_cfg = tiny_pretrainer_cfg()
    cfg.write_text(
        f"default_scope = 'mmbrain'\nmodel = {model_cfg!r}\n"
        "val_dataloader = dict(batch_size=1, dataset=dict(type='_GradCAMToyDataset'),\n"
        "                      collate_fn=dict(type='default_collate'))\n"
    )
    script = Path(__file__).parents[2] / 'tools' / 'analysis_tools' / 'visualize_gradcam.py'
    spec = importlib.util.spec_from_file_location('visualize_gradcam', script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / 'fig6.png'
    monkeypatch.setattr(
        'sys.argv',
        [
            'visualize_gradcam.py',
            '--model',
            'random init',
            str(cfg),
            '--model',
            'Brainformer',
            str(cfg),
            str(ckpt),
            '--num-images',
            '3',
            '--out',
            str(out),
        ],
    )
    assert cli.main() == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 1000 and 'written to' in printed
    # The sanity checks: printed, and in a JSON beside the figure, for the row with a checkpoint only.
    assert 'Brainformer: rank corr. with its randomised backbone' in printed
    sanity = json.loads((tmp_path / 'fig6_sanity.json').read_text())
    assert list(sanity['rows']) == ['Brainformer'] and len(sanity['rows']['Brainformer']['randomization_spearman']) == 3
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict={'backbone.nope': torch.zeros(1), 'fmri_encoder.nope': torch.zeros(1)}), bad)
    monkeypatch.setattr('sys.argv', ['visualize_gradcam.py', '--model', 'x', str(cfg), str(bad), '--out', str(out)])
    assert cli.main() == 1  # a data error: one line, exit 1
    assert 'bad.pth: its weights do not match the model of the config' in capsys.readouterr().err
    torch.save(dict(state_dict={'backbone.nope': torch.zeros(1)}), bad)
    assert cli.main() == 1
    assert 'bad.pth: this is a backbone-only checkpoint' in capsys.readouterr().err
    monkeypatch.setattr(
        'sys.argv', ['visualize_gradcam.py', '--model', 'x', str(cfg), '--num-images', '9', '--out', str(out)]
    )
    assert cli.main() == 1
    assert 'only 5 samples' in capsys.readouterr().err
