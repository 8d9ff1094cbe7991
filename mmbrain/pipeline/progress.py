# Copyright (c) mmbrain contributors. All rights reserved.
"""Overall progress of a pipeline run: stages done / running / left, and the time left estimated from earlier runs.

A stage's duration is estimated by the time its own last run took (its record, or the record invalidated before
this run), else by the time a stage of the same kind took (the same name after ``seedN/``). The time left is that
of the runner's order replayed with these estimates on the executor's slots (``LocalExecutor.jobs``); a stage with
no estimate counts as zero, and the summary says how many there are.
"""

import os.path as osp
import time
from typing import Dict, Optional, Sequence, Set

from .stages import INVALIDATED, RECORD, Stage

__all__ = ['Progress', 'recorded_seconds']


def recorded_seconds(output_dir: str) -> Optional[float]:
    """The seconds the last run of a stage folder took, from its record or its invalidated record."""
    import json

    for name in (RECORD, RECORD + INVALIDATED):
        try:
            with open(osp.join(output_dir, name)) as f:
                return float(json.load(f)['seconds'])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f'{seconds:.0f} s'
    return f'{minutes // 60} h {minutes % 60:02d} min' if minutes >= 60 else f'{minutes} min'


class Progress:
    """Which stages are done, running and left, and the estimate of the time left.

    Args:
        stages: All stages of the run, in declared order.
        slots: Stages that run at once (None: no limit).
    """

    def __init__(self, stages: Sequence[Stage], slots: Optional[int] = None):
        self.stages = list(stages)
        self.slots = slots
        self.done: Set[str] = set()
        self.running: Dict[str, float] = {}  # name -> when it started
        self.failed_stages: Set[str] = set()
        own = {s.name: recorded_seconds(s.output_dir) for s in self.stages}
        by_kind: Dict[str, float] = {}
        for stage in self.stages:
            if own[stage.name] is not None:
                by_kind.setdefault(stage.name.rsplit('/', 1)[-1], own[stage.name])
        self.estimate: Dict[str, Optional[float]] = {
            s.name: own[s.name] if own[s.name] is not None else by_kind.get(s.name.rsplit('/', 1)[-1])
            for s in self.stages
        }

    def reused(self, name: str) -> None:
        self.done.add(name)

    def started(self, name: str) -> None:
        self.running[name] = time.monotonic()

    def finished(self, name: str, seconds: float) -> None:
        self.running.pop(name, None)
        self.done.add(name)
        self.estimate[name] = seconds

    def failed(self, name: str) -> None:
        self.running.pop(name, None)
        self.failed_stages.add(name)

    @property
    def left(self) -> int:
        return len(self.stages) - len(self.done) - len(self.running) - len(self.failed_stages)

    def seconds_left(self, now: Optional[float] = None) -> float:
        """The estimated seconds until every stage not done ended: the runner's order replayed with the estimates
        (each stage started, in declared order, once its inputs ended and a slot is free)."""
        now = time.monotonic() if now is None else now
        clock, ended = 0.0, set(self.done)
        running = {name: max(0.0, (self.estimate[name] or 0.0) - (now - start)) for name, start in self.running.items()}
        pending = [s for s in self.stages if s.name not in ended and s.name not in running]
        pending = [s for s in pending if s.name not in self.failed_stages]
        slots = self.slots or len(self.stages)
        while pending or running:
            for stage in list(pending):
                if len(running) >= slots:
                    break
                if all(name in ended for name in stage.inputs):
                    running[stage.name] = clock + (self.estimate[stage.name] or 0.0)
                    pending.remove(stage)
            if not running:
                break  # what is left reads a failed stage
            name = min(running, key=running.get)
            clock = running.pop(name)
            ended.add(name)
        return clock

    def summary(self, now: Optional[float] = None) -> str:
        """``12/20 done, 2 running, 6 left; about 35 min left (2 stages without an earlier time)``."""
        text = f'{len(self.done)}/{len(self.stages)} done, {len(self.running)} running, {self.left} left'
        if self.failed_stages:
            text += f', {len(self.failed_stages)} failed'
        unknown = [
            s.name
            for s in self.stages
            if s.name not in self.done and s.name not in self.failed_stages and self.estimate[s.name] is None
        ]
        stages = f'{len(unknown)} stage{"s" if len(unknown) > 1 else ""} never run before'
        if (self.left or self.running) and len(unknown) == self.left + len(self.running):
            text += f'; no estimate of the time left yet ({stages})'
        elif self.left or self.running:
            text += f'; about {_duration(self.seconds_left(now))} left'
            if unknown:
                text += f' (not counting {stages})'
        return text
