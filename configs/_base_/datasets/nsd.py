# Copyright (c) mmbrain contributors. All rights reserved.
# The Natural Scenes Dataset (paper Sec. 4.1), converted with
#   python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/nsd --out data/nsd/mmbrain
# Pretraining pairs: subjects 1-7, single trials z-scored per session, the 1000 shared images held out;
# validation / test: the shared1000 rows of the same subjects (image <-> fMRI retrieval). Subject 8 is left
# for the downstream encoding task. Images: 425 px stimuli resized to 224, no augmentation.
dataset_type = 'NSDDataset'
data_root = 'data/nsd/mmbrain'
stimuli_file = 'data/nsd/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5'
train_subjects = [1, 2, 3, 4, 5, 6, 7]
img_size = 224

pipeline = [
    dict(type='LoadNSDStimulus', img_size=img_size),
    dict(type='LoadNSDResponses'),
    dict(type='PackBrainInputs'),
]
# The downstream encoding task (configs/encoding, _base_/encoding_readout.py) reads no voxel coordinates.
encoding_pipeline = [pipeline[0], dict(type='LoadNSDResponses', with_xyz=False), pipeline[-1]]

# split='train': pretraining never sees the shared1000 images (the downstream encoding test images); 'all' adds
# them (docs/evaluation.md, "Pretraining and the shared1000 images").
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='mmbrain.brain_collate'),
    dataset=dict(
        type=dataset_type, data_root=data_root, stimuli_file=stimuli_file, subjects=train_subjects,
        split='train', split_by='shared1000', pipeline=pipeline))

val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='mmbrain.brain_collate'),
    dataset=dict(
        type=dataset_type, data_root=data_root, stimuli_file=stimuli_file, subjects=train_subjects,
        split='test', split_by='shared1000', test_mode=True, pipeline=pipeline))
test_dataloader = val_dataloader
