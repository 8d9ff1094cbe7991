# Copyright (c) mmbrain contributors. All rights reserved.
# The synthetic NSD world (docs/data.md), for CPU runs and CI:
#   python tools/dataset_converters/make_synthetic_nsd.py --out data/synthetic_nsd
#   python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/synthetic_nsd --out data/synthetic_nsd/mmbrain
# The splits and pipelines of ./nsd.py (subjects 1-7, shared images held out, subject 8 left for the encoding task)
# on the world's own files, with its 64 px stimuli kept at 64 px and loaders sized for a CPU.
_base_ = './nsd.py'

data_root = 'data/synthetic_nsd/mmbrain'
stimuli_file = 'data/synthetic_nsd/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5'
img_size = 64
# nsd.py's steps with this image size (mmengine fills img_size in where nsd.py is read, so the stimulus step is redone)
pipeline = [dict(_base_.pipeline[0], img_size=img_size)] + _base_.pipeline[1:]
encoding_pipeline = [pipeline[0]] + _base_.encoding_pipeline[1:]

train_dataloader = dict(
    batch_size=32, num_workers=2, pin_memory=False,
    dataset=dict(data_root=data_root, stimuli_file=stimuli_file, pipeline=pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=2, pin_memory=False,
    dataset=dict(data_root=data_root, stimuli_file=stimuli_file, pipeline=pipeline))
test_dataloader = val_dataloader
