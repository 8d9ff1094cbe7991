# Copyright (c) mmbrain contributors. All rights reserved.
from .base_readout import BaseVoxelReadoutHead  # noqa: F401
from .factorized_readout_head import FactorizedReadoutHead  # noqa: F401
from .voxel_readout_head import VoxelReadoutHead  # noqa: F401
