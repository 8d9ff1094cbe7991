# Copyright (c) mmbrain contributors. All rights reserved.
from .contrastive_loss import BrainContrastiveLoss, gather_with_grad
from .guidance_loss import BrainFMRIGuidanceLoss

__all__ = ['BrainContrastiveLoss', 'BrainFMRIGuidanceLoss', 'gather_with_grad']
