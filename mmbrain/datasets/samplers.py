# Copyright (c) mmbrain contributors. All rights reserved.
"""``SubjectBatchSampler``: batches that hold a single subject each (no voxel padding)."""

from typing import Iterator, List

import numpy as np
from torch.utils.data import BatchSampler, Sampler

from ..registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class SubjectBatchSampler(BatchSampler):
    """Group the indices of a sampler into batches of one subject each.

    Follows mmdet's ``AspectRatioBatchSampler``: indices are taken in the wrapped sampler's order (random,
    distributed, ...) and a batch is emitted whenever one subject's bucket is full. Config::

        train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True),
                                batch_sampler=dict(type='SubjectBatchSampler'), ...)

    Args:
        sampler: the index sampler; its ``dataset`` must provide ``sample_subjects()`` (``NSDDataset`` does).
        batch_size: samples per batch.
        drop_last: drop each subject's last incomplete batch.
    """

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool = False):
        if batch_size <= 0:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self._subjects = sampler.dataset.sample_subjects()

    def __iter__(self) -> Iterator[List[int]]:
        buckets: dict = {}
        for idx in self.sampler:
            bucket = buckets.setdefault(int(self._subjects[idx]), [])
            bucket.append(idx)
            if len(bucket) == self.batch_size:
                yield bucket[:]
                bucket.clear()
        if not self.drop_last:
            for bucket in buckets.values():
                if bucket:
                    yield bucket

    def __len__(self) -> int:
        counts = np.bincount(self._subjects[np.fromiter(iter(self.sampler), np.int64)])
        if self.drop_last:
            return int((counts // self.batch_size).sum())
        return int(np.ceil(counts / self.batch_size).sum())
