"""A small C-speed-ish worker process for the Client tests (owned by the client tests).

Built from raw ``gearman_xs._libgearman`` calls, not from ``gearman_xs.Worker``, so that the Client
tests do not depend on the Worker implementation. Run as ``python workers_client.py SERVERS [PREFIX]``;
it registers the functions below (names prefixed with PREFIX), prints ``ready`` once registered and
works until SIGTERM/SIGINT.

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
import signal
import sys
import time
from typing import Any, Callable, Dict

from gearman_xs._libgearman import ffi, lib

_counts: Dict[bytes, int] = {}
_stop = False


def _send(job: Any, sender: Callable[..., int], data: bytes) -> None:
    sender(job, data, len(data))


def _run(name: str, job: Any, workload: bytes) -> Any:
    """Returns bytes for WORK_COMPLETE, or None for WORK_FAIL."""
    if name == "echo":
        return workload
    if name == "reverse":
        return workload[::-1]
    if name == "fail":
        return None
    if name == "exc":
        _send(job, lib.gearman_job_send_exception, b"boom")
        return b""
    if name == "chunks":
        _send(job, lib.gearman_job_send_data, b"A")
        lib.gearman_job_send_status(job, 1, 2)
        _send(job, lib.gearman_job_send_warning, b"W")
        _send(job, lib.gearman_job_send_data, b"B")
        return b"C"
    if name == "sleep":
        time.sleep(float(workload or b"0"))
        return b"slept"
    if name == "count":
        _counts[workload] = _counts.get(workload, 0) + 1
        return str(_counts[workload]).encode()
    if name == "len":
        return str(len(workload)).encode()
    raise AssertionError(name)


def _onerror(exc: Any, value: Any, tb: Any) -> Any:
    return ffi.NULL


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_worker_function(job: Any, context: Any, result_size: Any, ret_ptr: Any) -> Any:
    name = ffi.from_handle(context)
    size = lib.gearman_job_workload_size(job)
    workload = ffi.unpack(ffi.cast("char *", lib.gearman_job_workload(job)), size) if size else b""
    result = _run(name, job, workload)
    if result is None:
        ret_ptr[0] = lib.GEARMAN_WORK_FAIL
        result_size[0] = 0
        return ffi.NULL
    ret_ptr[0] = lib.GEARMAN_SUCCESS
    result_size[0] = len(result)
    if not result:
        return ffi.NULL
    buf = lib.malloc(len(result))
    ffi.memmove(buf, result, len(result))
    return buf


def main() -> None:
    servers = sys.argv[1].encode()
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""

    def stop(signum: int, frame: Any) -> None:
        global _stop
        _stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker = lib.gearman_worker_create(ffi.NULL)
    assert lib.gearman_worker_add_servers(worker, servers) == lib.GEARMAN_SUCCESS
    lib.gearman_worker_set_timeout(worker, 100)
    handles = []
    for name in ("echo", "reverse", "fail", "exc", "chunks", "sleep", "count", "len"):
        handle = ffi.new_handle(name)
        handles.append(handle)
        rc = lib.gearman_worker_add_function(
            worker, (prefix + name).encode(), 0, lib.gxs_worker_function, handle
        )
        assert rc == lib.GEARMAN_SUCCESS, rc
    print("ready", flush=True)
    while not _stop:
        rc = lib.gearman_worker_work(worker)
        if rc in (lib.GEARMAN_COULD_NOT_CONNECT, lib.GEARMAN_LOST_CONNECTION, lib.GEARMAN_NO_ACTIVE_FDS):
            time.sleep(0.05)
        if os.getppid() == 1:  # the test process died
            break
    lib.gearman_worker_free(worker)


if __name__ == "__main__":
    main()
