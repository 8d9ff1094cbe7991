# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline of Tables 1-2 for ConvNeXt-S: the twin of brainformer_convnext-s_8xb64-coslr-100e_nsd.py with
# each NSD image's COCO caption (one of its ~5 drawn per step) in place of its fMRI response: the same images
# (subjects 1-7's rows, shared1000 held out), backbone, joint width d=768, schedule and seed. The text tower is
# open_clip's TextTransformer at CLIP's text size, trained from scratch (configs/_base_/models/clip_text-tower.py).
# Validation: image <-> caption retrieval on the held-out shared1000 rows.
#   bash tools/dist_train.sh configs/pretrain/clip_convnext-s_8xb64-coslr-100e_nsd.py 8 [--amp]
_base_ = ['./brainformer_convnext-s_8xb64-coslr-100e_nsd.py', '../_base_/models/clip_text-tower.py']

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
