# Copyright (c) mmbrain contributors. All rights reserved.
"""One stage run from start to publication, wherever it runs: in the pipeline process or as a job of its own.

:func:`run_job` resolves the stage's run-time arguments against its ``NAME.partial/`` folder and its inputs'
published folders, writes its generated config, runs its commands (:func:`~mmbrain.pipeline.processes.run_command`,
output in ``NAME.partial/stage.log``), writes its record (identity from the declaration and the run ids its inputs
have *now*), points the paths its files hold at the final folder and publishes it. A job that runs elsewhere (a
Slurm job, :mod:`mmbrain.pipeline.executor`) does the same from the spec the runner left in the folder::

    python -m mmbrain.pipeline.job WORK_DIR/seed0/det_brainformer.partial/stage_job.json
"""

import json
import os
import os.path as osp
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from mmbrain.utils.atomic import atomic_write

from .errors import Interrupted, PipelineError
from .processes import ChildProcesses, forward_signals, run_command
from .stages import (
    GENERATED_CONFIG_DIR,
    RECORD,
    RunContext,
    Stage,
    identity,
    read_record,
    stage_from_dict,
    stage_to_dict,
)
from .workdir import PARTIAL, publish_stage, retarget_paths, write_json

__all__ = ['StageJob', 'run_job', 'JOB_FILE', 'STAGE_LOG']

#: The spec of the run, in the stage's ``.partial`` folder.
JOB_FILE = 'stage_job.json'
#: The commands' output, in the stage's folder.
STAGE_LOG = 'stage.log'


@dataclass
class StageJob:
    """What running one stage needs, as the runner decided it (JSON data: :meth:`write` / :meth:`read`).

    Attributes:
        stage: The declared stage.
        declaration: What decides its output apart from its inputs' runs (:meth:`Stage.declaration`, as decided).
        input_dirs: Published folder of each stage it reads, by name.
        env: Variables set for its commands on top of the environment (``CUDA_VISIBLE_DEVICES``, ...).
        prefix: Put before each output line on stdout.
    """

    stage: Stage
    declaration: Dict[str, Any]
    input_dirs: Dict[str, str] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)
    prefix: str = '    '

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def final_dir(self) -> str:
        return self.stage.output_dir

    @property
    def partial_dir(self) -> str:
        return self.stage.output_dir + PARTIAL

    @property
    def log_file(self) -> str:
        return osp.join(self.partial_dir, STAGE_LOG)

    def write(self) -> str:
        """Write the spec into the stage's ``.partial`` folder; returns its path."""
        path = osp.join(self.partial_dir, JOB_FILE)
        data = dict(
            stage=stage_to_dict(self.stage),
            declaration=self.declaration,
            input_dirs=self.input_dirs,
            env=self.env,
            prefix=self.prefix,
        )
        write_json(path, data)
        return path

    @classmethod
    def read(cls, path: str) -> 'StageJob':
        with open(path) as f:
            data = json.load(f)
        return cls(
            stage_from_dict(data['stage']),
            data['declaration'],
            data['input_dirs'],
            data['env'],
            data['prefix'],
        )


def run_job(job: StageJob, children: Optional[ChildProcesses] = None) -> float:
    """Run ``job``'s stage in its ``.partial`` folder and publish it; returns the seconds its commands took.

    Raises:
        PipelineError: An input has no record (it is not finished).
        StageFailed: A command failed; its log is named.
    """
    stage, partial, final = job.stage, job.partial_dir, job.final_dir
    os.makedirs(partial, exist_ok=True)
    input_runs = {}
    for name, folder in job.input_dirs.items():
        record = read_record(folder, name)
        if record is None:
            raise PipelineError(f'{stage.name}: its input {name} is not finished ({folder} has no record)')
        input_runs[name] = record['run_id']
    ctx = RunContext(partial, dict(job.input_dirs))
    if stage.config is not None:
        # in a subfolder: mmengine dumps the resolved config into the work dir under the config's own name
        ctx.config_file = osp.join(partial, GENERATED_CONFIG_DIR, osp.basename(stage.config.file))
        with atomic_write(ctx.config_file) as f:
            f.write(stage.config.render(stage.name, ctx))
    env = {'PYTHON': sys.executable, **job.env}  # dist_train.sh and the like run this interpreter
    start = time.perf_counter()
    commands = []
    for command in stage.commands:
        argv = [a if isinstance(a, str) else a.resolve(ctx) for a in command]
        commands.append(argv)
        run_command(argv, job.log_file, env=env, prefix=job.prefix, children=children)
    seconds = time.perf_counter() - start
    retarget_paths(partial, final)
    write_json(
        osp.join(partial, RECORD),
        dict(
            job.declaration,
            stage=stage.name,
            description=stage.description,
            identity=identity(job.declaration, input_runs),
            run_id=uuid.uuid4().hex,
            input_runs=input_runs,
            resolved_commands=commands,
            seconds=seconds,
            finished=time.strftime('%Y-%m-%d %H:%M:%S'),
        ),
    )
    publish_stage(partial, final)
    return seconds


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m mmbrain.pipeline.job SPEC``: run and publish the stage of a spec :meth:`StageJob.write` wrote.

    Exit status: 0 when published, 1 when a command failed, 128 + N when signal N stopped it.
    """
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m mmbrain.pipeline.job STAGE_DIR.partial/stage_job.json', file=sys.stderr)
        return 2
    job = StageJob.read(argv[0])
    job.prefix = ''
    try:
        with forward_signals():
            run_job(job)
    except KeyboardInterrupt:
        return 130
    except Interrupted as err:
        return 128 + err.signum
    except (PipelineError, OSError) as err:
        print(f'{job.name}: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
