# Copyright (c) mmbrain contributors. All rights reserved.
"""The runner of declared stages: decide what to reuse and what to run, then run it, several stages at once.

:class:`StageRunner` reuses a finished stage only if its record holds the identity computed now
(:mod:`mmbrain.pipeline.stages`); a change therefore reruns that stage and the stages that read it, directly or
not, and nothing else. On disk, under the locks of the work dir and of the data folders the stages write
(:mod:`mmbrain.pipeline.workdir`):

1. leftovers of interrupted runs (``NAME.partial``, an old folder left aside) are deleted, never trusted;
2. the decision (reuse or run, and why) and the identities are written to ``WORK_DIR/pipeline_plan.json``, and the
   record of every stage about to run is invalidated, before any stage runs, so an interrupted run can never leave
   a later stage marked done on top of a changed input;
3. a stage writes into ``NAME.partial/`` (its config is generated there: ``_base_`` = the config file, plus the
   overrides as Python literals, so paths with spaces or commas never go through ``--cfg-options``); when its commands
   succeed, its record is written, the paths its files hold are pointed at the final folder, and the finished
   folder replaces the old one atomically.

Commands run under :mod:`mmbrain.pipeline.processes`: each ends with the pipeline, and SIGINT/SIGTERM/SIGHUP are
passed on to them.
"""

import os
import os.path as osp
import signal
import sys
import sysconfig
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from mmbrain.utils.paths import package_path

from .errors import Interrupted, PipelineError, PipelineUsageError
from .executor import Executor, LocalExecutor
from .job import JOB_FILE, StageJob
from .processes import forward_signals
from .progress import Progress
from .stages import INVALIDATED, RECORD, Places, Stage, identity, library_versions, read_record
from .workdir import PARTIAL, invalidate_record, remove_leftovers, work_dir_lock, write_json

__all__ = ['StageRunner', 'Decision', 'PLAN_FILE']

PLAN_FILE = 'pipeline_plan.json'


@dataclass
class Decision:
    """Whether a stage is reused or run, why, and its identity where it is known before it runs."""

    stage: str
    run: bool
    reason: str
    identity: Optional[str] = None
    missing: bool = False
    declaration: Optional[Dict[str, Any]] = None


def _changes(record: dict, declaration: Dict[str, Any], input_runs: Dict[str, str]) -> str:
    """What differs between a record and a stage's declaration now (for the progress log)."""
    changed = [what for what in ('commands', 'config', 'seed', 'inputs') if record.get(what) != declaration[what]]
    changed += [
        f'read {path} changed'
        for path, print_ in declaration['reads'].items()
        if record.get('reads', {}).get(path) != print_
    ]
    changed += [
        f'{name} {record.get("versions", {}).get(name)} -> {version}'
        for name, version in declaration['versions'].items()
        if record.get('versions', {}).get(name) != version
    ]
    changed += [
        f'input {name} was run again'
        for name, run in input_runs.items()
        if record.get('input_runs', {}).get(name) != run
    ]
    return ', '.join(changed) or 'identity differs'


class StageRunner:
    """Runs declared stages, reusing each finished stage whose identity still matches.

    Args:
        stages: The stages, every stage after the stages it reads.
        work_dir: Holds the lock and ``pipeline_plan.json``.
        redo: Stages to run again even if finished: full names, last parts (``pretrain_brainformer`` for every
            seed) or ``'all'``. Their dependants run again too.
        log: Where progress lines go.
        jobs: How many stages may run at once (each as soon as the stages it reads are finished; in declared
            order among those ready). With more than one, each child gets ``OMP_NUM_THREADS`` = CPU cores / jobs
            unless the environment sets it, and its output lines are prefixed with its stage name.
        gpus: GPUs of this machine shared among the running stages (see :class:`LocalExecutor`); None: not managed.
        executor: Where the stages run (default: ``LocalExecutor(jobs, gpus)``, children of this process).
        repo: The checkout (or installed package) whose tools and configs the stages run, named ``{repo}`` in their
            identities (default: the one mmbrain is imported from).

    Raises:
        PipelineUsageError: ``redo`` names a stage that does not exist (the message lists the valid names).
        ValueError: Stage names are not unique, a stage reads a stage declared after it, or ``jobs`` < 1.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        work_dir: str,
        redo: Sequence[str] = (),
        log: Callable[[str], None] = print,
        jobs: int = 1,
        gpus: Optional[int] = None,
        executor: Optional[Executor] = None,
        repo: Optional[str] = None,
    ):
        self.executor = executor if executor is not None else LocalExecutor(jobs, gpus)
        self.stages = list(stages)
        self.work_dir = osp.abspath(work_dir)
        self.repo = osp.abspath(repo) if repo else osp.dirname(package_path('configs'))
        self.log = log
        self.timings: Dict[str, float] = {}
        seen: Set[str] = set()
        for stage in self.stages:
            if stage.name in seen:
                raise ValueError(f'two stages are named {stage.name}')
            missing = [name for name in stage.inputs if name not in seen]
            if missing:
                raise ValueError(f'stage {stage.name} reads {missing}, which are not declared before it')
            seen.add(stage.name)
        self.redo = self.expand_redo(redo)

    def expand_redo(self, names: Sequence[str]) -> Set[str]:
        """The stage names meant by ``--redo`` arguments."""
        if 'all' in names:
            return {stage.name for stage in self.stages}
        chosen, unknown = set(), []
        for name in names:
            matches = {s.name for s in self.stages if name in (s.name, s.name.rsplit('/', 1)[-1])}
            if not matches:
                unknown.append(name)
            chosen |= matches
        if unknown:
            valid = sorted({s.name.rsplit('/', 1)[-1] for s in self.stages} | {s.name for s in self.stages})
            raise PipelineUsageError(
                f'--redo: no stage named {", ".join(unknown)}; valid names: all, ' + ', '.join(valid)
            )
        return chosen

    @property
    def places(self) -> Places:
        """The paths named in the identities: the interpreter, the checkout, the installed libraries, the work
        dir, every stage's folder and every file a stage reads."""
        names = {sysconfig.get_path(key): '{site-packages}' for key in ('purelib', 'platlib')}
        names.update({self.repo: '{repo}', self.work_dir: '{work_dir}'})
        for stage in self.stages:
            names[stage.output_dir] = f'{{folder of {stage.name}}}'
            names.update({path: f'{{read {osp.basename(osp.normpath(path))}}}' for path in stage.reads})
        names[sys.executable] = '{python}'
        return Places(names)

    @property
    def by_name(self) -> Dict[str, Stage]:
        return {stage.name: stage for stage in self.stages}

    def decide(self) -> List[Decision]:
        """Reuse or run, for every stage, from the records on disk now (nothing is changed)."""
        decisions: Dict[str, Decision] = {}
        records, configs = {}, {}
        places, versions = self.places, library_versions()
        for stage in self.stages:
            missing = stage.missing_files()
            if missing:
                decisions[stage.name] = Decision(stage.name, True, 'missing: ' + ', '.join(missing), missing=True)
                continue
            config_hash = stage.config.resolved_hash(configs, places) if stage.config else None
            declaration = stage.declaration(config_hash, places, versions)
            record = read_record(stage.output_dir, stage.name)
            records[stage.name] = record
            rerun_inputs = [name for name in stage.inputs if decisions[name].run]
            if stage.name in self.redo:
                decision = Decision(stage.name, True, '--redo')
            elif rerun_inputs:
                decision = Decision(stage.name, True, f'input runs again: {", ".join(rerun_inputs)}')
            elif record is None:
                decision = Decision(
                    stage.name,
                    True,
                    'not finished before' if not osp.exists(stage.output_dir) else 'its folder has no valid record',
                )
            else:
                input_runs = {name: records[name]['run_id'] for name in stage.inputs}
                wanted = identity(declaration, input_runs)
                if record['identity'] == wanted:
                    decision = Decision(stage.name, False, 'unchanged', wanted)
                else:
                    decision = Decision(stage.name, True, 'changed: ' + _changes(record, declaration, input_runs))
            if decision.run and not rerun_inputs and decision.identity is None:
                input_runs = {name: records[name]['run_id'] for name in stage.inputs}
                decision.identity = identity(declaration, input_runs)
            decision.declaration = declaration
            decisions[stage.name] = decision
        return [decisions[stage.name] for stage in self.stages]

    def lock_dirs(self) -> List[str]:
        """The work dir and every stage root outside it that no stage creates (e.g. the data folder)."""
        outputs = {stage.output_dir for stage in self.stages}
        roots = {self.work_dir}
        for stage in self.stages:
            inside = stage.root == self.work_dir or stage.root.startswith(self.work_dir + os.sep)
            if not inside and not any(stage.root == o or stage.root.startswith(o + os.sep) for o in outputs):
                roots.add(stage.root)
        return sorted(roots)

    def _lock_hints(self) -> List[Tuple[str, str]]:
        """The folders to lock (:meth:`lock_dirs`), each with what the message tells a second pipeline to do."""
        hints = []
        for folder in self.lock_dirs():
            if folder == self.work_dir:
                hints.append((folder, 'choose another --work-dir'))
            else:
                writers = [s.name for s in self.stages if s.root == folder]
                hints.append((folder, f'let it finish: its stages {", ".join(writers)} write here, for every work dir'))
        return hints

    def run(self) -> Dict[str, str]:
        """Run the stages (see the module docstring for the order of things on disk); returns their folders.

        Raises:
            WorkDirLocked: Another pipeline holds a lock.
            PipelineError: A config is missing, or a stage can never start (before anything ran).
            StageFailed: A command failed; its log is named.
        """
        with ExitStack() as stack:
            for folder, hint in self._lock_hints():
                stack.enter_context(work_dir_lock(folder, hint))
            elsewhere = self._remove_leftovers()
            decisions = self.decide()
            missing = [f'{d.stage}: {d.reason}' for d in decisions if d.missing]
            if missing:
                raise PipelineError('nothing was run; files are missing:\n  ' + '\n  '.join(missing))
            foreign = [stage.output_dir for stage, d in zip(self.stages, decisions) if d.run and not _ours(stage)]
            if foreign:
                raise PipelineError(
                    'nothing was run; these folders were not written by the pipeline, which would '
                    'replace them (move them away first):\n  ' + '\n  '.join(foreign)
                )
            self.executor.check([s for s, d in zip(self.stages, decisions) if d.run])
            self._record_plan(decisions)
            stack.enter_context(forward_signals())
            self._execute(decisions, elsewhere)
        return {stage.name: stage.output_dir for stage in self.stages}

    def _job(self, stage: Stage, decision: Decision) -> StageJob:
        return StageJob(
            stage,
            decision.declaration,
            {name: self.by_name[name].output_dir for name in stage.inputs},
        )

    def _adopt(self, decisions: Dict[str, Decision], elsewhere: Set[str]) -> Set[str]:
        """Adopt the jobs still running elsewhere whose spec is what was decided now; cancel the others."""
        adopted: Set[str] = set()
        for stage in self.stages:
            if stage.name not in elsewhere:
                continue
            decision = decisions[stage.name]
            job = self._job(stage, decision)
            try:
                spec = StageJob.read(osp.join(job.partial_dir, JOB_FILE))
            except (OSError, ValueError, KeyError, TypeError):
                spec = None
            same = (
                decision.run
                and spec is not None
                and spec.declaration == job.declaration
                and spec.input_dirs == job.input_dirs
                and all(not decisions[name].run or name in adopted for name in stage.inputs)
            )
            if same:
                self.executor.adopt(spec)
                adopted.add(stage.name)
                self.log(f'{stage.name}: still running from an earlier pipeline; waiting for it')
            else:
                self.log(f'{stage.name}: cancelling its job from an earlier pipeline (no longer what is wanted)')
                self.executor.cancel_elsewhere(job.partial_dir)
                remove_leftovers(stage.output_dir)
        return adopted

    def _execute(self, decision_list: List[Decision], elsewhere: Set[str]) -> None:
        """Hand the stages to run to the executor, each once the stages it reads are finished (or started, where
        the executor orders them itself) and the executor has room for it.

        A failure stops new stages from starting; the running ones finish (their work is kept) and the first
        failure is raised. An interrupt stops every running job at once.
        """
        decisions = {d.stage: d for d in decision_list}
        counter = {stage.name: f'[{i}/{len(self.stages)}] {stage.name}' for i, stage in enumerate(self.stages, 1)}
        progress = Progress(self.stages, getattr(self.executor, 'jobs', None))
        pending: List[Stage] = []
        for stage in self.stages:
            if decisions[stage.name].run:
                pending.append(stage)
            else:
                self.timings[stage.name] = float(read_record(stage.output_dir)['seconds'])
                progress.reused(stage.name)
                self.log(f'{counter[stage.name]}: unchanged, reusing {stage.output_dir}')
        failure: Optional[BaseException] = None
        try:
            for name in self._adopt(decisions, elsewhere):
                pending.remove(self.by_name[name])
                progress.started(name)
            while pending or progress.running:
                for stage in list(pending):
                    if failure is not None:
                        break
                    ready = all(
                        name in progress.done or (self.executor.ahead and name in progress.running)
                        for name in stage.inputs
                    )
                    if not ready:
                        continue
                    job = self._job(stage, decisions[stage.name])
                    if not self.executor.can_start(job):
                        continue
                    pending.remove(stage)
                    os.makedirs(job.partial_dir)
                    job.write()
                    self.executor.start(job)
                    progress.started(stage.name)
                    self.log(
                        f'{counter[stage.name]}: {stage.description} ({decisions[stage.name].reason}); '
                        f'{progress.summary()}'
                    )
                if not progress.running:
                    break  # a stage failed and nothing else runs
                for name, error in self.executor.wait():
                    if error is None:
                        self.timings[name] = float(read_record(self.by_name[name].output_dir)['seconds'])
                        progress.finished(name, self.timings[name])
                        self.log(
                            f'{counter[name]}: finished in {self.timings[name]:.0f} s -> '
                            f'{self.by_name[name].output_dir}; {progress.summary()}'
                        )
                        continue
                    progress.failed(name)
                    if failure is None:
                        failure = error
                        if progress.running:
                            names = ', '.join(sorted(progress.running))
                            self.log(f'{name} failed; no new stage starts, waiting for {names}')
                    else:
                        self.log(f'{name} failed too: {error}')
        except BaseException as err:
            if isinstance(err, Interrupted):
                self.executor.stop(err.signum)
            else:  # Ctrl-C, or an error of the pipeline itself
                self.executor.stop(signal.SIGINT if isinstance(err, KeyboardInterrupt) else signal.SIGTERM)
            raise
        finally:
            self.executor.close()
        if failure is not None:
            raise failure

    def _remove_leftovers(self) -> Set[str]:
        """Delete what interrupted runs left, except the ``.partial`` folders of jobs still running elsewhere (whose
        stage names are returned)."""
        elsewhere = set()
        for stage in self.stages:
            if osp.isdir(stage.output_dir + PARTIAL) and self.executor.running_elsewhere(stage.output_dir + PARTIAL):
                elsewhere.add(stage.name)
                continue
            for leftover in remove_leftovers(stage.output_dir):
                self.log(f'{stage.name}: removed {leftover}, left by an interrupted run')
        return elsewhere

    def _record_plan(self, decisions: List[Decision]) -> None:
        """Write the decisions and identities, then invalidate the records of the stages about to run."""
        write_json(
            osp.join(self.work_dir, PLAN_FILE),
            dict(
                written=time.strftime('%Y-%m-%d %H:%M:%S'),
                command=sys.argv,
                stages=[
                    dict(
                        stage=d.stage,
                        folder=self.by_name[d.stage].output_dir,
                        run=d.run,
                        reason=d.reason,
                        identity=d.identity,
                    )
                    for d in decisions
                ],
            ),
        )
        for stage, decision in zip(self.stages, decisions):
            if decision.run:
                invalidate_record(stage.output_dir)


def _ours(stage: Stage) -> bool:
    """Whether the stage's folder is absent or was written by a pipeline (holds a record, valid or invalidated)."""
    record = osp.join(stage.output_dir, RECORD)
    return not osp.lexists(stage.output_dir) or osp.exists(record) or osp.exists(record + INVALIDATED)
