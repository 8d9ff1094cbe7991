# Copyright (c) mmbrain contributors. All rights reserved.
"""Looking at processes from the tests (Linux ``/proc``): alive or not, found by command line, waited for."""

import os
import time
from typing import Callable, List


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ('Z', 'X')


def processes_naming(text: str) -> List[int]:
    """The live processes (other than this one) whose command line contains ``text``."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if text in cmdline and alive(int(entry)):
            found.append(int(entry))
    return found


def training_ranks(text: str) -> List[int]:
    """The live ``tools/train.py`` ranks (not their torchrun agent) whose command line contains ``text``."""
    ranks = []
    for pid in processes_naming(text):
        try:
            with open(f'/proc/{pid}/cmdline') as f:
                cmdline = f.read()
        except OSError:
            continue
        if 'tools/train.py' in cmdline and 'torch.distributed.run' not in cmdline:
            ranks.append(pid)
    return ranks


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds passed; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()
