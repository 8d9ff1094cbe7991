# Copyright (c) mmbrain contributors. All rights reserved.
"""Tiny fake stages (``python -c`` commands) for the pipeline tests."""

import os.path as osp
import sys
from typing import List, Optional, Sequence

from mmbrain.pipeline.stages import Out, Stage, StageConfig

#: ``python -c`` body of a fake stage: writes ``out.txt`` in its folder and appends its name to the calls file.
WRITE = (
    'import os, sys; out = sys.argv[1]; open(os.path.join(out, "out.txt"), "w").write({name!r}); '
    'open({calls!r}, "a").write({name!r} + "\\n")'
)


def fake_stage(
    name: str,
    root: str,
    calls: str,
    inputs: Sequence[str] = (),
    seed: Optional[int] = None,
    config: Optional[StageConfig] = None,
    extra: str = '',
) -> Stage:
    """A stage whose one command records that it ran (``extra`` is more Python run after that)."""
    code = WRITE.format(name=name, calls=calls) + ('; ' + extra if extra else '')
    return Stage(
        name,
        f'fake stage {name}',
        [[sys.executable, '-c', code, Out()]],
        root=root,
        inputs=list(inputs),
        seed=seed,
        config=config,
    )


def calls_of(calls: str) -> List[str]:
    if not osp.exists(calls):
        return []
    with open(calls) as f:
        return f.read().split()
