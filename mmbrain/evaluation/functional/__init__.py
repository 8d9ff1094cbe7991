# Copyright (c) mmbrain contributors. All rights reserved.
from .noise_ceiling import algonauts_score, ncsnr_from_repeats, ncsnr_from_variances, noise_ceiling
from .pearson import pearson_r

__all__ = ['pearson_r', 'ncsnr_from_repeats', 'ncsnr_from_variances', 'noise_ceiling', 'algonauts_score']
