# Copyright (c) mmbrain contributors. All rights reserved.
from .voxel_readout_head import VoxelReadoutHead, read_voxel_counts  # noqa: F401
