# Copyright (c) mmbrain contributors. All rights reserved.
"""ClipPretrainer: offline tokenizer, the shared image tower, losses, retrieval embeddings."""

import socket

import pytest
import torch
from _helpers import TINY_CONVNEXT, tiny_brainformer_encoder
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from mmbrain.registry import MODELS

CONVNEXT = dict(TINY_CONVNEXT, out_indices=(0, 1, 2, 3))
TEXT = dict(context_length=16, width=16, heads=2, layers=1)
CAPTIONS = [
    'A face on the left in a room.',
    'Two disks outdoors under the sky.',
    'An empty room.',
    'A word at the top against a plain backdrop.',
]


def _model(**kwargs):
    init_default_scope('mmbrain')
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            dict(type='ClipPretrainer', backbone=CONVNEXT, backbone_out_dims=32, embed_dims=16, text_encoder=TEXT),
            **kwargs,
        )
    )


def _data(captions=CAPTIONS):
    samples = [DataSample(metainfo=dict(text=t, nsd_id=i)) for i, t in enumerate(captions)]
    img = torch.randint(0, 256, (len(captions), 3, 32, 32), dtype=torch.uint8)
    return dict(inputs=dict(img=img), data_samples=samples)


def test_tokenizer_and_text_tower_work_without_network(monkeypatch):
    """open_clip's BPE vocabulary ships in the package: building and tokenizing opens no connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f'network access attempted: {args}')

    for name in ('connect', 'connect_ex'):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)
    model = _model()
    tokens = model.tokenize(CAPTIONS)
    assert tokens.shape == (4, 16) and tokens.dtype == torch.long
    sot, eot = model.tokenizer.sot_token_id, model.tokenizer.eot_token_id
    assert (tokens[:, 0] == sot).all() and ((tokens == eot).sum(1) == 1).all()
    assert (
        model.tokenizer.decode(tokens[1, 1 : (tokens[1] == eot).nonzero()[0, 0]].tolist()).strip()
        == 'two disks outdoors under the sky .'
    )
    assert model.extract_text_feat(CAPTIONS).shape == (4, 16)


def test_image_tower_matches_brainformer_keys():
    """The backbone and image projection carry the same keys and shapes as BrainformerPretrainer's."""
    clip = _model()
    init_default_scope('mmbrain')
    brainformer = MODELS.build(
        dict(
            type='BrainformerPretrainer',
            backbone=CONVNEXT,
            backbone_out_dims=32,
            fmri_encoder=tiny_brainformer_encoder(['v1', 'faces']),
        )
    )

    def image_tower(model):
        return {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(('backbone.', 'img_proj.'))}

    assert image_tower(clip) == image_tower(brainformer) and len(image_tower(clip)) > 10
    assert {k.split('.')[0] for k in clip.state_dict()} == {'backbone', 'img_proj', 'text_encoder', 'contrastive_loss'}


def test_loss_backward_reaches_both_towers():
    model = _model()
    losses = model(**model.data_preprocessor(_data(), True), mode='loss')
    assert set(losses) == {'loss_con', 'temperature'}
    assert float(losses['temperature']) == pytest.approx(0.07)
    loss, _ = model.parse_losses(losses)
    # two cross-entropies over 4 pairs, each log(4) at chance; weight 0.5
    assert 0.5 < float(loss.detach()) < 5
    loss.backward()
    for name in ('img_proj', 'text_encoder', 'contrastive_loss'):
        grads = [p.grad for p in getattr(model, name).parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), name
    assert model.backbone.stages[-1][0].depthwise_conv.weight.grad.abs().sum() > 0


def test_predict_sets_normalised_image_and_text_embeddings():
    model = _model().eval()
    samples = model(**model.data_preprocessor(_data(), False), mode='predict')
    assert len(samples) == 4
    for sample in samples:
        assert sample.img_embed.shape == sample.text_embed.shape == (16,)
        assert torch.allclose(sample.text_embed.norm(), torch.tensor(1.0))
    # the same caption gives the same text embedding, whatever image it comes with
    again = model(**model.data_preprocessor(_data(), False), mode='predict')
    assert torch.allclose(again[2].text_embed, samples[2].text_embed)
    assert model(**model.data_preprocessor(_data(), False), mode='tensor')['text'].shape == (4, 16)


def test_errors_name_the_problem():
    model = _model()
    data = model.data_preprocessor(_data(), True)
    with pytest.raises(ValueError, match='needs data samples carrying captions'):
        model(data['inputs'], None, mode='loss')
    data['data_samples'][1] = DataSample(metainfo=dict(nsd_id=7))
    with pytest.raises(ValueError, match='nsd_id 7.*no caption'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match='no output_dim'):
        _model(text_encoder=dict(TEXT, output_dim=8))


def test_backbone_extractor_takes_a_clip_checkpoint(tmp_path):
    """tools/model_converters/brainformer_to_backbone.py keeps exactly the backbone.* tensors of a CLIP model."""
    from _helpers import load_tool

    model = _model()
    torch.save(dict(meta=dict(iter=1), state_dict=model.state_dict()), tmp_path / 'iter_1.pth')
    summary = load_tool('tools/model_converters/brainformer_to_backbone.py').convert(
        str(tmp_path / 'iter_1.pth'), str(tmp_path / 'backbone.pth')
    )
    out = torch.load(tmp_path / 'backbone.pth', weights_only=True)['state_dict']
    assert set(out) == {k for k in model.state_dict() if k.startswith('backbone.')}
    assert set(summary['dropped']) == {'img_proj', 'text_encoder', 'contrastive_loss'}
