# Copyright (c) mmbrain contributors. All rights reserved.
"""Run one command so that it, and every process it starts, ends with the pipeline (Linux).

    python supervise.py PIPELINE_PID COMMAND [ARG ...]

The pipeline starts this file (by path, with no mmbrain import, so it costs a bare interpreter start) in a new
session, from the thread that waits for it. It

1. asks the kernel for SIGTERM when the pipeline thread that started it ends, the pipeline killed by SIGKILL
   included (``PR_SET_PDEATHSIG``), and exits at once if the pipeline is already gone;
2. becomes a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process whose parent dies is re-parented here, not to
   init, so the whole tree stays in view, torchrun's workers included (they run in sessions of their own);
3. runs the command and waits for it; SIGTERM / SIGINT / SIGHUP are passed on to every process of the tree, which
   is SIGKILLed :data:`GRACE` seconds later if it has not ended; when the command ends, whatever it left running
   is ended the same way. The exit status is the command's (128 + N when signal N ended it).

Elsewhere than Linux the command runs with the signals passed on, but without the two kernel guarantees.
"""

import ctypes
import os
import signal
import sys
import time
from typing import Dict, List

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: Seconds a signalled process tree has to end before it is SIGKILLed.
GRACE = 10.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` on Linux; False elsewhere or on failure."""
    if not sys.platform.startswith('linux'):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0


def descendants(root: int) -> List[int]:
    """The processes below ``root`` (from ``/proc``; empty where there is none)."""
    children: Dict[int, List[int]] = {}
    try:
        entries = os.listdir('/proc')
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def signal_tree(signum: int) -> None:
    """Send ``signum`` to every process below this one."""
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def reap() -> None:
    """Collect the exit status of every ended child (orphans re-parented here included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_tree(signum: int = signal.SIGTERM) -> None:
    """Signal the tree below this process, SIGKILL what is left after :data:`GRACE` seconds, and reap it all."""
    signal_tree(signum)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        reap()
        if not descendants(os.getpid()):
            return
        time.sleep(0.05)
    while True:
        signal_tree(signal.SIGKILL)
        reap()
        if not descendants(os.getpid()):
            return
        time.sleep(0.05)


def main(argv: List[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the pipeline ended before the death signal was set
        return 1
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    stopped: List[int] = []

    def kill_all(signum, _frame):
        signal_tree(signal.SIGKILL)

    def forward(signum, _frame):
        if not stopped:
            stopped.append(signum)
            signal.signal(signal.SIGALRM, kill_all)
            signal.setitimer(signal.ITIMER_REAL, GRACE)
        signal_tree(signum)

    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    pid = os.fork()
    if pid == 0:  # the command: default signal handling, and never back into this function
        try:
            for signum in FORWARDED:
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            os.execvp(command[0], command)
        except OSError as err:
            os.write(2, f'{command[0]}: {err.strerror}\n'.encode())
        finally:
            os._exit(127)
    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    status = 0
    while True:
        try:
            ended, status = os.waitpid(pid, 0)
        except ChildProcessError:
            break
        if ended == pid:
            break
    end_tree()  # what the command left running
    if stopped:
        return 128 + stopped[0]
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
