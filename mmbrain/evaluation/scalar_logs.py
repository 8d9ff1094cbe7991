# Copyright (c) mmbrain contributors. All rights reserved.
"""Reading the scalar logs that mmengine's Runner writes (``<work_dir>/<timestamp>/vis_data/scalars.json``).

mmengine's ``LoggerHook`` appends one JSON object per line through ``LocalVisBackend.add_scalars``:

- a *training* line every ``interval`` iterations, e.g.
  ``{"lr": 0.001, "loss": 4.1, "loss_con": 4.0, "loss_bfg": 1.7, "temperature": 0.07, "time": 0.4,
  "data_time": 0.01, "iter": 10, "step": 10}``; ``iter`` is the global iteration (1-based) and, with an
  epoch-based loop, an ``epoch`` key is added;
- a *validation* line after each validation, holding the metrics (``"retrieval/i2b_top1": 12.5, ...``), the
  mean ``time``/``data_time`` and ``step``: the iteration, or the epoch when the hook's ``log_metric_by_epoch``
  is true (mmengine's default, meant for epoch-based loops). Validation lines have no ``iter`` key.

A resumed run writes a new ``<timestamp>`` folder; :func:`load_scalar_log` given the work dir merges all of
them in time order, a later value replacing an earlier one at the same iteration.

Only json and numpy are imported, so collecting a run's numbers (the pipeline's report) needs neither torch nor
matplotlib; the figures of :mod:`mmbrain.visualization` read their series from here.
"""

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Tuple, Union

import numpy as np

PathLike = Union[str, Path]
Series = Tuple[np.ndarray, np.ndarray]

#: Keys of a line that position it rather than measure something.
POSITION_KEYS = ('iter', 'step', 'epoch')
#: Retrieval metric keys: top-k accuracy / recall@k in any spelling, e.g. ``retrieval/i2b_top1``,
#: ``retrieval/brain-to-image_top-5``, ``recall@10``.
RETRIEVAL_PATTERN = re.compile(r'(top[-_]?\d+|recall[-_@]?\d+|(^|[/_])r@\d+)', re.IGNORECASE)


@dataclass
class ScalarLog:
    """Scalar series of one run, each ``key -> (iterations, values)`` sorted by iteration.

    Attributes:
        sources: the ``scalars.json`` files read, in time order.
        train: series of the training lines, indexed by the global iteration.
        val: series of the validation lines, indexed by the training iteration they were measured at (an epoch is
            converted to the last logged training iteration of that epoch).
    """

    sources: List[Path]
    train: Dict[str, Series] = field(default_factory=dict)
    val: Dict[str, Series] = field(default_factory=dict)

    def retrieval_keys(self) -> List[str]:
        """Validation keys that are retrieval top-k metrics (see :data:`RETRIEVAL_PATTERN`), sorted."""
        return sorted(k for k in self.val if RETRIEVAL_PATTERN.search(k))


def find_scalar_files(path: PathLike) -> List[Path]:
    """The ``scalars.json`` files of a run, oldest first.

    Args:
        path: a ``scalars.json`` file, a ``vis_data`` folder, a ``<timestamp>`` folder, or a work dir holding
            ``<timestamp>/vis_data/scalars.json`` folders (mmengine's timestamps sort chronologically).

    Raises:
        FileNotFoundError: nothing found under ``path``.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    for pattern in ('scalars.json', 'vis_data/scalars.json', '*/vis_data/scalars.json'):
        found = sorted(path.glob(pattern))
        if found:
            return found
    raise FileNotFoundError(
        f'{path}: no mmengine scalar log (scalars.json, vis_data/scalars.json or '
        '<timestamp>/vis_data/scalars.json) found'
    )


def _read_lines(file: Path) -> Iterable[dict]:
    text = file.read_text()
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines) and not text.endswith('\n'):
                warnings.warn(f'{file}:{number}: skipping a truncated last line (interrupted write?)', stacklevel=3)
                continue
            raise ValueError(f'{file}:{number}: not a JSON line ({err.msg}): {line[:80]!r}') from err
        if not isinstance(record, dict):
            raise ValueError(f'{file}:{number}: expected a JSON object per line, got {type(record).__name__}')
        if 'step' not in record:
            raise ValueError(f'{file}:{number}: no "step" key; not a log written by mmengine\'s LocalVisBackend')
        yield record


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_series(points: Dict[str, Dict[float, float]]) -> Dict[str, Series]:
    series = {}
    for key, by_x in points.items():
        xs = np.array(sorted(by_x), dtype=np.float64)
        series[key] = (xs, np.array([by_x[x] for x in xs], dtype=np.float64))
    return series


def load_scalar_log(path: PathLike, val_step: str = 'auto') -> ScalarLog:
    """Parse a run's scalar log(s) into series.

    Args:
        path: see :func:`find_scalar_files`; every file found is merged, later files winning.
        val_step: what the ``step`` of validation lines counts: ``'iter'``, ``'epoch'``, or ``'auto'``
            (``'epoch'`` when the training lines carry an ``epoch`` key, as with an epoch-based loop and
            mmengine's default ``log_metric_by_epoch=True``; else ``'iter'``).

    Returns:
        The run's :class:`ScalarLog`.

    Raises:
        FileNotFoundError: no log under ``path``.
        ValueError: a line that is not a JSON object with a ``step`` (file and line number in the message).
    """
    if val_step not in ('auto', 'iter', 'epoch'):
        raise ValueError(f"val_step must be 'auto', 'iter' or 'epoch', got {val_step!r}")
    files = find_scalar_files(path)
    train: Dict[str, Dict[float, float]] = {}
    val_raw: Dict[str, Dict[float, float]] = {}
    epoch_end: Dict[float, float] = {}
    for file in files:
        for record in _read_lines(file):
            if 'iter' in record:
                x = float(record['iter'])
                if 'epoch' in record:
                    epoch = float(record['epoch'])
                    epoch_end[epoch] = max(epoch_end.get(epoch, 0.0), x)
                target = train
            else:
                x = float(record['step'])
                target = val_raw
            for key, value in record.items():
                if key not in POSITION_KEYS and _is_number(value):
                    target.setdefault(key, {})[x] = float(value)
    log = ScalarLog(sources=files, train=_to_series(train))
    unit = val_step if val_step != 'auto' else ('epoch' if epoch_end else 'iter')
    val = _to_series(val_raw)
    if unit == 'epoch' and val:
        if not epoch_end:
            raise ValueError(
                f'{files[-1]}: val_step="epoch" but no training line carries an "epoch" key to map epochs to iterations'
            )
        epochs = np.array([0.0] + sorted(epoch_end))
        ends = np.array([0.0] + [epoch_end[e] for e in epochs[1:]])
        # Beyond the logged epochs, extrapolate with the mean epoch length.
        per_epoch = ends[-1] / epochs[-1] if epochs[-1] > 0 else 1.0
        for key, (xs, ys) in val.items():
            iters = np.where(xs <= epochs[-1], np.interp(xs, epochs, ends), xs * per_epoch)
            val[key] = (iters, ys)
    log.val = val
    return log
