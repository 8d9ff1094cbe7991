# Copyright (c) mmbrain contributors. All rights reserved.
# The synthetic NSD world (docs/data.md), for CPU runs and CI:
#   python tools/dataset_converters/make_synthetic_nsd.py --out data/synthetic_nsd
#   python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/synthetic_nsd --out data/synthetic_nsd/mmbrain
# Same split as configs/_base_/datasets/nsd.py (subjects 1-7, shared images held out, subject 8 left for the
# encoding task), with the 64 px stimuli kept at 64 px so that a CPU trains at interactive speed.
dataset_type = 'NSDDataset'
data_root = 'data/synthetic_nsd/mmbrain'
stimuli_file = 'data/synthetic_nsd/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5'
train_subjects = [1, 2, 3, 4, 5, 6, 7]
img_size = 64

pipeline = [
    dict(type='LoadNSDStimulus', img_size=img_size),
    dict(type='LoadNSDResponses'),
    dict(type='PackBrainInputs'),
]

# split='train': pretraining never sees the shared1000 images (the downstream encoding test images); 'all' adds
# them (docs/evaluation.md, "Pretraining and the shared1000 images").
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='mmbrain.brain_collate'),
    dataset=dict(
        type=dataset_type, data_root=data_root, stimuli_file=stimuli_file, subjects=train_subjects,
        split='train', split_by='shared1000', pipeline=pipeline))

val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='mmbrain.brain_collate'),
    dataset=dict(
        type=dataset_type, data_root=data_root, stimuli_file=stimuli_file, subjects=train_subjects,
        split='test', split_by='shared1000', test_mode=True, pipeline=pipeline))
test_dataloader = val_dataloader
