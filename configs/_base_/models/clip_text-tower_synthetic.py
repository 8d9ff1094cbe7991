# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline's text side on the synthetic NSD world (captions written by make_synthetic_nsd.py in COCO's
# layout, docs/synthetic_world.md): a text tower of 2 layers of width 64 over 48 tokens (the world's captions
# take at most ~42), small enough to learn within the demo's 600 iterations.
_base_ = './clip_text-tower.py'

text_encoder = dict(context_length=48, width=64, heads=4, layers=2)
caption_stim_info = 'data/synthetic_nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv'
caption_files = ['data/synthetic_nsd/coco/annotations/captions_train2017.json',
                 'data/synthetic_nsd/coco/annotations/captions_val2017.json']
train_caption = dict(stim_info=caption_stim_info, caption_files=caption_files)
val_caption = dict(stim_info=caption_stim_info, caption_files=caption_files)
