# Copyright (c) mmbrain contributors. All rights reserved.
"""Declared, resumable, atomic stages: the machinery of the end-to-end job (``tools/run_pipeline.py``).

A :class:`Stage` declares, before anything runs, everything that decides its output: its commands, its config (a
config file plus overrides, resolved by mmengine and hashed), its seed and the names of the stages it reads. Its
*identity* is the hash of these and of the run ids of its input stages' records (a fresh id is written each time a
stage finishes). :class:`StageRunner` reuses a finished stage only if its record holds the identity computed now; a
change therefore reruns that stage and the stages that read it, directly or not, and nothing else.

On disk, under one lock (``fcntl.flock`` on ``WORK_DIR/.lock``):

1. leftovers of interrupted runs (``NAME.partial``, ``NAME.replaced``) are deleted, never trusted;
2. the decision (reuse or run, and why) and the identities are written to ``WORK_DIR/pipeline_plan.json``, and the
   record of every stage about to run is invalidated, before any stage runs, so an interrupted run can never leave
   a later stage marked done on top of a changed input;
3. a stage writes into ``NAME.partial/`` (its config is generated there: ``_base_`` = the config file, plus the
   overrides as Python literals, so paths with spaces or commas never go through ``--cfg-options``); when its commands
   succeed, its record is written and fsynced, ``last_checkpoint`` files are pointed at the final folder, and the
   finished folder replaces the old one by renames (old aside, new in, old deleted).

Commands run as children in the pipeline's process group; each dies with the pipeline (``PR_SET_PDEATHSIG`` on
Linux) and SIGINT/SIGTERM/SIGHUP are forwarded to it.
"""

import copy
import ctypes
import fcntl
import functools
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Union

from mmbrain.utils.atomic import atomic_write

__all__ = [
    'Out',
    'Checkpoint',
    'GeneratedConfig',
    'StageConfig',
    'Stage',
    'Decision',
    'StageRunner',
    'PipelineError',
    'StageFailed',
    'WorkDirLocked',
    'PipelineUsageError',
    'Interrupted',
    'run_command',
    'ChildProcesses',
    'available_cpus',
    'final_checkpoint',
    'read_record',
    'RECORD',
    'PLAN_FILE',
    'LOCK_FILE',
]

RECORD = '.stage.json'
PLAN_FILE = 'pipeline_plan.json'
LOCK_FILE = '.lock'
PARTIAL, REPLACED = '.partial', '.replaced'
STAGE_LOG = 'stage.log'
GENERATED_CONFIG_DIR = 'generated_config'


class PipelineError(RuntimeError):
    """The pipeline cannot go on: a stage failed, a config is missing, the work dir is in use (exit status 1)."""


class StageFailed(PipelineError):
    """A stage's command exited non-zero."""


class WorkDirLocked(PipelineError):
    """Another pipeline holds the work dir's lock."""


class PipelineUsageError(ValueError):
    """The command line names something that does not exist, e.g. a misspelled ``--redo`` stage (exit status 2)."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP reached the pipeline (SIGINT raises ``KeyboardInterrupt``)."""

    def __init__(self, signum: int):
        super().__init__(f'interrupted by {signal.Signals(signum).name}')
        self.signum = signum


# ----------------------------------------------------------------------------------------------- run-time arguments
@dataclass
class RunContext:
    """What a running stage's run-time arguments resolve against."""

    out_dir: str
    final_dirs: Dict[str, str]
    config_file: Optional[str] = None


@dataclass(frozen=True)
class Out:
    """A path inside the running stage's own output folder (its ``.partial`` folder while it runs)."""

    path: str = ''

    @property
    def key(self) -> str:
        return osp.join('{out}', self.path) if self.path else '{out}'

    def resolve(self, ctx: RunContext) -> str:
        return osp.join(ctx.out_dir, self.path) if self.path else ctx.out_dir


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint a training run left (:func:`final_checkpoint`): of stage ``stage``, or of this stage's own
    earlier command when ``stage`` is None."""

    stage: Optional[str] = None

    @property
    def key(self) -> str:
        return '{checkpoint of %s}' % (self.stage or 'out')

    def resolve(self, ctx: RunContext) -> str:
        return final_checkpoint(ctx.out_dir if self.stage is None else ctx.final_dirs[self.stage])


@dataclass(frozen=True)
class GeneratedConfig:
    """The config the stage generates in its folder from its :class:`StageConfig`."""

    @property
    def key(self) -> str:
        return '{config}'

    def resolve(self, ctx: RunContext) -> str:
        if ctx.config_file is None:
            raise ValueError('GeneratedConfig used by a stage without a config')
        return ctx.config_file


Arg = Union[str, Out, Checkpoint, GeneratedConfig]
_REFS = (Out, Checkpoint, GeneratedConfig)


def final_checkpoint(run_dir: str) -> str:
    """The checkpoint a finished mmengine run left: ``best_*.pth`` if it kept one (chosen on validation), else the
    latest ``epoch_*.pth`` / ``iter_*.pth``."""
    best = sorted(glob.glob(osp.join(glob.escape(run_dir), 'best_*.pth')))
    if best:
        return best[-1]
    ckpts = glob.glob(osp.join(glob.escape(run_dir), 'epoch_*.pth')) + glob.glob(
        osp.join(glob.escape(run_dir), 'iter_*.pth')
    )
    if not ckpts:
        raise FileNotFoundError(f'{run_dir}: no checkpoint found')
    return max(ckpts, key=lambda p: int(osp.splitext(osp.basename(p))[0].split('_')[-1]))


# ------------------------------------------------------------------------------------------------------- configs
def _nested(overrides: Dict[str, Any]) -> Dict[str, Any]:
    """``{'a.b': 1}`` -> ``{'a': {'b': 1}}``."""
    nested: Dict[str, Any] = {}
    for dotted, value in overrides.items():
        keys = dotted.split('.')
        node = nested
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f'override {dotted!r} conflicts with another override')
        node[keys[-1]] = value
    return nested


@dataclass
class StageConfig:
    """A config file plus overrides (dotted keys, Python literal values), generated as a config file per run.

    Attributes:
        file: Absolute path of the config file.
        overrides: ``{'model.backbone.init_cfg.checkpoint': '/path with spaces/backbone.pth', ...}``.
    """

    file: str
    overrides: Dict[str, Any] = field(default_factory=dict)

    def render(self, stage_name: str, ctx: 'RunContext') -> str:
        """The text of the generated config: ``_base_`` is :attr:`file`, every override a literal (run-time
        arguments such as :class:`Out` resolved against ``ctx``)."""
        values = {k: v.resolve(ctx) if isinstance(v, _REFS) else v for k, v in self.overrides.items()}
        lines = [
            f'# Generated by the mmbrain pipeline for stage {stage_name}: {osp.basename(self.file)} plus the '
            "run's settings below.",
            f'_base_ = [{self.file!r}]',
        ]
        lines += [f'{key} = {value!r}' for key, value in _nested(values).items()]
        return '\n'.join(lines) + '\n'

    def resolved_hash(self, cache: Optional[Dict[str, Any]] = None) -> str:
        """sha256 of the resolved config (the file with its ``_base_`` chain, then the overrides, run-time arguments
        by their symbolic form), as mmengine builds it.

        Args:
            cache: Parsed config files by path, shared by calls that may assume the files do not change meanwhile.

        Raises:
            FileNotFoundError: The config file does not exist.
        """
        from mmengine.config import Config

        if not osp.isfile(self.file):
            raise FileNotFoundError(f'{self.file}: config not found')
        cache = {} if cache is None else cache
        if self.file not in cache:
            cache[self.file] = Config.fromfile(self.file, import_custom_modules=False)
        cfg = copy.deepcopy(cache[self.file])
        if self.overrides:
            cfg.merge_from_dict({k: v.key if isinstance(v, _REFS) else v for k, v in self.overrides.items()})
        text = json.dumps(cfg.to_dict(), sort_keys=True, default=_stable_repr)
        return hashlib.sha256(text.encode()).hexdigest()


def _stable_repr(obj: Any) -> str:
    """A JSON stand-in for a config value that is not plain data (a class or function: its qualified name)."""
    if isinstance(obj, type) or callable(obj):
        return f'{getattr(obj, "__module__", "")}.{getattr(obj, "__qualname__", type(obj).__name__)}'
    return repr(obj)


# -------------------------------------------------------------------------------------------------------- stages
@dataclass
class Stage:
    """One declared step of a pipeline.

    Attributes:
        name: Unique name (``seed0/pretrain_brainformer``); ``--redo`` takes it, or its last part for every seed.
        description: One line for the progress log.
        commands: Argument lists run one after the other; run-time arguments are :class:`Out`, :class:`Checkpoint`,
            :class:`GeneratedConfig`.
        root: Absolute folder holding the stage's output folder.
        folder: Name of the output folder under ``root`` (default: the last part of ``name``).
        config: The config the stage generates (see :class:`StageConfig`), or None.
        seed: The seed of its randomness (also inside ``config`` where it has one), or None.
        inputs: Names of the stages whose outputs it reads (declared earlier in the list).
    """

    name: str
    description: str
    commands: List[List[Arg]]
    root: str
    folder: Optional[str] = None
    config: Optional[StageConfig] = None
    seed: Optional[int] = None
    inputs: List[str] = field(default_factory=list)

    @property
    def output_dir(self) -> str:
        return osp.join(self.root, self.folder or self.name.rsplit('/', 1)[-1])

    def missing_files(self) -> List[str]:
        """The config and the scripts (absolute ``*.py`` / ``*.sh`` arguments) the stage runs that do not exist."""
        files = [self.config.file] if self.config else []
        files += [
            a
            for cmd in self.commands
            for a in cmd
            if isinstance(a, str) and osp.isabs(a) and a.endswith(('.py', '.sh'))
        ]
        return [f for f in dict.fromkeys(files) if not osp.isfile(f)]

    def declaration(self, config_hash: Optional[str]) -> Dict[str, Any]:
        """What decides the stage's output, apart from its inputs' runs."""
        return dict(
            commands=[[a if isinstance(a, str) else a.key for a in cmd] for cmd in self.commands],
            config=None if self.config is None else dict(file=self.config.file, hash=config_hash),
            seed=self.seed,
            inputs=sorted(self.inputs),
        )


def identity(declaration: Dict[str, Any], input_runs: Dict[str, str]) -> str:
    """Hash of a stage's declaration and of the run ids of its inputs."""
    text = json.dumps(dict(declaration, input_runs=input_runs), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(output_dir: str, stage_name: Optional[str] = None) -> Optional[dict]:
    """The record of a finished stage folder, or None if there is none or it is unreadable / someone else's."""
    path = osp.join(output_dir, RECORD)
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not {'identity', 'run_id'} <= set(record):
        return None
    if stage_name is not None and record.get('stage') != stage_name:
        return None
    return record


@dataclass
class Decision:
    """Whether a stage is reused or run, why, and its identity where it is known before it runs."""

    stage: str
    run: bool
    reason: str
    identity: Optional[str] = None
    missing: bool = False


def _changes(record: dict, declaration: Dict[str, Any], input_runs: Dict[str, str]) -> str:
    """What differs between a record and a stage's declaration now (for the progress log)."""
    changed = [what for what in ('commands', 'config', 'seed', 'inputs') if record.get(what) != declaration[what]]
    changed += [
        f'input {name} was run again'
        for name, run in input_runs.items()
        if record.get('input_runs', {}).get(name) != run
    ]
    return ', '.join(changed) or 'identity differs'


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: str, obj: Any) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(osp.dirname(path))


@contextmanager
def work_dir_lock(folder: str) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively (``fcntl.flock``) for the block; fail at once if someone else holds it.

    Raises:
        WorkDirLocked: Another process holds the lock (its pid and command line are in the message).
    """
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, LOCK_FILE)
    with open(path, 'a+') as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or 'unknown process'
            raise WorkDirLocked(
                f'{folder} is in use by another pipeline ({holder}); wait for it to end or choose another --work-dir'
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f'pid {os.getpid()} since {time.strftime("%Y-%m-%d %H:%M:%S")}: {" ".join(sys.argv)}\n')
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextmanager
def forward_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` for the block (so the running child is stopped too)."""

    def handler(signum, _frame):
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
    ):
        if jobs < 1:
            raise ValueError(f'jobs must be at least 1, got {jobs}')
        self.stages = list(stages)
        self.work_dir = osp.abspath(work_dir)
        self.log = log
        self.jobs = jobs
        self.timings: Dict[str, float] = {}
        self._children = ChildProcesses()
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
    def by_name(self) -> Dict[str, Stage]:
        return {stage.name: stage for stage in self.stages}

    def decide(self) -> List[Decision]:
        """Reuse or run, for every stage, from the records on disk now (nothing is changed)."""
        decisions: Dict[str, Decision] = {}
        records, configs = {}, {}
        for stage in self.stages:
            missing = stage.missing_files()
            if missing:
                decisions[stage.name] = Decision(stage.name, True, 'missing: ' + ', '.join(missing), missing=True)
                continue
            config_hash = stage.config.resolved_hash(configs) if stage.config else None
            declaration = stage.declaration(config_hash)
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

    def run(self) -> Dict[str, str]:
        """Run the stages (see the module docstring for the order of things on disk); returns their folders.

        Raises:
            WorkDirLocked: Another pipeline holds a lock.
            PipelineError: A config is missing (before anything ran).
            StageFailed: A command failed; its log is named.
        """
        with ExitStack() as stack:
            for folder in self.lock_dirs():
                stack.enter_context(work_dir_lock(folder))
            self._remove_leftovers()
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
            self._record_plan(decisions)
            stack.enter_context(forward_signals())
            self._execute(decisions)
        return {stage.name: stage.output_dir for stage in self.stages}

    def _execute(self, decisions: List[Decision]) -> None:
        """Run the stages to run, up to ``jobs`` at once, each as soon as the stages it reads are finished.

        A failure stops new stages from starting; the running ones finish (their work is kept) and the first
        failure is raised. An interrupt stops every running child at once.
        """
        counter = {stage.name: f'[{i}/{len(self.stages)}] {stage.name}' for i, stage in enumerate(self.stages, 1)}
        done: Set[str] = set()
        pending: List[Stage] = []
        for stage, decision in zip(self.stages, decisions):
            if decision.run:
                pending.append(stage)
            else:
                done.add(stage.name)
                self.timings[stage.name] = float(read_record(stage.output_dir)['seconds'])
                self.log(f'{counter[stage.name]}: unchanged, reusing {stage.output_dir}')
        reasons = {d.stage: d.reason for d in decisions}
        running: Dict[Future, Stage] = {}
        failure: Optional[BaseException] = None
        # Each child is started and waited for by one pool thread, which lives until the pool shuts down after
        # the child ended (PR_SET_PDEATHSIG fires when the thread that started a child exits).
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix='stage') as pool:
            try:
                while pending or running:
                    ready = [s for s in pending if failure is None and all(name in done for name in s.inputs)]
                    for stage in ready[: self.jobs - len(running)]:
                        pending.remove(stage)
                        self.log(f'{counter[stage.name]}: {stage.description} ({reasons[stage.name]})')
                        running[pool.submit(self._run_stage, stage)] = stage
                    if not running:
                        break  # a stage failed and nothing else runs
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        stage = running.pop(future)
                        error = future.exception()
                        if error is None:
                            done.add(stage.name)
                            self.log(
                                f'{counter[stage.name]}: finished in {self.timings[stage.name]:.0f} s '
                                f'-> {stage.output_dir}'
                            )
                        elif failure is None:
                            failure = error
                            if running:
                                names = ', '.join(s.name for s in running.values())
                                self.log(f'{stage.name} failed; no new stage starts, waiting for {names}')
                        else:
                            self.log(f'{stage.name} failed too: {error}')
            except BaseException as err:
                if isinstance(err, Interrupted):
                    self._children.stop(err.signum)
                else:  # Ctrl-C, or an error of the pipeline itself
                    self._children.stop(signal.SIGINT if isinstance(err, KeyboardInterrupt) else signal.SIGTERM)
                raise
        if failure is not None:
            raise failure

    def _remove_leftovers(self) -> None:
        for stage in self.stages:
            for suffix in (PARTIAL, REPLACED):
                leftover = stage.output_dir + suffix
                if osp.lexists(leftover):
                    self.log(f'{stage.name}: removing {leftover}, left by an interrupted run')
                    shutil.rmtree(leftover) if osp.isdir(leftover) and not osp.islink(leftover) else os.remove(leftover)

    def _record_plan(self, decisions: List[Decision]) -> None:
        """Write the decisions and identities, then invalidate the records of the stages about to run."""
        _write_json(
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
            record = osp.join(stage.output_dir, RECORD)
            if decision.run and osp.exists(record):
                os.replace(record, record + '.invalidated')
                _fsync_dir(stage.output_dir)

    def _run_stage(self, stage: Stage) -> None:
        final, partial = stage.output_dir, stage.output_dir + PARTIAL
        os.makedirs(partial)
        final_dirs = {name: self.by_name[name].output_dir for name in stage.inputs}
        input_runs = {name: read_record(final_dirs[name], name)['run_id'] for name in stage.inputs}
        config_hash = stage.config.resolved_hash() if stage.config else None
        declaration = stage.declaration(config_hash)
        ctx = RunContext(partial, final_dirs)
        if stage.config is not None:
            # in a subfolder: mmengine dumps the resolved config into the work dir under the config's own name
            ctx.config_file = osp.join(partial, GENERATED_CONFIG_DIR, osp.basename(stage.config.file))
            with atomic_write(ctx.config_file) as f:
                f.write(stage.config.render(stage.name, ctx))
        start = time.perf_counter()
        commands = []
        for command in stage.commands:
            argv = [a if isinstance(a, str) else a.resolve(ctx) for a in command]
            commands.append(argv)
            run_command(argv, osp.join(partial, STAGE_LOG), **self._child_options(stage))
        seconds = time.perf_counter() - start
        retarget_last_checkpoints(partial, final)
        _write_json(
            osp.join(partial, RECORD),
            dict(
                declaration,
                stage=stage.name,
                description=stage.description,
                identity=identity(declaration, input_runs),
                run_id=uuid.uuid4().hex,
                input_runs=input_runs,
                resolved_commands=commands,
                seconds=seconds,
                finished=time.strftime('%Y-%m-%d %H:%M:%S'),
            ),
        )
        publish(partial, final)
        self.timings[stage.name] = seconds

    def _child_options(self, stage: Stage) -> Dict[str, Any]:
        if self.jobs == 1:
            return dict(children=self._children)
        env = {}
        if 'OMP_NUM_THREADS' not in os.environ:
            env['OMP_NUM_THREADS'] = str(max(1, available_cpus() // self.jobs))
        return dict(env=env, prefix=f'[{stage.name}] ', children=self._children)


def available_cpus() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _ours(stage: Stage) -> bool:
    """Whether the stage's folder is absent or was written by a pipeline (holds a record, valid or invalidated)."""
    record = osp.join(stage.output_dir, RECORD)
    return not osp.lexists(stage.output_dir) or osp.exists(record) or osp.exists(record + '.invalidated')


def retarget_last_checkpoints(partial: str, final: str) -> None:
    """Point mmengine's ``last_checkpoint`` files under ``partial`` at the same files under ``final``."""
    for folder, _, files in os.walk(partial):
        if 'last_checkpoint' not in files:
            continue
        path = osp.join(folder, 'last_checkpoint')
        with open(path) as f:
            target = f.read().strip()
        for prefix in {partial, osp.realpath(partial)}:
            if target == prefix or target.startswith(prefix + os.sep):
                with atomic_write(path) as f:
                    f.write(final + target[len(prefix) :])
                break


def publish(partial: str, final: str) -> None:
    """Replace ``final`` by the finished ``partial`` folder: old aside, new in, old deleted (a kill at any point
    leaves either the old or the new folder at ``final``, or none; never a mix)."""
    aside = final + REPLACED
    if osp.exists(aside):
        shutil.rmtree(aside)
    if osp.exists(final):
        os.rename(final, aside)
    os.rename(partial, final)
    _fsync_dir(osp.dirname(final))
    if osp.exists(aside):
        shutil.rmtree(aside)


# ------------------------------------------------------------------------------------------------------ children
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith('linux') else None


def _die_with(parent: int) -> None:
    """In the child, before exec: receive SIGKILL when the pipeline dies, even by SIGKILL (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the pipeline died before prctl took effect
        os._exit(1)


def _stop(proc: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(signum)
    _reap(proc)


def _reap(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Wait for a signalled child; SIGKILL it if it is still running after ``grace`` seconds."""
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ChildProcesses:
    """The children running now, so that an interrupt caught in the main thread stops those of every stage."""

    def __init__(self):
        self._procs: Set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop(self, signum: int) -> None:
        """Send ``signum`` to every running child, then wait for each (SIGKILL after a grace period)."""
        with self._lock:
            procs = list(self._procs)
        for proc in procs:  # all signalled first, so they stop together
            if proc.poll() is None:
                proc.send_signal(signum)
        for proc in procs:
            _reap(proc)


def run_command(
    cmd: List[str],
    log_file: str,
    env: Optional[dict] = None,
    prefix: str = '    ',
    children: Optional[ChildProcesses] = None,
) -> None:
    """Run ``cmd`` as a child that dies with this process, streaming its output to stdout and to ``log_file``.

    Args:
        cmd: The argument list.
        log_file: Gets the command line and the whole output (appended).
        env: Variables set for the child on top of this process's environment.
        prefix: Put before each output line on stdout.
        children: Where the running child is registered (for :meth:`ChildProcesses.stop`).

    Raises:
        StageFailed: The command exited non-zero (its output is in ``log_file``).
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    with open(log_file, 'a') as log:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(
            cmd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors='replace',
            bufsize=1,
            preexec_fn=functools.partial(_die_with, os.getpid()),
        )
        if children is not None:
            children.add(proc)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(prefix + line)
                log.write(line)
            returncode = proc.wait()
        except KeyboardInterrupt:
            _stop(proc, signal.SIGINT)
            raise
        except Interrupted as err:
            _stop(proc, err.signum)
            raise
        except BaseException:
            _stop(proc)
            raise
        finally:
            if children is not None:
                children.discard(proc)
    if returncode != 0:
        raise StageFailed(f'{" ".join(cmd)} exited with status {returncode}; its output is in {log_file}')
