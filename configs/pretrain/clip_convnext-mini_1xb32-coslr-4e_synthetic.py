# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline on the synthetic NSD world at CPU scale: the twin of
# brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py with each image's caption (the world's COCO-layout
# captions, joined by cocoId) in place of its fMRI response. Everything else is inherited: the same backbone,
# image projection width, the same rows (subjects 1-7, shared images held out for validation), schedule and seed.
# The text tower (open_clip's TextTransformer, 2 layers of width 64, 32 tokens) is trained from scratch.
#   python tools/train.py configs/pretrain/clip_convnext-mini_1xb32-coslr-4e_synthetic.py
_base_ = './brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'

stim_info = 'data/synthetic_nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv'
caption_files = ['data/synthetic_nsd/coco/annotations/captions_train2017.json',
                 'data/synthetic_nsd/coco/annotations/captions_val2017.json']
text_encoder = dict(context_length=32, width=64, heads=4, layers=2)

model = dict(
    _delete_=True,
    type='ClipPretrainer',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    backbone_out_dims={{_base_.model.backbone_out_dims}},
    embed_dims={{_base_.model.fmri_encoder.embed_dims}},
    text_encoder=text_encoder,
    contrastive_loss={{_base_.model.contrastive_loss}})

# one of the image's captions drawn each time it is loaded; validation always takes the first
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
