"""Helpers for the Client tests: start the worker process of tests/workers_client.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from gearman_xs.testing import Gearmand

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers_client.py")


@contextmanager
def client_worker(server: Gearmand, prefix: str = "cx_", count: int = 1) -> Iterator[None]:
    """Runs ``count`` worker processes for ``server`` until the block ends; waits until the server
    lists them."""
    procs = [
        subprocess.Popen([sys.executable, WORKER, server.servers, prefix], stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        deadline = time.monotonic() + 15
        while True:
            lines = [line.split("\t") for line in server.admin("status").splitlines()]
            if any(f[0] == prefix + "len" and int(f[3]) >= count for f in lines if len(f) == 4):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("test workers did not register")
            time.sleep(0.02)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
