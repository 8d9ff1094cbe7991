# Copyright (c) mmbrain contributors. All rights reserved.
"""A real one-node Slurm cluster on localhost for the tests (Debian's ``slurm-wlm``: munge, slurmctld, slurmd).

    from _slurm import slurm_cluster  # noqa: F401  (the fixture)

    def test_something(slurm_cluster):
        subprocess.run(['sbatch', ...], env=slurm_cluster.env)   # SLURM_CONF is also set in os.environ

The fixture installs the packages when they are missing (``apt-get``, as root), writes a ``slurm.conf`` for this
machine in a temporary folder (the node's CPUs and memory from ``slurmd -C``; ``proctrack/linuxproc``,
``task/none``, ``select/cons_tres`` per CPU; free ports; a private munge socket and key; :data:`GPUS` GPUs as
generic resources backed by ``/dev/null`` and ``/dev/zero``, so that ``--gres=gpu:N`` jobs are scheduled as on a
GPU cluster: their tasks get ``CUDA_VISIBLE_DEVICES`` but find no CUDA and train with gloo), starts ``munged``,
``slurmctld`` and ``slurmd`` in the foreground as its own children, waits until ``sinfo`` shows the node idle, and
at the end cancels the cluster's jobs and stops exactly the three daemons it started. Where that cannot be done (not
root, no ``apt-get``, a daemon that does not come up) every test using it is skipped with the reason. The cluster
is started once per test session, however many test modules import the fixture.
"""

import os
import os.path as osp
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pytest

PACKAGES = ['slurm-wlm', 'munge']
DAEMONS = ['munged', 'slurmctld', 'slurmd']
PARTITION = 'debug'
#: The node's GPUs as Slurm sees them (gres.conf: one character device each).
GPUS = ('/dev/null', '/dev/zero')
START_TIMEOUT = 60.0

SLURM_CONF = """\
# A one-node cluster on localhost, written by tests/_slurm.py.
ClusterName=mmbrain-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
InactiveLimit=0
KillWait=5
{node} Gres=gpu:{gpus} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def daemon(name: str) -> Optional[str]:
    """The path of a daemon (in ``/usr/sbin``, which a root ``PATH`` may lack), or None."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin']))


class SlurmUnavailable(RuntimeError):
    """The cluster cannot be installed or started here (the reason is the message)."""


def _free_ports(n: int) -> List[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(('127.0.0.1', 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ensure_installed() -> None:
    """Install ``slurm-wlm`` and ``munge`` with apt-get when a daemon is missing (``apt-get update`` only if the
    first attempt fails).

    Raises:
        SlurmUnavailable: A daemon is missing and cannot be installed (not root, no apt-get, the install failed).
    """
    missing = [d for d in DAEMONS if not daemon(d)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable(f'{", ".join(missing)} not installed, and installing slurm-wlm needs root')
    if not shutil.which('apt-get'):
        raise SlurmUnavailable(f'{", ".join(missing)} not installed, and there is no apt-get to install slurm-wlm')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    install = ['apt-get', 'install', '-y', '-q', '--no-install-recommends', *PACKAGES]
    result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        subprocess.run(['apt-get', 'update', '-q'], env=env, capture_output=True, text=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SlurmUnavailable(f'apt-get install {" ".join(PACKAGES)} failed: {result.stderr.strip()[-800:]}')
    missing = [d for d in DAEMONS if not daemon(d)]
    if missing:
        raise SlurmUnavailable(f'{" ".join(PACKAGES)} installed, but {", ".join(missing)} not found')


@dataclass
class LocalSlurm:
    """A private one-node cluster whose files live in ``root``."""

    root: str
    host: str = ''
    procs: Dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> str:
        return osp.join(self.root, 'slurm.conf')

    @property
    def partition(self) -> str:
        return PARTITION

    @property
    def env(self) -> Dict[str, str]:
        """The environment of a Slurm client command for this cluster."""
        return dict(os.environ, SLURM_CONF=self.conf)

    def log(self, daemon: str) -> str:
        return osp.join(self.root, 'log', f'{daemon}.out')

    def start(self) -> None:
        """Write the config, start munged, slurmctld and slurmd, and wait until the node is idle.

        Raises:
            SlurmUnavailable: A daemon exited or the node is not idle within :data:`START_TIMEOUT` seconds.
        """
        for sub in ('state', 'spool', 'log', 'munge-key'):
            os.makedirs(osp.join(self.root, sub), mode=0o700)
        munge_dir = osp.join(self.root, 'munge')
        os.makedirs(munge_dir, mode=0o755)  # munged wants its socket's folder reachable by everyone
        key = osp.join(self.root, 'munge-key', 'munge.key')
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400), 'wb') as f:
            f.write(os.urandom(1024))
        socket_path = osp.join(munge_dir, 'munge.socket')
        # the node line as slurmd measures this machine (CPUs, sockets, cores, threads, RealMemory)
        node = subprocess.run([daemon('slurmd'), '-C'], capture_output=True, text=True, check=True).stdout.splitlines()[
            0
        ]
        self.host = node.split()[0].split('=', 1)[1]
        ctld_port, slurmd_port = _free_ports(2)
        with open(self.conf, 'w') as f:
            f.write(
                SLURM_CONF.format(
                    host=self.host,
                    root=self.root,
                    ctld_port=ctld_port,
                    slurmd_port=slurmd_port,
                    munge_socket=socket_path,
                    node=node,
                    gpus=len(GPUS),
                    partition=PARTITION,
                )
            )
        with open(osp.join(self.root, 'gres.conf'), 'w') as f:  # slurmd reads it beside slurm.conf
            f.writelines(f'Name=gpu File={device}\n' for device in GPUS)
        self._spawn(
            'munged',
            [
                daemon('munged'),
                '--foreground',
                '--force',
                f'--socket={socket_path}',
                f'--key-file={key}',
                f'--log-file={osp.join(self.root, "log", "munged.log")}',
                f'--pid-file={osp.join(munge_dir, "munged.pid")}',
                f'--seed-file={osp.join(self.root, "munge-key", "munged.seed")}',
            ],
        )
        self._wait_for(lambda: osp.exists(socket_path), 'munged created no socket')
        self._spawn('slurmctld', [daemon('slurmctld'), '-D', '-f', self.conf])
        self._spawn('slurmd', [daemon('slurmd'), '-D', '-f', self.conf, '-N', self.host])
        self._wait_for(lambda: self.node_state() == 'idle', f'node {self.host} not idle')

    def _spawn(self, name: str, cmd: List[str]) -> None:
        out = open(self.log(name), 'w')
        try:
            self.procs[name] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )
        finally:
            out.close()

    def _wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not condition():
            dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f'{dead[0]} exited' if dead else f'{what} after {START_TIMEOUT:.0f} s'
                raise SlurmUnavailable(f'the local Slurm did not start: {why}; {self._tail(dead[0] if dead else None)}')
            time.sleep(0.2)

    def _tail(self, daemon: Optional[str]) -> str:
        names = [daemon] if daemon else list(self.procs)
        text = []
        for name in names:
            with open(self.log(name)) as f:
                text.append(f'{name}: ' + ' | '.join(f.read().splitlines()[-5:]))
        return '; '.join(text)

    def node_state(self) -> str:
        """The node's state as ``sinfo`` prints it (``idle``, ``mixed``, ``alloc``, ...; '' if unknown)."""
        result = subprocess.run(['sinfo', '-h', '-N', '-o', '%T'], env=self.env, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ''

    def jobs(self) -> List[str]:
        """Ids of the cluster's pending and running jobs."""
        out = subprocess.run(['squeue', '-h', '-o', '%i'], env=self.env, capture_output=True, text=True).stdout
        return out.split()

    def cancel_all(self, timeout: float = 30.0) -> None:
        """Cancel every job of the cluster and wait until none is left."""
        if 'slurmctld' not in self.procs or self.procs['slurmctld'].poll() is not None:
            return
        subprocess.run(['scancel', '--partition', PARTITION], env=self.env, capture_output=True)
        deadline = time.monotonic() + timeout
        while self.jobs() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        """Cancel the jobs, then stop slurmd, slurmctld and munged (the processes this object started)."""
        self.cancel_all()
        for name in reversed(DAEMONS):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_SESSION = dict(cluster=None, error=None, users=0)


@pytest.fixture(scope='session')
def slurm_cluster():
    """The running local cluster (one per test session); the test is skipped where none can be started."""
    state = _SESSION
    if state['cluster'] is None and state['error'] is None:
        # under /tmp where it exists: munge's socket path must stay short (108 bytes), whatever TMPDIR is
        cluster = LocalSlurm(tempfile.mkdtemp(prefix='mmbrain-slurm-', dir='/tmp' if osp.isdir('/tmp') else None))
        try:
            ensure_installed()
            cluster.start()
        except (SlurmUnavailable, OSError, subprocess.CalledProcessError) as err:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
            state['error'] = f'no local Slurm cluster: {err}'
        else:
            state['cluster'] = cluster
            os.environ['SLURM_CONF'] = cluster.conf
    if state['error'] is not None:
        pytest.skip(state['error'])
    state['users'] += 1
    yield state['cluster']
    state['users'] -= 1
    if state['users'] == 0:
        cluster, state['cluster'] = state['cluster'], None
        state['error'] = 'the session cluster was stopped'
        os.environ.pop('SLURM_CONF', None)
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
