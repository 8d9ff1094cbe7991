# Copyright (c) mmbrain contributors. All rights reserved.
"""A pipeline of independent stages whose children write their pids and sleep (the lock, signal and orphan tests).

python _sleeping_pipeline.py WORK_DIR PID_FILE [PID_FILE ...]   # one stage per pid file, all running at once
"""

import os.path as osp
import sys

#: Writes the pid, then sleeps (a training child that would run on for minutes).
SLEEP = 'import os, sys, time; open(sys.argv[1], "w").write(str(os.getpid())); time.sleep(120)'


def _import_runner_alone():
    """``mmbrain.pipeline.runner`` without the package ``__init__`` files (the plan, the report), so the fake
    pipeline starts in a fraction of a second; the modules themselves are the real ones."""
    import importlib.util
    import types

    package_dir = importlib.util.find_spec('mmbrain').submodule_search_locations[0]
    for name in ('mmbrain', 'mmbrain.utils', 'mmbrain.pipeline'):
        module = types.ModuleType(name)
        module.__path__ = [osp.join(package_dir, *name.split('.')[1:])]
        sys.modules[name] = module
    import mmbrain.pipeline.errors as errors
    import mmbrain.pipeline.runner as runner
    import mmbrain.pipeline.stages as stages

    return errors, runner, stages


def main() -> int:
    errors, runner, stages = _import_runner_alone()
    work_dir, pid_files = sys.argv[1], sys.argv[2:]
    sleepers = [
        stages.Stage(
            'sleeper' if i == 0 else f'sleeper{i}', 'sleeps', [[sys.executable, '-c', SLEEP, pid_file]], root=work_dir
        )
        for i, pid_file in enumerate(pid_files)
    ]
    try:
        runner.StageRunner(sleepers, work_dir, jobs=len(sleepers)).run()
    except errors.WorkDirLocked as err:
        print(err, file=sys.stderr)
        return 1
    except errors.Interrupted as err:
        return 128 + err.signum
    return 0


if __name__ == '__main__':
    sys.exit(main())
