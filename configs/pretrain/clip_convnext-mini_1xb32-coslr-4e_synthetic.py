# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline on the synthetic NSD world at CPU scale: the twin of
# brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py with each image's caption (the world's COCO-layout
# captions, joined by cocoId) in place of its fMRI response. Everything else is inherited: the same backbone,
# image projection width, the same rows (subjects 1-7, shared images held out for validation), schedule and seed.
# The text tower (configs/_base_/models/clip_text-tower_synthetic.py: open_clip's TextTransformer, 2 layers of
# width 64) is trained from scratch.
#   python tools/train.py configs/pretrain/clip_convnext-mini_1xb32-coslr-4e_synthetic.py
_base_ = ['./brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py', '../_base_/models/clip_text-tower_synthetic.py']

# ClipPretrainer in place of BrainformerPretrainer: the twin's image tower, joint width and contrastive loss
model = dict(
    _delete_=True,
    type='ClipPretrainer',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    backbone_out_dims={{_base_.model.backbone_out_dims}},
    embed_dims={{_base_.model.fmri_encoder.embed_dims}},
    text_encoder={{_base_.text_encoder}},
    contrastive_loss={{_base_.model.contrastive_loss}})
# the twin's stimulus step, then the caption instead of the responses
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadNSDStimulus', img_size={{_base_.img_size}}), {{_base_.train_caption}}, {{_base_.caption_pack}}]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadNSDStimulus', img_size={{_base_.img_size}}), {{_base_.val_caption}}, {{_base_.caption_pack}}]))
test_dataloader = val_dataloader
val_evaluator = dict(modality='text')  # image <-> caption retrieval on the twin's held-out rows
test_evaluator = val_evaluator
