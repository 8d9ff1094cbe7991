# Copyright (c) mmbrain contributors. All rights reserved.
"""A pipeline of fake stages run through the Slurm executor (the tests of test_slurm_executor.py).

python _slurm_pipeline.py WORK_DIR GRAPH.json [--local | --list]   # the local executor; print each stage's job

GRAPH.json: ``[{"name": ..., "inputs": [...], "seconds": S, "exit": N, "replace": B, "inside": F},
...]``: the stage's folder is ``WORK_DIR/F/NAME`` with F (the folder of another stage), else ``WORK_DIR/NAME``.
Each stage's command appends ``NAME`` to ``WORK_DIR/../calls``, replaces its whole output folder if B (as the
synthetic world's generator does), sleeps ``S`` seconds, writes ``out.txt``, appends ``NAME START END`` (wall-clock
seconds) to ``WORK_DIR/../times``, prints ``ran NAME`` and exits with status ``N`` (default 0). Exit status of the
pipeline: 0, 1 when a stage failed, 128 + N when signal N stopped it.
"""

import json
import os
import os.path as osp
import sys

#: The command of a fake stage: its calls and times lines, a sleep, its exit status.
CODE = (
    'import os, shutil, sys, time; start = time.time(); open({calls!r}, "a").write({name!r} + "\\n"); '
    '{replace}'
    'time.sleep({seconds}); open(os.path.join(sys.argv[1], "out.txt"), "w").write({name!r}); '
    'open({times!r}, "a").write("%s %f %f\\n" % ({name!r}, start, time.time())); print("ran", {name!r}); '
    'sys.exit({exit})'
)


def main() -> int:
    from mmbrain.pipeline.errors import Interrupted, PipelineError
    from mmbrain.pipeline.runner import StageRunner
    from mmbrain.pipeline.slurm import SlurmExecutor, SlurmOptions
    from mmbrain.pipeline.stages import Out, Stage

    work_dir, graph_file = sys.argv[1:3]
    option = sys.argv[3] if len(sys.argv) > 3 else None
    with open(graph_file) as f:
        graph = json.load(f)
    root = osp.dirname(osp.abspath(work_dir))
    stages = []
    for node in graph:
        code = CODE.format(
            name=node['name'],
            calls=osp.join(root, 'calls'),
            times=osp.join(root, 'times'),
            seconds=node.get('seconds', 0),
            exit=node.get('exit', 0),
            replace='shutil.rmtree(sys.argv[1]); os.makedirs(sys.argv[1]); ' if node.get('replace') else '',
        )
        stages.append(
            Stage(
                node['name'],
                f'fake stage {node["name"]}',
                [[sys.executable, '-c', code, Out()]],
                root=osp.join(osp.abspath(work_dir), node.get('inside', '')).rstrip(os.sep),
                inputs=node.get('inputs', []),
            )
        )
    executor = None if option == '--local' else SlurmExecutor(SlurmOptions(poll_seconds=0.2))
    if option == '--list':
        for name, job in executor.describe(stages).items():
            print(f'{name}: {job}')
        return 0
    try:
        StageRunner(stages, work_dir, executor=executor).run()
    except PipelineError as err:
        print(f'pipeline: error: {err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Interrupted as err:
        return 128 + err.signum
    return 0


if __name__ == '__main__':
    sys.exit(main())
