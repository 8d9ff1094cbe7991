# Copyright (c) mmbrain contributors. All rights reserved.
"""Checkpoints served over HTTP from 127.0.0.1 for the safe-loading tests: a clean one and a payload one whose
unpickling would create a marker file."""

import functools
import http.server
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

import torch

#: The server stops itself after this many seconds, even if a test never shuts it down.
MAX_SECONDS = 600


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def save_payload(path: Path, state_dict: dict, marker: Path) -> None:
    """A checkpoint with valid weights and, in its ``meta``, an object that runs code when unpickled."""
    torch.save({'state_dict': state_dict, 'meta': {'payload': Payload(marker)}}, path)


class Served(NamedTuple):
    root: Path  # the folder served
    url: str  # its URL, ending in '/'


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


@contextmanager
def serve_folder(root: Path) -> Iterator[Served]:
    """Serve ``root`` on a free port of 127.0.0.1 from a daemon thread, until the block ends (or MAX_SECONDS)."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    watchdog = threading.Timer(MAX_SECONDS, server.shutdown)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield Served(root, f'http://127.0.0.1:{server.server_address[1]}/')
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
