# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh: usage, arguments, the interpreter.

Each script runs from a copy of ``tools/`` whose ``python`` / ``.venv/bin/python`` / ``srun`` are stand-ins that
print what they were given, so what the scripts pass on is checked without torch or a cluster (the real
launches are in test_dist_train.py and test_dist_multinode.py).
"""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from _helpers import REPO

TOOLS = Path(REPO) / 'tools'

#: script -> its positional arguments
SCRIPTS = {
    'dist_train.sh': ['cfg.py', '2'],
    'dist_test.sh': ['cfg.py', 'ckpt.pth', '2'],
    'slurm_train.sh': ['gpu', 'job', 'cfg.py', 'work'],
    'slurm_test.sh': ['gpu', 'job', 'cfg.py', 'ckpt.pth'],
}
ECHO = '#!/usr/bin/env bash\necho "{name} $*"\n'


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(stat.S_IRWXU)


@pytest.fixture
def checkout(tmp_path):
    """A copy of the launch scripts in ``tmp/repo/tools``, and a ``bin`` folder with stand-in ``python``/``srun``."""
    tools = tmp_path / 'repo' / 'tools'
    tools.mkdir(parents=True)
    for name in [*SCRIPTS, '_launch_common.sh']:
        shutil.copy(TOOLS / name, tools / name)
    bin_dir = tmp_path / 'bin'
    for name in ('python', 'srun'):
        _executable(bin_dir / name, ECHO.format(name=name))
    return tmp_path


def run(checkout: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'GPUS', 'GRES', 'SRUN_ARGS')}
    base['PATH'] = f'{checkout / "bin"}{os.pathsep}{os.environ["PATH"]}'
    return subprocess.run(
        ['bash', str(checkout / 'repo' / 'tools' / script), *args],
        env=dict(base, **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.slow
@pytest.mark.parametrize('script', SCRIPTS)
def test_missing_arguments_print_usage_and_exit_2(checkout, script):
    for given in range(len(SCRIPTS[script])):
        proc = run(checkout, script, *SCRIPTS[script][:given])
        assert proc.returncode == 2, (given, proc.stderr)
        assert proc.stderr.startswith(f'usage: bash tools/{script} '), proc.stderr
        assert f'{given} argument(s) given, {len(SCRIPTS[script])} needed' in proc.stderr
        assert 'unbound variable' not in proc.stderr and proc.stdout == ''


@pytest.mark.slow
@pytest.mark.parametrize('script', SCRIPTS)
@pytest.mark.parametrize('flag', ['--help', '-h'])
def test_help_names_the_interpreter_and_exits_0(checkout, script, flag):
    proc = run(checkout, script, flag)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f'usage: bash tools/{script} ')
    assert "PYTHON: the interpreter (default: the repository's .venv/bin/python if present, else python" in proc.stdout
    assert 'now: python)' in proc.stdout  # the copy has no .venv
    if script.startswith('slurm_'):
        assert 'GPUS_PER_NODE' in proc.stdout and 'GRES=' in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_interpreter_python_then_venv_then_variable(checkout, script):
    args = SCRIPTS[script]
    assert run(checkout, script, *args).stdout.startswith('python -m torch.distributed.run ')
    venv_python = checkout / 'repo' / '.venv' / 'bin' / 'python'
    _executable(venv_python, ECHO.format(name='venv-python'))
    assert run(checkout, script, *args).stdout.startswith('venv-python -m torch.distributed.run ')
    assert f'now: {venv_python})' in run(checkout, script, '--help').stdout
    _executable(checkout / 'mine', ECHO.format(name='mine'))
    out = run(checkout, script, *args, '--amp', PYTHON=str(checkout / 'mine')).stdout
    assert out.startswith('mine -m torch.distributed.run ') and '--nproc_per_node=2' in out
    tool = 'train.py cfg.py' if script == 'dist_train.sh' else 'test.py cfg.py ckpt.pth'
    assert out.rstrip().endswith(f'tools/{tool} --launcher pytorch --amp'), out


@pytest.mark.slow
def test_slurm_scripts_pass_tasks_gres_and_launcher(checkout):
    out = run(checkout, 'slurm_train.sh', *SCRIPTS['slurm_train.sh'], '--amp').stdout.split()
    assert out[:4] == ['srun', '-p', 'gpu', '--job-name=job']
    assert {'--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1'} <= set(
        out
    )
    assert out[-6:] == [
        '-u',
        str(checkout / 'repo/tools/train.py'),
        'cfg.py',
        '--work-dir=work',
        '--launcher=slurm',
        '--amp',
    ]
    out = run(checkout, 'slurm_test.sh', *SCRIPTS['slurm_test.sh'], GPUS='2', GPUS_PER_NODE='2', GRES='').stdout
    assert '--gres' not in out and '--ntasks=2 --ntasks-per-node=2' in out
    assert out.rstrip().endswith('tools/test.py cfg.py ckpt.pth --launcher=slurm')
    out = run(checkout, 'slurm_test.sh', *SCRIPTS['slurm_test.sh'], GRES='gpu:a100:4', SRUN_ARGS='--qos=high -t 10')
    assert '--gres=gpu:a100:4' in out.stdout and '--qos=high -t 10 python -u' in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize('args, code', [(['--help'], 0), (['-h'], 0), (['--venv', 'x'], 2)])
def test_setup_env_help_and_arguments_install_nothing(tmp_path, args, code):
    """``setup_env.sh --help`` prints what it does and exits; an argument it does not take is a usage error. Neither
    creates the environment (the first set-up is a 20-minute install)."""
    venv = tmp_path / 'venv'
    env = dict(os.environ, MMBRAIN_VENV=str(venv))
    result = subprocess.run(['bash', str(TOOLS / 'setup_env.sh'), *args], env=env, capture_output=True, text=True)
    assert result.returncode == code, result.stderr
    assert ('MMBRAIN_VENV' in result.stdout) if code == 0 else ('usage: bash tools/setup_env.sh' in result.stderr)
    assert not venv.exists()
