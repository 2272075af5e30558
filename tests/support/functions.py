"""The worker functions the tests serve, in one place, grouped by the suite that serves them.

``CLIENT_FUNCTIONS`` (served by the worker processes of the Client tests, ``worker_process.py``, with
the test module's prefix; workload -> result):
  echo      the workload unchanged (an empty workload gives an empty result)
  reverse   the workload reversed
  fail      WORK_FAIL
  exc       WORK_EXCEPTION "boom" (the job then counts as finished)
  chunks    data "A", status 1/2, warning "W", data "B", then complete "C"
  sleep     sleeps float(workload) seconds, returns b"slept"
  count     how many times this process ran `count` with this workload, as ASCII digits
  len       len(workload) as ASCII digits
  some      fails the jobs whose workload starts with "fail" (WORK_FAIL) or "exc" (WORK_EXCEPTION
            "boom"), returns the others reversed

``Functions`` (test_client_worker.py): the same kinds of functions as methods that record what they saw,
served by gearman_xs Worker threads of the test process.

``INTEROP_FUNCTIONS`` (served as ``py.NAME`` by a gearman_xs Worker next to the Perl, PHP and CLI peer
workers, mirroring their functions; tests/peers/).

``sleepy`` (test_client_paths.py): sleeps float(workload) seconds, returns ``b"slept " + workload``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from gearman_xs import Job, Worker
from support.data import pattern, sha256_hex

# -- the Client tests' worker processes ------------------------------------------------------------

_counts: Dict[bytes, int] = {}


def echo(job: Job) -> bytes:
    return job.workload()


def reverse(job: Job) -> bytes:
    return job.workload()[::-1]


def fail(job: Job) -> None:
    job.send_fail()


def exc(job: Job) -> None:
    job.send_exception(b"boom")


def chunks(job: Job) -> bytes:
    job.send_data(b"A")
    job.send_status(1, 2)
    job.send_warning(b"W")
    job.send_data(b"B")
    return b"C"


def sleep(job: Job) -> bytes:
    time.sleep(float(job.workload() or b"0"))
    return b"slept"


def count(job: Job) -> bytes:
    workload = job.workload()
    _counts[workload] = _counts.get(workload, 0) + 1
    return str(_counts[workload]).encode()


def length(job: Job) -> bytes:
    return str(job.workload_size()).encode()


def some(job: Job) -> Optional[bytes]:
    workload = job.workload()
    if workload.startswith(b"fail"):
        job.send_fail()
        return None
    if workload.startswith(b"exc"):
        job.send_exception(b"boom")
        return None
    return workload[::-1]


#: The functions of the Client tests' worker processes (worker_process.py), by name.
CLIENT_FUNCTIONS: Dict[str, Callable[[Job], Optional[bytes]]] = {
    "echo": echo, "reverse": reverse, "fail": fail, "exc": exc, "chunks": chunks, "sleep": sleep,
    "count": count, "len": length, "some": some,
}


# -- test_client_worker.py: functions that record what they saw --------------------------------------

EVENT_WAIT = 10.0  # a worker function never blocks a test run longer than this


class Functions:
    """The worker functions, with what they saw, shared by the module's worker threads."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, bytes, str]] = []  # (function, workload, unique)
        self.kept: List[Job] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def add_to(self, worker: Worker, prefix: str) -> None:
        """Adds every function to ``worker`` as PREFIX + name."""
        for name in ("echo", "reverse", "unique", "chunks", "fail", "exc", "progress", "keep"):
            worker.add_function(prefix + name, 0, getattr(self, name))
        worker.add_function(prefix + "raise", 0, self.raise_)

    def _note(self, job: Job) -> bytes:
        data = job.workload()
        with self.lock:
            self.seen.append((job.function_name(), data, job.unique()))
        return data

    def echo(self, job: Job) -> bytes:
        return self._note(job)

    def reverse(self, job: Job) -> bytes:
        return self._note(job)[::-1]

    def unique(self, job: Job) -> str:
        self._note(job)
        return job.unique()

    def chunks(self, job: Job) -> str:
        job.send_data(b"A")
        job.send_status(1, 2)
        job.send_warning("W")
        job.send_data(bytearray(b"B"))
        return "C"

    def fail(self, job: Job) -> bytes:
        job.send_data(b"partial")
        job.send_fail()
        return b"not sent"

    def exc(self, job: Job) -> None:
        job.send_exception(b"custom: " + job.workload())

    def raise_(self, job: Job) -> bytes:
        raise ValueError("bad input " + job.workload().decode())

    def progress(self, job: Job) -> bytes:
        job.send_status(1, 3)
        self.release.wait(EVENT_WAIT)
        job.send_status(2, 3)
        return b"done"

    def keep(self, job: Job) -> bytes:
        with self.lock:
            self.kept.append(job)
        return b"kept"


# -- the interop tests' Python worker ----------------------------------------------------------------

def _split_path(workload: bytes) -> Tuple[Path, bytes]:
    path, _, data = workload.partition(b"\n")
    return Path(os.fsdecode(path)), data


def _progress(job: Any) -> bytes:
    go = Path(os.fsdecode(job.workload()))
    job.send_status(1, 4)
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    job.send_status(4, 4)
    return b"progressed"


def _events(job: Any) -> bytes:
    job.send_data(b"d1")
    job.send_warning(b"w1")
    job.send_status(1, 2)
    job.send_data(b"d2")
    job.send_warning(b"w2")
    job.send_status(2, 2)
    return b"done"


def _bg_write(job: Any) -> bytes:
    path, data = _split_path(job.workload())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)
    return b"ok"


def _record(job: Any) -> bytes:
    path, line = _split_path(job.workload())
    with open(path, "ab") as f:
        f.write(line + b"\n")
    return b"ok"


def _raise(job: Any) -> bytes:
    raise RuntimeError("python failure")


def _send_fail(job: Any) -> None:
    job.send_fail()


def _send_exception(job: Any) -> None:
    job.send_exception(b"python exception")


#: The functions the Python worker serves (as ``py.NAME``), mirroring the peer workers.
INTEROP_FUNCTIONS: Dict[str, Callable[[Any], Union[bytes, str, None]]] = {
    "echo": lambda job: job.workload(),
    "sha256": lambda job: sha256_hex(job.workload()),
    "gen": lambda job: pattern(int(job.workload())),
    "info": lambda job: "\n".join([job.function_name(), job.handle(), str(job.workload_size()),
                                   job.unique()]),
    "events": _events,
    "progress": _progress,
    "bg_write": _bg_write,
    "record": _record,
    "raise": _raise,
    "fail_send": _send_fail,
    "exception_send": _send_exception,
}


# -- test_client_paths.py --------------------------------------------------------------------------


def sleepy(job: Job) -> bytes:
    time.sleep(float(job.workload()))
    return b"slept " + job.workload()
