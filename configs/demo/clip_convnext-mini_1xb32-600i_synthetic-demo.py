# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline of the end-to-end demo: the twin of brainformer_convnext-mini_1xb32-600i_synthetic-demo.py
# (same images, 600-iteration schedule, validation rows and seed) with captions in place of fMRI responses; the text
# side is configs/_base_/models/clip_text-tower_synthetic.py.
_base_ = ['./brainformer_convnext-mini_1xb32-600i_synthetic-demo.py', '../_base_/models/clip_text-tower_synthetic.py']

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
