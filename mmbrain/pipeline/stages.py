# Copyright (c) mmbrain contributors. All rights reserved.
"""Declared stages and their identity: what a stage runs, what decides its output, and the record it leaves.

A :class:`Stage` declares, before anything runs, everything that decides its output: its commands, its config (a
config file plus overrides, resolved by mmengine and hashed), its seed and the names of the stages it reads. Its
*identity* (:func:`identity`) is the hash of these and of the run ids of its input stages' records (a fresh id is
written each time a stage finishes, :func:`read_record`). The runner (:mod:`mmbrain.pipeline.runner`) reuses a
finished stage only if its record holds the identity computed now.

Run-time arguments (:class:`Out`, :class:`Checkpoint`, :class:`GeneratedConfig`) stand in a command or an override
for paths known only when the stage runs; the identity holds their symbolic form.
"""

import copy
import glob
import hashlib
import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Union

__all__ = [
    'Out',
    'Checkpoint',
    'GeneratedConfig',
    'RunContext',
    'StageConfig',
    'Stage',
    'final_checkpoint',
    'identity',
    'Places',
    'fingerprint',
    'library_versions',
    'read_record',
    'stage_to_dict',
    'stage_from_dict',
    'RECORD',
    'INVALIDATED',
    'GENERATED_CONFIG_DIR',
]

#: The record a finished stage leaves in its folder.
RECORD = '.stage.json'
#: Suffix of a record made invalid before its stage runs again.
INVALIDATED = '.invalidated'
#: Where a stage's generated config is written in its folder (mmengine dumps the resolved config into the work dir
#: under the config's own name, so the generated one goes into a subfolder).
GENERATED_CONFIG_DIR = 'generated_config'


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

    def resolved_hash(self, cache: Optional[Dict[str, Any]] = None, places: Optional['Places'] = None) -> str:
        """sha256 of the resolved config (the file with its ``_base_`` chain, then the overrides, run-time arguments
        by their symbolic form), as mmengine builds it.

        Args:
            cache: Parsed config files by path, shared by calls that may assume the files do not change meanwhile.
            places: Paths hashed by name (:class:`Places`), so that where things live does not change the hash.

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
        resolved = json.loads(json.dumps(cfg.to_dict(), default=_stable_repr))
        if places is not None:
            resolved = places.portable(resolved)
        text = json.dumps(resolved, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _stable_repr(obj: Any) -> str:
    """A JSON stand-in for a config value that is not plain data (a class or function: its qualified name)."""
    if isinstance(obj, type) or callable(obj):
        return f'{getattr(obj, "__module__", "")}.{getattr(obj, "__qualname__", type(obj).__name__)}'
    return repr(obj)


# ------------------------------------------------------------------------------------------------------ identity
class Places:
    """Where things live, replaced by names in what a stage's identity hashes, so that a moved checkout, another
    path to the same interpreter or a moved work dir leave it unchanged.

    A path is replaced where it stands alone or begins a longer path (``/repo/tools/train.py`` -> ``{repo}/tools/
    train.py``), anywhere in a string (``--out=/work/x``); the longest path that fits wins.

    Args:
        names: ``{absolute path: name}``, e.g. ``{sys.executable: '{python}', '/home/me/mmbrain': '{repo}'}``.
    """

    def __init__(self, names: Dict[str, str]):
        forms: Dict[str, str] = {}
        for path, name in names.items():
            for form in (osp.normpath(path), osp.realpath(path)):
                forms.setdefault(form, name)
        self.names = forms
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = (
            re.compile('(?<![\\w./-])(' + '|'.join(map(re.escape, ordered)) + ')(?![\\w.-])') if ordered else None
        )

    def portable(self, value: Any) -> Any:
        """``value`` (a string, or lists and dicts of them) with every known path replaced by its name."""
        if isinstance(value, str):
            return value if self._pattern is None else self._pattern.sub(lambda m: self.names[m.group(1)], value)
        if isinstance(value, (list, tuple)):
            return [self.portable(v) for v in value]
        if isinstance(value, dict):
            return {self.portable(k): self.portable(v) for k, v in value.items()}
        return value


def fingerprint(path: str) -> str:
    """A cheap fingerprint of a file, or of every file under a folder: sha256 of their relative paths, sizes and
    modification times (ns). Copying the data keeps it only where the copy keeps the times (``cp -a``, ``rsync -a``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    entries = []
    if osp.isdir(path):
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = osp.join(folder, name)
                info = os.stat(full)
                entries.append((osp.relpath(full, path), info.st_size, info.st_mtime_ns))
    else:
        info = os.stat(path)
        entries.append(('', info.st_size, info.st_mtime_ns))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


#: The libraries whose versions enter every stage's identity (results depend on them, not on where they live).
VERSIONED = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain', 'mmbrain')


def library_versions() -> Dict[str, Optional[str]]:
    """The installed version of each of :data:`VERSIONED` (None where not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: Dict[str, Optional[str]] = {}
    for name in VERSIONED:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    if versions['mmbrain'] is None:  # a checkout run without installing it
        from mmbrain.version import __version__

        versions['mmbrain'] = __version__
    return versions


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
        reads: Native files or folders it reads that no stage writes (e.g. the NSD download): their sizes and
            modification times (:func:`fingerprint`) enter its identity, so a changed or deleted file reruns it.
        gpus: GPUs its commands use; where the runner shares a machine's GPUs among stages, it starts only when
            that many are free and its commands see only those (``CUDA_VISIBLE_DEVICES``).
    """

    name: str
    description: str
    commands: List[List[Arg]]
    root: str
    folder: Optional[str] = None
    config: Optional[StageConfig] = None
    seed: Optional[int] = None
    inputs: List[str] = field(default_factory=list)
    reads: List[str] = field(default_factory=list)
    gpus: int = 0

    @property
    def output_dir(self) -> str:
        return osp.join(self.root, self.folder or self.name.rsplit('/', 1)[-1])

    def missing_files(self) -> List[str]:
        """The config, the scripts (absolute ``*.py`` / ``*.sh`` arguments) the stage runs and the files it reads
        that do not exist."""
        missing = [path for path in self.reads if not osp.exists(path)]
        files = [self.config.file] if self.config else []
        files += [
            a
            for cmd in self.commands
            for a in cmd
            if isinstance(a, str) and osp.isabs(a) and a.endswith(('.py', '.sh'))
        ]
        return missing + [f for f in dict.fromkeys(files) if not osp.isfile(f)]

    def declaration(
        self,
        config_hash: Optional[str],
        places: Optional[Places] = None,
        versions: Optional[Dict[str, Optional[str]]] = None,
    ) -> Dict[str, Any]:
        """What decides the stage's output, apart from its inputs' runs: its commands, config, seed, inputs, the
        fingerprints of the files it reads and the library versions, with paths named by ``places``.

        Raises:
            FileNotFoundError: A file of :attr:`reads` does not exist.
        """
        places = places or Places({})
        return dict(
            commands=places.portable([[a if isinstance(a, str) else a.key for a in cmd] for cmd in self.commands]),
            config=None if self.config is None else dict(file=places.portable(self.config.file), hash=config_hash),
            seed=self.seed,
            inputs=sorted(self.inputs),
            reads={places.portable(path): fingerprint(path) for path in self.reads},
            versions=versions or {},
        )


def _encode(value: Any) -> Any:
    """A run-time argument as JSON data (``{'$ref': 'out', 'path': ...}``); other values as they are."""
    if isinstance(value, Out):
        return {'$ref': 'out', 'path': value.path}
    if isinstance(value, Checkpoint):
        return {'$ref': 'checkpoint', 'stage': value.stage}
    if isinstance(value, GeneratedConfig):
        return {'$ref': 'config'}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and '$ref' in value:
        kind = value['$ref']
        if kind == 'out':
            return Out(value['path'])
        if kind == 'checkpoint':
            return Checkpoint(value['stage'])
        return GeneratedConfig()
    return value


def stage_to_dict(stage: Stage) -> Dict[str, Any]:
    """``stage`` as JSON data (what a job running elsewhere needs to run it; :func:`stage_from_dict`)."""
    data = {f.name: getattr(stage, f.name) for f in fields(Stage)}
    data['commands'] = [[_encode(a) for a in cmd] for cmd in stage.commands]
    if stage.config is not None:
        overrides = {k: _encode(v) for k, v in stage.config.overrides.items()}
        data['config'] = dict(file=stage.config.file, overrides=overrides)
    return data


def stage_from_dict(data: Dict[str, Any]) -> Stage:
    """The :class:`Stage` that :func:`stage_to_dict` wrote."""
    data = dict(data)
    data['commands'] = [[_decode(a) for a in cmd] for cmd in data['commands']]
    if data.get('config') is not None:
        overrides = {k: _decode(v) for k, v in data['config']['overrides'].items()}
        data['config'] = StageConfig(data['config']['file'], overrides)
    return Stage(**data)


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
