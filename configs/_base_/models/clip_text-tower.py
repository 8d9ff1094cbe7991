# Copyright (c) mmbrain contributors. All rights reserved.
# The text side of the CLIP baseline (Tables 1-2), shared by every clip_* pretraining config: open_clip's
# TextTransformer at CLIP's text size (12 layers of width 512, 77 tokens), trained from scratch, and the caption
# transforms: each NSD image's COCO captions (captions_{train,val}2017.json joined through
# nsd_stim_info_merged.csv's cocoId); training draws one of the ~5 captions each time the image is loaded,
# validation always takes the first. A clip_* config inherits its Brainformer twin and this file, swaps the model
# for ClipPretrainer and puts these steps after the twin's LoadNSDStimulus (mmengine cannot merge the two bases'
# model or pipeline lists, so that swap is written in each config).
text_encoder = dict(context_length=77, width=512, heads=8, layers=12)
caption_stim_info = 'data/nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv'
caption_files = ['data/coco/annotations/captions_train2017.json', 'data/coco/annotations/captions_val2017.json']
train_caption = dict(type='LoadNSDCaption', stim_info=caption_stim_info, caption_files=caption_files, draw='random')
val_caption = dict(type='LoadNSDCaption', stim_info=caption_stim_info, caption_files=caption_files, draw='first')
caption_pack = dict(
    type='PackBrainInputs',
    meta_keys=('subject', 'nsd_id', 'session', 'sample_idx', 'shared1000', 'row', 'img_shape', 'text'))
