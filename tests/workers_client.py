"""The worker process for the Client tests: a ``gearman_xs.Worker`` (so the Client tests also exercise
the Python Worker end to end). Run as ``python workers_client.py SERVERS [PREFIX]``; it registers the
functions below (names prefixed with PREFIX) and works until SIGTERM/SIGINT (``Worker.run()``
finishes the current job first) or until the test process dies.

It runs in its own process, not in a thread of the test process: the Client tests send SIGINT to
their own process, kill and restart servers, and time parallel jobs, none of which should reach or
wait on the worker. No test needs a raw libgearman worker any more (every packet the Client tests
rely on, WORK_DATA/STATUS/WARNING/FAIL/EXCEPTION, is sent through ``gearman_xs.Job``); the tests
that need exact packets are the Worker's own, with the raw-protocol client of worker_helpers.py.

Functions (workload -> result):
  echo      the workload unchanged (an empty workload gives an empty result)
  reverse   the workload reversed
  fail      WORK_FAIL
  exc       WORK_EXCEPTION "boom" (the job then counts as finished)
  chunks    data "A", status 1/2, warning "W", data "B", then complete "C"
  sleep     sleeps float(workload) seconds, returns b"slept"
  count     how many times this process ran `count` with this workload, as ASCII digits
  len       len(workload) as ASCII digits
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, Dict, Optional

from gearman_xs import Job, Worker

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


FUNCTIONS: Dict[str, Callable[[Job], Optional[bytes]]] = {
    "echo": echo, "reverse": reverse, "fail": fail, "exc": exc, "chunks": chunks, "sleep": sleep,
    "count": count, "len": length,
}


def _stop_when_orphaned(worker: Worker) -> None:
    while os.getppid() != 1:  # the test process died: do not outlive it
        time.sleep(0.5)
    worker.stop()


def main() -> None:
    servers = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    with Worker() as worker:
        worker.add_servers(servers)
        for name, fn in FUNCTIONS.items():
            worker.add_function(prefix + name, 0, fn)
        threading.Thread(target=_stop_when_orphaned, args=(worker,), daemon=True).start()
        print("ready", flush=True)
        worker.run()


if __name__ == "__main__":
    main()
