# Copyright (c) mmbrain contributors. All rights reserved.
"""Resumable, atomic stages for long multi-step jobs (the end-to-end pipeline of ``tools/run_pipeline.py``).

A stage writes everything into ``<root>/<name>.partial/`` and is renamed to ``<root>/<name>/`` only when it
finished, with a ``.stage.json`` record inside. A later run trusts only renamed stages whose record matches the
stage's description (which names its command's config): it skips them (unless told to redo them) and deletes any
``.partial`` folder an interrupted run left behind. Once one stage runs, every later stage runs again too, since its
inputs may have changed.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence

__all__ = ['Stage', 'StageRunner', 'run_command']

RECORD = '.stage.json'


@dataclass
class Stage:
    """One step of a pipeline.

    Attributes:
        name: Folder name of the stage's outputs under the runner's root.
        description: One line shown in the progress log.
        run: ``run(out_dir)`` writes the stage's outputs into ``out_dir`` (a ``.partial`` folder).
        root: Folder holding the stage's output folder; defaults to the runner's ``work_dir``.
    """
    name: str
    description: str
    run: Callable[[str], None]
    root: Optional[str] = None


@dataclass
class StageRunner:
    """Runs stages in order, skipping finished ones, and records how long each took.

    Args:
        work_dir: Default root of the stages' output folders.
        redo: Names of stages to run again even if finished (``'all'`` for every stage).
        log: Where progress lines go.
    """
    work_dir: str
    redo: Sequence[str] = ()
    log: Callable[[str], None] = print
    timings: Dict[str, float] = field(default_factory=dict)
    _invalidated: bool = field(default=False, init=False)

    def output_dir(self, stage: Stage) -> str:
        return osp.join(stage.root or self.work_dir, stage.name)

    def run(self, stages: Iterable[Stage]) -> Dict[str, str]:
        """Run ``stages`` in order; returns each stage's output folder."""
        outputs = {}
        stages = list(stages)
        for index, stage in enumerate(stages, 1):
            outputs[stage.name] = self._run_one(stage, f'[{index}/{len(stages)}]')
        return outputs

    def _run_one(self, stage: Stage, counter: str) -> str:
        final = self.output_dir(stage)
        partial = final + '.partial'
        wanted = self._invalidated or 'all' in self.redo or stage.name in self.redo
        record = self.record(final)
        if not wanted and record is not None and record.get('description') == stage.description:
            self.timings[stage.name] = record['seconds']
            self.log(f'{counter} {stage.name}: done earlier, reusing {final} (--redo {stage.name} to run again)')
            return final
        self._invalidated = True
        if osp.exists(partial):
            self.log(f'{counter} {stage.name}: removing {partial} left by an interrupted run')
            shutil.rmtree(partial)
        os.makedirs(partial)
        self.log(f'{counter} {stage.name}: {stage.description}')
        start = time.perf_counter()
        stage.run(partial)
        seconds = time.perf_counter() - start
        with open(osp.join(partial, RECORD), 'w') as f:
            json.dump(dict(stage=stage.name, description=stage.description, seconds=seconds,
                           finished=time.strftime('%Y-%m-%d %H:%M:%S')), f)
        if osp.exists(final):
            shutil.rmtree(final)
        os.replace(partial, final)
        self.timings[stage.name] = seconds
        self.log(f'{counter} {stage.name}: finished in {seconds:.0f} s -> {final}')
        return final


    @staticmethod
    def record(final: str) -> Optional[dict]:
        """The ``.stage.json`` record of a finished stage folder, or None."""
        path = osp.join(final, RECORD)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)


def run_command(cmd: List[str], log_file: str, cwd: Optional[str] = None, env: Optional[dict] = None) -> None:
    """Run ``cmd``, streaming its output to this process's stdout and to ``log_file``.

    Raises:
        subprocess.CalledProcessError: The command failed; its output is in ``log_file``.
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    with open(log_file, 'a') as log:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write('    ' + line)
            log.write(line)
        if proc.wait() != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd, output=f'see {log_file}')
