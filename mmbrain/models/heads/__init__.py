# Copyright (c) mmbrain contributors. All rights reserved.
from .voxel_readout_head import VoxelReadoutHead  # noqa: F401
