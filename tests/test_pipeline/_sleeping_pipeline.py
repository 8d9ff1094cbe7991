# Copyright (c) mmbrain contributors. All rights reserved.
"""A pipeline of one stage whose child writes its pid and sleeps (the lock, signal and orphan tests).

python _sleeping_pipeline.py WORK_DIR PID_FILE
"""

import os.path as osp
import sys

#: Writes the pid, then sleeps (a training child that would run on for minutes).
SLEEP = 'import os, sys, time; open(sys.argv[1], "w").write(str(os.getpid())); time.sleep(120)'


def _import_stages_alone():
    """``mmbrain.pipeline.stages`` without the package ``__init__`` files (torch, the registries), so the fake
    pipeline starts in a fraction of a second; the module itself is the real one."""
    import importlib.util
    import types

    package_dir = importlib.util.find_spec('mmbrain').submodule_search_locations[0]
    for name in ('mmbrain', 'mmbrain.utils', 'mmbrain.pipeline'):
        module = types.ModuleType(name)
        module.__path__ = [osp.join(package_dir, *name.split('.')[1:])]
        sys.modules[name] = module
    import mmbrain.pipeline.stages as stages

    return stages


def main() -> int:
    stages = _import_stages_alone()
    work_dir, pid_file = sys.argv[1:3]
    stage = stages.Stage('sleeper', 'sleeps', [[sys.executable, '-c', SLEEP, pid_file]], root=work_dir)
    try:
        stages.StageRunner([stage], work_dir).run()
    except stages.WorkDirLocked as err:
        print(err, file=sys.stderr)
        return 1
    except stages.Interrupted as err:
        return 128 + err.signum
    return 0


if __name__ == '__main__':
    sys.exit(main())
