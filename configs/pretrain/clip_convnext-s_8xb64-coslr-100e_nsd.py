# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline of Tables 1-2 for ConvNeXt-S: the twin of brainformer_convnext-s_8xb64-coslr-100e_nsd.py with
# each NSD image's COCO caption (captions_{train,val}2017.json joined through nsd_stim_info_merged.csv's cocoId,
# one of its ~5 captions drawn per step) in place of its fMRI response: the same images (subjects 1-7's rows,
# shared1000 held out), backbone, joint width d=768, schedule and seed. The text tower is open_clip's
# TextTransformer at CLIP's text size (12 layers of width 512, 77 tokens), trained from scratch.
# Validation: image <-> caption retrieval on the held-out shared1000 rows.
#   bash tools/dist_train.sh configs/pretrain/clip_convnext-s_8xb64-coslr-100e_nsd.py 8 [--amp]
_base_ = './brainformer_convnext-s_8xb64-coslr-100e_nsd.py'

stim_info = 'data/nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv'
caption_files = ['data/coco/annotations/captions_train2017.json', 'data/coco/annotations/captions_val2017.json']
text_encoder = dict(context_length=77, width=512, heads=8, layers=12)

model = dict(
    _delete_=True,
    type='ClipPretrainer',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    backbone_out_dims={{_base_.model.backbone_out_dims}},
    embed_dims={{_base_.model.fmri_encoder.embed_dims}},
    text_encoder=text_encoder,
    contrastive_loss={{_base_.model.contrastive_loss}})

pack = dict(type='PackBrainInputs',
            meta_keys=('subject', 'nsd_id', 'session', 'sample_idx', 'shared1000', 'row', 'img_shape', 'text'))
train_pipeline = [
    dict(type='LoadNSDStimulus', img_size={{_base_.img_size}}),
    dict(type='LoadNSDCaption', stim_info=stim_info, caption_files=caption_files, draw='random'), pack
]
val_pipeline = [
    dict(type='LoadNSDStimulus', img_size={{_base_.img_size}}),
    dict(type='LoadNSDCaption', stim_info=stim_info, caption_files=caption_files, draw='first'), pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='BrainRetrievalMetric', topk=(1, 5), match_by='nsd_id', modality='text')
test_evaluator = val_evaluator
